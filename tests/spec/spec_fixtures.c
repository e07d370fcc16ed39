#define _XOPEN_SOURCE 700 /* nftw */
#include "spec_fixtures.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"

static void die(const char *what) {
  fprintf(stderr, "fixture failure: %s\n", what);
  abort();
}

char *fx_tmpdir(void) {
  char tmpl[] = "/tmp/orgsecrets-spec-XXXXXX";
  if (mkdtemp(tmpl) == NULL)
    die("mkdtemp");
  char *s = strdup(tmpl);
  if (s == NULL)
    die("strdup");
  return s;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void fx_rmtree(const char *dir) {
  if (dir != NULL)
    (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fx_write(const char *dir, const char *rel, const char *text) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  char parent[PATH_MAX];
  snprintf(parent, sizeof(parent), "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash != NULL) {
    *slash = '\0';
    os_error err = OS_ERROR_INIT;
    if (os_mkdir_p(parent, 0755, &err) < 0)
      die(err.msg);
  }
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    die(path);
  size_t n = strlen(text);
  if (fwrite(text, 1, n, f) != n || fclose(f) != 0)
    die(path);
}

char *fx_read(const char *dir, const char *rel, size_t *len) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  char *out = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  if (os_read_file(&out, &n, path, 64 * 1024 * 1024, &err) < 0)
    return NULL;
  if (len != NULL)
    *len = n;
  return out;
}

void fx_recipient(char out[63], unsigned seed) {
  static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  memcpy(out, "age1", 4);
  unsigned x = seed * 2654435761u + 12345u;
  for (int i = 0; i < 58; i++) {
    x = x * 1103515245u + 12345u;
    out[4 + i] = cs[(x >> 16) & 31];
  }
  out[62] = '\0';
}

void fx_armor(os_buf *b, unsigned seed, const char *indent) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned x = seed * 2246822519u + 7u;
  FX_OK(os_buf_printf(b, "%s-----BEGIN AGE ENCRYPTED FILE-----\n", indent));
  /* 14 lines: about the size of a real 256-byte envelope sealed to 3-4 recipients. */
  for (int line = 0; line < 14; line++) {
    int n = line == 13 ? 24 : 64;
    FX_OK(os_buf_puts(b, indent));
    for (int i = 0; i < n; i++) {
      x = x * 1103515245u + 12345u;
      char c = b64[(x >> 16) & 63];
      FX_OK(os_buf_append(b, &c, 1));
    }
    FX_OK(os_buf_puts(b, "\n"));
  }
  FX_OK(os_buf_printf(b, "%s-----END AGE ENCRYPTED FILE-----\n", indent));
}

void fx_org_text(os_buf *b) {
  char r[5][63];
  for (unsigned i = 0; i < 5; i++)
    fx_recipient(r[i], i + 1);
  FX_OK(os_buf_printf(b,
                "apiVersion: orgsecrets.io/v1\n"
                "kind: Organization\n"
                "metadata:\n"
                "  name: acme\n"
                "spec:\n"
                "  rotationDays: 90\n"
                "  members:\n"
                "    - name: alice@example.com\n"
                "      role: admin\n"
                "      recipient: %s\n"
                "    - name: bob@example.com\n"
                "      role: member\n"
                "      recipient: %s\n"
                "    - name: carol@example.com\n"
                "      role: viewer\n"
                "  environments:\n"
                "    - name: dev\n"
                "      controllers:\n"
                "        - %s\n"
                "      namespaces:\n"
                "        - default\n"
                "    - name: staging\n"
                "      controllers:\n"
                "        - %s\n"
                "      namespaces:\n"
                "        - default\n"
                "      envFile: staging.env\n"
                "    - name: prod\n"
                "      controllers:\n"
                "        - %s\n"
                "      namespaces:\n"
                "        - default\n"
                "        - shared\n"
                "      secretName: acme-secrets\n"
                "      envFile: prod.env\n"
                "  applications:\n"
                "    - name: api\n"
                "      namespaces:\n"
                "        - api\n"
                "      secretName: api-secrets\n"
                "    - name: web\n"
                "      namespaces:\n"
                "        - web\n"
                "    - name: worker\n"
                "      namespaces:\n"
                "        - worker\n"
                "        - batch\n",
                r[0], r[1], r[2], r[3], r[4]));
}

void fx_secret_text(os_buf *b, const char *env, const char *name, const char *app,
                    const char *desc, unsigned seed) {
  char rname[600];
  size_t n = (size_t)snprintf(rname, sizeof(rname), "acme.%s.%s%s%s", env, app ? app : "",
                              app ? "." : "", name);
  for (size_t i = 0; i < n && i < sizeof(rname); i++) {
    if (rname[i] == '_')
      rname[i] = '-';
    else if (rname[i] >= 'A' && rname[i] <= 'Z')
      rname[i] = (char)(rname[i] - 'A' + 'a');
  }
  FX_OK(os_buf_printf(b,
                "apiVersion: orgsecrets.io/v1\n"
                "kind: OrgSecret\n"
                "metadata:\n"
                "  name: %s\n"
                "spec:\n"
                "  organization: acme\n"
                "  environment: %s\n"
                "  name: %s\n",
                rname, env, name));
  if (app != NULL)
    FX_OK(os_buf_printf(b, "  application: %s\n", app));
  if (desc != NULL)
    FX_OK(os_buf_printf(b, "  description: %s\n", desc));
  FX_OK(os_buf_printf(b,
                "  state: %s\n"
                "  visibleToViewers: %s\n"
                "  createdBy: alice@example.com\n"
                "  createdAt: \"2026-11-26T10:00:00Z\"\n"
                "  updatedBy: bob@example.com\n"
                "  updatedAt: \"2026-11-26T10:%02u:00Z\"\n"
                "  rotatedAt: \"2026-11-26T10:00:00Z\"\n"
                "  recipients:\n"
                "    - 0123456789abcdef\n"
                "    - 1a2b3c4d5e6f7a8b\n"
                "    - fedcba9876543210\n"
                "  encryptedValue: |\n",
                seed % 7 == 3 ? "disabled" : "active", seed % 5 == 1 ? "true" : "false", seed % 60));
  fx_armor(b, seed, "    ");
}

void fx_generate_tree(const char *dir, size_t n) {
  static const char *const envs[] = {"dev", "staging", "prod"};
  static const char *const apps[] = {NULL, "api", "web", "worker"};
  os_buf b;
  os_buf_init(&b, 64 * 1024 * 1024, false);
  fx_org_text(&b);
  fx_write(dir, "organization.yaml", b.data);
  os_buf multi;
  os_buf_init(&multi, 64 * 1024 * 1024, false);
  size_t multi_docs = 0;
  for (size_t i = 0; i < n; i++) {
    const char *env = envs[i % 3];
    const char *app = apps[(i / 3) % 4];
    char name[64];
    snprintf(name, sizeof(name), "SECRET_%05zu_KEY", i);
    char desc[96];
    snprintf(desc, sizeof(desc), "Generated secret number %zu", i);
    os_buf_reset(&b);
    if (i % 50 == 7) {
      /* Every 50th secret lives in one multi-document file. */
      if (multi_docs++ > 0)
        FX_OK(os_buf_puts(&multi, "---\n"));
      fx_secret_text(&multi, env, name, app, (i % 2) ? desc : NULL, (unsigned)i);
      continue;
    }
    fx_secret_text(&b, env, name, app, (i % 2) ? desc : NULL, (unsigned)i);
    char rel[128];
    snprintf(rel, sizeof(rel), "secrets/%s/%s.yaml", env, name);
    fx_write(dir, rel, b.data);
  }
  if (multi_docs > 0)
    fx_write(dir, "bundles/multi.yaml", multi.data);
  os_buf_free(&multi);
  os_buf_free(&b);
}

/* Writes an organization folder with N sealed secrets in one environment,
 * fast (no CLI round trips), for benchmarks and the Git-friendliness test:
 *   orgsecrets-gen-tree OUT N
 * creates OUT/keys/{admin,controller}.key (0600), OUT/org/organization.yaml
 * (org "bench", admin "admin@bench", environment "prod"), OUT/org/secrets/
 * prod/SETTING_<i>.yaml, and OUT/values.txt ("NAME value" lines, outside the
 * organization folder, so that tests can check outputs for leaks). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "seal/seal.h"
#include "spec/spec.h"

static int write_file(const char *path, const char *data, size_t len, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  return close(fd);
}

static int key_file(char **pub, const char *path, os_error *err) {
  age_identity *id = NULL;
  char *sec = NULL;
  int rc = age_identity_generate(&id, err);
  if (rc == 0)
    rc = age_identity_encode(&sec, id, err);
  if (rc == 0)
    rc = age_recipient_encode(pub, age_identity_recipient(id), err);
  if (rc == 0) {
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s\n", sec);
    if (n < 0 || (size_t)n >= sizeof(buf) || write_file(path, buf, (size_t)n, 0600) != 0)
      rc = os_error_set(err, OS_EIO, "write %s", path);
  }
  os_free_secret_str(sec);
  age_identity_free(id);
  return rc;
}

static char *join(const char *a, const char *b) {
  char *p = os_path_join(a, b);
  if (p == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: orgsecrets-gen-tree OUT N\n");
    return 2;
  }
  char *end = NULL;
  long n = strtol(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || n < 0 || n > 1000000) {
    fprintf(stderr, "bad N\n");
    return 2;
  }
  os_error err = OS_ERROR_INIT;
  const char *out = argv[1];
  char *keys = join(out, "keys"), *orgdir = join(out, "org");
  char *sdir = join(orgdir, "secrets/prod");
  if (os_mkdir_p(keys, 0700, &err) < 0 || os_mkdir_p(sdir, 0755, &err) < 0)
    goto fail;
  char *admin_pub = NULL, *ctl_pub = NULL;
  char *admin_key = join(keys, "admin.key"), *ctl_key = join(keys, "controller.key");
  if (key_file(&admin_pub, admin_key, &err) < 0 || key_file(&ctl_pub, ctl_key, &err) < 0)
    goto fail;

  spec_tree *t = spec_tree_new(orgdir);
  spec_org *o = spec_org_new();
  if (t == NULL || o == NULL)
    goto oom;
  o->id = os_strdup("bench");
  o->members = calloc(1, sizeof(*o->members));
  o->envs = calloc(1, sizeof(*o->envs));
  if (o->id == NULL || o->members == NULL || o->envs == NULL)
    goto oom;
  o->n_members = 1;
  o->members[0].name = os_strdup("admin@bench");
  o->members[0].role = SPEC_ROLE_ADMIN;
  o->members[0].recipient = admin_pub;
  o->n_envs = 1;
  o->envs[0].name = os_strdup("prod");
  o->envs[0].controllers = calloc(1, sizeof(char *));
  if (o->envs[0].controllers == NULL)
    goto oom;
  o->envs[0].controllers[0] = ctl_pub;
  o->envs[0].n_controllers = 1;
  o->envs[0].namespaces = calloc(1, sizeof(char *));
  if (o->envs[0].namespaces == NULL)
    goto oom;
  o->envs[0].namespaces[0] = os_strdup("prod");
  o->envs[0].n_namespaces = 1;
  if (spec_tree_set_org(t, o, &err) < 0)
    goto fail;
  if (spec_tree_write_file(t, t->org->pos.file, &err) < 0)
    goto fail;

  char *values_path = join(out, "values.txt");
  FILE *vf = fopen(values_path, "w");
  if (vf == NULL)
    goto fail;
  static const char alpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (long i = 0; i < n; i++) {
    char name[64], value[64], rel[128], ts[] = "2026-01-01T00:00:00Z";
    snprintf(name, sizeof(name), "SETTING_%06ld", i);
    unsigned char rnd[24];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
      goto fail;
    int vl = snprintf(value, sizeof(value), "v%ld-", i);
    for (size_t k = 0; k < sizeof(rnd); k++)
      value[vl++] = alpha[rnd[k] & 63];
    value[vl] = '\0';
    spec_secret *s = spec_secret_new();
    if (s == NULL)
      goto oom;
    s->organization = os_strdup("bench");
    s->environment = os_strdup("prod");
    s->name = os_strdup(name);
    s->state = SPEC_STATE_ACTIVE;
    s->created_by = os_strdup("admin@bench");
    s->updated_by = os_strdup("admin@bench");
    s->created_at = os_strdup(ts);
    s->updated_at = os_strdup(ts);
    s->rotated_at = os_strdup(ts);
    if (seal_value(s, t->org, value, (size_t)vl, &err) < 0) {
      spec_secret_free(s);
      goto fail;
    }
    char *yaml = NULL;
    size_t ylen = 0;
    if (spec_secret_emit(&yaml, &ylen, s, &err) < 0) {
      spec_secret_free(s);
      goto fail;
    }
    snprintf(rel, sizeof(rel), "%s.yaml", name);
    char *p = join(sdir, rel);
    if (write_file(p, yaml, ylen, 0644) != 0) {
      fprintf(stderr, "write %s: %s\n", p, strerror(errno));
      return 1;
    }
    fprintf(vf, "%s %s\n", name, value);
    free(p);
    free(yaml);
    spec_secret_free(s);
  }
  if (fclose(vf) != 0)
    goto fail;
  spec_tree_free(t);
  free(values_path);
  free(admin_key);
  free(ctl_key);
  free(sdir);
  free(orgdir);
  free(keys);
  return 0;
oom:
  fprintf(stderr, "orgsecrets-gen-tree: out of memory\n");
  return 1;
fail:
  fprintf(stderr, "orgsecrets-gen-tree: %s\n", err.msg[0] ? err.msg : strerror(errno));
  return 1;
}

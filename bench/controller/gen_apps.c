/* Writes an organization folder for the controller benchmark, fast:
 *   orgsecrets-gen-apps OUT APPS PER_APP
 * organization "bench", environment "prod" (organization-level namespace
 * "default"), APPS applications app-<i> each running in namespace ns-<i>,
 * each with PER_APP application-level secrets. Keys go to OUT/keys/
 * {admin,controller}.key (0600), specs to OUT/org/. */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "seal/seal.h"
#include "spec/spec.h"

static void die(const char *what, const os_error *err) {
  fprintf(stderr, "orgsecrets-gen-apps: %s: %s\n", what, err && err->msg[0] ? err->msg : strerror(errno));
  exit(1);
}

static char *xstrdup(const char *s) {
  char *p = os_strdup(s);
  if (p == NULL)
    die("out of memory", NULL);
  return p;
}

static char *key_file(const char *path) {
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  char *sec = NULL, *pub = NULL;
  if (age_identity_generate(&id, &err) < 0 || age_identity_encode(&sec, id, &err) < 0 ||
      age_recipient_encode(&pub, age_identity_recipient(id), &err) < 0)
    die("key", &err);
  size_t n = strlen(sec);
  sec[n] = '\0';
  char *line = malloc(n + 2);
  if (line == NULL)
    die("out of memory", NULL);
  memcpy(line, sec, n);
  line[n] = '\n';
  if (os_write_file_atomic(path, line, n + 1, 0600, &err) < 0)
    die(path, &err);
  os_free_secret(line, n + 2);
  os_free_secret_str(sec);
  age_identity_free(id);
  return pub;
}

static long arg(const char *s) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 1 || v > 100000) {
    fprintf(stderr, "orgsecrets-gen-apps: bad number %s\n", s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: orgsecrets-gen-apps OUT APPS PER_APP\n");
    return 2;
  }
  long apps = arg(argv[2]), per = arg(argv[3]);
  os_error err = OS_ERROR_INIT;
  char *keys = os_path_join(argv[1], "keys"), *orgdir = os_path_join(argv[1], "org");
  if (keys == NULL || orgdir == NULL || os_mkdir_p(keys, 0700, &err) < 0 ||
      os_mkdir_p(orgdir, 0755, &err) < 0)
    die("mkdir", &err);
  char *kpath = os_path_join(keys, "admin.key"), *cpath = os_path_join(keys, "controller.key");
  char *admin = key_file(kpath), *ctl = key_file(cpath);
  spec_tree *t = spec_tree_new(orgdir);
  spec_org *o = spec_org_new();
  if (t == NULL || o == NULL)
    die("out of memory", NULL);
  o->id = xstrdup("bench");
  o->n_members = 1;
  o->members = calloc(1, sizeof(*o->members));
  o->n_envs = 1;
  o->envs = calloc(1, sizeof(*o->envs));
  o->n_apps = (size_t)apps;
  o->apps = calloc((size_t)apps, sizeof(*o->apps));
  if (o->members == NULL || o->envs == NULL || o->apps == NULL)
    die("out of memory", NULL);
  o->members[0] = (spec_member){.name = xstrdup("admin@bench"), .role = SPEC_ROLE_ADMIN, .recipient = admin};
  o->envs[0].name = xstrdup("prod");
  o->envs[0].controllers = calloc(1, sizeof(char *));
  o->envs[0].namespaces = calloc(1, sizeof(char *));
  if (o->envs[0].controllers == NULL || o->envs[0].namespaces == NULL)
    die("out of memory", NULL);
  o->envs[0].controllers[0] = ctl;
  o->envs[0].n_controllers = 1;
  o->envs[0].namespaces[0] = xstrdup("default");
  o->envs[0].n_namespaces = 1;
  for (long a = 0; a < apps; a++) {
    char name[32];
    snprintf(name, sizeof(name), "app-%ld", a);
    o->apps[a].name = xstrdup(name);
    snprintf(name, sizeof(name), "ns-%ld", a);
    o->apps[a].namespaces = calloc(1, sizeof(char *));
    if (o->apps[a].namespaces == NULL)
      die("out of memory", NULL);
    o->apps[a].namespaces[0] = xstrdup(name);
    o->apps[a].n_namespaces = 1;
  }
  if (spec_tree_set_org(t, o, &err) < 0 || spec_tree_write_file(t, t->org->pos.file, &err) < 0)
    die("organization", &err);
  for (long a = 0; a < apps; a++) {
    char dir[64];
    snprintf(dir, sizeof(dir), "secrets/prod/app-%ld", a);
    char *full = os_path_join(orgdir, dir);
    if (full == NULL || os_mkdir_p(full, 0755, &err) < 0)
      die("mkdir", &err);
    for (long i = 0; i < per; i++) {
      char name[64], value[48], file[128];
      snprintf(name, sizeof(name), "SETTING_%ld_%ld", a, i);
      unsigned char rnd[18];
      if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        die("random", NULL);
      int vl = 0;
      for (size_t k = 0; k < sizeof(rnd); k++)
        vl += snprintf(value + vl, sizeof(value) - (size_t)vl, "%02x", rnd[k]);
      spec_secret *s = spec_secret_new();
      if (s == NULL)
        die("out of memory", NULL);
      s->organization = xstrdup("bench");
      s->environment = xstrdup("prod");
      s->application = xstrdup(o->apps[a].name);
      s->name = xstrdup(name);
      s->created_by = xstrdup("admin@bench");
      s->updated_by = xstrdup("admin@bench");
      s->created_at = xstrdup("2026-01-01T00:00:00Z");
      s->updated_at = xstrdup("2026-01-01T00:00:00Z");
      s->rotated_at = xstrdup("2026-01-01T00:00:00Z");
      if (seal_value(s, t->org, value, (size_t)vl, &err) < 0)
        die("seal", &err);
      char *yaml = NULL;
      size_t ylen = 0;
      if (spec_secret_emit(&yaml, &ylen, s, &err) < 0)
        die("emit", &err);
      snprintf(file, sizeof(file), "%s/%s.yaml", full, name);
      if (os_write_file_atomic(file, yaml, ylen, 0644, &err) < 0)
        die(file, &err);
      free(yaml);
      spec_secret_free(s);
    }
    free(full);
  }
  spec_tree_free(t);
  free(kpath);
  free(cpath);
  free(keys);
  free(orgdir);
  return 0;
}

/* refs: $NAME and ${NAME} references in manifests, Helm values, compose
 * files and .env templates (read with pkg/inject's one reference parser),
 * against the secrets of the organization: references to unknown names,
 * and secrets nothing references. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "inject/ref.h"
#include "org/org.h"
#include "org/org_internal.h"

#define REFS_MAX ((size_t)1 << 22)

typedef struct refs_ctx {
  org_refs *out;
  const spec_tree *t;
  const char *env;
  const char *root;  /* the folder being walked, as given */
  const char *label; /* what file names are shown below: root, or "" for the default */
  const char *file;  /* the file being scanned, as shown */
  int line;
  os_error *err;
} refs_ctx;

bool org_refs_file_wanted(const char *name) {
  size_t n = strlen(name);
  static const char *const exts[] = {".yaml", ".yml", ".json", ".env"};
  for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
    size_t e = strlen(exts[i]);
    if (n > e && strcmp(name + n - e, exts[i]) == 0)
      return true;
  }
  /* .env templates: .env, .env.example, app.env.template */
  return strcmp(name, ".env") == 0 || strncmp(name, ".env.", 5) == 0 ||
         strstr(name, ".env.") != NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool known_name(const refs_ctx *x, const char *name) {
  for (size_t i = 0; i < x->t->n_secrets; i++) {
    const spec_secret *s = x->t->secrets[i];
    if (strcmp(s->name, name) == 0 && (x->env == NULL || strcmp(s->environment, x->env) == 0))
      return true;
  }
  return false;
}

static int on_segment(void *vctx, const inject_segment *seg) {
  refs_ctx *x = vctx;
  if (seg->kind != INJECT_SEG_REF)
    return 0;
  org_refs *r = x->out;
  if (os_grow(&r->v, NULL, r->n + 1, sizeof(*r->v), REFS_MAX) < 0)
    return os_error_set(x->err, OS_ENOMEM, "refs: more than %zu references", REFS_MAX);
  org_ref *ref = &r->v[r->n];
  memset(ref, 0, sizeof(*ref));
  if ((ref->name = os_strdup(seg->name)) == NULL || (ref->file = os_strdup(x->file)) == NULL) {
    free(ref->name);
    return os_error_set(x->err, OS_ENOMEM, "out of memory");
  }
  ref->line = x->line;
  ref->known = known_name(x, seg->name);
  r->unknown += !ref->known;
  r->n++;
  return 0;
}

/* Scans rel (below x->root) line by line; orgsecrets' own spec files are skipped. */
static int scan_file(refs_ctx *x, const char *rel) {
  char *data = NULL;
  size_t len = 0;
  os_error rerr = OS_ERROR_INIT;
  if (os_read_file_below(&data, &len, x->root, rel, SPEC_FILE_MAX, &rerr) < 0) {
    x->out->skipped++;
    return 0; /* unreadable or too large: counted, not fatal */
  }
  char shown[PATH_MAX];
  size_t ll = strlen(x->label);
  snprintf(shown, sizeof(shown), "%s%s%s", x->label, ll > 0 && x->label[ll - 1] != '/' ? "/" : "",
           rel);
  int rc = 0;
  static const char head[] = "apiVersion: " SPEC_API_VERSION "\n";
  bool spec = strncmp(data, head, sizeof(head) - 1) == 0 ||
              strstr(data, "\napiVersion: " SPEC_API_VERSION "\n") != NULL;
  if (spec || memchr(data, 0, len) != NULL)
    goto done; /* orgsecrets' own specs, or not text */
  x->out->files++;
  x->file = shown;
  x->line = 0;
  for (size_t pos = 0; rc == 0 && pos < len;) {
    const char *l = data + pos;
    const char *nl = memchr(l, '\n', len - pos);
    size_t n = nl != NULL ? (size_t)(nl - l) : len - pos;
    pos += n + 1;
    x->line++;
    if (memchr(l, '$', n) == NULL || n > INJECT_REF_INPUT_MAX)
      continue;
    rc = inject_ref_scan(l, n, on_segment, x, x->err);
  }
done:
  free(data);
  return rc;
}

/* The .env templates of directory rel, which the walk skips as hidden. */
static int scan_hidden(refs_ctx *x, const char *rel) {
  char *path = os_path_join(x->root, rel[0] ? rel : ".");
  DIR *d = path != NULL ? opendir(path) : NULL;
  free(path);
  if (d == NULL)
    return 0;
  char **names = NULL;
  size_t n = 0;
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (de->d_name[0] != '.' || (strcmp(de->d_name, ".env") != 0 &&
                                 strncmp(de->d_name, ".env.", 5) != 0))
      continue;
    if (os_grow(&names, NULL, n + 1, sizeof(*names), 4096) < 0 ||
        (names[n] = os_path_join(rel[0] ? rel : ".", de->d_name)) == NULL)
      rc = os_error_set(x->err, OS_ENOMEM, "out of memory");
    else
      n++;
  }
  closedir(d);
  if (n > 0)
    qsort(names, n, sizeof(*names), cmp_str);
  for (size_t i = 0; i < n; i++) {
    if (rc == 0)
      rc = scan_file(x, strncmp(names[i], "./", 2) == 0 ? names[i] + 2 : names[i]);
    free(names[i]);
  }
  free(names);
  return rc;
}

static int on_entry(void *vctx, const spec_walk_entry *e, os_error *err) {
  (void)err;
  refs_ctx *x = vctx;
  if (e->kind == SPEC_WALK_DIR)
    return scan_hidden(x, e->rel);
  if (e->kind == SPEC_WALK_FILE && org_refs_file_wanted(e->name))
    return scan_file(x, e->rel);
  return 0;
}

static int scan_path(refs_ctx *x, const char *path, bool shown_relative) {
  struct stat st;
  if (stat(path, &st) != 0)
    return os_error_set(x->err, OS_ENOTFOUND, "%s: no such file or directory", path);
  if (!S_ISDIR(st.st_mode)) {
    /* a file named on the command line is scanned whatever its name */
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == path)
      snprintf(dir, sizeof(dir), "/");
    else
      snprintf(dir, sizeof(dir), "%.*s", slash != NULL ? (int)(slash - path) : 1,
               slash != NULL ? path : ".");
    x->root = dir;
    x->label = slash != NULL ? dir : "";
    return scan_file(x, slash != NULL ? slash + 1 : path);
  }
  x->root = path;
  x->label = shown_relative ? "" : path;
  os_error werr = OS_ERROR_INIT;
  int rc = spec_walk(path, SPEC_WALK_ALL_FILES | SPEC_WALK_DIRS, on_entry, x, &werr);
  if (rc < 0 && (x->err == NULL || x->err->code == 0))
    os_error_set(x->err, rc, "%s", werr.msg);
  return rc;
}

int org_refs_scan(org_refs *out, const spec_tree *t, const char *env, const char *const *paths,
                  size_t n_paths, os_error *err) {
  memset(out, 0, sizeof(*out));
  if (env != NULL && spec_org_find_env(t->org, env) == NULL)
    return os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s",
                        env, t->org->id);
  refs_ctx x = {.out = out, .t = t, .env = env, .err = err};
  int rc = 0;
  if (n_paths == 0) {
    /* the repository the organization lives in, else its folder */
    const char *const args[] = {"rev-parse", "--show-toplevel", NULL};
    char *top = NULL;
    if (org_git(&top, NULL, t->dir, args, NULL, 0, 4096, NULL) == 0)
      top[strcspn(top, "\r\n")] = '\0';
    rc = scan_path(&x, top != NULL && top[0] != '\0' ? top : t->dir, true);
    free(top);
  }
  for (size_t i = 0; rc == 0 && i < n_paths; i++)
    rc = scan_path(&x, paths[i], false);
  if (rc < 0)
    return rc;
  out->unused = calloc(t->n_secrets ? t->n_secrets : 1, sizeof(*out->unused));
  if (out->unused == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  for (size_t i = 0; i < t->n_secrets; i++) {
    const spec_secret *s = t->secrets[i];
    if (env != NULL && strcmp(s->environment, env) != 0)
      continue;
    bool used = false;
    for (size_t k = 0; k < out->n && !used; k++)
      used = strcmp(out->v[k].name, s->name) == 0;
    if (!used)
      out->unused[out->n_unused++] = s;
  }
  qsort(out->unused, out->n_unused, sizeof(*out->unused), org_secret_cmp);
  return 0;
}

void org_refs_free(org_refs *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->v[i].name);
    free(r->v[i].file);
  }
  free(r->v);
  free(r->unused);
  memset(r, 0, sizeof(*r));
}

json_t *org_refs_json(const org_refs *r) {
  json_t *refs = json_array(), *unknown = json_array(), *unused = json_array();
  bool ok = refs != NULL && unknown != NULL && unused != NULL;
  for (size_t i = 0; ok && i < r->n; i++) {
    const org_ref *x = &r->v[i];
    ok = json_array_append_new(refs, json_pack("{s:s, s:s, s:i, s:b}", "name", x->name, "file",
                                               x->file, "line", x->line, "known", x->known)) == 0;
    if (ok && !x->known)
      ok = json_array_append_new(unknown, json_pack("{s:s, s:s, s:i}", "name", x->name, "file",
                                                    x->file, "line", x->line)) == 0;
  }
  for (size_t i = 0; ok && i < r->n_unused; i++) {
    const spec_secret *s = r->unused[i];
    ok = json_array_append_new(unused, json_pack("{s:s, s:o, s:s}", "environment",
                                                 s->environment, "application",
                                                 s->application != NULL
                                                     ? json_string(s->application)
                                                     : json_null(),
                                                 "name", s->name)) == 0;
  }
  if (!ok) {
    json_decref(refs);
    json_decref(unknown);
    json_decref(unused);
    return NULL;
  }
  return json_pack("{s:I, s:I, s:o, s:o, s:o}", "files", (json_int_t)r->files, "skipped",
                   (json_int_t)r->skipped, "references", refs, "unknown", unknown, "unused",
                   unused);
}

/* Who held which key: every committed revision of the organization file,
 * parsed with the spec decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

#define HISTORY_KEYS_MAX ((size_t)1 << 20)

typedef struct past_key {
  char fp[SPEC_FINGERPRINT_LEN + 1];
  char *name;
} past_key;

struct org_key_history {
  past_key *v;
  size_t n, cap;
  size_t revisions;
};

void org_key_history_free(org_key_history *h) {
  if (h == NULL)
    return;
  for (size_t i = 0; i < h->n; i++)
    free(h->v[i].name);
  free(h->v);
  free(h);
}

const char *org_key_history_name(const org_key_history *h, const char *fp) {
  for (size_t i = 0; h != NULL && i < h->n; i++) {
    if (strcmp(h->v[i].fp, fp) == 0)
      return h->v[i].name;
  }
  return NULL;
}

size_t org_key_history_size(const org_key_history *h) { return h != NULL ? h->n : 0; }
size_t org_key_history_revisions(const org_key_history *h) { return h != NULL ? h->revisions : 0; }

/* Records the members of one revision; revisions come newest first, so a
 * key already known keeps its newer holder. */
static int add_revision(org_key_history *h, const spec_org *o) {
  char fp[SPEC_FINGERPRINT_LEN + 1];
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->recipient == NULL || seal_fingerprint(fp, m->recipient, NULL) < 0 ||
        org_key_history_name(h, fp) != NULL)
      continue;
    if (os_grow(&h->v, &h->cap, h->n + 1, sizeof(*h->v), HISTORY_KEYS_MAX) < 0)
      return OS_ENOMEM;
    memcpy(h->v[h->n].fp, fp, sizeof(fp));
    if ((h->v[h->n].name = os_strdup(m->name)) == NULL)
      return OS_ENOMEM;
    h->n++;
  }
  return 0;
}

/* Parses the output of `git cat-file --batch`: "<oid> blob <size>\n<data>\n"
 * per request, "<what> missing\n" for a missing one. */
static int add_batch(org_key_history *h, const char *dir, const char *file, const char *out,
                     size_t len) {
  size_t pos = 0;
  while (pos < len) {
    const char *line = out + pos;
    const char *nl = memchr(line, '\n', len - pos);
    if (nl == NULL)
      break;
    pos = (size_t)(nl - out) + 1;
    const char *sp2 = NULL, *sp1 = memchr(line, ' ', (size_t)(nl - line));
    if (sp1 != NULL)
      sp2 = memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1));
    /* checksrc: public: git's object type */
    if (sp2 == NULL || (size_t)(sp2 - sp1 - 1) != 4 || memcmp(sp1 + 1, "blob", 4) != 0)
      continue; /* "... missing": the file did not exist in that commit */
    char *end = NULL;
    unsigned long long size = strtoull(sp2 + 1, &end, 10);
    if (end != nl || size > len - pos)
      return OS_EINVAL;
    spec_tree *t = spec_tree_new(dir);
    if (t == NULL)
      return OS_ENOMEM;
    int rc = 0;
    if (spec_tree_parse(t, file, out + pos, (size_t)size, NULL) == 0 && t->org != NULL) {
      h->revisions++;
      rc = add_revision(h, t->org);
    }
    spec_tree_free(t);
    if (rc < 0)
      return rc;
    pos += (size_t)size + 1;
  }
  return 0;
}

int org_key_history_load(org_key_history **out, const char *dir, const char *org_file,
                         os_error *err) {
  *out = calloc(1, sizeof(**out));
  if (*out == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  org_key_history *h = *out;
  const char *const log_args[] = {"log", "--format=%H", "--", org_file, NULL};
  char *revs = NULL, *blobs = NULL;
  size_t revs_len = 0, blobs_len = 0;
  os_buf req;
  os_buf_init(&req, ORG_GIT_OUTPUT_MAX, false);
  int rc = 0;
  if (org_git(&revs, &revs_len, dir, log_args, NULL, 0, ORG_GIT_OUTPUT_MAX, NULL) < 0)
    goto done; /* no Git, not a checkout, no commits: no history */
  /* one `git cat-file --batch` for every revision, newest first */
  for (char *line = revs, *next = NULL; rc == 0 && line != NULL && *line != '\0'; line = next) {
    char *nl = strchr(line, '\n');
    next = nl != NULL ? nl + 1 : NULL;
    size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
    if (n > 0 && os_buf_printf(&req, "%.*s:./%s\n", (int)n, line, org_file) < 0)
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
  }
  const char *const cat_args[] = {"cat-file", "--batch", NULL};
  if (rc == 0 && req.len > 0 &&
      org_git(&blobs, &blobs_len, dir, cat_args, req.data, req.len, ORG_GIT_OUTPUT_MAX, NULL) ==
          0 &&
      (rc = add_batch(h, dir, org_file, blobs, blobs_len)) < 0)
    rc = os_error_set(err, rc, "reading the history of %s: %s", org_file,
                      rc == OS_ENOMEM ? "out of memory" : "unexpected git output");
done:
  os_buf_free(&req);
  free(revs);
  free(blobs);
  return rc;
}

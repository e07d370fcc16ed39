/* Uncommitted changes of the organization folder, and commits of exactly
 * the files asked for (never a push). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"

#define CHANGES_MAX ((size_t)1 << 20)

void org_changes_free(org_changes *c) {
  for (size_t i = 0; c != NULL && i < c->n; i++)
    free(c->v[i].path);
  if (c != NULL) {
    free(c->v);
    c->v = NULL;
    c->n = 0;
  }
}

int org_git_changes(org_changes *out, const char *dir, os_error *err) {
  memset(out, 0, sizeof(*out));
  const char *const top_args[] = {"rev-parse", "--show-prefix", NULL};
  char *prefix = NULL;
  if (org_git(&prefix, NULL, dir, top_args, NULL, 0, 4096, NULL) < 0)
    return 0; /* not a Git work tree */
  out->git = true;
  prefix[strcspn(prefix, "\r\n")] = '\0';
  size_t plen = strlen(prefix);
  const char *const args[] = {"status", "--porcelain=v1", "-z", "--untracked-files=all",
                              "--no-renames", "--", ".", NULL};
  char *text = NULL;
  size_t len = 0;
  int rc = org_git(&text, &len, dir, args, NULL, 0, ORG_GIT_OUTPUT_MAX, err);
  size_t cap = 0;
  for (size_t pos = 0; rc == 0 && pos + 3 < len;) {
    const char *e = text + pos; /* "XY PATH\0" */
    size_t elen = strlen(e);
    pos += elen + 1;
    if (elen < 4 || strncmp(e + 3, prefix, plen) != 0)
      continue;
    if (os_grow(&out->v, &cap, out->n + 1, sizeof(*out->v), CHANGES_MAX) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      break;
    }
    org_change *c = &out->v[out->n];
    memcpy(c->status, e, 2);
    c->status[2] = '\0';
    if ((c->path = os_strdup(e + 3 + plen)) == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      break;
    }
    out->n++;
  }
  free(text);
  free(prefix);
  return rc;
}

/* The NUL-separated pathspec list of files for --pathspec-from-file. */
static int pathspecs(os_buf *b, const char *const *files, size_t n, os_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (files[i] == NULL || files[i][0] == '\0' || files[i][0] == '/' ||
        strstr(files[i], "..") != NULL)
      return os_error_set(err, OS_EINVAL, "%s: not a file of the folder", files[i] ? files[i] : "");
    /* a literal path, never a pattern */
    if (os_buf_puts(b, ":(literal)") < 0 || os_buf_append(b, files[i], strlen(files[i]) + 1) < 0)
      return os_error_set(err, OS_ENOMEM, "too many files");
  }
  return 0;
}

int org_git_commit(char commit[41], const char *dir, const char *const *files, size_t n,
                   const char *message, const char *member, os_error *err) {
  commit[0] = '\0';
  if (n == 0)
    return os_error_set(err, OS_EINVAL, "nothing to commit: no file given");
  if (message == NULL || message[strspn(message, " \t\r\n")] == '\0')
    return os_error_set(err, OS_EINVAL, "the commit message is empty");
  if (member == NULL || member[0] == '\0' || strpbrk(member, "<>\n") != NULL)
    return os_error_set(err, OS_EINVAL, "no acting member to author the commit");
  os_buf specs;
  os_buf_init(&specs, ORG_GIT_OUTPUT_MAX, false);
  char author[1100], uname[600], uemail[600];
  bool email = strchr(member, '@') != NULL;
  int rc = pathspecs(&specs, files, n, err);
  if (rc == 0 && (snprintf(author, sizeof(author), "%s <%s>", member, email ? member : "") >=
                      (int)sizeof(author) ||
                  snprintf(uname, sizeof(uname), "user.name=%s", member) >= (int)sizeof(uname) ||
                  snprintf(uemail, sizeof(uemail), "user.email=%s", email ? member : "") >=
                      (int)sizeof(uemail)))
    rc = os_error_set(err, OS_EINVAL, "member name too long");
  /* the committer: Git's configured user, else the member */
  char *configured = NULL;
  const char *const cfg[] = {"config", "user.email", NULL};
  bool has_user = rc == 0 && org_git(&configured, NULL, dir, cfg, NULL, 0, 4096, NULL) == 0 &&
                  configured[strspn(configured, " \r\n")] != '\0';
  free(configured);
  const char *const add[] = {"add", "--pathspec-from-file=-", "--pathspec-file-nul", NULL};
  char *out = NULL;
  if (rc == 0)
    rc = org_git(&out, NULL, dir, add, specs.data, specs.len, 4096, err);
  free(out);
  out = NULL;
  char amsg[1200];
  snprintf(amsg, sizeof(amsg), "--author=%s", author);
  const char *with_user[] = {"-c", uname, "-c", uemail, "commit", "--quiet", "--only",
                             "--pathspec-from-file=-", "--pathspec-file-nul",
                             amsg, "-m", message, NULL};
  if (rc == 0)
    rc = org_git(&out, NULL, dir, has_user ? with_user + 4 : with_user, specs.data, specs.len,
                 4096, err);
  free(out);
  out = NULL;
  const char *const head[] = {"rev-parse", "HEAD", NULL};
  if (rc == 0 && (rc = org_git(&out, NULL, dir, head, NULL, 0, 4096, err)) == 0) {
    out[strcspn(out, "\r\n")] = '\0';
    snprintf(commit, 41, "%.40s", out);
  }
  free(out);
  os_buf_free(&specs);
  return rc;
}

/* Git merge conflict markers in a spec file, and the two sides they hold. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec.h"

#define MARKER_LEN 7

enum marker { M_NONE, M_OURS, M_BASE, M_SPLIT, M_THEIRS };

/* What the line s[0..n) (without its newline) is: Git writes "<<<<<<< LABEL",
 * "||||||| LABEL" (diff3 and zdiff3 styles), "=======" and ">>>>>>> LABEL". */
static enum marker marker_of(const char *s, size_t n) {
  static const struct {
    char c;
    enum marker m;
  } kinds[] = {{'<', M_OURS}, {'|', M_BASE}, {'=', M_SPLIT}, {'>', M_THEIRS}};
  if (n < MARKER_LEN)
    return M_NONE;
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    size_t i = 0;
    while (i < MARKER_LEN && s[i] == kinds[k].c)
      i++;
    if (i < MARKER_LEN)
      continue;
    if (kinds[k].m == M_SPLIT)
      return n == MARKER_LEN || (n == MARKER_LEN + 1 && s[MARKER_LEN] == '\r') ? M_SPLIT : M_NONE;
    return n == MARKER_LEN || s[MARKER_LEN] == ' ' ? kinds[k].m : M_NONE;
  }
  return M_NONE;
}

int spec_conflict_marker(const char *line, size_t n) {
  switch (marker_of(line, n)) {
  case M_OURS: return SPEC_CONFLICT_OURS;
  case M_BASE: return SPEC_CONFLICT_BASE;
  case M_SPLIT: return SPEC_CONFLICT_SPLIT;
  case M_THEIRS: return SPEC_CONFLICT_THEIRS;
  default: return 0;
  }
}

int spec_conflict_side(char **out, size_t *out_len, int *first_line, const char *data, size_t len,
                       bool theirs, os_error *err) {
  if (out != NULL)
    *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  if (first_line != NULL)
    *first_line = 0;
  os_buf b;
  os_buf_init(&b, len + 1, false);
  enum marker state = M_NONE; /* M_NONE: outside; else the section being read */
  int line = 0, first = 0, rc = 0;
  for (size_t at = 0; at < len && rc == 0;) {
    const char *s = data + at;
    const char *nl = memchr(s, '\n', len - at);
    size_t n = nl != NULL ? (size_t)(nl - s) : len - at;
    size_t whole = n + (nl != NULL);
    line++;
    enum marker m = marker_of(s, n);
    bool keep = false;
    switch (m) {
    case M_OURS:
      if (state != M_NONE)
        rc = os_error_set(err, OS_EINVAL, "line %d: conflict marker inside a conflict", line);
      state = M_OURS;
      if (first == 0)
        first = line;
      break;
    case M_BASE:
      if (state != M_OURS)
        rc = os_error_set(err, OS_EINVAL, "line %d: conflict marker out of place", line);
      state = M_BASE;
      break;
    case M_SPLIT:
      if (state == M_NONE) { /* a line of "=" outside a conflict is just text */
        keep = true;
        break;
      }
      if (state != M_OURS && state != M_BASE)
        rc = os_error_set(err, OS_EINVAL, "line %d: conflict marker out of place", line);
      state = M_SPLIT;
      break;
    case M_THEIRS:
      if (state != M_SPLIT)
        rc = os_error_set(err, OS_EINVAL, "line %d: conflict marker out of place", line);
      state = M_NONE;
      break;
    case M_NONE:
      keep = state == M_NONE || (state == M_OURS && !theirs) || (state == M_SPLIT && theirs);
      break;
    }
    if (rc == 0 && keep && out != NULL && os_buf_append(&b, s, whole) < 0)
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
    at += whole;
  }
  if (rc == 0 && state != M_NONE)
    rc = os_error_set(err, OS_EINVAL, "a conflict that is not closed (no >>>>>>> line)");
  if (first_line != NULL)
    *first_line = first;
  if (rc == 0 && first > 0 && out != NULL) {
    if (os_buf_detach(out, out_len, &b) < 0)
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
  }
  os_buf_free(&b);
  if (rc < 0)
    return first > 0 || rc == OS_ENOMEM ? rc : 0;
  return first > 0 ? 1 : 0;
}

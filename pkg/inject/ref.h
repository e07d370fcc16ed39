/* Secret references inside strings: `$NAME`, `${NAME}` and the `$$` escape.
 * One parser shared by `orgsecrets run` and the admission webhook.
 *
 * Syntax (NAME is ^[A-Z][A-Z0-9_]*$, at most INJECT_REF_NAME_MAX bytes):
 *   $NAME    greedy: the longest run of [A-Z0-9_] after a capital letter
 *   ${NAME}  NAME must match the same pattern; otherwise the text is literal
 *   $$       an escaped, literal `$`
 *   any other `$` (followed by a lower-case letter, a digit, `(`, end of
 *   string, a too-long name, ...) is literal text.
 *
 * Threading: every function here is reentrant; no shared state. */
#ifndef ORGSECRETS_INJECT_REF_H
#define ORGSECRETS_INJECT_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define INJECT_REF_NAME_MAX 253           /* same bound as secret names */
#define INJECT_REF_INPUT_MAX (1024 * 1024) /* longest string scanned or expanded */
#define INJECT_REF_OUTPUT_MAX (8 * 1024 * 1024) /* longest expansion */

typedef enum inject_seg_kind {
  INJECT_SEG_TEXT,   /* literal text, raw as written (may contain a lone `$`) */
  INJECT_SEG_DOLLAR, /* the escape `$$`, meaning one literal `$` */
  INJECT_SEG_REF     /* a reference; name holds the NAME */
} inject_seg_kind;

/* One piece of a scanned string. All pointers are borrowed and valid only
 * during the callback. raw[0..raw_len) is the source span as written, so
 * concatenating every raw span gives back the input byte for byte. */
typedef struct inject_segment {
  inject_seg_kind kind;
  const char *raw;
  size_t raw_len;
  const char *name; /* INJECT_SEG_REF: NUL-terminated NAME; else NULL */
  size_t name_len;
  bool braced;      /* INJECT_SEG_REF: written as ${NAME} */
} inject_segment;

/* Called once per segment in order; return 0 to go on, or a negative code
 * to stop (inject_ref_scan then returns that code). Consecutive literal
 * bytes are reported as one INJECT_SEG_TEXT segment. */
typedef int (*inject_segment_fn)(void *ctx, const inject_segment *seg);

/* Splits s[0..len) into segments. Returns 0, OS_EINVAL when len exceeds
 * INJECT_REF_INPUT_MAX, or the callback's negative code. */
int inject_ref_scan(const char *s, size_t len, inject_segment_fn fn, void *ctx, os_error *err);

/* True when s[0..len) is exactly one reference (`$NAME` or `${NAME}`) and
 * nothing else; *name and *name_len (optional) then point into s. */
bool inject_ref_is_whole(const char *s, size_t len, const char **name, size_t *name_len);

/* True when name[0..len) is a valid reference name. */
bool inject_ref_valid_name(const char *name, size_t len);

/* Looks a name up: returns 1 and sets *value and *len (borrowed, must stay
 * valid until inject_ref_expand returns) when name is a known secret,
 * 0 when it is not (the reference is then left as written), or a negative
 * code to abort the expansion. */
typedef int (*inject_lookup_fn)(void *ctx, const char *name, const uint8_t **value, size_t *len);

/* Expands the NUL-terminated s: each reference to a known secret is replaced
 * by its value (values are inserted verbatim, never scanned again); a
 * reference to an unknown name stays exactly as written, `$` and braces
 * included. `$$` becomes `$` only when s holds at least one known
 * reference; a string without one is returned byte for byte unchanged (this
 * is how `orgsecrets run` treats inherited variables). On success *out is a
 * NUL-terminated copy that may hold secret material (and, for binary values,
 * NUL bytes: use *out_len): the caller frees it with
 * os_free_secret(*out, *out_len + 1). *changed (optional) tells whether any
 * reference was replaced. Returns 0, OS_EINVAL when s is longer than
 * INJECT_REF_INPUT_MAX, OS_ENOMEM when the result would exceed
 * INJECT_REF_OUTPUT_MAX or memory ran out, or the lookup's negative code.
 * Error messages never contain values. */
int inject_ref_expand(char **out, size_t *out_len, const char *s, inject_lookup_fn lookup, void *ctx,
                      bool *changed, os_error *err);

#endif

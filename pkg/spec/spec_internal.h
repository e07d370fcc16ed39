/* Internals shared by the pkg/spec sources; not part of the public API. */
#ifndef ORGSECRETS_SPEC_INTERNAL_H
#define ORGSECRETS_SPEC_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "spec/spec.h"

/* A parsed YAML (or converted JSON) node; all memory lives in an arena. */
enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP };

typedef struct node {
  enum node_kind kind;
  int line;            /* 1-based; 0 for JSON */
  bool plain;          /* plain (unquoted) scalar: subject to type resolution */
  char *str;           /* scalar text, NUL-terminated */
  size_t len;
  struct node *first;  /* children; a map alternates key, value */
  struct node *last;
  struct node *next;
  size_t n;            /* children count (a map counts keys and values) */
} node;

typedef struct arena arena;
arena *arena_new(void) OS_NODISCARD;
void arena_free(arena *a);
/* Forgets every allocation, keeping one block for reuse. */
void arena_reset(arena *a);
void *arena_alloc(arena *a, size_t n);
node *node_new(arena *a, enum node_kind kind, int line) OS_NODISCARD;
void node_append(node *parent, node *child);
int node_set_str(arena *a, node *n, const char *s, size_t len);

/* Where decoded errors point: a file (YAML) or an object name (JSON). */
typedef struct dctx {
  const char *file;    /* YAML: messages start "FILE:LINE: " */
  const char *object;  /* JSON: messages start "OBJECT: " */
  bool lenient_meta;   /* JSON: unknown metadata fields and status are ignored */
  os_error *err;
} dctx;

int dfail(const dctx *d, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Decodes one document (a map with apiVersion/kind/metadata/spec); exactly
 * one of *org / *secret is set on success. */
/* spec_tree_parse with a caller-provided arena (reset before use); fast
 * selects the block-literal fast path (tests compare both). */
int spec_tree_parse_arena(spec_tree *t, arena *a, const char *file, const char *data, size_t len,
                          bool fast, os_error *err);

/* The canonical fast path (fast.c): 0 when every document of data is a
 * canonical OrgSecret (appended to t), 1 when the file must go through
 * libyaml (t untouched). Uses a; the caller resets it afterwards. */
int spec_fast_parse(spec_tree *t, arena *a, const char *file, const char *data, size_t len);

int spec_decode_document(spec_org **org, spec_secret **secret, const dctx *d, const node *root);

/* Scalar resolution shared by the decoder (strict strings) and the emitter
 * (quoting): true when a plain scalar s would not be read as a string. */
bool spec_plain_is_nonstring(const char *s, size_t len);

/* The resource name into buf (NUL-terminated; app NULL: organization-level
 * form); returns its length, 0 when buf is too small. */
size_t spec_resource_name_into(char *buf, size_t size, const char *org, const char *env,
                               const char *app, const char *name);

void spec_kv_free(spec_kv *kv, size_t n);
int spec_kv_dup(spec_kv **out, const spec_kv *in, size_t n);
void spec_strings_free(char **v, size_t n);

#endif

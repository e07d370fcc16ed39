/* A small arena-backed node tree built from libyaml events. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "spec/spec_internal.h"
#include "spec/yaml_nodes.h"

#define ARENA_BLOCK (64 * 1024)
#define DEPTH_MAX 64

struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  max_align_t data[];
};

struct arena {
  struct arena_block *head;
};

arena *arena_new(void) { return calloc(1, sizeof(arena)); }

void arena_free(arena *a) {
  if (a == NULL)
    return;
  struct arena_block *b = a->head;
  while (b != NULL) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  free(a);
}

void *arena_alloc(arena *a, size_t n) {
  size_t align = sizeof(max_align_t);
  if (n > SIZE_MAX - align)
    return NULL;
  n = (n + align - 1) / align * align;
  struct arena_block *b = a->head;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    b = malloc(sizeof(*b) + cap);
    if (b == NULL)
      return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = (char *)b->data + b->used;
  b->used += n;
  return p;
}

node *node_new(arena *a, enum node_kind kind, int line) {
  node *n = arena_alloc(a, sizeof(node));
  if (n == NULL)
    return NULL;
  memset(n, 0, sizeof(*n));
  n->kind = kind;
  n->line = line;
  return n;
}

void node_append(node *parent, node *child) {
  if (parent->last != NULL)
    parent->last->next = child;
  else
    parent->first = child;
  parent->last = child;
  parent->n++;
}

int node_set_str(arena *a, node *n, const char *s, size_t len) {
  if (len == SIZE_MAX)
    return OS_ENOMEM;
  char *p = arena_alloc(a, len + 1);
  if (p == NULL)
    return OS_ENOMEM;
  if (len > 0)
    memcpy(p, s, len);
  p[len] = '\0';
  n->str = p;
  n->len = len;
  return 0;
}

static int yaml_error(const dctx *d, const yaml_parser_t *p) {
  size_t line = p->problem_mark.line + 1;
  if (p->problem_mark.line == 0 && p->context_mark.line > 0)
    line = p->context_mark.line + 1;
  const char *problem = p->problem ? p->problem : "malformed YAML";
  if (p->context != NULL)
    return dfail(d, (int)line, "invalid YAML: %s %s", p->context, problem);
  return dfail(d, (int)line, "invalid YAML: %s", problem);
}

static int line_of(const yaml_mark_t *m) {
  return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

int yaml_nodes_parse(node **docs, arena *a, const dctx *d, const char *data, size_t len) {
  *docs = NULL;
  yaml_parser_t p;
  yaml_event_t ev;
  bool have_ev = false;
  node *stack[DEPTH_MAX];
  size_t depth = 0;
  int rc = 0;
  node *list = node_new(a, NODE_SEQ, 0);
  if (list == NULL)
    return dfail(d, 0, "out of memory");
  if (!yaml_parser_initialize(&p))
    return dfail(d, 0, "out of memory");
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  for (;;) {
    if (!yaml_parser_parse(&p, &ev)) {
      rc = yaml_error(d, &p);
      goto done;
    }
    have_ev = true;
    int line = line_of(&ev.start_mark);
    node *n = NULL;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      goto done;
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_NO_EVENT:
      break;
    case YAML_DOCUMENT_END_EVENT:
      break;
    case YAML_ALIAS_EVENT:
      rc = dfail(d, line, "YAML aliases are not supported");
      goto done;
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.anchor
                                  : ev.type == YAML_SEQUENCE_START_EVENT
                                      ? ev.data.sequence_start.anchor
                                      : ev.data.mapping_start.anchor;
      const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.tag
                               : ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.tag
                                                                      : ev.data.mapping_start.tag;
      if (anchor != NULL) {
        rc = dfail(d, line, "YAML anchors are not supported");
        goto done;
      }
      if (tag != NULL) {
        rc = dfail(d, line, "YAML tags are not supported");
        goto done;
      }
      enum node_kind k = ev.type == YAML_SCALAR_EVENT          ? NODE_SCALAR
                         : ev.type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ
                                                                : NODE_MAP;
      n = node_new(a, k, line);
      if (n == NULL) {
        rc = dfail(d, line, "out of memory");
        goto done;
      }
      if (k == NODE_SCALAR) {
        n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (node_set_str(a, n, (const char *)ev.data.scalar.value, ev.data.scalar.length) < 0) {
          rc = dfail(d, line, "out of memory");
          goto done;
        }
      }
      node_append(depth > 0 ? stack[depth - 1] : list, n);
      if (k != NODE_SCALAR) {
        if (depth == DEPTH_MAX) {
          rc = dfail(d, line, "YAML nested too deeply");
          goto done;
        }
        stack[depth++] = n;
      }
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      if (depth > 0)
        depth--;
      break;
    }
    yaml_event_delete(&ev);
    have_ev = false;
  }
done:
  if (have_ev)
    yaml_event_delete(&ev);
  yaml_parser_delete(&p);
  if (rc == 0)
    *docs = list;
  return rc;
}

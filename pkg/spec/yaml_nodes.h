/* libyaml stream -> node tree (internal to pkg/spec). */
#ifndef ORGSECRETS_SPEC_YAML_NODES_H
#define ORGSECRETS_SPEC_YAML_NODES_H

#include "spec/spec_internal.h"

/* Parses every document of data into *docs (a NODE_SEQ whose children are
 * the document roots), allocated in a. Aliases, anchors and tags are
 * refused. Errors carry "FILE:LINE: ". fast enables the block-literal fast
 * path (same result, checked by tests against fast = false). */
int yaml_nodes_parse(node **docs, arena *a, const dctx *d, const char *data, size_t len,
                     bool fast);

#endif

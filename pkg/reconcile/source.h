/* Loading specs for the controller: a folder (a Git checkout) read
 * leniently — a broken file is reported and marks the source incomplete
 * instead of failing every secret — and change detection for it.
 * Threading: reentrant; a reconcile_source_watch belongs to one thread. */
#ifndef ORGSECRETS_RECONCILE_SOURCE_H
#define ORGSECRETS_RECONCILE_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "reconcile/plan.h"
#include "spec/spec.h"

/* Called for every problem found (file:line message; never a value). */
typedef void (*reconcile_source_problem_fn)(void *ctx, const char *file, int line, const char *msg);

/* The specs of a folder as last read. Loads re-parse only the files whose
 * inode, size or mtime changed. A file that does not parse (or holds a
 * secret failing the checks that need no other document) is reported and
 * its previous documents are kept (its last good values stay delivered); a
 * broken file never read before, or a document failing cross-document
 * validation, marks the load incomplete (the caller then deletes nothing).
 *
 * Memory: each file is one block holding the reconcile_plan_secret records of its
 * secrets (names, state, source line, digest), its path, their names and
 * their opened values (reconcile_plan_secret.value; the block is wiped when freed);
 * organization, environment and application names are held once;
 * the parsed spec is dropped once the hook has opened its value (see
 * reconcile_source_secret_fn). */
typedef struct reconcile_source_cache reconcile_source_cache;
int reconcile_source_cache_new(reconcile_source_cache **out, const char *dir,
                               os_error *err) OS_NODISCARD;
void reconcile_source_cache_free(reconcile_source_cache *c);

/* Called for each secret of a file just (re)parsed whose value the cache
 * does not hold yet (a re-read file keeps the values of its unchanged
 * ciphertexts), with its digest (reconcile_plan_secret_digest). Returns 0 with
 * *value and *len set to the opened value (a secret buffer the cache copies
 * into the file's block and then wipes), or 0 with *value NULL when this
 * controller never needs it; an error code keeps the whole spec in memory
 * (reconcile_plan_secret.spec) so that reconcile_plan_build retries and reports it. */
typedef int (*reconcile_source_secret_fn)(void *ctx, const spec_secret *s, const uint8_t digest[32],
                                          uint8_t **value, size_t *len);
void reconcile_source_cache_set_hook(reconcile_source_cache *c, reconcile_source_secret_fn fn,
                                     void *ctx);

/* A view of the usable secrets of the last load; borrowed from the cache,
 * valid until the next load or reconcile_source_cache_free(). */
typedef struct reconcile_source_view {
  const spec_org *org;
  const reconcile_plan_secret **secrets;
  size_t n_secrets;
} reconcile_source_view;

/* Loads every .yaml and .yml file below the folder (hidden directories and
 * node_modules skipped) into *out (release with reconcile_source_view_clear()). Fails
 * when no usable Organization exists. */
int reconcile_source_cache_load(reconcile_source_cache *c, reconcile_source_view *out,
                                bool *incomplete, reconcile_source_problem_fn report, void *ctx,
                                os_error *err);
void reconcile_source_view_clear(reconcile_source_view *v);

/* A cheap fingerprint of the folder (paths, sizes, mtimes of spec files);
 * it changes when any spec file is added, removed or modified. */
int reconcile_source_dir_stamp(uint64_t *out, const char *dir, os_error *err);

typedef struct reconcile_source_watch reconcile_source_watch;
/* Watches dir recursively with inotify; reconcile_source_watch_wait() returns 1 when
 * something changed within timeout_ms, else 0. Caller frees with
 * reconcile_source_watch_free(). Falls back to polling stamps if inotify fails. */
int reconcile_source_watch_new(reconcile_source_watch **out, const char *dir,
                               os_error *err) OS_NODISCARD;
int reconcile_source_watch_wait(reconcile_source_watch *w, int timeout_ms);
void reconcile_source_watch_free(reconcile_source_watch *w);

#endif

/* Loading specs for the controller: a folder (a Git checkout) read
 * leniently — a broken file is reported and marks the source incomplete
 * instead of failing every secret — and change detection for it.
 * Threading: reentrant; a source_watch belongs to one thread. */
#ifndef ORGSECRETS_RECONCILE_SOURCE_H
#define ORGSECRETS_RECONCILE_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "spec/spec.h"

/* Called for every problem found (file:line message; never a value). */
typedef void (*source_problem_fn)(void *ctx, const char *file, int line, const char *msg);

/* The specs of a folder as last read. Loads re-parse only the files whose
 * inode, size or mtime changed. A file that does not parse is reported and
 * its previous documents are kept (its last good values stay delivered); a
 * broken file never read before, or a document failing cross-document
 * validation, marks the load incomplete (the caller then deletes nothing). */
typedef struct source_cache source_cache;
int source_cache_new(source_cache **out, const char *dir, os_error *err);
void source_cache_free(source_cache *c);

/* Called for each secret of a file just (re)parsed, with its digest: the
 * controller unseals it at once and may then release its ciphertext
 * (free encrypted_value, set value_released), so the ciphertexts of a large
 * folder never all sit in memory together. */
typedef void (*source_secret_fn)(void *ctx, spec_secret *s, const uint8_t digest[32]);
void source_cache_set_hook(source_cache *c, source_secret_fn fn, void *ctx);

/* Loads every .yaml and .yml file below the folder (hidden directories and
 * node_modules skipped). *out is a view: its org and secrets are borrowed
 * from the cache, valid until the next load or source_cache_free(); free it
 * with source_view_free(). *digests (parallel to (*out)->secrets, free the
 * array with free()) holds plan_secret_digest() of each secret as read, so a
 * caller may drop encryptedValue strings once their values are unsealed.
 * Fails when no usable Organization exists. */
int source_cache_load(source_cache *c, spec_tree **out, const uint8_t *const **digests,
                      bool *incomplete, source_problem_fn report, void *ctx, os_error *err);
void source_view_free(spec_tree *view);

/* A cheap fingerprint of the folder (paths, sizes, mtimes of spec files);
 * it changes when any spec file is added, removed or modified. */
int source_dir_stamp(uint64_t *out, const char *dir, os_error *err);

typedef struct source_watch source_watch;
/* Watches dir recursively with inotify; source_watch_wait() returns 1 when
 * something changed within timeout_ms, else 0. Caller frees with
 * source_watch_free(). Falls back to polling stamps if inotify fails. */
int source_watch_new(source_watch **out, const char *dir, os_error *err);
int source_watch_wait(source_watch *w, int timeout_ms);
void source_watch_free(source_watch *w);

#endif

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

/* Loads every .yaml and .yml file below dir. Files that fail to parse, or that
 * hold a document failing validation, are left out and reported, and
 * *incomplete is set (the caller then deletes nothing). Fails only when no
 * Organization could be loaded, or on I/O errors reading dir itself. */
int source_dir_load(spec_tree **out, bool *incomplete, const char *dir, source_problem_fn report,
                    void *ctx, os_error *err);

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

/* Env-file targets: one file per delivery unit below a folder, written
 * atomically with mode 0600, untouched when its content is unchanged.
 * Threading: reentrant. */
#ifndef ORGSECRETS_RECONCILE_ENVFILES_H
#define ORGSECRETS_RECONCILE_ENVFILES_H

#include <stddef.h>

#include "common/err.h"
#include "reconcile/plan.h"

typedef struct reconcile_envfiles_result {
  size_t written; /* files whose content changed */
  size_t unchanged;
  size_t failed;
} reconcile_envfiles_result;

/* Called once per file written or failed (path, and the error or NULL). */
typedef void (*reconcile_envfiles_event_fn)(void *ctx, const reconcile_plan_target *t,
                                            const char *path, const os_error *failure);

/* Brings every target's env file in dir to the plan. A name in t->kept (or,
 * with keep_unknown, any name not planned) keeps the value the file already
 * holds. Returns 0 when every file converged. */
int reconcile_envfiles_sync(reconcile_envfiles_result *res, const reconcile_plan *p,
                            const char *dir, reconcile_envfiles_event_fn on_event, void *ctx,
                            os_error *err);

#endif

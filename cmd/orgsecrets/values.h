/* Unsealing the secrets of one environment for render and run. */
#ifndef ORGSECRETS_CMD_VALUES_H
#define ORGSECRETS_CMD_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

typedef struct cli_value {
  const spec_secret *secret; /* borrowed from the tree */
  uint8_t *value;            /* secret; NULL when unsealing failed */
  size_t len;
} cli_value;

typedef struct cli_values {
  cli_value *v; /* sorted by name */
  size_t n;
  size_t failed; /* how many could not be unsealed (each reported on stderr) */
} cli_values;

enum cli_scope {
  CLI_SCOPE_MERGED, /* organization-level plus --app's (render env/json, run) */
  CLI_SCOPE_EXACT   /* organization-level only, or only --app's (render k8s) */
};

/* Selects the active secrets of env in scope (only: NULL or a list of names
 * that must all exist), then unseals each with ids. A secret that fails is
 * reported on stderr ("orgsecrets: <cmd>: <why>") and counted. Returns 0, or
 * CLI_FAIL after printing an error that stops everything. */
int cli_values_load(cli_values *out, const spec_tree *t, const char *env, const char *app,
                    enum cli_scope scope, const cli_list *only, const age_identity *const *ids,
                    size_t n_ids, const char *cmd);
/* Wipes and frees the values. */
void cli_values_free(cli_values *vs);

#endif

/* Entry points of the orgsecrets subcommands and the helpers they share:
 * option parsing, error lines, loading the organization folder and the
 * identity file. Each cmd_* returns the process exit status (0 success,
 * 1 failure, 2 usage error). Threading: the CLI is single-threaded. */
#ifndef ORGSECRETS_CMD_CLI_H
#define ORGSECRETS_CMD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "spec/spec.h"

/* orgsecrets age keygen|encrypt|decrypt (cmd/orgsecrets/age_cmd.c). argv[0] is "age". */
int cmd_age(int argc, char **argv);

/* Global options, resolved once in main(); strings are borrowed from argv
 * or the environment. */
typedef struct cli_ctx {
  const char *dir;      /* --dir, $ORGSECRETS_DIR, "." */
  const char *as;       /* --as, $ORGSECRETS_USER; NULL: ask git when needed */
  const char *identity; /* -i, $ORGSECRETS_IDENTITY; NULL: ~/.config/orgsecrets/identity */
} cli_ctx;

/* The subcommands; argv[0] is the command word ("set", "member", ...). */
int cmd_keygen(cli_ctx *ctx, int argc, char **argv);
int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_member(cli_ctx *ctx, int argc, char **argv);
int cmd_env(cli_ctx *ctx, int argc, char **argv);
int cmd_app(cli_ctx *ctx, int argc, char **argv);
int cmd_set(cli_ctx *ctx, int argc, char **argv);
int cmd_list(cli_ctx *ctx, int argc, char **argv);
int cmd_reveal(cli_ctx *ctx, int argc, char **argv);
int cmd_delete(cli_ctx *ctx, int argc, char **argv);
int cmd_lint(cli_ctx *ctx, int argc, char **argv);
int cmd_rekey(cli_ctx *ctx, int argc, char **argv);
int cmd_render(cli_ctx *ctx, int argc, char **argv);
int cmd_run(cli_ctx *ctx, int argc, char **argv);
int cmd_audit(cli_ctx *ctx, int argc, char **argv);
int cmd_ui(cli_ctx *ctx, int argc, char **argv); /* ui_cmd.c */

/* Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ---- option parsing ---- */

enum cli_opt_kind {
  CLI_FLAG,  /* dest is bool* */
  CLI_VALUE, /* dest is const char** (borrowed from argv) */
  CLI_LIST   /* dest is cli_list*, the option may repeat */
};

typedef struct cli_list {
  const char **v; /* borrowed strings; the array is freed by cli_list_free() */
  size_t n;
} cli_list;

typedef struct cli_opt {
  const char *name;  /* "--env" */
  const char *alias; /* "-o", or NULL */
  enum cli_opt_kind kind;
  void *dest;
} cli_opt;

typedef struct cli_args {
  const char *pos[8]; /* positional arguments, borrowed */
  size_t n_pos;
  int rest;           /* index in argv of the first word after "--", or -1 */
} cli_args;

/* Parses argv[1..argc) against opts plus the global options (--dir, --as,
 * -i/--identity, which update ctx) and --help/-h. "--name=value" and
 * "--name value" are both accepted; "--" stops parsing (args->rest).
 * Returns 0 to go on, 1 when --help printed usage (exit 0), or -1 after
 * printing a usage error (exit 2). */
int cli_parse(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
              size_t n_opts, size_t max_pos, const char *usage);
void cli_list_free(cli_list *l);

/* Prints "usage: ..." and the message to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- errors ---- */

/* Prints "orgsecrets: <what>: <err->msg>" on stderr; returns CLI_FAIL. */
int cli_fail(const char *what, const os_error *err);
/* Prints "orgsecrets: <formatted>" on stderr; returns CLI_FAIL. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "orgsecrets: <formatted>" on stderr (no exit status implied). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the organization folder ---- */

/* Loads ctx->dir; on failure prints the error and returns CLI_FAIL.
 * Caller frees *out with spec_tree_free(). */
int cli_load_tree(spec_tree **out, const cli_ctx *ctx);

/* Resolves the acting member (--as, $ORGSECRETS_USER, git config
 * user.email). Returns the name (borrowed from ctx, or from the member
 * entry of t when found) or NULL after setting err. */
const char *cli_author(const cli_ctx *ctx, os_error *err);

/* Checks that the acting member exists in t's organization and holds one of
 * the roles allowed (bit mask of 1u << SPEC_ROLE_*). Prints the error and
 * returns CLI_FAIL, or 0 with *who set to the member. */
int cli_require_role(const spec_member **who, const cli_ctx *ctx, const spec_tree *t,
                     unsigned allowed, const char *action);

/* The identity file path (-i, $ORGSECRETS_IDENTITY, ~/.config/...);
 * writes into out. Returns 0 or a negative code with err set. */
int cli_identity_path(char *out, size_t out_size, const cli_ctx *ctx, os_error *err);

/* Loads the identities of the identity file; caller frees with
 * age_identities_free(). */
int cli_load_identities(age_identity ***ids, size_t *n, const cli_ctx *ctx, os_error *err);

/* The current time as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ". */
void cli_now(char out[32]);

/* Parses an RFC 3339 UTC timestamp "YYYY-MM-DDTHH:MM:SSZ" into seconds
 * since the epoch; returns 0 or -1. */
int cli_parse_time(int64_t *out, const char *s);

/* Parses a decimal integer in [min, max]; returns 0 or -1. */
int cli_parse_long(long *out, const char *s, long min, long max);

/* Writes every document of file (a pos.file of t), after removing stale
 * temporary files of killed writers from its directory (once per directory
 * and process). */
int cli_write_file(const spec_tree *t, const char *file, os_error *err);

/* Path of a secret's file for a new secret: "<dir>/secrets/<env>/<NAME>.yaml",
 * or, when NAME.yaml would pass 255 bytes, "<first 200 of NAME>-<hash>.yaml".
 * Caller frees. */
char *cli_new_secret_path(const spec_tree *t, const char *env, const char *name);

/* Compares two secrets for sorting: environment, then name. */
int cli_secret_cmp(const void *a, const void *b);

/* strcmp for qsort over an array of char*. */
int cli_str_cmp(const void *a, const void *b);

/* Opens an output file named on the command line: "-" and "/dev/stdout"
 * are stdout, anything else follows os_output_open's rule (a regular file
 * is replaced atomically, a FIFO or device written in place, a symlink only
 * followed to one of those). Stale temporary files of killed writers in
 * the file's directory are removed first. Commit or abort with
 * os_output_commit() / os_output_abort(). */
int cli_output_open(os_output *o, const char *path, mode_t mode, os_error *err);

/* Writes data to an output file as cli_output_open describes. */
int cli_write_output(const char *path, const void *data, size_t len, mode_t mode, os_error *err);

/* Writes all n bytes to fd; returns 0 or -1. */
int cli_write_all(int fd, const void *p, size_t n);

/* Runs argv (no shell) and captures its stdout, at most max bytes, stderr
 * discarded. Returns 0 when it exited 0 (caller frees *out), else -1. */
int cli_capture(char **out, size_t *out_len, char *const argv[], size_t max);

/* Number of secrets whose recipients are out of date. */
size_t cli_count_stale(const spec_tree *t);

#endif

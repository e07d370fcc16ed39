/* The orgsecrets command line: entry points of the subcommands and what
 * they share (the one option parser, error lines, reading values, output
 * files, the global options as an org_ctx). The rules live in pkg/org;
 * commands parse, call it, and print. Each cmd_* returns the process exit
 * status (0 success, 1 failure, 2 usage error).
 * Threading: the CLI is single-threaded. */
#ifndef ORGSECRETS_CMD_CLI_H
#define ORGSECRETS_CMD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"
#include "common/fsutil.h"
#include "org/org.h"
#include "spec/spec.h"

/* Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Global options, resolved in main(); strings are borrowed from argv or the
 * environment. */
typedef struct cli_ctx {
  const char *dir;      /* --dir, $ORGSECRETS_DIR; NULL: found by cli_dir() */
  const char *as;       /* --as, $ORGSECRETS_USER; NULL: git config user.email */
  const char *as_from;  /* "--as" or "ORGSECRETS_USER" when as is set */
  const char *identity; /* -i, $ORGSECRETS_IDENTITY; NULL: ~/.config/orgsecrets/identity */
  org_keys *keys;       /* made by cli_org() */
  org_ctx org;
  char *found_dir;      /* cli_dir()'s discovery, when dir is NULL */
  bool discovered;
  os_error discover_err;
  char *env_buf;        /* cli_env()'s answer */
} cli_ctx;

/* The org_ctx of the global options: actor --as, the identity file of -i
 * (read on first use), notes printed on stderr. NULL on allocation failure
 * (after printing it). Borrowed until cli_ctx_close(). */
const org_ctx *cli_org(cli_ctx *ctx);
/* Frees what cli_org() made (the identities are wiped). */
void cli_ctx_close(cli_ctx *ctx);

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
int cmd_age(cli_ctx *ctx, int argc, char **argv);
int cmd_ui(cli_ctx *ctx, int argc, char **argv); /* ui_cmd.c */
/* the everyday CLI */
int cmd_whoami(cli_ctx *ctx, int argc, char **argv);     /* whoami_cmd.c */
int cmd_import(cli_ctx *ctx, int argc, char **argv);     /* import_cmd.c */
int cmd_history(cli_ctx *ctx, int argc, char **argv);    /* history_cmd.c */
int cmd_refs(cli_ctx *ctx, int argc, char **argv);       /* refs_cmd.c */
int cmd_org(cli_ctx *ctx, int argc, char **argv);        /* org_cmd.c */
int cmd_completion(cli_ctx *ctx, int argc, char **argv); /* complete.c */
int cmd_complete(cli_ctx *ctx, int argc, char **argv);   /* complete.c: __complete */
/* reveal --at REV: a value as it was in a commit (history_cmd.c) */
int cli_reveal_at(cli_ctx *ctx, const char *name, const char *env, const char *app,
                  const char *rev);

/* The values of `list --status` (list_cmd.c), NULL-terminated. */
extern const char *const cli_list_statuses[];

/* `env remove` / `app remove` (env_cmd.c): NAME [--delete-secrets] with
 * org_env_remove or org_app_remove (fn); word is "env" or "app", kind
 * "environment" or "application". *removed: the name removed (borrowed
 * from argv), NULL when nothing was. Returns the exit status. */
typedef int (*cli_remove_fn)(size_t *deleted, const org_ctx *c, spec_tree *t, const char *name,
                             bool delete_secrets, os_error *err);
int cli_remove_unit(const char **removed, cli_ctx *ctx, int argc, char **argv, const char *usage,
                    const char *word, const char *kind, cli_remove_fn fn);

/* The command table (main.c): the visible command words into out (at most
 * max; returns how many), and running argv[0]'s command (CLI_USAGE when
 * there is none). */
size_t cli_command_names(const char **out, size_t max);
int cli_command_run(cli_ctx *ctx, int argc, char **argv);

/* ---- writing secrets: set, create, update (set_cmd.c, create_cmd.c),
 * resolve (resolve_cmd.c), values in (input.c) ---- */
int cmd_create(cli_ctx *ctx, int argc, char **argv);
int cmd_update(cli_ctx *ctx, int argc, char **argv);
int cmd_resolve(cli_ctx *ctx, int argc, char **argv);
/* set (ORG_SET_UPSERT), create and update: one parser, one flow. */
int cli_secret_write(cli_ctx *ctx, int argc, char **argv, enum org_set_mode mode);
/* Reads a value from stdin for the secret label ("ENV/NAME"), at most
 * SPEC_VALUE_MAX + 1 bytes (so that an oversized one is seen). On a
 * terminal: one line, without echo and without its newline (the prompt
 * says so). From a pipe or a file: the bytes as they are; a trailing
 * newline is kept, with a warning naming `printf %s` and --trim, unless
 * trim drops trailing newlines. *out is secret: caller frees with
 * os_free_secret(). */
int cli_read_value(uint8_t **out, size_t *out_len, const char *label, bool trim, os_error *err);
/* Drops trailing "\n" and "\r" bytes of v (wiping them); returns the new length. */
size_t cli_trim_newlines(uint8_t *v, size_t len);
/* One warning line on stderr per file of t that does not load (where,
 * what, the way out); cli_load_tree() calls it (context.c). */
void cli_warn_bad_files(const spec_tree *t);

/* ---- the option parser (opts.c) ---- */

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
  const char *alias; /* "-e", or NULL */
  enum cli_opt_kind kind;
  void *dest;
} cli_opt;

#define CLI_POS_MAX 8

typedef struct cli_args {
  const char *pos[CLI_POS_MAX]; /* positional arguments, borrowed */
  size_t n_pos;
  int rest; /* index in argv of the first word after "--" (main: the command word), or -1 */
} cli_args;

/* The one option parser. Parses argv[1..argc) against opts and, when ctx
 * is non-NULL, the global options --dir, --as and -i/--identity (which set
 * ctx; a command's own option of the same name wins). Accepted forms:
 * "--name VALUE", "--name=VALUE", "-x VALUE", "-xVALUE"; "-h"/"--help"
 * prints usage on stdout; "--" ends the options (args->rest); "-" is a
 * positional argument. Returns 0 to go on, 1 when --help printed usage
 * (exit 0), or -1 after printing a usage error (exit 2). */
int cli_parse(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
              size_t n_opts, size_t max_pos, const char *usage);
/* main()'s pass: the global options and opts before the command word, whose
 * index goes to args->rest (-1: none). Same forms and returns. */
int cli_parse_main(cli_ctx *ctx, cli_args *args, int argc, char **argv, const cli_opt *opts,
                   size_t n_opts, const char *usage);
void cli_list_free(cli_list *l);

/* Parses a decimal integer in [min, max]; returns 0 or -1. */
int cli_parse_long(long *out, const char *s, long min, long max);

/* A secret's --rotation-days: N days (1..SPEC_ROTATION_DAYS_MAX), 0 (no
 * policy: ORG_ROTATION_NONE), or "org"/"default" (the organization's:
 * ORG_ROTATION_ORG), as org_secret_opts.rotation_days; 0 or -1. */
int cli_parse_rotation(int *out, const char *s);

/* ---- completion (opts.c, complete.c) ---- */

#define CLI_OPTS_MAX 64

/* A command's options as cli_parse saw them (dest NULL). */
typedef struct cli_opt_table {
  cli_opt v[CLI_OPTS_MAX];
  size_t n;
  bool seen; /* the command called cli_parse */
} cli_opt_table;

/* The next cli_parse() copies its option table into t and returns 1 (as for
 * --help) without parsing or printing: how `__complete` learns a
 * command's options from the command itself. */
void cli_complete_capture(cli_opt_table *t);

/* ---- output formats (output.c) ---- */

enum cli_format { CLI_FORMAT_TABLE = 0, CLI_FORMAT_JSON, CLI_FORMAT_WIDE };

/* -o of a listing: "table" (also s NULL), "json", and "wide" when wide_ok.
 * Else prints "WHAT: unknown output format S" and the usage line, and
 * returns -1. */
int cli_format_parse(enum cli_format *out, const char *s, bool wide_ok, const char *usage,
                     const char *what);
/* Prints j (indented, keys in the order set) and a newline on stdout and
 * releases it (j may be NULL: allocation failed). CLI_OK, or CLI_FAIL
 * after "WHAT: out of memory". */
int cli_print_json(json_t *j, const char *what);
/* Appends item (stolen) to the array *arr; on failure releases *arr and
 * sets it to NULL, which cli_print_json() then reports. */
void cli_json_push(json_t **arr, json_t *item);

/* ---- messages (output.c) ---- */

/* Prints "orgsecrets: <formatted>" and the usage line to stderr; returns
 * CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "orgsecrets: <what>: <err->msg>" on stderr; returns CLI_FAIL. */
int cli_fail(const char *what, const os_error *err);
/* Prints "orgsecrets: <formatted>" on stderr; returns CLI_FAIL. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "orgsecrets: <formatted>" on stderr (no exit status implied). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the organization folder (context.c) ---- */

/* The organization folder: --dir / $ORGSECRETS_DIR, else the folder
 * org_discover() finds upward from the current directory, else "." (which
 * then fails to load). Borrowed until cli_ctx_close(). */
const char *cli_dir(cli_ctx *ctx);

/* Loads cli_dir() with org_load(); on failure prints "load DIR: ..." (or
 * why no folder was found) and returns CLI_FAIL. Caller frees *out with
 * spec_tree_free(). */
int cli_load_tree(spec_tree **out, cli_ctx *ctx);

/* The environment a command acts on: *env is --env's value (NULL when not
 * given) and becomes org_env_default()'s answer (borrowed until
 * cli_ctx_close()); t, when already loaded, spares reading the
 * organization again. A defaulted environment is named on stderr
 * ("orgsecrets: environment dev (ORGSECRETS_ENV)"). Returns CLI_OK, or
 * prints "WHAT: why" and returns CLI_USAGE (no environment given) or
 * CLI_FAIL. */
int cli_env(const char **env, cli_ctx *ctx, const spec_tree *t, const char *what);

/* cli_org() and cli_load_tree(): the org_ctx (borrowed) with *t loaded
 * (caller frees), or NULL after printing why (exit status CLI_FAIL). */
const org_ctx *cli_open(spec_tree **t, cli_ctx *ctx);

/* The start of a command on one environment: cli_org(), cli_load_tree()
 * and cli_env(env, ..., what). Returns the org_ctx (borrowed) with *t
 * loaded (caller frees) and *env resolved, and *status CLI_FAIL for the
 * command's own failures; or NULL after printing why, *status the exit
 * status. */
const org_ctx *cli_open_env(spec_tree **t, const char **env, int *status, cli_ctx *ctx,
                            const char *what);

/* The start of a listing whose only option is -o table|json: parses argv,
 * then loads the folder. CLI_OK with *fmt and *t (caller frees; NULL after
 * --help), else the exit status after printing why. */
int cli_listing(spec_tree **t, enum cli_format *fmt, cli_ctx *ctx, int argc, char **argv,
                const char *usage, const char *what);

/* ---- values in, outputs out (input.c, output.c) ---- */

/* Reads a value from a file (--from-file), refusing more than
 * SPEC_VALUE_MAX bytes. *out is secret. */
int cli_read_value_file(uint8_t **out, size_t *out_len, const char *path, os_error *err);

/* Opens an output file named on the command line: "-" and "/dev/stdout"
 * are stdout, anything else follows os_output_open's rule (a regular file
 * is replaced atomically, a FIFO or device written in place, a symlink only
 * followed to one of those). Stale temporary files of killed writers in
 * the file's directory are removed first. Commit or abort with
 * os_output_commit() / os_output_abort(). */
int cli_output_open(os_output *o, const char *path, mode_t mode, os_error *err);
/* Writes data to an output file as cli_output_open describes. */
int cli_write_output(const char *path, const void *data, size_t len, mode_t mode, os_error *err);
/* Writes all n bytes to fd; returns 0 or -1 (errno). */
int cli_write_all(int fd, const void *p, size_t n);

#endif

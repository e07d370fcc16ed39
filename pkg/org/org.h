/* Organization operations: what admins, members and viewers do to an
 * organization folder (init, members, environments, applications, secrets,
 * lint, rekey), with the role rules, for the `orgsecrets` CLI and the local
 * page alike. Operations work on a spec_tree loaded with org_load(), check
 * the acting member's role, change the tree and write exactly the files
 * they change; none prints. Error messages name what failed without the
 * caller's own prefix (the CLI adds "set prod/NAME: " and the like) and
 * never contain a value.
 *
 * Secrets are addressed by (environment, application, name); application
 * NULL is the organization level. Names are unique per application: an
 * operation without an application addresses only the organization-level
 * secret (and says so, through c->note, when applications have their own
 * secret of that name).
 *
 * Threading: reentrant; a spec_tree, an org_keys and the structs filled
 * here belong to one thread at a time. Git is run as a child process
 * (git.c), never through a shell. */
#ifndef ORGSECRETS_ORG_ORG_H
#define ORGSECRETS_ORG_ORG_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/err.h"
#include "spec/spec.h"

/* ---- who acts, with which keys ---- */

/* The user's age identities, loaded from their file on first use. */
typedef struct org_keys org_keys;

/* Writes the identity file path into out: explicit_path when non-empty,
 * else $HOME/.config/orgsecrets/identity. OS_EINVAL when neither is known
 * or the path does not fit. */
int org_identity_path(char *out, size_t out_size, const char *explicit_path, os_error *err);

/* Keys read from path (NULL or "": org_identity_path's default) when first
 * needed; NULL on allocation failure. Free with org_keys_free(). */
org_keys *org_keys_new(const char *path) OS_NODISCARD;
/* The identities (borrowed until org_keys_free), loading the file on the
 * first call. A load error (missing file, too open, no identity in it) is
 * returned again by every later call. */
int org_keys_get(const age_identity *const **ids, size_t *n, org_keys *k, os_error *err);
void org_keys_free(org_keys *k);

/* Informational lines for the user (never a value): "removed 2 stale
 * temporary file(s) ...", "note: ... sealing anew". */
typedef void (*org_note_fn)(void *ctx, const char *msg);

/* How an operation is run. Options struct: every pointer is borrowed. */
typedef struct org_ctx {
  const char *actor;  /* acting member; NULL: `git config user.email` of the
                       * folder, looked up when an operation needs it */
  org_keys *keys;     /* the actor's identities; NULL: none */
  org_note_fn note;   /* NULL: notes are dropped */
  void *note_ctx;
} org_ctx;

/* What an operation needs a role for. */
enum org_action {
  ORG_ACTION_WRITE,  /* create and update secrets: admins and members */
  ORG_ACTION_DELETE, /* delete secrets: admins */
  ORG_ACTION_MANAGE, /* members, environments, applications: admins */
  ORG_ACTION_REVEAL, /* read any value: admins and members (viewers: org_may_reveal) */
  ORG_ACTION_LIST    /* names and metadata: everyone */
};

/* True when role r may do a. */
bool org_role_allows(enum spec_role r, enum org_action a);
/* What a needs, as a sentence for permission errors ("deleting secrets
 * needs the role admin"); static. */
const char *org_action_needs(enum org_action a);

/* The viewer rule: true when m may read s's value (admins and members
 * always, viewers only for secrets visible to viewers). m NULL (not a
 * member, or nobody said who): true, the cryptography decides. */
bool org_may_reveal(const spec_member *m, const spec_secret *s);

/* The acting member's name: c->actor when non-empty, else `git -C dir
 * config user.email`. Caller frees *out. OS_EINVAL (with the ways to say
 * who) when neither gives one. */
int org_actor(char **out, const org_ctx *c, const char *dir, os_error *err);

/* The acting member of t when their role allows a: *who is borrowed from
 * t. OS_EINVAL without an actor, OS_EPERM when not a member of t's
 * organization or the role does not allow a ("permission denied: ..."). */
int org_require(const spec_member **who, const org_ctx *c, const spec_tree *t,
                enum org_action a, os_error *err);

/* ---- the folder ---- */

/* Loads and validates the organization folder dir leniently
 * (spec_tree_load_lenient): a file that does not load (Git conflict
 * markers, invalid YAML, a secret failing validation) is left out and
 * listed in (*out)->bad, so that every other secret can still be worked
 * on; operations on a secret of such a file are refused with
 * org_bad_error(). A folder without an organization is OS_ENOTFOUND with a
 * hint to run `orgsecrets init`. Caller frees *out with spec_tree_free(). */
int org_load(spec_tree **out, const char *dir, os_error *err);

/* Writes the files (pos.file values of t) with spec_tree_write_file: only
 * changed content, atomically; a file whose documents are gone is removed.
 * Before the first write in a directory, stale temporary files of killed
 * writers there are removed (c->note says how many). */
int org_write(const org_ctx *c, const spec_tree *t, const char *const *files, size_t n,
              os_error *err);

/* Removes stale temporary files of killed writers from the directory of
 * path (os_temps_sweep), with legacy as os_temps_opts.legacy; c->note says
 * how many. For output files the caller is about to replace. */
void org_sweep_near(const org_ctx *c, const char *path, const char *legacy);

/* Number of secrets of t sealed to an out-of-date recipient set (what
 * `orgsecrets rekey` would re-seal). */
size_t org_count_stale(const spec_tree *t);

/* ---- init, members, environments, applications ---- */

#define ORG_ROTATION_DAYS_MAX 36500

/* Creates dir (if needed), its .gitignore block (files that may hold
 * plaintext) and organization.yaml for org_id, with rotation_days (0:
 * none). OS_EINVAL for an invalid id; OS_ECONFLICT when dir already holds
 * an organization. */
int org_init(const org_ctx *c, const char *dir, const char *org_id, int rotation_days,
             os_error *err);

/* Checks a new member's fields without a tree: name, role and recipient
 * (admins and members need one; parsed with the age parser). */
int org_member_check(const char *name, enum spec_role role, const char *recipient,
                     os_error *err);
/* Adds a member and writes organization.yaml. Needs an admin, except for
 * the first member, who must be an admin. Run org_count_stale() next. */
int org_member_add(const org_ctx *c, spec_tree *t, const char *name, enum spec_role role,
                   const char *recipient, os_error *err);
/* Removes a member (never the last admin) and writes organization.yaml.
 * fp gets the removed key's fingerprint, or "none". Needs an admin. */
int org_member_remove(char fp[SPEC_FINGERPRINT_LEN + 1], const org_ctx *c, spec_tree *t,
                      const char *name, os_error *err);

typedef struct org_env_opts {
  const char *name;                /* a DNS-1123 label */
  const char *const *controllers;  /* "age1..." recipients, at least one */
  size_t n_controllers;
  const char *const *namespaces;   /* may be empty */
  size_t n_namespaces;
  const char *env_file;            /* NULL: the default below --env-file-dir */
  const char *secret_name;         /* NULL: "<org>-secrets" */
} org_env_opts;

/* Checks an environment's fields without a tree (errors name the option). */
int org_env_check(const org_env_opts *o, os_error *err);
/* Adds an environment and writes organization.yaml. Needs an admin. */
int org_env_add(const org_ctx *c, spec_tree *t, const org_env_opts *o, os_error *err);

typedef struct org_app_opts {
  const char *name;                /* a DNS-1123 label */
  const char *const *namespaces;   /* at least one */
  size_t n_namespaces;
  const char *secret_name;         /* NULL: "<app>-secrets" */
} org_app_opts;

int org_app_check(const org_app_opts *o, os_error *err);
/* Adds an application and writes organization.yaml. Needs an admin. */
int org_app_add(const org_ctx *c, spec_tree *t, const org_app_opts *o, os_error *err);

/* JSON of a member as `member list -o json` shows it: name, role and
 * recipient (null when none). New reference; NULL on allocation failure. */
json_t *org_member_json(const spec_member *m);

/* ---- secrets ---- */

#define ORG_KEEP (-1) /* org_secret_opts: leave this field as it is */

enum org_set_mode {
  ORG_SET_UPSERT = 0, /* create or update (`set`) */
  ORG_SET_CREATE,     /* refuse an existing secret */
  ORG_SET_UPDATE      /* refuse a missing one */
};

typedef struct org_secret_opts {
  const char *environment;  /* required */
  const char *application;  /* NULL: the organization-level secret; else that
                             * application's */
  const char *name;         /* required, spec_secret_name_valid */
  const char *description;  /* NULL: keep; "": remove */
  int visible_to_viewers;   /* ORG_KEEP, 0 or 1; a new secret: ORG_KEEP is 0 */
  int state;                /* ORG_KEEP or enum spec_state; a new secret: active */
  const uint8_t *value;     /* secret; NULL: keep the current value */
  size_t value_len;
  bool allow_reserved_name; /* create a name envfile_name_hazard() refuses, or
                             * one ending in _ */
  enum org_set_mode mode;
  int rotation_days;        /* ORG_ROTATION_KEEP, _ORG, _NONE, or 1..SPEC_ROTATION_DAYS_MAX */
} org_secret_opts;

/* org_secret_opts.rotation_days, the secret's own rotation policy: */
#define ORG_ROTATION_KEEP 0   /* leave it (a new secret: the organization's) */
#define ORG_ROTATION_ORG (-1) /* follow the organization's policy (no rotationDays field) */
#define ORG_ROTATION_NONE (-2) /* no policy for this secret (rotationDays: 0) */

typedef struct org_set_result {
  bool created;       /* a new secret */
  bool changed;       /* its file was written */
  bool value_changed; /* the value differs: rotatedAt moved */
  bool resealed;      /* encryptedValue and recipients were written anew */
  const char *file;   /* its file, relative to the folder (borrowed from t) */
  /* a new organization-level secret moved an application's secret of that
   * name, written before names were per application, out of its way:
   * from this file (empty: nothing moved) to moved_to (borrowed from t) */
  char moved_from[PATH_MAX];
  const char *moved_to;
} org_set_result;

/* The name rule of secrets (^[A-Z][A-Z0-9_]*$, at most SPEC_NAME_MAX). */
int org_secret_name_check(const char *name, os_error *err);

/* What org_secret_set checks before a value is needed: the name, the
 * environment and application, the actor's role (ORG_ACTION_WRITE), a file
 * of the secret that does not load (OS_ECONFLICT), values sealed to keys
 * the organization no longer authorizes anywhere in t (OS_ECONFLICT:
 * `rekey` first), the mode (CREATE: OS_ECONFLICT "already exists ...; use
 * update"; UPDATE: OS_ENOTFOUND), and a reserved name or one ending in _
 * for a new secret (OS_EPERM). *existing (optional) gets the current
 * secret (borrowed) or NULL. */
int org_secret_check(const spec_secret **existing, const org_ctx *c, const spec_tree *t,
                     const org_secret_opts *o, os_error *err);

/* Creates or updates the secret and writes its file, with the metadata
 * rules: createdBy/createdAt are set once; updatedBy/updatedAt move on any
 * change; rotatedAt moves only when the value changes. The current value is
 * opened with c->keys and compared in constant time, so setting the same
 * value again writes nothing (res->changed false); when it cannot be opened
 * the value counts as changed (a note says why). A value is re-sealed when
 * it changed or its recipient set is out of date (then the current value
 * must open). Times come from os_now(). Values are 1 byte to 256 KiB and
 * not only whitespace. A new secret goes to spec_secret_default_path()
 * (an existing one stays in its file); in ORG_SET_UPSERT a note says whose
 * value was replaced when the last writer was someone else. */
int org_secret_set(org_set_result *res, const org_ctx *c, spec_tree *t,
                   const org_secret_opts *o, os_error *err);

/* A value of n characters drawn from A-Z a-z 0-9 - _ with the CSPRNG.
 * *out is secret: caller frees with os_free_secret(*out, n). */
#define ORG_GENERATE_MAX 4096
int org_value_generate(uint8_t **out, size_t n, os_error *err);

/* The secret env/app/name if the actor may read it under the viewer rule.
 * Only c->actor is consulted (no Git lookup): without one, or for someone
 * who is not a member, the cryptography alone decides. OS_ENOTFOUND "no
 * such secret" (naming the applications that have one, for an
 * organization-level lookup), OS_ECONFLICT for a file that does not load,
 * OS_EPERM for a viewer and a secret not visible to viewers. Notes say
 * when the secret is disabled. *out borrowed from t. Open it with
 * seal_unseal() and org_keys_get(). */
int org_secret_readable(const spec_secret **out, const org_ctx *c, const spec_tree *t,
                        const char *env, const char *app, const char *name, os_error *err);

/* The viewer rule of org_secret_readable for s (which may be a past
 * version, see org_secret_at) and the members of o: OS_EPERM for a viewer
 * and a secret not visible to viewers, or a viewer without a key (with
 * the way to get one). Only c->actor is consulted. */
int org_reader_check(const org_ctx *c, const spec_org *o, const spec_secret *s, os_error *err);

/* Checks that the actor may delete env/name (ORG_ACTION_DELETE) and that
 * it exists. */
int org_secret_delete_check(const org_ctx *c, const spec_tree *t, const char *env,
                            const char *app, const char *name, os_error *err);
/* Deletes it and writes (or removes) its file. */
int org_secret_delete(const org_ctx *c, spec_tree *t, const char *env, const char *app,
                      const char *name, os_error *err);

/* The secrets of env (NULL: all), sorted by environment, then name:
 * borrowed from t, the array is the caller's (free()). OS_ENOTFOUND for an
 * environment the organization does not define. */
int org_secret_list(const spec_secret ***out, size_t *n, const spec_tree *t, const char *env,
                    os_error *err);
/* The STATUS column: "active" or "disabled". */
const char *org_secret_status(const spec_secret *s);
/* JSON of a row as `list -o json` shows it (name, environment, application,
 * status, description, visibleToViewers, createdBy, createdAt, updatedBy,
 * updatedAt, rotatedAt), never a value. New reference; NULL on failure. */
json_t *org_secret_json(const spec_secret *s);
/* qsort comparator over spec_secret pointers: environment, then name, the
 * organization level before applications (by name). */
int org_secret_cmp(const void *a, const void *b);

/* ---- values: render and run ---- */

typedef struct org_value {
  const spec_secret *secret; /* borrowed from the tree */
  uint8_t *value;            /* secret; NULL when it failed */
  size_t len;
  char *error;               /* why it failed ("ENV/NAME: ..."), else NULL */
} org_value;

typedef struct org_values {
  org_value *v; /* sorted by name */
  size_t n;
  size_t failed; /* entries with an error */
} org_values;

enum org_scope {
  ORG_SCOPE_MERGED, /* organization-level plus app's (render env/json, run) */
  ORG_SCOPE_EXACT   /* organization-level only, or only app's (render k8s) */
};

/* The active secrets of env in scope (only: when n_only > 0, just those
 * names, each of which must exist), each opened with ids. A value that
 * fails is kept with its error and counted; OS_ENOTFOUND for an unknown
 * environment, application or --only name. Free with org_values_free(),
 * also after a failure. */
int org_values_load(org_values *out, const spec_tree *t, const char *env, const char *app,
                    enum org_scope scope, const char *const *only, size_t n_only,
                    const age_identity *const *ids, size_t n_ids, os_error *err);
/* Wipes and frees the values. */
void org_values_free(org_values *vs);

enum org_format { ORG_FORMAT_ENV, ORG_FORMAT_JSON, ORG_FORMAT_K8S };
/* "env", "json" or "k8s"; -1 otherwise. */
int org_format_parse(enum org_format *out, const char *s);
/* The scope a format renders: k8s as the controller delivers, else merged. */
enum org_scope org_format_scope(enum org_format f);

/* Appends the values of vs in format f to out (a secret buffer):
 * env: envfile lines; json: one object name -> string; k8s: v1 Secret
 * manifests, one per namespace of env (or of app). A value the format
 * cannot carry (a NUL byte in env, not UTF-8 in json) gets an error, is
 * counted in vs->failed and left out; *refused (optional) counts those.
 * Returns 0, or OS_ENOMEM when out's maximum is reached. */
int org_render(os_buf *out, size_t *refused, org_values *vs, const spec_org *o, const char *env,
               const char *app, enum org_format f, os_error *err);

/* Refuses (OS_EPERM) a value whose name envfile_name_hazard() reports,
 * unless listed in allowed; the message names the secret and the way out. */
int org_values_check_names(const org_values *vs, const char *env, const char *const *allowed,
                           size_t n_allowed, os_error *err);

/* The environment of `orgsecrets run`: the inherited "NAME=value" strings
 * (NULL-terminated) minus those a secret replaces, with $NAME and ${NAME}
 * references to the values expanded, then one "NAME=value" per value. A
 * value with a NUL byte is refused. *out is NULL-terminated, holds values:
 * free with org_environ_free(). */
int org_environ(char ***out, const org_values *vs, char *const *inherited, os_error *err);
void org_environ_free(char **envp);

/* ---- lint ---- */

enum org_severity { ORG_WARNING = 0, ORG_ERROR = 1 };

typedef struct org_finding {
  enum org_severity severity;
  const char *code; /* stable identifier (static): "spec", "conflict", "plaintext",
                     * "stale-temp", "reserved-name", "vague-name", "env-suffix",
                     * "rotation", "unauthorized-recipients", "missing-recipients",
                     * "widened", "symlink", "not-scanned", "since" */
  char *object;     /* "ENV/NAME" (org_secret_label), "member NAME", "environment ENV",
                     * or NULL */
  char *file;       /* relative to the folder; NULL: the folder itself */
  int line;         /* 0: the whole file */
  char *message;    /* the whole sentence, advice included; never a value */
  char *fix;        /* a command that fixes it ("orgsecrets rekey"), or NULL */
} org_finding;

typedef struct org_findings {
  org_finding *v;
  size_t n;
  size_t errors, warnings;
} org_findings;

typedef struct org_lint_opts {
  const char *since; /* compare access with this commit; NULL: HEAD, and no
                      * finding when the folder is not a Git checkout */
  int64_t now;       /* seconds since the epoch for the rotation policy; 0: os_now() */
} org_lint_opts;

/* Every finding for the folder dir, in this order: files that do not load
 * (each once: "conflict" for Git conflict markers, else "spec"; the other
 * files are linted as usual), validation (spec), then per secret sorted by
 * environment and name (reserved name, vague name, environment suffix,
 * rotation), recipients (a key the organization does not authorize for a
 * secret: an error; a newly authorized one it lacks: a warning), access
 * widened since o->since, plaintext secrets in every file the folder walk
 * (spec_walk) reaches (each side of a conflict read as its own file) and
 * the symbolic links it does not follow, stale temporary files. Returns 0
 * whatever was found (count errors in out->errors); a negative code only
 * when linting itself failed. Free with org_findings_free(), also after a
 * failure. */
int org_lint(org_findings *out, const char *dir, const org_lint_opts *o, os_error *err);
void org_findings_free(org_findings *f);

/* The naming advice lint gives for a secret name in env (vague name,
 * environment suffix), appended to out: for `set` and the page's form. */
int org_lint_name(org_findings *out, const char *env, const char *app, const char *name,
                  const char *file, int line, os_error *err);

/* What kind of plaintext secret the line s[0..n) holds ("an AWS access key
 * id", "a high-entropy string", ...), or NULL. The line must not be part
 * of an encryptedValue. */
const char *org_plaintext_kind(const char *s, size_t n);

/* ---- rekey ---- */

/* A key that gains or loses access to a secret, and who holds it. */
typedef struct org_reader {
  char fp[SPEC_FINGERPRINT_LEN + 1];
  char *who;      /* "bob@x (member)", "bob@x, now a viewer", "a controller of
                   * prod, key FP", a former member's name from Git, "key FP" */
  bool as_viewer; /* a viewer's key: gained because the secret is visible to viewers */
} org_reader;

typedef struct org_rekey_item {
  spec_secret *secret; /* borrowed from the tree */
  org_reader *gains;   /* keys re-sealing would add */
  size_t n_gains;
  org_reader *losses;  /* keys re-sealing withdraws: rotate the value */
  size_t n_losses;
  char *error;         /* after org_rekey_apply: why it was not re-sealed, else NULL */
} org_rekey_item;

typedef struct org_rekey_plan {
  org_rekey_item *v; /* the secrets to re-seal, sorted by environment, then name */
  size_t n;
  size_t widened;    /* items with gains */
  size_t grants;     /* gains over all items */
  size_t failed;     /* after org_rekey_apply */
  size_t files;      /* after org_rekey_apply: files rewritten */
} org_rekey_plan;

/* What re-sealing t would do: every secret whose recipients are out of
 * date, with who gains and who loses access. A lost key's holder is named
 * from the current organization, else from the Git history of its file
 * (org_key_history), else by fingerprint. Free with org_rekey_plan_free(),
 * also after a failure. */
int org_rekey_plan_build(org_rekey_plan *out, const spec_tree *t, os_error *err);

/* Re-seals every item of p with c->keys (the values stay, and so do
 * updatedAt and rotatedAt) and writes the files it changed. An item that
 * cannot be opened gets an error and is counted in p->failed; the others
 * are still written (withdrawing as much access as possible). Returns 0
 * unless the keys cannot be loaded or a write fails. */
int org_rekey_apply(const org_ctx *c, spec_tree *t, org_rekey_plan *p, os_error *err);
void org_rekey_plan_free(org_rekey_plan *p);
/* One line on what re-sealing did (applied) or would do: "re-sealed N
 * secret(s) in F file(s) (ENV: n, ...); K lost a reader: rotate them
 * (rotate: lines)", and the failures. */
void org_rekey_summary(char *out, size_t size, const org_rekey_plan *p, bool applied);

/* Who held which key, from every committed revision of the organization
 * file, each parsed with the spec decoder. */
typedef struct org_key_history org_key_history;

/* Reads `git log` of org_file (relative to dir) and parses each revision:
 * fingerprint -> the member name that held it in the newest revision that
 * lists it. Outside a Git checkout, or without commits, the history is
 * empty; a revision that does not parse is skipped. Free with
 * org_key_history_free(). */
int org_key_history_load(org_key_history **out, const char *dir, const char *org_file,
                         os_error *err);
/* The name that held fp, or NULL (borrowed from h). */
const char *org_key_history_name(const org_key_history *h, const char *fp);
/* Number of keys known; revisions read. */
size_t org_key_history_size(const org_key_history *h);
size_t org_key_history_revisions(const org_key_history *h);
void org_key_history_free(org_key_history *h);

/* ---- Git ---- */

#define ORG_GIT_OUTPUT_MAX (64u * 1024 * 1024)

/* Runs `git -C dir ARGS...` (args NULL-terminated; no shell) with input on
 * its stdin (NULL: /dev/null) and captures at most max bytes of its stdout
 * (stderr is discarded). Returns 0 when git exited 0 (*out NUL-terminated,
 * caller frees); OS_ENOTFOUND when git is not installed; OS_EIO when it
 * failed or printed more than max. */
int org_git(char **out, size_t *out_len, const char *dir, const char *const *args,
            const void *input, size_t input_len, size_t max, os_error *err);

/* True when dir is in a Git work tree where ref names a commit. */
bool org_git_is_commit(const char *dir, const char *ref);

/* The content of path (relative to dir) at commit rev (`git show
 * REV:./PATH`). OS_ENOTFOUND when it did not exist there. Caller frees. */
int org_git_show(char **out, size_t *out_len, const char *dir, const char *rev,
                 const char *path, os_error *err);

/* ---- the rotation policy (lint.c) ---- */

/* The rotation policy in days that applies to s: its own rotationDays when
 * set (0: none), else the organization's (0: none). */
int org_rotation_policy(const spec_org *o, const spec_secret *s);

/* Whole days since s's value was last rotated (rotatedAt, else createdAt)
 * at now (seconds since the epoch) into *age_days; 1 when that is past
 * org_rotation_policy(), 0 when not (or no policy), -1 when the secret has
 * no usable time. The rule lint's "rotation" finding applies. */
int org_secret_rotation(int64_t *age_days, const spec_org *o, const spec_secret *s, int64_t now);

/* ---- a member's role or key (member_update.c) ---- */

/* Changes name's role (role < 0: keep) and/or key (recipient NULL: keep;
 * "": remove, a viewer only), with org_member_check's rules, never leaving
 * the organization without an admin, and writes organization.yaml. Needs
 * an admin. Run org_count_stale() next: what `rekey` must re-seal. */
int org_member_update(const org_ctx *c, spec_tree *t, const char *name, int role,
                      const char *recipient, os_error *err);

/* ---- a secret's history, from Git (secret_history.c) ---- */

enum {
  ORG_CHANGE_CREATED = 1u << 0,
  ORG_CHANGE_VALUE = 1u << 1,       /* rotatedAt moved: a new value */
  ORG_CHANGE_RESEALED = 1u << 2,    /* same value, sealed to other recipients */
  ORG_CHANGE_DESCRIPTION = 1u << 3,
  ORG_CHANGE_STATE = 1u << 4,       /* enabled or disabled */
  ORG_CHANGE_VISIBILITY = 1u << 5,  /* visibleToViewers */
  ORG_CHANGE_DELETED = 1u << 6,
  ORG_CHANGE_OTHER = 1u << 7        /* the file changed, not these fields */
};

typedef struct org_history_entry {
  char commit[41];
  char *author;   /* "Name <email>" of the commit */
  char *date;     /* author date, strict ISO 8601 */
  char *subject;
  char *by;       /* updatedBy (else createdBy) of this version; NULL when deleted */
  unsigned changes; /* ORG_CHANGE_* */
} org_history_entry;

typedef struct org_history {
  org_history_entry *v; /* newest first */
  size_t n;
  bool git;             /* dir is in a Git work tree */
} org_history;

/* The commits (at most max, newest first) that changed the secret env/app/
 * name in file (relative to dir), each compared with the version before
 * it: what changed and who changed it. Values are never opened. Outside a
 * Git work tree out->git is false and out->n 0. Free with
 * org_history_free(), also after a failure. */
int org_secret_history(org_history *out, const char *dir, const char *file, const char *env,
                       const char *app, const char *name, size_t max, os_error *err);
void org_history_free(org_history *h);
/* "created", "value", "resealed", "description", "state", "visibility",
 * "deleted", "other" for one ORG_CHANGE_* bit. */
const char *org_change_name(unsigned bit);

/* ---- teams: per-application names, files that do not load, recipients
 * the organization no longer authorizes (secrets.c, values.c, resolve.c) ---- */

/* "ENV/NAME", or "ENV/APP/NAME" for an application's secret, into out;
 * returns out. */
char *org_secret_label(char *out, size_t size, const char *env, const char *app, const char *name);
/* How many applications have their own secret env/name; the first max of
 * their names go to apps (borrowed from t). */
size_t org_secret_app_levels(const char **apps, size_t max, const spec_tree *t, const char *env,
                             const char *name);
/* The OS_ECONFLICT error for the secret env/app/name held by the bad file
 * b: what is wrong, where, and the way out (`orgsecrets resolve`). */
int org_bad_error(const spec_bad_file *b, const char *env, const char *app, const char *name,
                  os_error *err);
/* The number of secrets of t sealed to a key the organization does not
 * authorize for them (a removed member's, a demoted one's, a controller
 * of another environment's); *example (optional) gets the first. */
size_t org_unauthorized_count(const spec_secret **example, const spec_tree *t);
/* True when v[0..n) is empty or only whitespace (space, \t, \n, \r, \v,
 * \f): such a value is refused as empty. */
bool org_value_blank(const uint8_t *v, size_t n);

/* The STATUS of a file that does not load: "conflict" or "invalid". */
const char *org_bad_status(const spec_bad_file *b);
/* One line about b for people, to follow "FILE:LINE: ": "STATUS: MESSAGE
 * (ENV/NAME, ...); FIX", naming `orgsecrets resolve` for a conflict.
 * Caller frees; NULL on allocation failure. */
char *org_bad_describe(const spec_bad_file *b);
/* A row of `list -o json` for the secret id of the bad file b (id NULL:
 * the file names no secret): name, environment, application, status,
 * file, line, error. New reference; NULL on failure. */
json_t *org_bad_json(const spec_bad_file *b, const spec_secret_id *id);

/* A summary of what a membership change left to re-seal, for the command
 * that made it: "N secret(s) must be re-sealed (ENV: n, ...); run
 * `orgsecrets rekey`" plus how many are readable by a key that lost
 * access (lint fails on those until then). Empty when nothing is out of
 * date. */
void org_reseal_summary(char *out, size_t size, const spec_tree *t);

/* `orgsecrets resolve`: the bad file holding env/app/name (or named file,
 * relative to dir) rewritten with one side of its Git conflict markers
 * (theirs: the other branch's), checked to load, then `git add`ed when the
 * folder is a Git work tree and the file is unmerged there. Works on a
 * folder that does not load (a conflict in organization.yaml). *file_out
 * (optional) gets the file (caller frees). OS_ENOTFOUND when no such
 * conflict; OS_EINVAL when that side does not load. */
int org_resolve(char **file_out, const org_ctx *c, const char *dir, const char *file,
                const char *env, const char *app, const char *name, bool theirs, os_error *err);

/* ---- `run`: references that name no active secret (values.c) ---- */

/* Every $NAME / ${NAME} reference (inject_ref_scan's syntax) in the
 * inherited "NAME=value" strings that vs does not resolve, as one message
 * each: "variable VAR refers to $NAME: no such secret in ENV" (or "...
 * is disabled", "... is not selected by --only", "... does not load").
 * Names only, never values. *msgs is the caller's: free with
 * org_strings_free(). */
int org_environ_unresolved(char ***msgs, size_t *n, const spec_tree *t, const char *env,
                           const char *app, const org_values *vs, char *const *inherited,
                           os_error *err);
void org_strings_free(char **v, size_t n);

/* The file of env/app/name relative to t->dir: where it was loaded from,
 * else where a new one would go. Caller frees; NULL on allocation failure. */
char *org_secret_file(const spec_tree *t, const char *env, const char *app, const char *name);

/* The secret env/app/name as it was in commit rev (`reveal --at`): read
 * from its current file at rev, else from its default file. *out is the
 * past file's tree (caller frees with spec_tree_free), *secret borrowed
 * from it. OS_EINVAL outside a Git checkout, OS_ENOTFOUND for an unknown
 * revision or a secret that did not exist there. */
int org_secret_at(spec_tree **out, const spec_secret **secret, const spec_tree *t,
                  const char *rev, const char *env, const char *app, const char *name,
                  os_error *err);

/* ---- uncommitted changes and commits (commit.c) ---- */

typedef struct org_change {
  char *path;   /* relative to dir */
  char status[3]; /* git status --porcelain XY, e.g. " M", "??", " D" */
} org_change;

typedef struct org_changes {
  org_change *v;
  size_t n;
  bool git;     /* dir is in a Git work tree */
} org_changes;

/* The files below dir that differ from HEAD or are untracked (git
 * status), paths relative to dir. Outside a Git work tree out->git is
 * false. Free with org_changes_free(), also after a failure. */
int org_git_changes(org_changes *out, const char *dir, os_error *err);
void org_changes_free(org_changes *c);

/* `git add` of exactly files (relative to dir) then `git commit --only`
 * of them with message and author ("Name <email>"; a member name that is
 * an e-mail address is used as both), never a push. The committer is Git's
 * configured user, else the author. commit gets the new commit's id.
 * OS_EINVAL for no file or an empty message. */
int org_git_commit(char commit[41], const char *dir, const char *const *files, size_t n,
                   const char *message, const char *member, os_error *err);

/* ==== the everyday CLI: defaults, listings, import, refs, whoami ==== */

/* ---- which folder, which environment (discover.c) ---- */

/* The organization folder of a command that names none: start (NULL: the
 * current directory) or the nearest parent directory holding a regular
 * file organization.yaml, as git finds .git. The search stops at the root,
 * at a mount point (another file system, as git does by default) and
 * before the directories listed in $ORGSECRETS_CEILING_DIRECTORIES (':'
 * separated absolute paths, as GIT_CEILING_DIRECTORIES). *out is absolute;
 * caller frees. OS_ENOTFOUND with what to do when there is none. */
int org_discover(char **out, const char *start, os_error *err);

/* The organization.yaml of the organization whose folder holds dir (dir
 * itself or a parent, as org_discover finds it; a dir that does not exist
 * yet is looked up from its nearest existing parent): 1 with *out (caller
 * frees), 0 when none, OS_ENOMEM. org_init refuses such a dir. */
int org_enclosing(char **out, const char *dir);

enum org_env_from {
  ORG_ENV_NONE = 0,
  ORG_ENV_FLAG,     /* --env */
  ORG_ENV_VARIABLE, /* $ORGSECRETS_ENV */
  ORG_ENV_CHECKOUT, /* `orgsecrets env use`: git config orgsecrets.env of the checkout */
  ORG_ENV_ONLY      /* the organization's only environment */
};

/* The environment a command acts on: flag (--env) when given, else env_var
 * ($ORGSECRETS_ENV) when non-empty, else the checkout's setting (see
 * org_env_use), else the only environment of o (o NULL: read from dir).
 * Whether it exists is the command's check. *out: caller frees.
 * OS_ENOTFOUND, listing the ways to name one, when nothing applies. */
int org_env_default(char **out, enum org_env_from *from, const char *dir, const spec_org *o,
                    const char *flag, const char *env_var, os_error *err);
/* "--env", "ORGSECRETS_ENV", "this checkout's `orgsecrets env use`", "the only environment". */
const char *org_env_from_name(enum org_env_from f);
/* The checkout's setting (`git -C dir config orgsecrets.env`): 1 with *out
 * (caller frees), 0 when unset or dir is not in Git. */
int org_env_checkout(char **out, const char *dir);
/* Sets the checkout's default environment to env, an environment of t
 * (NULL: unsets it), with `git config --worktree orgsecrets.env`: kept in
 * the checkout's .git, never committed (shared by the worktrees of a clone
 * unless extensions.worktreeConfig is on). OS_EINVAL outside a Git
 * checkout (ORGSECRETS_ENV is the way there), OS_ENOTFOUND for an unknown
 * environment. */
int org_env_use(const spec_tree *t, const char *env, os_error *err);

/* ---- removing environments and applications, the policy (orgedit.c) ---- */

/* Secrets of t in env (NULL: any) and of application app (NULL: any level). */
size_t org_count_secrets(const spec_tree *t, const char *env, const char *app);

/* Removes an environment (an application) from organization.yaml. While it
 * has secrets it is refused (OS_ECONFLICT, saying how many) unless
 * delete_secrets, which deletes their files first; *deleted says how many.
 * Needs an admin. */
int org_env_remove(size_t *deleted, const org_ctx *c, spec_tree *t, const char *name,
                   bool delete_secrets, os_error *err);
int org_app_remove(size_t *deleted, const org_ctx *c, spec_tree *t, const char *name,
                   bool delete_secrets, os_error *err);

/* Sets the organization's rotationDays (0: no policy) and writes
 * organization.yaml. Needs an admin. */
int org_set_rotation(const org_ctx *c, spec_tree *t, int days, os_error *err);

/* `env list -o json` / `app list -o json` rows (docs/cli.md): name,
 * controllers, namespaces, secretName, envFile, secrets (how many),
 * default; name, namespaces, secretName, secrets. New references. */
json_t *org_env_json(const spec_tree *t, const spec_environment *e, bool is_default);
json_t *org_app_json(const spec_tree *t, const spec_application *a);

/* ---- JSON outputs (json.c; the fields are documented in docs/cli.md) ---- */

/* `lint -o json`: {errors, warnings, findings: [{severity, code, object,
 * file, line, message, fix}]}. New reference; NULL on failure. */
json_t *org_findings_json(const org_findings *f);
/* `rekey --dry-run -o json`: {reseal, widened, grants, secrets:
 * [{environment, application, name, file, gains: [{fingerprint, who,
 * asViewer}], losses: [{fingerprint, who}]}]}. */
json_t *org_rekey_plan_json(const org_rekey_plan *p);
/* `history -o json` entries: {commit, date, author, by, subject, changes}. */
json_t *org_history_entry_json(const org_history_entry *e);
/* `list -o json` rows: org_secret_json's fields plus rotationDays (the
 * policy that applies, null: none), rotationAge (days, null: unknown),
 * rotationOverdue and readers (the roles that may read the value). */
json_t *org_secret_row_json(const spec_org *o, const spec_secret *s, int64_t now);
/* The roles whose members may read s's value ("admin", "member", and
 * "viewer" when visible to viewers); returns how many (static strings). */
size_t org_secret_reader_roles(const char *out[3], const spec_secret *s);

/* ---- opening a value (unseal.c) ---- */

/* seal_unseal(), with a "not a recipient" failure that says what to do:
 * the identity's key is a member's (of o) but the value was sealed before
 * it was added or changed (run rekey), or it is nobody's (another -i); a
 * recipients list that names the identity's key while the ciphertext is
 * not sealed to it is reported as tampering (OS_ECRYPTO). */
int org_unseal(uint8_t **value, size_t *len, const spec_org *o, const spec_secret *s,
               const age_identity *const *ids, size_t n_ids, os_error *err);

/* ---- whoami (whoami.c) ---- */

typedef struct org_whoami {
  char *actor;               /* the acting member's name; NULL when nobody said */
  bool from_git;             /* the name came from git config user.email */
  const spec_member *member; /* borrowed from the tree; NULL: not a member */
  char **keys;               /* the identity file's public keys (age1...) */
  size_t n_keys;
  int keys_rc;               /* why the identity file could not be used (keys_err) */
  os_error keys_err;
  bool matches;              /* one of keys is member->recipient */
} org_whoami;

/* Fills out for c's actor in t; 0 whatever is wrong (see org_whoami_ok),
 * negative only on allocation failure. Free with org_whoami_free(). */
int org_whoami_get(org_whoami *out, const org_ctx *c, const spec_tree *t, os_error *err);
/* A member whose identity file holds their recipient (or a viewer without one). */
bool org_whoami_ok(const org_whoami *w);
void org_whoami_free(org_whoami *w);

/* ---- import (import.c) ---- */

typedef struct org_import_opts {
  const char *environment;     /* required */
  const char *application;     /* NULL: organization level */
  bool overwrite;              /* replace existing secrets' values, else refuse them */
  const char *const *allowed;  /* names envfile_name_hazard() refuses, allowed anyway */
  size_t n_allowed;
  const char *source;          /* the file's name in messages */
} org_import_opts;

typedef struct org_import_result {
  size_t created, updated, unchanged;
} org_import_result;

/* Parses data (dotenv: envfile_parse) and sets one secret per variable
 * with org_secret_set. Everything is checked before the first file is
 * written: the environment, the application and the role, then every line
 * (a valid secret name, not twice, a value of 1 byte to 256 KiB, no
 * reserved name unless allowed, not an existing secret unless overwrite),
 * each problem passed to c->note as "SOURCE:LINE: ..."; then OS_EINVAL and
 * nothing is written. data is secret (the caller wipes it). */
int org_import(org_import_result *res, const org_ctx *c, spec_tree *t, const org_import_opts *o,
               const char *data, size_t len, os_error *err);

/* ---- references in the repository (refs.c) ---- */

typedef struct org_ref {
  char *name;
  char *file; /* as shown: relative to the repository's top, or below a PATH given */
  int line;
  bool known; /* a secret of that name exists (in the environment asked for) */
} org_ref;

typedef struct org_refs {
  org_ref *v;                  /* every reference, in walk order, then line order */
  size_t n;
  size_t unknown;              /* references to unknown names */
  const spec_secret **unused;  /* secrets no reference names, by environment then name
                                * (borrowed from the tree; the array is freed by org_refs_free) */
  size_t n_unused;
  size_t files;                /* files scanned */
  size_t skipped;              /* files that could not be read (larger than 16 MiB, ...) */
} org_refs;

/* Whether refs scans a file of this name found below a directory:
 * *.yaml, *.yml, *.json, *.env and .env templates (.env, .env.*, *.env.*). */
bool org_refs_file_wanted(const char *name);

/* Scans paths (files: scanned whatever their name; directories: walked as
 * spec_walk walks a folder, plus the .env templates its hidden-name rule
 * skips; none: the top of the Git work tree holding t->dir, else t->dir)
 * for $NAME and ${NAME} references with inject_ref_scan, line by line,
 * skipping orgsecrets' own spec files and binary files. A name is known
 * when a secret of env (NULL: any environment) has it; a secret is unused
 * when no reference names it. Free with org_refs_free(), also after a
 * failure. */
int org_refs_scan(org_refs *out, const spec_tree *t, const char *env, const char *const *paths,
                  size_t n_paths, os_error *err);
void org_refs_free(org_refs *r);
/* `refs -o json`: {files, skipped, references: [{name, file, line, known}],
 * unknown: [{name, file, line}], unused: [{environment, application,
 * name}]}. */
json_t *org_refs_json(const org_refs *r);

#endif

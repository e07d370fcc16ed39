/* The organization model: Organization and OrgSecret documents (YAML files
 * or custom resources as JSON), strict validation, canonical emission.
 * Threading: a spec_tree belongs to one thread; functions are reentrant. */
#ifndef ORGSECRETS_SPEC_SPEC_H
#define ORGSECRETS_SPEC_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/err.h"

#define SPEC_API_VERSION "orgsecrets.io/v1"
#define SPEC_NAME_MAX 253                 /* secret names */
#define SPEC_VALUE_MAX (256 * 1024)       /* plaintext values */
#define SPEC_FILE_MAX (16 * 1024 * 1024)  /* one spec file */
#define SPEC_FINGERPRINT_LEN 16           /* hex characters */
#define SPEC_ENCRYPTED_MAX (512 * 1024)   /* one encryptedValue (armored age file) */
#define SPEC_ROTATION_DAYS_MAX 36500      /* rotationDays, of the organization or a secret */
#define SPEC_ROTATION_INHERIT (-1)        /* spec_secret.rotation_days: field absent */

enum spec_role { SPEC_ROLE_ADMIN = 0, SPEC_ROLE_MEMBER = 1, SPEC_ROLE_VIEWER = 2 };
enum spec_state { SPEC_STATE_ACTIVE = 0, SPEC_STATE_DISABLED = 1 };

/* A metadata label or annotation (kept so files round-trip byte for byte). */
typedef struct spec_kv {
  char *key;
  char *value;
} spec_kv;

/* Where a document or field came from; file NULL for objects not read from a file. */
typedef struct spec_pos {
  char *file;
  int line;
} spec_pos;

typedef struct spec_member {
  char *name;            /* e.g. an e-mail address */
  enum spec_role role;
  char *recipient;       /* "age1..."; NULL for a viewer without a key */
  spec_pos pos;
} spec_member;

typedef struct spec_environment {
  char *name;            /* DNS-1123 label */
  char **controllers;    /* "age1..." recipients of the controllers that deploy it */
  size_t n_controllers;
  char **namespaces;     /* where organization-level secrets go */
  size_t n_namespaces;
  char *secret_name;     /* Kubernetes Secret for org-level secrets; NULL: "<org>-secrets" */
  char *env_file;        /* NULL: default file name below --env-file-dir */
  spec_pos pos;
} spec_environment;

typedef struct spec_application {
  char *name;            /* DNS-1123 label */
  char **namespaces;
  size_t n_namespaces;
  char *secret_name;     /* NULL: "<app>-secrets" */
  spec_pos pos;
} spec_application;

typedef struct spec_org {
  char *id;              /* metadata.name, DNS-1123 label */
  int rotation_days;     /* 0: no rotation policy */
  spec_member *members;
  size_t n_members;
  spec_environment *envs;
  size_t n_envs;
  spec_application *apps;
  size_t n_apps;
  spec_pos pos;
  int64_t generation;    /* metadata.generation of a custom resource, else 0 */
  spec_kv *labels;       /* metadata.labels, emitted sorted by key */
  size_t n_labels;
  spec_kv *annotations;  /* metadata.annotations, emitted sorted by key */
  size_t n_annotations;
} spec_org;

typedef struct spec_secret {
  char *organization;
  char *environment;
  char *name;            /* ^[A-Z][A-Z0-9_]*$, at most 253 */
  char *application;     /* NULL: organization-level */
  char *description;     /* NULL: none */
  enum spec_state state;
  bool visible_to_viewers;
  char *created_by, *created_at, *updated_by, *updated_at, *rotated_at; /* RFC 3339 UTC */
  int rotation_days;     /* SPEC_ROTATION_INHERIT (field absent): the organization's policy;
                          * 0: no policy for this secret; else 1..SPEC_ROTATION_DAYS_MAX */
  char **recipients;     /* fingerprints (SPEC_FINGERPRINT_LEN hex), sorted */
  size_t n_recipients;
  char *encrypted_value; /* ASCII-armored age file */
  bool value_released;   /* a reader freed encrypted_value after use (validation skips it) */
  bool legacy_name;      /* application-level with the metadata.name of organization-level
                          * secrets, "<org>.<env>.<name>", as written before names were
                          * unique per application: accepted, and kept when written */
  spec_pos pos;
  int64_t generation;    /* metadata.generation of a custom resource, else 0 */
  spec_kv *labels;       /* metadata.labels, emitted sorted by key */
  size_t n_labels;
  spec_kv *annotations;  /* metadata.annotations, emitted sorted by key */
  size_t n_annotations;
  struct {               /* source lines of these spec fields; 0 when unknown */
    int organization, environment, name, application;
  } lines;
} spec_secret;

/* One problem found while loading or validating; message names no value. */
typedef void (*spec_problem_fn)(void *ctx, const spec_pos *pos, bool is_error, const char *msg);

/* Which secret: environment, application (NULL: organization level), name. */
typedef struct spec_secret_id {
  char *environment, *application, *name;
} spec_secret_id;

enum spec_bad_kind {
  SPEC_BAD_INVALID = 0, /* does not read, parse or validate */
  SPEC_BAD_CONFLICT = 1 /* holds Git merge conflict markers */
};

/* A spec file left out of a lenient load (spec_tree_load_lenient,
 * spec_tree_load_partial), with the secrets it holds as far as they can be
 * told: for a conflict, those of either side of the markers; else those its
 * path names in the CLI's layout (secrets/ENV/NAME.yaml,
 * secrets/ENV/APP/NAME.yaml) or that failed validation. */
typedef struct spec_bad_file {
  char *file; /* relative to the folder */
  int line;   /* the first conflict marker, or the error's line; 0: unknown */
  enum spec_bad_kind kind;
  char *message;     /* the error, without "FILE:LINE: "; never a value */
  bool organization; /* it holds (or may hold) the Organization */
  spec_secret_id *ids;
  size_t n_ids;
} spec_bad_file;

typedef struct spec_tree {
  char *dir;             /* the folder it was loaded from */
  spec_org *org;         /* NULL until init */
  spec_secret **secrets; /* malloc'd, n_secrets entries (no spare capacity assumed) */
  size_t n_secrets;
  spec_bad_file *bad; /* files a lenient load left out, in path order */
  size_t n_bad;
} spec_tree;

/* ---- The organization folder (walk.c) ----
 * The one rule for which entries below an organization folder are read;
 * the loader, the controller's source and its watch, and lint walk with it:
 *  - names starting with '.' (".git", editors' files, temporary files) and
 *    directories named node_modules are skipped;
 *  - no symbolic link below the folder is followed, to a file or to a
 *    directory, wherever it points (inside or outside the folder): it is
 *    skipped, and reported as SPEC_WALK_LINK when asked; the folder itself
 *    may be a link (git-sync's checkout is one);
 *  - spec files are regular files named *.yaml or *.yml; other regular
 *    files only with SPEC_WALK_ALL_FILES; FIFOs, sockets and devices never;
 *  - path order: each directory's names in byte order, a directory's
 *    entries right after it (spec_path_cmp()); at most SPEC_WALK_DEPTH_MAX
 *    directory levels below the folder. */
#define SPEC_WALK_DEPTH_MAX 32

enum spec_walk_kind { SPEC_WALK_FILE, SPEC_WALK_DIR, SPEC_WALK_LINK };

typedef struct spec_walk_entry {
  enum spec_walk_kind kind;
  const char *rel;       /* path below the folder, '/'-separated; "" for the folder */
  const char *name;      /* last part of rel; "." for the folder */
  int dirfd;             /* open during the call: openat(dirfd, name, ... | O_NOFOLLOW)
                          * reaches this very entry (for the folder, the folder) */
  const struct stat *st; /* lstat() of the entry; NULL with SPEC_WALK_NO_STAT */
} spec_walk_entry;

enum {
  SPEC_WALK_DIRS = 1u,      /* also call for each directory (the folder first), before its entries */
  SPEC_WALK_ALL_FILES = 2u, /* every regular file, not only *.yaml / *.yml */
  SPEC_WALK_LINKS = 4u,     /* also call for each symbolic link (never followed) */
  SPEC_WALK_NO_STAT = 8u    /* st is NULL: saves an fstatat() per entry when the
                             * directory says what each entry is */
};

/* Returns 0 to go on, or a negative code: the walk stops and returns it. */
typedef int (*spec_walk_fn)(void *ctx, const spec_walk_entry *e, os_error *err);

/* Walks dir under the rule above, calling fn for each entry in path order.
 * Returns 0, fn's first negative code, or an error: dir missing
 * (OS_ENOTFOUND), a directory that cannot be opened or read (OS_EIO),
 * deeper nesting or a longer path than allowed (OS_EINVAL). */
int spec_walk(const char *dir, unsigned flags, spec_walk_fn fn, void *ctx, os_error *err)
    OS_NODISCARD;

/* The walk's order of two relative paths, component by component ("a/x"
 * before "a-c"): <0, 0, >0 as strcmp. For merging a walk with a sorted list. */
int spec_path_cmp(const char *a, const char *b);

/* Whether the walk would look at an entry called name (is_dir: a
 * directory; all_files: SPEC_WALK_ALL_FILES), links aside: for watchers
 * deciding whether a change matters. */
bool spec_walk_name_wanted(const char *name, bool is_dir, bool all_files);

/* Loads every spec file spec_walk() finds below dir (any layout,
 * multi-document files; files in path order, parsed on a few internal
 * threads, each opened without following a link) and validates the result. The
 * first error fails the load; its message starts with "FILE:LINE: " (FILE
 * relative to dir, as in pos.file). Caller frees *out with spec_tree_free().
 * A folder without an Organization fails with OS_ENOTFOUND. */
int spec_tree_load(spec_tree **out, const char *dir, os_error *err);

/* Like spec_tree_load but stops after parsing (every document well-formed,
 * exactly one Organization) without cross-document validation, so that
 * `lint` can report all problems with spec_tree_validate(). */
int spec_tree_load_unvalidated(spec_tree **out, const char *dir, os_error *err);

/* For `lint` and the controller: like spec_tree_load_unvalidated, but a file
 * that fails to read or parse (or holds a second Organization) is reported
 * through report (error, at its file and line) and skipped instead of
 * failing the load. Returns 0 with *out set when the folder was walked and
 * an Organization was found among the good files (*n_bad_files tells how
 * many were skipped, and err holds the first of their errors); else an
 * error. Run spec_tree_validate() next. Caller frees *out. */
int spec_tree_load_partial(spec_tree **out, size_t *n_bad_files, const char *dir,
                           spec_problem_fn report, void *ctx, os_error *err);

/* Like spec_tree_load, for the CLI and the page: one bad file does not stop
 * work on the others. A file that does not read, parse or decode (Git
 * conflict markers, invalid YAML, a wrong field) is left out whole and
 * recorded in t->bad, and so is every file holding a secret that fails
 * validation (an unknown environment, a duplicate, ...). Fails only when no
 * usable Organization is left (with the error of the file that should
 * hold it, when one is bad: OS_ECONFLICT when that file holds Git conflict
 * markers) or the Organization itself is invalid. Caller
 * frees *out with spec_tree_free(). */
int spec_tree_load_lenient(spec_tree **out, const char *dir, os_error *err);

/* The bad file that holds the secret (env, app, name) (app NULL:
 * organization level), or the one named file (relative to the folder);
 * NULL when none. Borrowed from t. */
const spec_bad_file *spec_tree_find_bad(const spec_tree *t, const char *env, const char *app,
                                        const char *name);
const spec_bad_file *spec_tree_bad_file(const spec_tree *t, const char *file);

/* Git conflict markers: returns 1 when data[0..len) holds a conflict
 * ("<<<<<<< ", optionally "||||||| ", "=======", ">>>>>>> " lines), then
 * *out (optional; caller frees) gets the text of one side (ours, or theirs
 * when theirs is set: the lines outside the conflicts plus that side's),
 * and *first_line the line of the first "<<<<<<<"; returns 0 when there is
 * no conflict, or a negative code (with *first_line set) when the markers
 * are out of order or a conflict is not closed. */
int spec_conflict_side(char **out, size_t *out_len, int *first_line, const char *data, size_t len,
                       bool theirs, os_error *err);
/* Which conflict marker the line s[0..n) (without its newline) is: one of
 * these, or 0 for none. */
enum { SPEC_CONFLICT_OURS = 1, SPEC_CONFLICT_BASE, SPEC_CONFLICT_SPLIT, SPEC_CONFLICT_THEIRS };
int spec_conflict_marker(const char *s, size_t n);

/* An empty tree for dir (no Organization yet); NULL on allocation failure.
 * Caller frees with spec_tree_free(). */
spec_tree *spec_tree_new(const char *dir) OS_NODISCARD;
/* Sets t's Organization (takes ownership, frees a previous one); a NULL
 * o->pos.file becomes "organization.yaml". */
int spec_tree_set_org(spec_tree *t, spec_org *o, os_error *err);

/* Parses one YAML stream (file name for messages) and appends its documents
 * to t, all or none. Strict: unknown fields, wrong types and duplicate keys
 * are errors, as is a second Organization. */
int spec_tree_parse(spec_tree *t, const char *file, const char *data, size_t len, os_error *err);

/* Cross-document validation: names, duplicates within (org, env), unknown
 * environment/application/organization, recipients present, value present.
 * Calls report for every problem (errors and warnings) when report is
 * non-NULL, with msg not prefixed by the position (pos may be NULL);
 * returns 0 when there is no error, else the first error (also in err, as
 * "FILE:LINE: msg"). */
int spec_tree_validate(const spec_tree *t, spec_problem_fn report, void *ctx, os_error *err);

/* What cross-document validation needs of a secret, for callers that keep
 * secrets in a smaller form than spec_secret (the controller). Borrowed. */
typedef struct spec_secret_ref {
  const char *organization, *environment, *application, *name;
  bool legacy_name; /* spec_secret.legacy_name */
  spec_pos pos;
  struct {
    int organization, environment, name, application;
  } lines;
} spec_secret_ref;
void spec_secret_ref_of(spec_secret_ref *r, const spec_secret *s);

/* spec_tree_validate in two halves, with the same messages: the checks of
 * one secret that need no other document (name, recipients, encryptedValue
 * frame, timestamps), and the Organization's own checks plus those across
 * documents (organization, environment and application known, duplicates).
 * Both return 0 when there is no error, else the first error. */
int spec_secret_validate_local(const spec_secret *s, spec_problem_fn report, void *ctx,
                               os_error *err);
int spec_validate_refs(const spec_org *o, const spec_secret_ref *const *refs, size_t n,
                       spec_problem_fn report, void *ctx, os_error *err);

/* The loader's checks of an Organization document, on o as it would be
 * written: o is emitted canonically and decoded again, so that a CLI never
 * writes an organization.yaml that cannot load. 0 when it would load; else
 * the decoder's error, "FILE:LINE: msg" with FILE o->pos.file (default
 * organization.yaml) and LINE a line of the emitted document. */
int spec_org_check(const spec_org *o, os_error *err);

void spec_tree_free(spec_tree *t);

/* Canonical YAML: stable key order, stable quoting, LF line endings.
 * Caller frees *out. */
int spec_org_emit(char **out, size_t *out_len, const spec_org *o, os_error *err);
int spec_secret_emit(char **out, size_t *out_len, const spec_secret *s, os_error *err);

/* Writes every document whose pos.file equals file (the Organization first,
 * then secrets in line order, new ones last), atomically, mode 0644, only
 * when the content changed. Creates parent directories. When no document
 * has that file any more, the file is removed. A NULL pos.file means
 * "organization.yaml" for the Organization and the default path for a
 * secret. file is relative to t->dir. A file in t->bad is refused
 * (OS_ECONFLICT): writing it would drop what it holds. */
int spec_tree_write_file(const spec_tree *t, const char *file, os_error *err);

/* Adds s to t (takes ownership) or replaces the secret with the same
 * (environment, application, name), keeping the old pos (and legacy_name). */
int spec_tree_put_secret(spec_tree *t, spec_secret *s, os_error *err);
/* Removes and returns the secret (caller frees), or NULL. */
spec_secret *spec_tree_take_secret(spec_tree *t, const char *env, const char *app,
                                   const char *name);
/* Borrowed lookups; NULL when absent. A secret is (environment, application
 * (NULL: organization level), name): names are unique per application. */
spec_secret *spec_tree_find_secret(const spec_tree *t, const char *env, const char *app,
                                   const char *name);
spec_environment *spec_org_find_env(const spec_org *o, const char *name);
spec_application *spec_org_find_app(const spec_org *o, const char *name);
spec_member *spec_org_find_member(const spec_org *o, const char *name);

/* ---- Delivery targets (target.c) ----
 * What secrets are delivered into, computed here once for the controller's
 * plan, `render` and `run`. Per organization and environment there is one
 * delivery unit for the organization-level secrets and one per application
 * (also one without secrets, so that references to it stay valid):
 *  - organization-level: the Kubernetes Secret named by the environment's
 *    secretName, else "<org>-secrets", in each namespace of the
 *    environment and of every application; the env file named by its
 *    envFile, else "<org>-<env>.env";
 *  - application APP: the Secret named by the application's secretName,
 *    else "<app>-secrets", in each namespace of the application; the env
 *    file "<org>-<env>-<app>.env", which holds the application's view
 *    (spec_target_view: its secrets and the organization-level ones).
 * A unit's Secrets carry the labels of spec_target_labels(). Inside an
 * application (its namespaces, `run --app`, `render --app`) the view is
 * spec_target_view(): an application-level secret overrides an
 * organization-level one of the same name. */
#define SPEC_MANAGER "orgsecrets"
#define SPEC_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define SPEC_LABEL_PART_OF "app.kubernetes.io/part-of"
#define SPEC_LABEL_ORG "orgsecrets.io/organization"
#define SPEC_LABEL_ENV "orgsecrets.io/environment"
#define SPEC_LABEL_APP "orgsecrets.io/application"
#define SPEC_ANNOTATION_CHECKSUM "orgsecrets.io/checksum"
#define SPEC_TARGET_LABELS_MAX 5

/* One delivery unit; borrowed from the organization. */
typedef struct spec_target {
  const spec_org *org;
  const spec_environment *env;
  const spec_application *app; /* NULL: organization-level */
} spec_target;

typedef struct spec_label {
  const char *key, *value;
} spec_label;

/* The unit of environment env and application app (NULL:
 * organization-level) in o; OS_ENOTFOUND when o defines neither, with
 * "environment ENV is not defined in organization ORG" (or application). */
int spec_target_of(spec_target *t, const spec_org *o, const char *env, const char *app,
                   os_error *err) OS_NODISCARD;

/* The unit's Kubernetes Secret name, and its env file's path below the
 * controller's --env-file-dir; caller frees; NULL on allocation failure. */
char *spec_target_secret_name(const spec_target *t) OS_NODISCARD;
char *spec_target_env_file(const spec_target *t) OS_NODISCARD;

/* The namespaces the unit's Secret goes to: an application's, or, for the
 * organization-level unit, the environment's and then every
 * application's (so that every namespace of an application receives both
 * Secrets), each once, in that order. *out is the caller's (free() the
 * array; the strings are borrowed from the organization). 0 or OS_ENOMEM. */
int spec_target_namespaces(const char ***out, size_t *n_out, const spec_target *t) OS_NODISCARD;

/* The labels of the unit's Secrets (keys and values borrowed), in this
 * order: managed-by and part-of (both "orgsecrets"), organization,
 * environment, and the application for an application's unit. Returns how
 * many. */
size_t spec_target_labels(spec_label out[SPEC_TARGET_LABELS_MAX], const spec_target *t);

/* The label selector of the Secrets the controller owns in (org, env)
 * (org NULL: of every organization); caller frees; NULL on allocation
 * failure. */
char *spec_target_selector(const char *org, const char *env) OS_NODISCARD;

/* Whether unit t delivers the secret s: same organization, environment and
 * application (none for the organization-level unit). */
bool spec_target_holds(const spec_target *t, const spec_secret_ref *s);

/* The secrets visible inside t: the organization-level secrets of its
 * organization and environment, plus, for an application's unit, that
 * application's, where an application-level secret overrides an
 * organization-level one of the same name. refs are the n candidates (pass
 * only those delivered, e.g. active ones); out (room for n) gets the
 * indexes of the visible ones sorted by name, *n_out how many. 0 or
 * OS_ENOMEM. */
int spec_target_view(size_t *out, size_t *n_out, const spec_target *t,
                     const spec_secret_ref *const *refs, size_t n) OS_NODISCARD;

/* metadata.name: "<org>.<env>.<name>" for an organization-level secret
 * (app NULL), "<org>.<env>.<app>.<name>" for an application's, lower-cased
 * with '_' -> '-'; caller frees; NULL on allocation failure. */
char *spec_secret_resource_name(const char *org, const char *env, const char *app,
                                const char *name);
/* The metadata.name the secret has: as above, or the organization-level
 * form for a legacy_name one. Caller frees; NULL on allocation failure. */
char *spec_secret_ref_resource_name(const spec_secret_ref *r);
/* "secrets/<env>/<NAME>.yaml", or "secrets/<env>/<app>/<NAME>.yaml" for an
 * application's, relative to the tree; caller frees. */
char *spec_secret_default_path(const char *env, const char *app, const char *name);

bool spec_secret_name_valid(const char *name);
bool spec_dns_label_valid(const char *name);
/* Further syntactic checks, the same the loader applies: */
bool spec_dns_subdomain_valid(const char *s);     /* Kubernetes object names */
bool spec_recipient_shaped(const char *s);        /* "age1" + 58 bech32 characters */
bool spec_fingerprint_valid(const char *s);       /* SPEC_FINGERPRINT_LEN lower-case hex */
bool spec_timestamp_valid(const char *s);         /* YYYY-MM-DDTHH:MM:SSZ, a real date */
bool spec_member_name_valid(const char *s);       /* non-empty, <= 253, no control characters */
bool spec_env_file_valid(const char *s);          /* relative path without "." / ".." parts */
bool spec_armor_shaped(const char *s, size_t len);/* age ASCII armor, <= SPEC_ENCRYPTED_MAX */
const char *spec_role_name(enum spec_role r);
int spec_role_parse(enum spec_role *out, const char *s);

/* Custom resources from the API server (JSON). metadata is read leniently
 * (the server adds fields); spec strictly. Caller frees. */
int spec_secret_from_json(spec_secret **out, const json_t *obj, os_error *err);
int spec_org_from_json(spec_org **out, const json_t *obj, os_error *err);
/* The custom-resource form of s / o (apiVersion, kind, metadata, spec). */
json_t *spec_secret_to_json(const spec_secret *s);
json_t *spec_org_to_json(const spec_org *o);

/* Allocation: *_new returns a zeroed object (a secret's rotation_days is
 * SPEC_ROTATION_INHERIT; NULL on allocation failure);
 * *_dup deep-copies (pos included); *_free accept NULL. */
spec_secret *spec_secret_new(void) OS_NODISCARD;
spec_secret *spec_secret_dup(const spec_secret *s);
void spec_secret_free(spec_secret *s);
void spec_org_free(spec_org *o);
spec_org *spec_org_new(void) OS_NODISCARD;
spec_org *spec_org_dup(const spec_org *o);

#endif

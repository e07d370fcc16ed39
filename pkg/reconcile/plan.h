/* The desired state of one environment: which values go to which targets
 * (Kubernetes Secrets and env files), computed from the specs and the
 * controller's identities. Pure: no I/O besides unsealing.
 * Threading: a plan belongs to one thread once built; it is immutable. */
#ifndef ORGSECRETS_RECONCILE_PLAN_H
#define ORGSECRETS_RECONCILE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/err.h"
#include "envfile/envfile.h"
#include "spec/spec.h"

/* One value to deliver, borrowed from the reconcile_plan_cache (value, secret) and
 * from the plan's input (name): both live as long as the plan. */
typedef struct reconcile_plan_entry {
  const char *name;
  const uint8_t *value;
  size_t len;
} reconcile_plan_entry;

/* What a plan needs of a secret: names, state, and where its value comes
 * from. Sources keep secrets in this small form instead of a spec_secret
 * (see source.h); all pointers are borrowed. */
typedef struct reconcile_plan_secret {
  spec_secret_ref ref;     /* organization, environment, application (NULL:
                              * org-level), name, and where they were read */
  const spec_secret *spec; /* the spec with its encryptedValue, or NULL once
                              * the value is held (value or the reconcile_plan_cache) */
  const uint8_t *value;    /* the opened value when the source holds it,
                              * else NULL: the reconcile_plan_cache, or spec is unsealed */
  uint32_t value_len;
  uint8_t state; /* enum spec_state */
  bool has_digest;
  bool visible_to_viewers;
  uint8_t digest[32]; /* reconcile_plan_secret_digest() of the spec, when has_digest */
  const char *recipients; /* the fingerprints it is sealed to, ','-separated (the folder
                           * source keeps them so); NULL: spec->recipients */
} reconcile_plan_secret;

/* Fills r from s (borrowing s); digest may be NULL (not known yet). */
void reconcile_plan_secret_of(reconcile_plan_secret *r, const spec_secret *s,
                              const uint8_t *digest);

typedef struct reconcile_plan_cache reconcile_plan_cache;

/* One delivery unit: organization-level or one application, in one
 * environment. Its names and labels are pkg/spec's (spec_target_*), so the
 * controller and `orgsecrets render` agree. */
typedef struct reconcile_plan_target {
  spec_target unit; /* borrowed from the plan's organization */
  char *organization;
  char *environment;
  char *application; /* NULL: organization-level */
  char *secret_name; /* Kubernetes Secret name */
  char **namespaces;
  size_t n_namespaces;
  char *env_file;                /* file name below --env-file-dir */
  reconcile_plan_entry *entries; /* active values that unsealed, sorted by name */
  size_t n_entries;
  const char **kept; /* names that failed: keep their last good value (borrowed) */
  size_t n_kept;
  bool keep_unknown; /* the plan is incomplete: delete no key */
} reconcile_plan_target;

/* Why a secret could not be delivered (names only, never values). */
typedef struct reconcile_plan_failure {
  char *resource; /* OrgSecret metadata.name */
  char *environment;
  char *name;
  const char *reason; /* NotRecipient, BindingMismatch, IntegrityError, InvalidSpec */
  int code;
  char *message;
  size_t result; /* index of its reconcile_plan_secret_result */
} reconcile_plan_failure;

/* Result of unsealing one secret, reported for status conditions; its
 * message is reconcile_plan_result_message(). */
typedef struct reconcile_plan_secret_result {
  const reconcile_plan_secret *secret; /* borrowed from the input */
  const char *reason;                  /* "Synced", "Disabled" or a failure reason */
  /* keys it is sealed to that its organization does not authorize for it
   * (a member removed on another branch): delivered all the same, and
   * reported (RECONCILE_PLAN_UNAUTHORIZED) */
  uint32_t unauthorized;
} reconcile_plan_secret_result;

/* The reason a delivered secret sealed to an unauthorized key is reported with. */
#define RECONCILE_PLAN_UNAUTHORIZED "UnauthorizedRecipients"

typedef struct reconcile_plan {
  reconcile_plan_target *targets; /* [0]: the organization-level unit, then one per application */
  size_t n_targets;
  reconcile_plan_failure *failures;
  size_t n_failures;
  reconcile_plan_secret_result *results; /* one per input secret of the environment */
  size_t n_results;
  size_t n_active, n_disabled;
  size_t n_unauthorized; /* results with unauthorized > 0 */
  /* Deletes nothing (every target keep_unknown): the input was incomplete,
   * or a secret of the organization names an application it does not
   * define (InvalidSpec: a typo never wipes a value, whichever the source). */
  bool incomplete;
  uint8_t checksum_key[32];        /* copied from the input */
  reconcile_plan_cache *own_cache; /* holds the values when the input gave no cache */
} reconcile_plan;

/* Values already unsealed, keyed by a digest of (organization, environment,
 * application, name, encryptedValue): a pass re-opens only what changed.
 * Plans built with a cache borrow its values. A pass builds its plans (one
 * per organization) and then calls reconcile_plan_cache_sweep() once: every reconcile_plan_build
 * marks the entries it uses, and the sweep drops (and wipes) those that no
 * build since the previous sweep used. So the plans of a pass stay valid
 * until the sweep after the next pass's builds; free them before that sweep
 * (the controller frees a pass's plans before building the next ones). */
int reconcile_plan_cache_new(reconcile_plan_cache **out, os_error *err) OS_NODISCARD;
void reconcile_plan_cache_free(reconcile_plan_cache *c);
/* Drops the entries no reconcile_plan_build used since the previous sweep, and
 * starts the next pass. */
void reconcile_plan_cache_sweep(reconcile_plan_cache *c);
/* Number of values held; unseal operations done by the builds between the
 * last two sweeps (the last pass). */
size_t reconcile_plan_cache_size(const reconcile_plan_cache *c);
size_t reconcile_plan_cache_last_unseals(const reconcile_plan_cache *c);

/* Unseals s into the cache now unless its value is there already (the
 * entry then survives the next sweep). Returns 0 when the value is in the
 * cache; otherwise the unseal error (reconcile_plan_build reports it). */
int reconcile_plan_cache_prefetch(reconcile_plan_cache *c, const uint8_t digest[32],
                                  const spec_secret *s, const age_identity *const *ids,
                                  size_t n_ids);

/* Input to reconcile_plan_build. incomplete says some file could not be read at all,
 * so no key may be deleted anywhere. */
typedef struct reconcile_plan_input {
  const spec_org *org;
  const reconcile_plan_secret *const *secrets;
  size_t n_secrets;
  const char *environment;
  const age_identity *const *ids;
  size_t n_ids;
  const uint8_t *checksum_key; /* 32 bytes, see reconcile_plan_checksum_key() */
  bool incomplete;
  reconcile_plan_cache *cache; /* optional; without one the plan keeps its own */
} reconcile_plan_input;

/* SHA-256 over (organization, environment, application, name,
 * encryptedValue): the key of a value in a reconcile_plan_cache. */
void reconcile_plan_secret_digest(uint8_t d[32], const spec_secret *s);

/* Builds the plan; *out is freed with reconcile_plan_free() (values wiped when the
 * plan owns them). Input strings must outlive the plan. Fails only
 * on programmer errors or memory; per-secret failures land in failures. */
int reconcile_plan_build(reconcile_plan **out, const reconcile_plan_input *in, os_error *err);
void reconcile_plan_free(reconcile_plan *p);

/* The checksum key: HMAC-SHA-256 keyed by the first identity's secret over a
 * fixed label, so checksums reveal nothing about values without the key. */
int reconcile_plan_checksum_key(uint8_t key[32], const age_identity *id, os_error *err);

/* The message of a result (borrowed from the plan): "" when synced. */
const char *reconcile_plan_result_message(const reconcile_plan *p,
                                          const reconcile_plan_secret_result *r);

/* For a result with unauthorized > 0: what is wrong and the fix (a count,
 * never a key or a value), into out. */
#define RECONCILE_PLAN_UNAUTHORIZED_MSG_MAX 320
void reconcile_plan_unauthorized_message(char *out, size_t size,
                                         const reconcile_plan_secret_result *r);

/* Failure reason for an unseal error code. */
const char *reconcile_plan_reason_for(int code);

/* Env-file text (envfile/envfile.h format), one line per entry in order.
 * Values with a NUL byte are refused. out is a secret buffer. */
int reconcile_plan_envfile_render(os_buf *out, const reconcile_plan_entry *entries, size_t n,
                                  os_error *err);

#endif

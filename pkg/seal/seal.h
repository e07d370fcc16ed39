/* Sealing values: the binding envelope inside each age ciphertext, and the
 * recipient set a secret must be sealed to (docs/security.md, "Who can do what").
 * Threading: reentrant. */
#ifndef ORGSECRETS_SEAL_SEAL_H
#define ORGSECRETS_SEAL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"
#include "common/err.h"
#include "spec/spec.h"

/* Fingerprint of an "age1..." recipient: the first 8 bytes of SHA-256 over
 * its 32-byte key, in lower-case hex. out must hold SPEC_FINGERPRINT_LEN+1. */
int seal_fingerprint(char *out, const char *recipient, os_error *err);

/* The recipients ("age1...", sorted, unique) a secret of env must be sealed
 * to: env's controllers, every admin and member, and every viewer with a
 * key when visible_to_viewers. Caller frees with seal_strings_free(). */
int seal_recipients_for(char ***out, size_t *out_n, const spec_org *org, const char *env,
                        bool visible_to_viewers, os_error *err);
/* Their fingerprints, sorted. Caller frees with seal_strings_free(). */
int seal_fingerprints_for(char ***out, size_t *out_n, const spec_org *org, const char *env,
                          bool visible_to_viewers, os_error *err);
void seal_strings_free(char **v, size_t n);

/* True when s->recipients equals the set it should be sealed to now. */
bool seal_recipients_current(const spec_secret *s, const spec_org *org);

/* What the organization authorizes for the secrets of one environment,
 * computed once and then checked against many secrets: the fingerprints
 * of seal_fingerprints_for() without and with viewers. */
typedef struct seal_authorized {
  char **fps; /* controllers, admins and members; sorted */
  size_t n;
  char **with_viewers; /* and every viewer with a key; sorted */
  size_t n_with_viewers;
} seal_authorized;

/* Fills a for env of org; OS_ENOTFOUND for an unknown environment. Free
 * with seal_authorized_clear() (also after a failure). */
int seal_authorized_init(seal_authorized *a, const spec_org *org, const char *env,
                         os_error *err) OS_NODISCARD;
void seal_authorized_clear(seal_authorized *a);

/* Compares the fingerprints a secret says it is sealed to (fps[0..n), no
 * duplicates) with what a authorizes for it (visible: visibleToViewers):
 * *unauthorized counts those not authorized (a key that should not read
 * it: an error), *missing the authorized ones it lacks (someone who
 * cannot read it yet: a warning). */
void seal_authorized_compare(size_t *unauthorized, size_t *missing, const seal_authorized *a,
                             bool visible, char *const *fps, size_t n);
/* The same for fingerprints in one string, separated by ','. */
void seal_authorized_compare_list(size_t *unauthorized, size_t *missing, const seal_authorized *a,
                                  bool visible, const char *list);

/* Seals value for s (its organization, environment, application and name
 * must be set): fills s->encrypted_value and s->recipients. */
int seal_value(spec_secret *s, const spec_org *org, const void *value, size_t len,
               os_error *err);

/* Opens s with the first matching identity and checks the envelope binds it
 * to s's organization, environment, application and name (OS_EBINDING
 * otherwise). *value is secret: caller frees with os_free_secret(). */
int seal_unseal(uint8_t **value, size_t *len, const spec_secret *s,
                const age_identity *const *ids, size_t n_ids, os_error *err);

/* The envelope (documented in docs/format.md). Caller frees *out with
 * os_free_secret(). app may be NULL. */
int seal_envelope_encode(uint8_t **out, size_t *out_len, const char *org, const char *env,
                         const char *app, const char *name, const void *value, size_t len,
                         os_error *err);
/* Checks the envelope's binding against org/env/app/name and returns the
 * value (secret; caller frees with os_free_secret()). */
int seal_envelope_decode(uint8_t **value, size_t *len, const uint8_t *env_data, size_t env_len,
                         const char *org, const char *env, const char *app, const char *name,
                         os_error *err);

#endif

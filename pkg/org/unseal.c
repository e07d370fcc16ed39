/* Opening a value, with a failure that says what to do: a key the value
 * was not sealed to (rekey, or another identity file) is told apart from a
 * value whose age header does not match its own recipients list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "seal/seal.h"

/* The first identity's public key and fingerprint; false when it cannot be encoded. */
static bool key_of(char **pub, char fp[SPEC_FINGERPRINT_LEN + 1], const age_identity *id) {
  *pub = NULL;
  if (age_recipient_encode(pub, age_identity_recipient(id), NULL) < 0)
    return false;
  if (seal_fingerprint(fp, *pub, NULL) < 0) {
    free(*pub);
    *pub = NULL;
    return false;
  }
  return true;
}

static bool listed(const spec_secret *s, const char *fp) {
  for (size_t i = 0; i < s->n_recipients; i++) {
    if (strcmp(s->recipients[i], fp) == 0)
      return true;
  }
  return false;
}

/* The member of o whose recipient is pub, or NULL. */
static const spec_member *holder(const spec_org *o, const char *pub) {
  for (size_t i = 0; o != NULL && i < o->n_members; i++) {
    if (o->members[i].recipient != NULL && strcmp(o->members[i].recipient, pub) == 0)
      return &o->members[i];
  }
  return NULL;
}

/* Rewrites seal_unseal's "not a recipient" into advice, from what the
 * identities are and what the secret lists. */
static int explain(os_error *err, const spec_org *o, const spec_secret *s,
                   const age_identity *const *ids, size_t n_ids) {
  const char *env = s->environment, *name = s->name;
  char fp[SPEC_FINGERPRINT_LEN + 1];
  char *pub = NULL;
  int rc = OS_ENOIDENTITY;
  for (size_t i = 0; i < n_ids; i++) {
    char *p = NULL;
    if (!key_of(&p, fp, ids[i]))
      continue;
    if (listed(s, fp)) {
      /* the file says it is sealed to this key, yet age finds no stanza for it */
      rc = os_error_set(err, OS_ECRYPTO,
                        "%s/%s: tampered or damaged: its recipients list names your key %s, but "
                        "its encryptedValue is not sealed to it; the file was changed outside "
                        "orgsecrets: restore it from Git and find out who changed it (`git log "
                        "-p` of its file)", env, name, fp);
      free(p);
      free(pub);
      return rc;
    }
    if (pub == NULL || holder(o, p) != NULL) {
      free(pub);
      pub = p;
    } else {
      free(p);
    }
  }
  if (pub == NULL)
    return rc; /* seal_unseal's message stands */
  const spec_member *m = holder(o, pub);
  if (m != NULL)
    rc = os_error_set(err, OS_ENOIDENTITY,
                      "%s/%s: not a recipient: your identity file holds key %s (that of %s), but "
                      "this value is sealed to members' keys and yours is not among them (it was "
                      "sealed before the key was added or changed): ask an admin to run "
                      "`orgsecrets rekey`", env, name, pub, m->name);
  else
    rc = os_error_set(err, OS_ENOIDENTITY,
                      "%s/%s: not a recipient: your identity file holds key %s, which is not the "
                      "key of any member of organization %s: pass -i with the identity whose "
                      "public key an admin added, or ask an admin to run `orgsecrets member "
                      "update NAME --recipient %s` and then `orgsecrets rekey`", env, name, pub,
                      o != NULL ? o->id : "?", pub);
  free(pub);
  return rc;
}

int org_unseal(uint8_t **value, size_t *len, const spec_org *o, const spec_secret *s,
               const age_identity *const *ids, size_t n_ids, os_error *err) {
  int rc = seal_unseal(value, len, s, ids, n_ids, err);
  if (rc == OS_ENOIDENTITY)
    rc = explain(err, o, s, ids, n_ids);
  return rc;
}

/* whoami: who acts, with which role, and whether the identity file holds
 * that member's key. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"

void org_whoami_free(org_whoami *w) {
  if (w == NULL)
    return;
  free(w->actor);
  for (size_t i = 0; i < w->n_keys; i++)
    free(w->keys[i]);
  free(w->keys);
  memset(w, 0, sizeof(*w));
}

int org_whoami_get(org_whoami *out, const org_ctx *c, const spec_tree *t, os_error *err) {
  memset(out, 0, sizeof(*out));
  out->keys_err = (os_error)OS_ERROR_INIT;
  out->from_git = c == NULL || c->actor == NULL || c->actor[0] == '\0';
  os_error aerr = OS_ERROR_INIT;
  if (org_actor(&out->actor, c, t->dir, &aerr) == 0)
    out->member = spec_org_find_member(t->org, out->actor);
  const age_identity *const *ids = NULL;
  size_t n = 0;
  out->keys_rc = org_keys_get(&ids, &n, c != NULL ? c->keys : NULL, &out->keys_err);
  if (out->keys_rc < 0)
    return 0;
  if ((out->keys = calloc(n ? n : 1, sizeof(*out->keys))) == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (age_recipient_encode(&out->keys[i], age_identity_recipient(ids[i]), err) < 0)
      return os_error_prefix(err, "identity");
    out->n_keys++;
    if (out->member != NULL && out->member->recipient != NULL &&
        strcmp(out->member->recipient, out->keys[i]) == 0)
      out->matches = true;
  }
  return 0;
}

bool org_whoami_ok(const org_whoami *w) {
  if (w->member == NULL)
    return false;
  if (w->member->recipient == NULL) /* a viewer without a key needs no identity */
    return true;
  return w->keys_rc == 0 && w->matches;
}

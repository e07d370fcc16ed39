/* member update: a member's role or key. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "org/org.h"
#include "org/org_internal.h"

int org_member_update(const org_ctx *c, spec_tree *t, const char *name, int role,
                      const char *recipient, os_error *err) {
  const spec_member *who = NULL;
  int rc = org_require(&who, c, t, ORG_ACTION_MANAGE, err);
  if (rc < 0)
    return rc;
  spec_org *o = t->org;
  spec_member *m = spec_org_find_member(o, name);
  if (m == NULL)
    return os_error_set(err, OS_ENOTFOUND, "not a member of organization %s", o->id);
  if (role >= 0 && role != SPEC_ROLE_ADMIN && role != SPEC_ROLE_MEMBER && role != SPEC_ROLE_VIEWER)
    return os_error_set(err, OS_EINVAL, "unknown role");
  enum spec_role new_role = role >= 0 ? (enum spec_role)role : m->role;
  const char *new_key = recipient == NULL ? m->recipient : recipient[0] ? recipient : NULL;
  if ((rc = org_member_check(name, new_role, new_key, err)) < 0)
    return rc;
  if (m->role == SPEC_ROLE_ADMIN && new_role != SPEC_ROLE_ADMIN) {
    size_t admins = 0;
    for (size_t i = 0; i < o->n_members; i++)
      admins += o->members[i].role == SPEC_ROLE_ADMIN;
    if (admins == 1)
      return os_error_set(err, OS_EINVAL, "refusing to demote the last admin");
  }
  if (new_role == m->role && org_str_eq(new_key, m->recipient))
    return 0; /* nothing changes */
  m->role = new_role;
  if (org_set_str(&m->recipient, new_key))
    return os_error_set(err, OS_ENOMEM, "out of memory");
  return org_save_org(c, t, err);
}

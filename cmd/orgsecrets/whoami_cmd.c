/* whoami: the acting member, their role, the identity file and its key. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: orgsecrets whoami [-o table|json]\n"
    "\n"
    "Prints the acting member (--as, $ORGSECRETS_USER, else git config\n"
    "user.email) and where the name comes from, their role in the\n"
    "organization, the identity file (-i) with its public key(s), and whether\n"
    "one of them is the member's recipient (without it, `reveal` cannot open\n"
    "anything). Exit status 0 when the member exists and the identity file\n"
    "holds their key (a viewer without a key needs none), else 1 with what to\n"
    "do; everything known is printed either way.\n";

/* Why w is not ok, with the fix, on stderr. */
static int explain(const org_whoami *w, const char *idpath) {
  if (w->actor == NULL)
    return cli_failf("whoami: nobody: pass --as NAME, set ORGSECRETS_USER or git config "
                     "user.email");
  if (w->member == NULL)
    return cli_failf("whoami: %s is not a member: ask an admin to run `orgsecrets member add "
                     "%s --role ROLE --recipient AGE1...`, or pass --as NAME", w->actor, w->actor);
  if (w->keys_rc < 0)
    return cli_failf("whoami: %s", w->keys_err.msg);
  return cli_failf("whoami: %s holds no key of %s (their recipient is %s): pass -i with the "
                   "right identity file, or ask an admin to run `orgsecrets member update %s "
                   "--recipient %s` and then `orgsecrets rekey`", idpath, w->actor,
                   w->member->recipient, w->actor, w->n_keys > 0 ? w->keys[0] : "AGE1...");
}

int cmd_whoami(cli_ctx *ctx, int argc, char **argv) {
  spec_tree *t = NULL;
  enum cli_format fmt;
  int status = cli_listing(&t, &fmt, ctx, argc, argv, usage, "whoami");
  const org_ctx *oc = t != NULL ? cli_org(ctx) : NULL;
  if (oc == NULL) {
    status = t != NULL ? CLI_FAIL : status;
    spec_tree_free(t);
    return status;
  }
  char idpath[PATH_MAX] = "?";
  os_error err = OS_ERROR_INIT;
  (void)org_identity_path(idpath, sizeof(idpath), ctx->identity, &err);
  org_whoami w;
  if (org_whoami_get(&w, oc, t, &err) < 0) {
    status = cli_fail("whoami", &err);
    goto done;
  }
  const char *from = w.actor == NULL ? NULL : w.from_git ? "git config user.email" : ctx->as_from;
  const spec_member *m = w.member;
  if (fmt == CLI_FORMAT_JSON) {
    json_t *keys = json_array();
    for (size_t i = 0; i < w.n_keys; i++)
      cli_json_push(&keys, json_string(w.keys[i]));
    json_t *j = keys == NULL ? NULL
                : json_pack("{s:s?, s:s?, s:s?, s:s, s:o, s:s?, s:b, s:b}", "member", w.actor,
                            "memberFrom", from, "role", m ? spec_role_name(m->role) : NULL,
                            "identity", idpath, "publicKeys", keys, "recipient",
                            m ? m->recipient : NULL, "matches", w.matches, "ok",
                            org_whoami_ok(&w));
    status = cli_print_json(j, "whoami");
  } else {
    printf("member:    %s%s%s%s\n", w.actor ? w.actor : "(nobody)", from ? " (from " : "",
           from ? from : "", from ? ")" : "");
    printf("role:      %s\n", m ? spec_role_name(m->role) : w.actor ? "(not a member)" : "-");
    printf("identity:  %s%s\n", idpath, w.keys_rc < 0 ? " (unusable, see below)" : "");
    for (size_t i = 0; i < w.n_keys; i++)
      printf("key:       %s%s\n", w.keys[i],
             m && m->recipient && w.matches && strcmp(m->recipient, w.keys[i]) == 0
                 ? " (matches the member's recipient)" : "");
    if (m != NULL)
      printf("recipient: %s\n", m->recipient ? m->recipient : "none (a viewer without a key)");
  }
  if (!org_whoami_ok(&w))
    status = explain(&w, idpath);
done:
  org_whoami_free(&w);
  spec_tree_free(t);
  return status;
}

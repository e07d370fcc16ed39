/* rekey: re-seal values whose recipient set is out of date. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "seal/seal.h"

static const char usage[] =
    "usage: orgsecrets rekey [--dry-run] [--yes]\n"
    "\n"
    "Finds the secrets sealed to an out-of-date set of recipients (a member\n"
    "added, removed or changed role, a controller key rotated, a viewer flag\n"
    "changed), opens each with -i and seals it again to the current set. The\n"
    "ciphertext and recipients change; the value, updatedAt and rotatedAt do\n"
    "not. When someone lost access, a line\n"
    "  rotate: ENV/NAME (was readable by WHO)\n"
    "is printed on stdout: they may have kept the value, so change it with\n"
    "`orgsecrets set`. Secrets -i cannot open are reported and counted; the\n"
    "others are still re-sealed and written, and the exit status is 1.\n"
    "When re-sealing would give someone access they do not have (a new member\n"
    "or controller key, a viewer of a secret now visibleToViewers), a line\n"
    "  grant: ENV/NAME to WHO\n"
    "is printed on stdout for each, and nothing is written unless --yes is\n"
    "given or the answer on the terminal is y.\n"
    "--dry-run lists what would change (grant: and rotate: lines) without writing.\n";

/* Members found in the Git history of organization.yaml: who held which key
 * before they were removed. */
typedef struct past_member {
  char fp[SPEC_FINGERPRINT_LEN + 1];
  char *name;
} past_member;

typedef struct history {
  bool loaded;
  past_member *v;
  size_t n;
} history;

static void history_free(history *h) {
  for (size_t i = 0; i < h->n; i++)
    free(h->v[i].name);
  free(h->v);
}

static void history_add(history *h, const char *name, const char *recipient) {
  char fp[SPEC_FINGERPRINT_LEN + 1];
  if (seal_fingerprint(fp, recipient, NULL) < 0)
    return;
  for (size_t i = 0; i < h->n; i++) {
    if (strcmp(h->v[i].fp, fp) == 0)
      return; /* newest first: keep the latest name */
  }
  past_member *nv = realloc(h->v, (h->n + 1) * sizeof(*nv));
  if (nv == NULL)
    return;
  h->v = nv;
  memcpy(h->v[h->n].fp, fp, sizeof(fp));
  if ((h->v[h->n].name = os_strdup(name)) != NULL)
    h->n++;
}

/* Reads `git log -p` of the organization file; lines "- name: X" followed
 * by "recipient: age1..." (in +, - or context lines) name a key's holder. */
static void history_load(history *h, const spec_tree *t) {
  h->loaded = true;
  const char *file = t->org->pos.file;
  if (file == NULL)
    return;
  char a0[] = "git", a1[] = "-C", a3[] = "log", a4[] = "-p", a5[] = "--format=", a6[] = "--";
  char *dir = os_strdup(t->dir), *f = os_strdup(file);
  char *out = NULL;
  size_t len = 0;
  if (dir != NULL && f != NULL) {
    char *const argv[] = {a0, a1, dir, a3, a4, a5, a6, f, NULL};
    if (cli_capture(&out, &len, argv, 64u * 1024 * 1024) < 0)
      out = NULL;
  }
  free(dir);
  free(f);
  if (out == NULL)
    return;
  char name[512] = "";
  for (char *line = out, *next = NULL; line != NULL; line = next) {
    char *nl = strchr(line, '\n');
    next = nl != NULL ? nl + 1 : NULL;
    if (nl != NULL)
      *nl = '\0';
    char *p = line;
    if (*p == '+' || *p == '-' || *p == ' ')
      p++;
    while (*p == ' ')
      p++;
    if (strncmp(p, "- name: ", 8) == 0) {
      snprintf(name, sizeof(name), "%s", p + 8);
    } else if (strncmp(p, "recipient: ", 11) == 0 && name[0] != '\0') {
      history_add(h, name, p + 11);
      name[0] = '\0';
    } else if (strncmp(p, "- ", 2) == 0) {
      name[0] = '\0';
    }
  }
  free(out);
}

/* Names the holder of a fingerprint: a current member or controller, else a
 * member found in the Git history, else the bare fingerprint. gained: the
 * holder is about to get access (the wording names the current role). */
static void describe_fp(char *out, size_t out_size, const spec_tree *t, history *h,
                        const char *fp, bool gained) {
  const spec_org *o = t->org;
  char f[SPEC_FINGERPRINT_LEN + 1];
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->recipient != NULL && seal_fingerprint(f, m->recipient, NULL) == 0 &&
        strcmp(f, fp) == 0) {
      snprintf(out, out_size, gained ? "%s (%s)" : "%s, now a %s", m->name,
               spec_role_name(m->role));
      return;
    }
  }
  for (size_t i = 0; i < o->n_envs; i++) {
    for (size_t k = 0; k < o->envs[i].n_controllers; k++) {
      if (seal_fingerprint(f, o->envs[i].controllers[k], NULL) == 0 && strcmp(f, fp) == 0) {
        snprintf(out, out_size, "a controller of %s, key %s", o->envs[i].name, fp);
        return;
      }
    }
  }
  if (!h->loaded)
    history_load(h, t);
  for (size_t i = 0; i < h->n; i++) {
    if (strcmp(h->v[i].fp, fp) == 0) {
      snprintf(out, out_size, "%s", h->v[i].name);
      return;
    }
  }
  snprintf(out, out_size, "key %s", fp);
}

static bool contains(const char *const *v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(v[i], s) == 0)
      return true;
  }
  return false;
}

/* One secret to re-seal: the fingerprints it is sealed to and should be. */
typedef struct stale {
  spec_secret *s;
  char **now, **was;
  size_t n_now, n_was;
} stale;

static void stale_free(stale *v, size_t n) {
  for (size_t i = 0; v != NULL && i < n; i++) {
    seal_strings_free(v[i].now, v[i].n_now);
    seal_strings_free(v[i].was, v[i].n_was);
  }
  free(v);
}

static bool is_viewer_key(const spec_org *o, const char *fp) {
  char f[SPEC_FINGERPRINT_LEN + 1];
  for (size_t i = 0; i < o->n_members; i++) {
    const spec_member *m = &o->members[i];
    if (m->role == SPEC_ROLE_VIEWER && m->recipient != NULL &&
        seal_fingerprint(f, m->recipient, NULL) == 0 && strcmp(f, fp) == 0)
      return true;
  }
  return false;
}

/* Prints "grant: ENV/NAME to WHO" for every reader re-sealing adds; returns
 * how many (secret, reader) pairs. */
static size_t list_grants(const spec_tree *t, const stale *v, size_t n, history *hist) {
  size_t grants = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < v[i].n_now; k++) {
      if (contains((const char *const *)v[i].was, v[i].n_was, v[i].now[k]))
        continue;
      char who[400];
      describe_fp(who, sizeof(who), t, hist, v[i].now[k], true);
      printf("grant: %s/%s to %s%s\n", v[i].s->environment, v[i].s->name, who,
             is_viewer_key(t->org, v[i].now[k]) ? ", as the secret is visibleToViewers" : "");
      grants++;
    }
  }
  fflush(stdout);
  return grants;
}

/* --yes, or a "y" on the terminal; false when there is no terminal to ask. */
static bool confirmed(bool yes, size_t grants, size_t secrets) {
  if (yes)
    return true;
  if (isatty(0) != 1)
    return false;
  fprintf(stderr, "re-sealing gives %zu new reader(s) access to %zu secret(s) (grant: lines "
                  "above); go on? [y/N] ", grants, secrets);
  char line[16];
  return fgets(line, sizeof(line), stdin) != NULL && (line[0] == 'y' || line[0] == 'Y');
}

int cmd_rekey(cli_ctx *ctx, int argc, char **argv) {
  bool dry_run = false, yes = false;
  const cli_opt opts[] = {{"--dry-run", "-n", CLI_FLAG, &dry_run}, {"--yes", "-y", CLI_FLAG, &yes}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  age_identity **ids = NULL;
  size_t n_ids = 0;
  spec_secret **order = NULL;
  stale *todo = NULL;
  const char **dirty = NULL;
  size_t n_todo = 0, n_dirty = 0, rekeyed = 0, failed = 0;
  history hist = {0};
  int status = CLI_FAIL;
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  size_t cap = t->n_secrets ? t->n_secrets : 1;
  order = calloc(cap, sizeof(*order));
  dirty = calloc(cap, sizeof(*dirty));
  todo = calloc(cap, sizeof(*todo));
  if (order == NULL || dirty == NULL || todo == NULL) {
    status = cli_failf("rekey: out of memory");
    goto done;
  }
  if (t->n_secrets > 0) {
    memcpy(order, t->secrets, t->n_secrets * sizeof(*order));
    qsort(order, t->n_secrets, sizeof(*order), cli_secret_cmp);
  }
  for (size_t i = 0; i < t->n_secrets; i++) {
    spec_secret *s = order[i];
    if (seal_recipients_current(s, t->org))
      continue;
    stale *st = &todo[n_todo];
    st->s = s;
    if (seal_fingerprints_for(&st->now, &st->n_now, t->org, s->environment,
                              s->visible_to_viewers, &err) < 0) {
      status = cli_fail("rekey", &err);
      goto done;
    }
    n_todo++;
    st->was = calloc(s->n_recipients ? s->n_recipients : 1, sizeof(*st->was));
    for (size_t k = 0; st->was != NULL && k < s->n_recipients; k++) {
      if ((st->was[k] = os_strdup(s->recipients[k])) == NULL)
        break;
      st->n_was++;
    }
    if (st->was == NULL || st->n_was != s->n_recipients) {
      status = cli_failf("rekey: out of memory");
      goto done;
    }
  }
  if (n_todo == 0) {
    fprintf(stderr, "orgsecrets: every secret is sealed to its current recipients\n");
    status = CLI_OK;
    goto done;
  }
  /* widening first: nobody gains access to a value without saying yes */
  size_t widened = 0;
  for (size_t i = 0; i < n_todo; i++) {
    for (size_t k = 0; k < todo[i].n_now; k++) {
      if (!contains((const char *const *)todo[i].was, todo[i].n_was, todo[i].now[k])) {
        widened++;
        break;
      }
    }
  }
  size_t grants = widened > 0 ? list_grants(t, todo, n_todo, &hist) : 0;
  if (grants > 0 && dry_run) {
    cli_note("rekey would give %zu new reader(s) access to %zu secret(s) (grant: lines); it "
             "will ask, or needs --yes", grants, widened);
  } else if (grants > 0 && !confirmed(yes, grants, widened)) {
    status = cli_failf("rekey: not confirmed: re-sealing would give %zu new reader(s) access to "
                       "%zu secret(s) (grant: lines on stdout); check them, then pass --yes",
                       grants, widened);
    goto done;
  }
  if (!dry_run && cli_load_identities(&ids, &n_ids, ctx, &err) < 0) {
    status = cli_fail("rekey", &err);
    goto done;
  }
  for (size_t i = 0; i < n_todo; i++) {
    spec_secret *s = todo[i].s;
    if (!dry_run) {
      uint8_t *value = NULL;
      size_t len = 0;
      int rc = seal_unseal(&value, &len, s, (const age_identity *const *)ids, n_ids, &err);
      if (rc == 0) {
        rc = seal_value(s, t->org, value, len, &err);
        os_free_secret(value, len);
      }
      if (rc < 0) {
        cli_fail("rekey", &err);
        failed++;
        continue;
      }
      if (s->pos.file != NULL && !contains(dirty, n_dirty, s->pos.file))
        dirty[n_dirty++] = s->pos.file;
    }
    rekeyed++;
    fprintf(stderr, "orgsecrets: %s %s/%s\n", dry_run ? "would re-seal" : "re-sealed",
            s->environment, s->name);
    for (size_t k = 0; k < todo[i].n_was; k++) {
      if (contains((const char *const *)todo[i].now, todo[i].n_now, todo[i].was[k]))
        continue;
      char who[400];
      describe_fp(who, sizeof(who), t, &hist, todo[i].was[k], false);
      printf("rotate: %s/%s (was readable by %s)\n", s->environment, s->name, who);
      fflush(stdout);
    }
  }
  fflush(stdout);
  for (size_t i = 0; i < n_dirty; i++) {
    if (cli_write_file(t, dirty[i], &err) < 0) {
      status = cli_fail("rekey", &err);
      goto done;
    }
  }
  if (failed > 0) {
    status = cli_failf("rekey: %zu secret(s) re-sealed, %zu could not be (see above)", rekeyed,
                       failed);
    goto done;
  }
  fprintf(stderr, "orgsecrets: %zu secret(s) %s\n", rekeyed, dry_run ? "to re-seal" : "re-sealed");
  status = CLI_OK;
done:
  history_free(&hist);
  stale_free(todo, n_todo);
  free(dirty);
  free(order);
  age_identities_free(ids, n_ids);
  spec_tree_free(t);
  return status;
}

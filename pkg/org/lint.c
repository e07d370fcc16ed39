/* lint: validation, naming, rotation and recipient rules as findings. */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "envfile/envfile.h"
#include "org/org.h"
#include "org/org_internal.h"
#include "seal/seal.h"

#define FINDINGS_MAX ((size_t)1 << 24)

int org_finding_add(org_findings *f, const char *dir, enum org_severity sev, const char *code,
                    const char *object, const char *file, int line, const char *fix,
                    const char *fmt, ...) {
  if (os_grow(&f->v, NULL, f->n + 1, sizeof(*f->v), FINDINGS_MAX) < 0)
    return OS_ENOMEM;
  org_finding *x = &f->v[f->n];
  memset(x, 0, sizeof(*x));
  size_t dl = dir != NULL ? strlen(dir) : 0;
  if (file != NULL && dl > 0 && strncmp(file, dir, dl) == 0 && file[dl] == '/')
    file += dl + 1;
  va_list ap;
  va_start(ap, fmt);
  char msg[OS_ERROR_MSG_MAX * 2];
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  x->severity = sev;
  x->code = code;
  x->line = line;
  bool ok = n >= 0 && (x->message = os_strdup(msg)) != NULL &&
            (object == NULL || (x->object = os_strdup(object)) != NULL) &&
            (file == NULL || (x->file = os_strdup(file)) != NULL) &&
            (fix == NULL || (x->fix = os_strdup(fix)) != NULL);
  if (!ok) {
    free(x->message);
    free(x->object);
    free(x->file);
    free(x->fix);
    return OS_ENOMEM;
  }
  f->n++;
  if (sev == ORG_ERROR)
    f->errors++;
  else
    f->warnings++;
  return 0;
}

void org_findings_free(org_findings *f) {
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->n; i++) {
    free(f->v[i].object);
    free(f->v[i].file);
    free(f->v[i].message);
    free(f->v[i].fix);
  }
  free(f->v);
  memset(f, 0, sizeof(*f));
}

/* ---- names ---- */

static const char *const vague_words[] = {
    "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "KEY", "KEYS", "TOKEN",
    "API_KEY", "APIKEY", "API_TOKEN", "API_SECRET", "PRIVATE_KEY", "SECRET_KEY", "ACCESS_KEY",
    "AUTH", "CREDENTIAL", "CREDENTIALS", "CREDS", "VALUE", "VAR", "TEST", "TMP", "TEMP", "FOO",
    "BAR", "DATA", "CONFIG", NULL};

static bool vague_word(const char *s, size_t len) {
  for (size_t i = 0; vague_words[i] != NULL; i++) {
    /* checksrc: public: secret names */
    if (strlen(vague_words[i]) == len && memcmp(vague_words[i], s, len) == 0)
      return true;
  }
  return false;
}

static const struct {
  const char *word;
  const char *cls;
} env_words[] = {{"DEV", "dev"},         {"DEVELOPMENT", "dev"}, {"STAGING", "staging"},
                 {"STG", "staging"},     {"STAGE", "staging"},   {"PROD", "prod"},
                 {"PRD", "prod"},        {"PRODUCTION", "prod"}, {"TEST", "test"},
                 {"TESTING", "test"},    {"QA", "qa"},           {"UAT", "uat"}};

static const char *env_class(const char *word, size_t len) {
  for (size_t i = 0; i < sizeof(env_words) / sizeof(env_words[0]); i++) {
    if (strlen(env_words[i].word) == len && strncasecmp(env_words[i].word, word, len) == 0)
      return env_words[i].cls;
  }
  return NULL;
}

int org_lint_name(org_findings *out, const char *env, const char *app, const char *name,
                  const char *file, int line, os_error *err) {
  char object[SPEC_NAME_MAX + 160];
  org_secret_label(object, sizeof(object), env, app, name);
  size_t len = strlen(name);
  size_t stem = len;
  while (stem > 0 && (isdigit((unsigned char)name[stem - 1]) || name[stem - 1] == '_'))
    stem--;
  int rc = 0;
  if (vague_word(name, stem))
    rc = org_finding_add(out, NULL, ORG_WARNING, "vague-name", object, file, line, NULL,
                         "%s: vague name; say what it is for (e.g. BILLING_DB_PASSWORD)", object);
  else if (len < 4)
    rc = org_finding_add(out, NULL, ORG_WARNING, "vague-name", object, file, line, NULL,
                         "%s: name shorter than 4 characters", object);
  else if (stem < len && stem <= 2)
    rc = org_finding_add(out, NULL, ORG_WARNING, "vague-name", object, file, line, NULL,
                         "%s: vague name (letters then only digits)", object);
  const char *us = strrchr(name, '_');
  const char *scls = us != NULL ? env_class(us + 1, strlen(us + 1)) : NULL;
  if (rc == 0 && scls != NULL) {
    const char *ecls = env_class(env, strlen(env));
    bool same = ecls != NULL ? strcmp(ecls, scls) == 0 : strcasecmp(us + 1, env) == 0;
    if (!same)
      rc = org_finding_add(out, NULL, ORG_WARNING, "env-suffix", object, file, line, NULL,
                           "%s: the suffix _%s contradicts environment %s", object, us + 1, env);
  }
  if (rc < 0)
    return os_error_set(err, rc, "out of memory");
  return 0;
}

/* ---- one secret ---- */

int org_rotation_policy(const spec_org *o, const spec_secret *s) {
  return s->rotation_days != SPEC_ROTATION_INHERIT ? s->rotation_days : o->rotation_days;
}

int org_secret_rotation(int64_t *age_days, const spec_org *o, const spec_secret *s, int64_t now) {
  int64_t at;
  const char *ts = s->rotated_at ? s->rotated_at : s->created_at;
  *age_days = 0;
  if (ts == NULL || os_time_parse(&at, NULL, ts, OS_TIME_CANONICAL) != 0)
    return -1;
  *age_days = (now - at) / 86400;
  int days = org_rotation_policy(o, s);
  return days > 0 && *age_days > days ? 1 : 0;
}

static int check_secret(org_findings *out, const spec_tree *t, const spec_secret *s, int64_t now,
                        os_error *err) {
  const spec_org *o = t->org;
  char object[SPEC_NAME_MAX + 160];
  org_secret_label(object, sizeof(object), s->environment, s->application, s->name);
  int rc = 0;
  const char *why = envfile_name_hazard(s->name);
  if (why != NULL)
    rc = org_finding_add(out, NULL, ORG_ERROR, "reserved-name", object, s->pos.file,
                         s->lines.name > 0 ? s->lines.name : s->pos.line, NULL,
                         "%s: a variable named %s %s: `orgsecrets run` refuses it (unless "
                         "--allow-env %s) and env files would hand it to programs; rename the "
                         "secret", object, s->name, why, s->name);
  if (rc == 0)
    rc = org_lint_name(out, s->environment, s->application, s->name, s->pos.file, s->pos.line, err);
  int64_t age_days = 0;
  const char *ts = s->rotated_at ? s->rotated_at : s->created_at;
  if (rc == 0 && org_secret_rotation(&age_days, o, s, now) == 1)
    rc = org_finding_add(out, NULL, ORG_WARNING, "rotation", object, s->pos.file, s->pos.line, NULL,
                         "%s: value last rotated %lld days ago (%s), older than the rotation "
                         "policy of %d days%s; set a new value", object, (long long)age_days, ts,
                         org_rotation_policy(o, s),
                         s->rotation_days != SPEC_ROTATION_INHERIT ? " (the secret's own)" : "");
  if (rc < 0 && err != NULL && err->code == 0)
    os_error_set(err, rc, "out of memory");
  return rc;
}

/* ---- recipients ---- */

/* "a, b and 2 more" of the readers' names into b. */
static int readers_text(os_buf *b, const org_reader *v, size_t n) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n && i < 4; i++)
    rc = os_buf_printf(b, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ", v[i].who);
  if (rc == 0 && n > 4)
    rc = os_buf_printf(b, " and %zu more", n - 4);
  return rc;
}

/* Values sealed to a key the organization does not authorize for them are
 * errors (whoever holds it can read them: a member removed on another
 * branch); values that lack a newly authorized key are warnings (someone
 * cannot read them yet). The rekey plan names the keys' holders. */
static int check_recipients(org_findings *out, const spec_tree *t, os_error *err) {
  org_rekey_plan p = {0};
  int rc = org_rekey_plan_build(&p, t, err);
  for (size_t i = 0; rc == 0 && i < p.n; i++) {
    const org_rekey_item *it = &p.v[i];
    const spec_secret *s = it->secret;
    char object[SPEC_NAME_MAX + 160];
    org_secret_label(object, sizeof(object), s->environment, s->application, s->name);
    os_buf who;
    os_buf_init(&who, 4096, false);
    if (it->n_losses > 0 && (rc = readers_text(&who, it->losses, it->n_losses)) == 0)
      rc = org_finding_add(out, NULL, ORG_ERROR, "unauthorized-recipients", object, s->pos.file,
                           s->pos.line, "orgsecrets rekey",
                           "%s: sealed to %s, which the organization does not authorize for it "
                           "(whoever holds that key can read the value): run `orgsecrets rekey`, "
                           "then rotate the value",
                           object, who.data ? who.data : "?");
    os_buf_reset(&who);
    if (rc == 0 && it->n_gains > 0 && (rc = readers_text(&who, it->gains, it->n_gains)) == 0)
      rc = org_finding_add(out, NULL, ORG_WARNING, "missing-recipients", object, s->pos.file,
                           s->pos.line, "orgsecrets rekey",
                           "%s: not sealed to %s, newly authorized (they cannot read it yet): "
                           "run `orgsecrets rekey`",
                           object, who.data ? who.data : "?");
    os_buf_free(&who);
    if (rc < 0 && (err == NULL || err->code == 0))
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
  }
  org_rekey_plan_free(&p);
  return rc;
}

/* ---- files that do not load ---- */

static int check_bad_files(org_findings *out, const spec_tree *t) {
  for (size_t i = 0; i < t->n_bad; i++) {
    const spec_bad_file *b = &t->bad[i];
    char object[SPEC_NAME_MAX + 160];
    if (b->n_ids > 0)
      org_secret_label(object, sizeof(object), b->ids[0].environment, b->ids[0].application,
                       b->ids[0].name);
    char *msg = org_bad_describe(b);
    int rc = msg == NULL
                 ? OS_ENOMEM
                 : org_finding_add(out, NULL, ORG_ERROR,
                                   b->kind == SPEC_BAD_CONFLICT ? "conflict" : "spec",
                                   b->n_ids > 0 ? object : NULL, b->file, b->line, NULL, "%s", msg);
    free(msg);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* ---- validation ---- */

typedef struct report_ctx {
  org_findings *out;
  int rc;
} report_ctx;

static void report(void *vctx, const spec_pos *pos, bool is_error, const char *msg) {
  report_ctx *rc = vctx;
  /* messages may already start with "FILE:LINE: " */
  const char *m = msg;
  const char *file = pos != NULL ? pos->file : NULL;
  if (file != NULL) {
    size_t fl = strlen(file);
    if (strncmp(m, file, fl) == 0 && m[fl] == ':') {
      const char *p = m + fl + 1;
      while (isdigit((unsigned char)*p))
        p++;
      if (p[0] == ':' && p[1] == ' ')
        m = p + 2;
    }
  }
  if (org_finding_add(rc->out, NULL, is_error ? ORG_ERROR : ORG_WARNING, "spec", NULL,
                      file != NULL ? file : "?", pos != NULL ? pos->line : 0, NULL, "%s", m) < 0)
    rc->rc = OS_ENOMEM;
}

/* The loader stops at the first error; its message starts with FILE:LINE: */
static int load_failure(org_findings *out, const char *dir, const char *msg) {
  const char *sep = strstr(msg, ": ");
  const char *colon = strchr(msg, ':');
  if (sep != NULL && colon != NULL && colon < sep && isdigit((unsigned char)colon[1])) {
    char file[4096];
    snprintf(file, sizeof(file), "%.*s", (int)(colon - msg), msg);
    long line = strtol(colon + 1, NULL, 10); /* digits up to ':' or ": ", checked above */
    return org_finding_add(out, dir, ORG_ERROR, "spec", NULL, file,
                           line > 0 && line < INT_MAX ? (int)line : 0, NULL, "%s", sep + 2);
  }
  return org_finding_add(out, dir, ORG_ERROR, "spec", NULL, NULL, 0, NULL, "%s", msg);
}

int org_lint(org_findings *out, const char *dir, const org_lint_opts *o, os_error *err) {
  memset(out, 0, sizeof(*out));
  const char *since = o != NULL ? o->since : NULL;
  int64_t now = o != NULL && o->now != 0 ? o->now : os_now();
  spec_tree *t = NULL;
  os_error lerr = OS_ERROR_INIT;
  int rc = 0;
  size_t n_bad = 0;
  if (spec_tree_load_partial(&t, &n_bad, dir, NULL, NULL, &lerr) < 0) {
    rc = load_failure(out, dir, lerr.msg);
  } else {
    report_ctx rctx = {out, 0};
    rc = check_bad_files(out, t);
    spec_tree_validate(t, report, &rctx, NULL);
    if (rc == 0)
      rc = rctx.rc;
    spec_secret **order = calloc(t->n_secrets ? t->n_secrets : 1, sizeof(*order));
    if (order == NULL)
      rc = OS_ENOMEM;
    if (rc == 0 && t->n_secrets > 0) {
      memcpy(order, t->secrets, t->n_secrets * sizeof(*order));
      qsort(order, t->n_secrets, sizeof(*order), org_secret_cmp);
    }
    for (size_t i = 0; rc == 0 && i < t->n_secrets; i++) {
      const spec_secret *s = order[i];
      if (s->name != NULL && s->environment != NULL)
        rc = check_secret(out, t, s, now, err);
    }
    free(order);
    if (rc == 0)
      rc = check_recipients(out, t, err);
    if (rc == 0)
      rc = org_lint_widening(out, t, dir, since != NULL ? since : "HEAD", since != NULL, err);
  }
  if (rc == 0)
    rc = org_lint_scan(out, dir, err);
  spec_tree_free(t);
  if (rc < 0 && (err == NULL || err->code == 0))
    rc = os_error_set(err, rc, "lint: out of memory");
  return rc;
}

/* render: the values of one environment as an env file, JSON or a v1 Secret. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "envfile/envfile.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "values.h"

static const char usage[] =
    "usage: orgsecrets render --env ENV [--app APP] [--format env|json|k8s]\n"
    "                         [-o|--output-file FILE]\n"
    "\n"
    "Unseals the active secrets of ENV with -i and prints them (the only\n"
    "commands that print values are reveal, render and age decrypt):\n"
    "  env   NAME=value lines, organization-level plus APP's secrets. Values of\n"
    "        only A-Z a-z 0-9 _ . / : @ % + , = - are written bare; others in\n"
    "        double quotes with \\ before \\ \" $ and `, newlines kept, so that\n"
    "        `set -a; . FILE` (POSIX sh) and systemd EnvironmentFile= read them\n"
    "        back exactly (docker --env-file does not unquote: use bare values).\n"
    "        Values containing a NUL byte are refused.\n"
    "  json  one object NAME -> value string, same secrets as env; values that\n"
    "        are not UTF-8 text are refused (use k8s, which base64-encodes).\n"
    "  k8s   v1 Secret manifests (base64 data): without --app the\n"
    "        organization-level secrets, one Secret per namespace of ENV (name:\n"
    "        the environment's secretName or <org>-secrets); with --app only\n"
    "        APP's secrets, one per namespace of APP (<app>-secrets).\n"
    "-o FILE writes to FILE instead of stdout: a new or regular file is replaced\n"
    "atomically with mode 0600; a FIFO or character device (/dev/null, a\n"
    "terminal) is written in place; a symlink is followed only to one of those;\n"
    "- and /dev/stdout mean stdout. A secret that cannot be unsealed is reported\n"
    "by name on stderr, the others are still rendered, and the exit status is 1.\n";

static int render_env(os_buf *b, cli_values *vs) {
  for (size_t i = 0; i < vs->n; i++) {
    cli_value *cv = &vs->v[i];
    if (cv->value == NULL)
      continue;
    os_error err = OS_ERROR_INIT;
    int rc = envfile_append(b, cv->secret->name, cv->value, cv->len, &err);
    if (rc == OS_EINVAL) {
      cli_failf("render: %s/%s: value contains a NUL byte and cannot be an environment variable",
                cv->secret->environment, cv->secret->name);
      vs->failed++;
      continue;
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

static bool utf8_valid(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t l = utf8_seq(p + i, n - i);
    if (l == 0)
      return false;
    i += l;
  }
  return true;
}

static int json_escape(os_buf *b, const uint8_t *p, size_t n) {
  int rc = os_buf_append(b, "\"", 1);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      rc = os_buf_append(b, e, 2);
    } else if (c == '\n') {
      rc = os_buf_append(b, "\\n", 2);
    } else if (c == '\t') {
      rc = os_buf_append(b, "\\t", 2);
    } else if (c == '\r') {
      rc = os_buf_append(b, "\\r", 2);
    } else if (c < 0x20 || c == 0x7f) {
      rc = os_buf_printf(b, "\\u%04x", c);
    } else {
      rc = os_buf_append(b, &c, 1);
    }
  }
  if (rc == 0)
    rc = os_buf_append(b, "\"", 1);
  return rc;
}

static int render_json(os_buf *b, cli_values *vs) {
  int rc = os_buf_append(b, "{", 1);
  bool first = true;
  for (size_t i = 0; rc == 0 && i < vs->n; i++) {
    cli_value *cv = &vs->v[i];
    if (cv->value == NULL)
      continue;
    if (!utf8_valid(cv->value, cv->len)) {
      cli_failf("render: %s/%s: value is not UTF-8 text; use --format k8s (base64)",
                cv->secret->environment, cv->secret->name);
      vs->failed++;
      continue;
    }
    rc = os_buf_printf(b, "%s\n  \"%s\": ", first ? "" : ",", cv->secret->name);
    if (rc == 0)
      rc = json_escape(b, cv->value, cv->len);
    first = false;
  }
  if (rc == 0)
    rc = os_buf_puts(b, first ? "}\n" : "\n}\n");
  return rc;
}

static int base64_append(os_buf *b, const uint8_t *p, size_t n) {
  size_t out_len = 4 * ((n + 2) / 3) + 1;
  unsigned char *tmp = malloc(out_len);
  if (tmp == NULL)
    return OS_ENOMEM;
  int w = EVP_EncodeBlock(tmp, p, (int)n);
  int rc = w < 0 ? OS_ECRYPTO : os_buf_append(b, tmp, (size_t)w);
  os_free_secret(tmp, out_len);
  return rc;
}

static int k8s_secret(os_buf *b, const cli_values *vs, const spec_org *o, const char *env,
                      const char *app, const char *secret_name, const char *ns) {
  int rc = os_buf_printf(b,
                         "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n", secret_name);
  if (rc == 0 && ns != NULL)
    rc = os_buf_printf(b, "  namespace: %s\n", ns);
  if (rc == 0)
    rc = os_buf_printf(b,
                       "  labels:\n    app.kubernetes.io/managed-by: orgsecrets\n"
                       "    orgsecrets.io/organization: %s\n    orgsecrets.io/environment: %s\n",
                       o->id, env);
  if (rc == 0 && app != NULL)
    rc = os_buf_printf(b, "    orgsecrets.io/application: %s\n", app);
  size_t present = 0;
  for (size_t i = 0; i < vs->n; i++)
    present += vs->v[i].value != NULL;
  if (rc == 0)
    rc = os_buf_puts(b, present ? "type: Opaque\ndata:\n" : "type: Opaque\ndata: {}\n");
  for (size_t i = 0; rc == 0 && i < vs->n; i++) {
    const cli_value *cv = &vs->v[i];
    if (cv->value == NULL)
      continue;
    rc = os_buf_printf(b, "  %s: ", cv->secret->name);
    if (rc == 0)
      rc = base64_append(b, cv->value, cv->len);
    if (rc == 0)
      rc = os_buf_append(b, "\n", 1);
  }
  return rc;
}

static int render_k8s(os_buf *b, const cli_values *vs, const spec_org *o, const char *env,
                      const char *app) {
  char name[300];
  char *const *nss;
  size_t n_ns;
  const char *custom;
  if (app != NULL) {
    const spec_application *ap = spec_org_find_app(o, app);
    nss = ap->namespaces;
    n_ns = ap->n_namespaces;
    custom = ap->secret_name;
    snprintf(name, sizeof(name), "%s-secrets", app);
  } else {
    const spec_environment *e = spec_org_find_env(o, env);
    nss = e->namespaces;
    n_ns = e->n_namespaces;
    custom = e->secret_name;
    snprintf(name, sizeof(name), "%s-secrets", o->id);
  }
  const char *secret_name = custom != NULL ? custom : name;
  if (n_ns == 0)
    return k8s_secret(b, vs, o, env, app, secret_name, NULL);
  for (size_t i = 0; i < n_ns; i++) {
    int rc = k8s_secret(b, vs, o, env, app, secret_name, nss[i]);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int cmd_render(cli_ctx *ctx, int argc, char **argv) {
  const char *env = NULL, *app = NULL, *format = "env", *output = NULL;
  const cli_opt opts[] = {{"--env", "-e", CLI_VALUE, &env},
                          {"--app", NULL, CLI_VALUE, &app},
                          {"--format", "-f", CLI_VALUE, &format},
                          {"--output", "-o", CLI_VALUE, &output},
                          {"--output-file", NULL, CLI_VALUE, &output}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 5, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  if (env == NULL)
    return cli_usage_error(usage, "render: --env is required");
  enum { F_ENV, F_JSON, F_K8S } fmt;
  if (strcmp(format, "env") == 0)
    fmt = F_ENV;
  else if (strcmp(format, "json") == 0)
    fmt = F_JSON;
  else if (strcmp(format, "k8s") == 0)
    fmt = F_K8S;
  else
    return cli_usage_error(usage, "render: unknown format %s", format);

  os_error err = OS_ERROR_INIT;
  spec_tree *t = NULL;
  age_identity **ids = NULL;
  size_t n_ids = 0;
  cli_values vs = {0};
  os_buf b;
  os_buf_init(&b, (size_t)1 << 30, true);
  int status = CLI_FAIL;
  if (cli_load_tree(&t, ctx) != 0)
    goto done;
  if (cli_load_identities(&ids, &n_ids, ctx, &err) < 0) {
    status = cli_fail("render", &err);
    goto done;
  }
  if (cli_values_load(&vs, t, env, app, fmt == F_K8S ? CLI_SCOPE_EXACT : CLI_SCOPE_MERGED, NULL,
                      (const age_identity *const *)ids, n_ids, "render") != 0)
    goto done;
  int rc = fmt == F_ENV    ? render_env(&b, &vs)
           : fmt == F_JSON ? render_json(&b, &vs)
                           : render_k8s(&b, &vs, t->org, env, app);
  if (rc < 0) {
    status = cli_failf("render: output too large or out of memory");
    goto done;
  }
  if (output != NULL) {
    if (cli_write_output(output, b.data, b.len, 0600, &err) < 0) {
      status = cli_fail("render", &err);
      goto done;
    }
  } else if (cli_write_all(1, b.data, b.len) < 0) {
    status = cli_failf("render: write stdout: %s", strerror(errno));
    goto done;
  }
  if (vs.failed > 0) {
    status = cli_failf("render: %zu secret(s) could not be rendered (see above)", vs.failed);
    goto done;
  }
  status = CLI_OK;
done:
  os_buf_free(&b);
  cli_values_free(&vs);
  age_identities_free(ids, n_ids);
  spec_tree_free(t);
  return status;
}

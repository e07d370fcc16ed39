/* kubeconfig (libyaml) and in-cluster configuration. */
#include "kube/kube_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"

#define KUBECONFIG_MAX (16u * 1024u * 1024u)
#define PEM_FILE_MAX (1u * 1024u * 1024u)
#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

void kube_exec_config_free(kube_exec_config *e);

void kube_exec_config_free(kube_exec_config *e) {
  if (e == NULL)
    return;
  free(e->api_version);
  free(e->command);
  if (e->argv != NULL) {
    for (char **p = e->argv; *p != NULL; p++)
      free(*p);
    free(e->argv);
  }
  if (e->env != NULL) {
    for (char **p = e->env; *p != NULL; p++)
      os_free_secret_str(*p);
    free(e->env);
  }
  free(e);
}

void kube_config_free(kube_config *c) {
  if (c == NULL)
    return;
  free(c->source);
  free(c->server);
  free(c->ca_pem);
  free(c->cert_pem);
  os_free_secret(c->key_pem, c->key_len);
  os_free_secret_str(c->token);
  free(c->token_file);
  kube_exec_config_free(c->exec);
  free(c);
}

/* kubeconfig *-data: base64 as kubectl writes it (standard alphabet),
 * padding optional and line breaks allowed, as kubectl reads it. *out is
 * NUL-terminated; caller frees with os_free_secret(). */
static int decode_data(char **out, size_t *out_len, const char *in, size_t in_len) {
  *out = NULL;
  *out_len = 0;
  size_t cap = os_base64_decoded_max(in_len) + 1;
  char *buf = malloc(cap);
  if (buf == NULL)
    return OS_ENOMEM;
  size_t n = 0;
  if (os_base64_decode(buf, &n, in, in_len, OS_BASE64_PAD_OPTIONAL | OS_BASE64_SPACE) < 0) {
    os_free_secret(buf, cap);
    return OS_EINVAL;
  }
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return 0;
}

/* ---- YAML document helpers ---- */

typedef struct doc {
  yaml_document_t d;
  const char *path;
  char *dir;           /* directory of the kubeconfig, for relative paths */
} doc;

static const char *scalar(const doc *D, const yaml_node_t *n) {
  (void)D;
  if (n == NULL || n->type != YAML_SCALAR_NODE)
    return NULL;
  if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
    return NULL;
  return (const char *)n->data.scalar.value;
}

static yaml_node_t *map_get(doc *D, yaml_node_t *m, const char *key) {
  if (m == NULL || m->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
    const char *k = scalar(D, yaml_document_get_node(&D->d, p->key));
    if (k != NULL && strcmp(k, key) == 0)
      return yaml_document_get_node(&D->d, p->value);
  }
  return NULL;
}

static bool is_null(const yaml_node_t *n) {
  if (n == NULL)
    return true;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  const char *v = (const char *)n->data.scalar.value;
  return v[0] == '\0' || strcmp(v, "null") == 0 || strcmp(v, "~") == 0;
}

/* Returns the string at key (NULL when absent or null); OS_EINVAL when not a string. */
static int get_str(const char **out, doc *D, yaml_node_t *m, const char *where, const char *key,
                   os_error *err) {
  *out = NULL;
  yaml_node_t *n = map_get(D, m, key);
  if (is_null(n))
    return 0;
  const char *s = scalar(D, n);
  if (s == NULL)
    return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.%s: expected a string", D->path, where,
                        key);
  *out = s;
  return 0;
}

/* Returns the list at key (*out NULL and *n 0 when absent or null) and its length;
 * OS_EINVAL when not a list. where is NULL at the top level. */
static int get_list(yaml_node_t **out, size_t *n, doc *D, yaml_node_t *m, const char *where,
                    const char *key, os_error *err) {
  *out = NULL;
  *n = 0;
  yaml_node_t *l = map_get(D, m, key);
  if (is_null(l))
    return 0;
  if (l->type != YAML_SEQUENCE_NODE)
    return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s%s%s: expected a list", D->path,
                        where != NULL ? where : "", where != NULL ? "." : "", key);
  *out = l;
  *n = (size_t)(l->data.sequence.items.top - l->data.sequence.items.start);
  return 0;
}

/* Finds the entry named name in the sequence at key (clusters/users/contexts) and
 * returns its inner mapping (entry[inner]). */
static int find_named(yaml_node_t **out, doc *D, yaml_node_t *root, const char *key,
                      const char *inner, const char *name, os_error *err) {
  *out = NULL;
  yaml_node_t *seq;
  size_t n_items;
  int rc = get_list(&seq, &n_items, D, root, NULL, key, err);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < n_items; i++) {
    yaml_node_t *e = yaml_document_get_node(&D->d, seq->data.sequence.items.start[i]);
    const char *n = scalar(D, map_get(D, e, "name"));
    if (n != NULL && strcmp(n, name) == 0) {
      yaml_node_t *in = map_get(D, e, inner);
      if (in == NULL || in->type != YAML_MAPPING_NODE)
        return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s[\"%s\"].%s: expected a mapping",
                            D->path, key, name, inner);
      *out = in;
      return 0;
    }
  }
  return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s: no entry named \"%s\"", D->path, key,
                      name);
}

static char *resolve_path(const doc *D, const char *p) {
  if (p[0] == '/' || D->dir == NULL)
    return os_strdup(p);
  if (p[0] == '~' && p[1] == '/') {
    const char *home = getenv("HOME");
    if (home != NULL)
      return os_path_join(home, p + 2);
  }
  return os_path_join(D->dir, p);
}

/* Loads a PEM blob from key-data (base64) or key (file); both absent: *out NULL. */
static int load_blob(char **out, size_t *out_len, doc *D, yaml_node_t *m, const char *where,
                     const char *data_key, const char *file_key, bool secret, os_error *err) {
  const char *data = NULL, *file = NULL;
  int rc = get_str(&data, D, m, where, data_key, err);
  if (rc == 0)
    rc = get_str(&file, D, m, where, file_key, err);
  if (rc < 0)
    return rc;
  if (data != NULL) {
    rc = decode_data(out, out_len, data, strlen(data));
    if (rc < 0)
      return os_error_set(err, rc, "kubeconfig %s: %s.%s: %s", D->path, where, data_key,
                          rc == OS_EINVAL ? "invalid base64" : "out of memory");
    if (*out_len == 0)
      return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.%s: empty", D->path, where, data_key);
    return 0;
  }
  if (file != NULL) {
    char *p = resolve_path(D, file);
    if (p == NULL)
      return os_error_set(err, OS_ENOMEM, "out of memory");
    os_error fe = OS_ERROR_INIT;
    rc = os_read_file(out, out_len, p, PEM_FILE_MAX, &fe);
    if (rc < 0)
      os_error_set(err, rc, "kubeconfig %s: %s.%s: %s", D->path, where, file_key, fe.msg);
    (void)secret;
    free(p);
    return rc;
  }
  return 0;
}

static int parse_exec(kube_exec_config **out, doc *D, yaml_node_t *ex, const char *where,
                      os_error *err) {
  kube_exec_config *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  int rc;
  const char *api = NULL, *cmd = NULL;
  char w[192];
  snprintf(w, sizeof(w), "%s.exec", where);
  rc = get_str(&api, D, ex, w, "apiVersion", err);
  if (rc == 0)
    rc = get_str(&cmd, D, ex, w, "command", err);
  if (rc < 0)
    goto done;
  if (api == NULL || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
                      strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)) {
    rc = os_error_set(err, OS_EINVAL,
                      "kubeconfig %s: %s.apiVersion: want client.authentication.k8s.io/v1 or "
                      "v1beta1, got \"%s\"",
                      D->path, w, api ? api : "");
    goto done;
  }
  if (cmd == NULL || cmd[0] == '\0') {
    rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.command: missing", D->path, w);
    goto done;
  }
  e->api_version = os_strdup(api);
  /* client-go: a relative command containing a separator is relative to the kubeconfig */
  e->command = strchr(cmd, '/') != NULL ? resolve_path(D, cmd) : os_strdup(cmd);
  if (e->api_version == NULL || e->command == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  yaml_node_t *args;
  size_t nargs;
  if ((rc = get_list(&args, &nargs, D, ex, w, "args", err)) < 0)
    goto done;
  e->argv = calloc(nargs + 2, sizeof(char *));
  if (e->argv == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  e->argv[0] = os_strdup(e->command);
  if (e->argv[0] == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nargs; i++) {
    const char *a = scalar(D, yaml_document_get_node(&D->d, args->data.sequence.items.start[i]));
    if (a == NULL) {
      rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.args[%zu]: expected a string", D->path,
                        w, i);
      goto done;
    }
    if ((e->argv[i + 1] = os_strdup(a)) == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
  }
  yaml_node_t *env;
  size_t nenv;
  if ((rc = get_list(&env, &nenv, D, ex, w, "env", err)) < 0)
    goto done;
  e->env = calloc(nenv + 1, sizeof(char *));
  if (e->env == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nenv; i++) {
    yaml_node_t *it = yaml_document_get_node(&D->d, env->data.sequence.items.start[i]);
    const char *n = scalar(D, map_get(D, it, "name"));
    const char *v = scalar(D, map_get(D, it, "value"));
    if (n == NULL || n[0] == '\0' || strchr(n, '=') != NULL || v == NULL) {
      rc = os_error_set(err, OS_EINVAL,
                        "kubeconfig %s: %s.env[%zu]: want name (without '=') and value", D->path, w,
                        i);
      goto done;
    }
    os_buf b;
    os_buf_init(&b, 1u << 20, true);
    if (os_buf_printf(&b, "%s=%s", n, v) < 0 || os_buf_detach(&e->env[i], NULL, &b) < 0) {
      os_buf_free(&b);
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
  }
  *out = e;
  e = NULL;
  rc = 0;
done:
  kube_exec_config_free(e);
  return rc;
}

static int parse_bool(bool *out, doc *D, yaml_node_t *m, const char *where, const char *key,
                      os_error *err) {
  *out = false;
  yaml_node_t *n = map_get(D, m, key);
  if (is_null(n))
    return 0;
  const char *s = scalar(D, n);
  if (s != NULL && strcmp(s, "true") == 0)
    *out = true;
  else if (s == NULL || strcmp(s, "false") != 0)
    return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.%s: expected true or false", D->path,
                        where, key);
  return 0;
}

bool kube_token_valid(const char *token) {
  if (token == NULL || token[0] == '\0')
    return false;
  for (const unsigned char *p = (const unsigned char *)token; *p != '\0'; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

static bool plain_http_allowed(void) {
  const char *v = getenv(KUBE_PLAIN_HTTP_FOR_TESTS_ENV);
  return v != NULL && strcmp(v, "1") == 0;
}

/* scheme://host[:port][/path]: a host, a numeric port, no credentials and no
 * control characters or spaces (the URL goes into requests as it is). */
static int check_server(const char *server, const char *src, const char *where, os_error *err) {
  bool http = strncmp(server, "http://", 7) == 0;
  if (!http && strncmp(server, "https://", 8) != 0)
    return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.server: want an https:// URL", src,
                        where);
  if (http && !plain_http_allowed())
    return os_error_set(err, OS_EINVAL,
                        "kubeconfig %s: %s.server: plain http:// would send the bearer token and "
                        "Secret data unencrypted; use https://",
                        src, where);
  for (const unsigned char *p = (const unsigned char *)server; *p != '\0'; p++)
    if (*p <= 0x20 || *p == 0x7f)
      return os_error_set(err, OS_EINVAL,
                          "kubeconfig %s: %s.server: contains a space or control character", src,
                          where);
  const char *host = server + (http ? 7 : 8);
  size_t alen = strcspn(host, "/?#");
  if (memchr(host, '@', alen) != NULL)
    return os_error_set(err, OS_EINVAL,
                        "kubeconfig %s: %s.server: credentials in the URL are not supported", src,
                        where);
  const char *end = host + alen, *port = NULL;
  if (host[0] == '[') {
    const char *close = memchr(host, ']', alen);
    if (close == NULL || close == host + 1 || (close + 1 < end && close[1] != ':'))
      return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.server: malformed IPv6 host", src,
                          where);
    port = close + 1 < end ? close + 2 : NULL;
  } else {
    const char *colon = memchr(host, ':', alen);
    if (colon == host || alen == 0)
      return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.server: the URL has no host", src,
                          where);
    port = colon != NULL ? colon + 1 : NULL;
  }
  if (port != NULL) {
    long pn = 0;
    const char *q = port;
    while (q < end && *q >= '0' && *q <= '9' && pn <= 65535)
      pn = pn * 10 + (*q++ - '0');
    if (q == port || q != end || pn < 1 || pn > 65535)
      return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.server: invalid port", src, where);
  }
  return 0;
}

static int parse_server(char **out, const char *server, const char *src, const char *where,
                        os_error *err) {
  if (server == NULL || server[0] == '\0')
    return os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.server: missing", src, where);
  int rc = check_server(server, src, where, err);
  if (rc < 0)
    return rc;
  char *s = os_strdup(server);
  if (s == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '/')
    s[--n] = '\0';
  *out = s;
  return 0;
}

int kube_config_load(kube_config **out, const char *path, const char *context, os_error *err) {
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  kube_config *c = NULL;
  doc D;
  memset(&D, 0, sizeof(D));
  D.path = path;
  bool have_doc = false;
  yaml_parser_t parser;
  bool have_parser = false;
  os_error fe = OS_ERROR_INIT;
  int rc = os_read_file(&text, &len, path, KUBECONFIG_MAX, &fe);
  if (rc < 0) {
    rc = os_error_set(err, rc, "kubeconfig %s: %s", path, fe.msg);
    goto done;
  }
  const char *slash = strrchr(path, '/');
  D.dir = slash == NULL ? os_strdup(".") : strndup(path, (size_t)(slash - path) + (slash == path));
  c = calloc(1, sizeof(*c));
  if (D.dir == NULL || c == NULL || (c->source = os_strdup(path)) == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  if (!yaml_parser_initialize(&parser)) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  have_parser = true;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &D.d)) {
    rc = os_error_set(err, OS_EINVAL, "kubeconfig %s:%zu: %s", path, parser.problem_mark.line + 1,
                      parser.problem ? parser.problem : "invalid YAML");
    goto done;
  }
  have_doc = true;
  yaml_node_t *root = yaml_document_get_root_node(&D.d);
  if (root == NULL || root->type != YAML_MAPPING_NODE) {
    rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: expected a mapping at the top", path);
    goto done;
  }
  const char *ctxname = context;
  if (ctxname == NULL) {
    rc = get_str(&ctxname, &D, root, "kubeconfig", "current-context", err);
    if (rc < 0)
      goto done;
    if (ctxname == NULL || ctxname[0] == '\0') {
      rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: current-context: not set", path);
      goto done;
    }
  }
  yaml_node_t *ctx = NULL, *cluster = NULL, *user = NULL;
  rc = find_named(&ctx, &D, root, "contexts", "context", ctxname, err);
  if (rc < 0)
    goto done;
  char where[160];
  snprintf(where, sizeof(where), "contexts[\"%s\"].context", ctxname);
  const char *cname = NULL, *uname = NULL;
  rc = get_str(&cname, &D, ctx, where, "cluster", err);
  if (rc == 0)
    rc = get_str(&uname, &D, ctx, where, "user", err);
  if (rc < 0)
    goto done;
  if (cname == NULL) {
    rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.cluster: missing", path, where);
    goto done;
  }
  rc = find_named(&cluster, &D, root, "clusters", "cluster", cname, err);
  if (rc < 0)
    goto done;
  snprintf(where, sizeof(where), "clusters[\"%s\"].cluster", cname);
  const char *server = NULL;
  rc = get_str(&server, &D, cluster, where, "server", err);
  if (rc == 0)
    rc = parse_server(&c->server, server, path, where, err);
  if (rc == 0)
    rc = parse_bool(&c->insecure, &D, cluster, where, "insecure-skip-tls-verify", err);
  if (rc == 0)
    rc = load_blob(&c->ca_pem, &c->ca_len, &D, cluster, where, "certificate-authority-data",
                   "certificate-authority", false, err);
  if (rc < 0)
    goto done;
  if (c->insecure && c->ca_pem != NULL) {
    /* as kubectl: which one was meant is unknown, so neither is guessed */
    rc = os_error_set(err, OS_EINVAL,
                      "kubeconfig %s: %s: insecure-skip-tls-verify cannot be combined with "
                      "certificate-authority(-data); remove one of them",
                      path, where);
    goto done;
  }
  if (uname != NULL && uname[0] != '\0') {
    rc = find_named(&user, &D, root, "users", "user", uname, err);
    if (rc < 0)
      goto done;
    snprintf(where, sizeof(where), "users[\"%s\"].user", uname);
    const char *token = NULL, *token_file = NULL;
    rc = load_blob(&c->cert_pem, &c->cert_len, &D, user, where, "client-certificate-data",
                   "client-certificate", false, err);
    if (rc == 0)
      rc = load_blob(&c->key_pem, &c->key_len, &D, user, where, "client-key-data", "client-key",
                     true, err);
    if (rc == 0)
      rc = get_str(&token, &D, user, where, "token", err);
    if (rc == 0)
      rc = get_str(&token_file, &D, user, where, "tokenFile", err);
    if (rc < 0)
      goto done;
    if ((c->cert_pem == NULL) != (c->key_pem == NULL)) {
      rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: %s: %s without %s", path, where,
                        c->cert_pem ? "client-certificate" : "client-key",
                        c->cert_pem ? "client-key" : "client-certificate");
      goto done;
    }
    if (token != NULL && token[0] != '\0' && !kube_token_valid(token)) {
      rc = os_error_set(err, OS_EINVAL,
                        "kubeconfig %s: %s.token: contains a control character (CR, LF, ...) "
                        "and cannot go into an HTTP header",
                        path, where);
      goto done;
    }
    if (token != NULL && token[0] != '\0' && (c->token = os_strdup(token)) == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    if (token_file != NULL && token_file[0] != '\0' &&
        (c->token_file = resolve_path(&D, token_file)) == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
    yaml_node_t *ex = map_get(&D, user, "exec");
    if (!is_null(ex)) {
      if (ex->type != YAML_MAPPING_NODE) {
        rc = os_error_set(err, OS_EINVAL, "kubeconfig %s: %s.exec: expected a mapping", path, where);
        goto done;
      }
      rc = parse_exec(&c->exec, &D, ex, where, err);
      if (rc < 0)
        goto done;
    }
    if (map_get(&D, user, "auth-provider") != NULL) {
      rc = os_error_set(err, OS_EUNSUPPORTED,
                        "kubeconfig %s: %s.auth-provider: not supported (use an exec plugin)", path,
                        where);
      goto done;
    }
    if (map_get(&D, user, "username") != NULL && c->token == NULL && c->token_file == NULL &&
        c->exec == NULL && c->cert_pem == NULL) {
      rc = os_error_set(err, OS_EUNSUPPORTED,
                        "kubeconfig %s: %s.username: basic authentication is not supported", path,
                        where);
      goto done;
    }
  }
  if (c->insecure) {
    os_log_warn("kubeconfig %s: cluster \"%s\" has insecure-skip-tls-verify: the API server's "
                "certificate is NOT verified",
                path, cname);
  }
  *out = c;
  c = NULL;
  rc = 0;
done:
  if (have_doc)
    yaml_document_delete(&D.d);
  if (have_parser)
    yaml_parser_delete(&parser);
  kube_config_free(c);
  free(D.dir);
  os_free_secret(text, len);
  return rc;
}

int kube_config_in_cluster(kube_config **out, os_error *err) {
  *out = NULL;
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  const char *dir = getenv("ORGSECRETS_SA_DIR");
  if (dir == NULL || dir[0] == '\0')
    dir = SA_DIR_DEFAULT;
  if (host == NULL || host[0] == '\0')
    return os_error_set(err, OS_EINVAL, "in-cluster: KUBERNETES_SERVICE_HOST is not set");
  if (port == NULL || port[0] == '\0')
    port = "443";
  char *end = NULL;
  long pn = strtol(port, &end, 10);
  if (end == port || *end != '\0' || pn < 1 || pn > 65535)
    return os_error_set(err, OS_EINVAL, "in-cluster: KUBERNETES_SERVICE_PORT: invalid port \"%.16s\"",
                        port);
  int rc;
  os_buf b;
  os_buf_init(&b, 1024, false);
  kube_config *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->source = os_strdup("in-cluster")) == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  bool v6 = strchr(host, ':') != NULL && host[0] != '[';
  if (os_buf_printf(&b, "https://%s%s%s:%ld", v6 ? "[" : "", host, v6 ? "]" : "", pn) < 0 ||
      os_buf_detach(&c->server, NULL, &b) < 0) {
    rc = os_error_set(err, OS_EINVAL, "in-cluster: KUBERNETES_SERVICE_HOST: too long");
    goto done;
  }
  char *ca = os_path_join(dir, "ca.crt");
  c->token_file = os_path_join(dir, "token");
  if (ca == NULL || c->token_file == NULL) {
    free(ca);
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  os_error fe = OS_ERROR_INIT;
  rc = os_read_file(&c->ca_pem, &c->ca_len, ca, PEM_FILE_MAX, &fe);
  free(ca);
  if (rc < 0) {
    os_error_set(err, rc, "in-cluster: service account CA: %s", fe.msg);
    goto done;
  }
  *out = c;
  c = NULL;
  rc = 0;
done:
  os_buf_free(&b);
  kube_config_free(c);
  return rc;
}

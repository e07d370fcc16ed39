/* exec credential plugins (client.authentication.k8s.io ExecCredential). */
#include "kube/kube_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"

#define EXEC_OUTPUT_MAX (1u * 1024u * 1024u)

extern char **environ;

void kube_exec_result_clear(kube_exec_result *r) {
  if (r == NULL)
    return;
  os_free_secret_str(r->token);
  free(r->cert_pem);
  os_free_secret(r->key_pem, r->key_len);
  memset(r, 0, sizeof(*r));
}

int kube_exec_parse(kube_exec_result *out, const char *text, size_t len, const char *api_version,
                    os_error *err) {
  memset(out, 0, sizeof(*out));
  json_error_t je;
  json_t *doc = json_loadb(text, len, 0, &je);
  int rc;
  if (doc == NULL || !json_is_object(doc)) {
    rc = os_error_set(err, OS_EINVAL, "exec credential: output is not a JSON object");
    goto done;
  }
  const char *api = json_string_value(json_object_get(doc, "apiVersion"));
  const char *kind = json_string_value(json_object_get(doc, "kind"));
  if (kind == NULL || strcmp(kind, "ExecCredential") != 0) {
    rc = os_error_set(err, OS_EINVAL, "exec credential: kind is not ExecCredential");
    goto done;
  }
  if (api == NULL || strcmp(api, api_version) != 0) {
    rc = os_error_set(err, OS_EINVAL, "exec credential: apiVersion \"%.80s\", want \"%s\"",
                      api ? api : "", api_version);
    goto done;
  }
  json_t *st = json_object_get(doc, "status");
  if (!json_is_object(st)) {
    rc = os_error_set(err, OS_EINVAL, "exec credential: no status");
    goto done;
  }
  const char *token = json_string_value(json_object_get(st, "token"));
  const char *cert = json_string_value(json_object_get(st, "clientCertificateData"));
  const char *key = json_string_value(json_object_get(st, "clientKeyData"));
  const char *exp = json_string_value(json_object_get(st, "expirationTimestamp"));
  if ((cert == NULL || cert[0] == '\0') != (key == NULL || key[0] == '\0')) {
    rc = os_error_set(err, OS_EINVAL,
                      "exec credential: status.clientCertificateData and clientKeyData must come "
                      "together");
    goto done;
  }
  if ((token == NULL || token[0] == '\0') && (cert == NULL || cert[0] == '\0')) {
    rc = os_error_set(err, OS_EINVAL,
                      "exec credential: status has neither token nor clientCertificateData");
    goto done;
  }
  if (token != NULL && token[0] != '\0' && !kube_token_valid(token)) {
    rc = os_error_set(err, OS_EINVAL,
                      "exec credential: status.token contains a control character (CR, LF, ...) "
                      "and cannot go into an HTTP header");
    goto done;
  }
  int64_t expiry = 0;
  if (exp != NULL && os_time_parse(&expiry, NULL, exp, 0) < 0) {
    rc = os_error_set(err, OS_EINVAL, "exec credential: status.expirationTimestamp is not RFC 3339");
    goto done;
  }
  out->expiry = (time_t)expiry;
  if (token != NULL && token[0] != '\0' && (out->token = os_strdup(token)) == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  if (cert != NULL && cert[0] != '\0') {
    out->cert_len = strlen(cert);
    out->key_len = strlen(key);
    out->cert_pem = os_strdup(cert);
    out->key_pem = os_strdup(key);
    if (out->cert_pem == NULL || out->key_pem == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto done;
    }
  }
  rc = 0;
done:
  if (rc < 0)
    kube_exec_result_clear(out);
  /* the document holds the token: wipe its strings before releasing */
  if (doc != NULL) {
    json_t *st2 = json_object_get(doc, "status");
    const char *keys[] = {"token", "clientKeyData"};
    for (size_t i = 0; i < 2; i++) {
      json_t *v = json_object_get(st2, keys[i]);
      if (json_is_string(v))
        OPENSSL_cleanse((void *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
    json_decref(doc);
  }
  return rc;
}

/* environ + the plugin's variables + KUBERNETES_EXEC_INFO; the array is
 * freed with free(), entries we allocated are listed in owned. */
static char **build_env(const kube_exec_config *ec, char **info) {
  size_t n = 0, m = 0;
  for (char **p = environ; p && *p; p++)
    n++;
  for (char **p = ec->env; p && *p; p++)
    m++;
  char **envp = calloc(n + m + 2, sizeof(char *));
  if (envp == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    bool overridden = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;
    for (size_t j = 0; j < m && !overridden; j++)
      overridden = strncmp(ec->env[j], environ[i], nl) == 0 && ec->env[j][nl] == '=';
    if (!overridden)
      envp[k++] = environ[i];
  }
  for (size_t j = 0; j < m; j++)
    envp[k++] = ec->env[j];
  char buf[512];
  int len = snprintf(buf, sizeof(buf),
                     "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
                     "\"spec\":{\"interactive\":false}}",
                     ec->api_version);
  if (len < 0 || (size_t)len >= sizeof(buf) || (*info = os_strdup(buf)) == NULL) {
    free(envp);
    return NULL;
  }
  envp[k++] = *info;
  envp[k] = NULL;
  return envp;
}

int kube_exec_run(kube_exec_result *out, const kube_exec_config *ec, long timeout_ms,
                  os_error *err) {
  memset(out, 0, sizeof(*out));
  int rc;
  int pipefd[2] = {-1, -1};
  pid_t pid = -1;
  char *info = NULL;
  os_buf b;
  os_buf_init(&b, EXEC_OUTPUT_MAX, true);
  char *prog = os_find_program(ec->command, getenv("PATH"));
  char **envp = build_env(ec, &info);
  if (prog == NULL) {
    rc = os_error_set(err, OS_EAUTH, "exec credential plugin %s: not found", ec->command);
    goto done;
  }
  if (envp == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  if (pipe(pipefd) < 0 || fcntl(pipefd[0], F_SETFD, FD_CLOEXEC) < 0 ||
      fcntl(pipefd[1], F_SETFD, FD_CLOEXEC) < 0) {
    rc = os_error_set(err, OS_EIO, "exec credential plugin %s: pipe: %s", ec->command,
                      strerror(errno));
    goto done;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid = fork();
  if (pid == 0) {
    /* child: only async-signal-safe calls from here; own process group so a
     * timeout kills the plugin's children too */
    setpgid(0, 0);
    if (devnull >= 0)
      dup2(devnull, 0);
    dup2(pipefd[1], 1);
    execve(prog, ec->argv, envp);
    _exit(127);
  }
  if (devnull >= 0)
    close(devnull);
  close(pipefd[1]);
  pipefd[1] = -1;
  if (pid < 0) {
    rc = os_error_set(err, OS_EIO, "exec credential plugin %s: fork: %s", ec->command,
                      strerror(errno));
    goto done;
  }
  int64_t t0 = os_mono_ns();
  for (;;) {
    long elapsed = (long)((os_mono_ns() - t0) / 1000000);
    if (elapsed >= timeout_ms) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      rc = os_error_set(err, OS_ETIMEOUT, "exec credential plugin %s: no result after %ld ms",
                        ec->command, timeout_ms);
      goto done;
    }
    struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
    int pr = poll(&pfd, 1, (int)(timeout_ms - elapsed));
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr < 0) {
      rc = os_error_set(err, OS_EIO, "exec credential plugin %s: poll: %s", ec->command,
                        strerror(errno));
      goto done;
    }
    if (pr == 0)
      continue;
    char chunk[4096];
    ssize_t r = read(pipefd[0], chunk, sizeof(chunk));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = os_error_set(err, OS_EIO, "exec credential plugin %s: read: %s", ec->command,
                        strerror(errno));
      goto done;
    }
    if (r == 0)
      break;
    if (os_buf_append(&b, chunk, (size_t)r) < 0) {
      OPENSSL_cleanse(chunk, sizeof(chunk));
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      rc = os_error_set(err, OS_ENOMEM, "exec credential plugin %s: output larger than %u bytes",
                        ec->command, EXEC_OUTPUT_MAX);
      goto done;
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));
  }
  /* stdout is closed; the plugin still gets only the rest of the deadline to exit */
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR))
      break;
    long elapsed = (long)((os_mono_ns() - t0) / 1000000);
    if (elapsed >= timeout_ms) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      rc = os_error_set(err, OS_ETIMEOUT, "exec credential plugin %s: did not exit within %ld ms",
                        ec->command, timeout_ms);
      goto done;
    }
    struct timespec nap = {0, 5000000};
    nanosleep(&nap, NULL);
  }
  pid = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && b.len == 0) {
    rc = os_error_set(err, OS_EAUTH, "exec credential plugin %s: could not be run", ec->command);
    goto done;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    rc = os_error_set(err, OS_EAUTH, "exec credential plugin %s: %s %d", ec->command,
                      WIFEXITED(status) ? "exit status" : "killed by signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    goto done;
  }
  rc = kube_exec_parse(out, b.data ? b.data : "", b.len, ec->api_version, err);
  if (rc < 0)
    os_error_prefix(err, "plugin %s", ec->command);
done:
  if (pid > 0) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (pipefd[0] >= 0)
    close(pipefd[0]);
  if (pipefd[1] >= 0)
    close(pipefd[1]);
  os_buf_free(&b);
  free(envp);
  free(info);
  free(prog);
  return rc;
}

/* Messages on stderr and output files. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void vnote(const char *fmt, va_list ap) {
  fputs("orgsecrets: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int cli_usage_error(const char *usage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vnote(fmt, ap);
  va_end(ap);
  if (usage != NULL) {
    const char *nl = strchr(usage, '\n');
    int len = nl ? (int)(nl - usage) : (int)strlen(usage);
    fprintf(stderr, "%.*s (see --help)\n", len, usage);
  }
  return CLI_USAGE;
}

int cli_fail(const char *what, const os_error *err) {
  fprintf(stderr, "orgsecrets: %s: %s\n", what,
          err && err->msg[0] ? err->msg : os_error_name(err ? err->code : OS_EINVAL));
  return CLI_FAIL;
}

int cli_failf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vnote(fmt, ap);
  va_end(ap);
  return CLI_FAIL;
}

void cli_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vnote(fmt, ap);
  va_end(ap);
}

static void print_note(void *ctx, const char *msg) {
  (void)ctx;
  cli_note("%s", msg);
}

int cli_output_open(os_output *o, const char *path, mode_t mode, os_error *err) {
  int rc = os_output_open(o, path, mode, OS_OUTPUT_STDOUT, err);
  if (rc == 0 && !o->in_place) {
    const org_ctx notes = {.note = print_note};
    org_sweep_near(&notes, path, o->name); /* older versions' leftovers of this very file */
  }
  return rc;
}

int cli_write_output(const char *path, const void *data, size_t len, mode_t mode, os_error *err) {
  os_output o;
  int rc = cli_output_open(&o, path, mode, err);
  if (rc < 0)
    return rc;
  if (cli_write_all(o.fd, data, len) != 0) {
    rc = os_error_set(err, OS_EIO, "write %s: %s", path, strerror(errno));
    os_output_abort(&o);
    return rc;
  }
  return os_output_commit(&o, err);
}

int cli_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int cli_format_parse(enum cli_format *out, const char *s, bool wide_ok, const char *usage,
                     const char *what) {
  if (s == NULL || strcmp(s, "table") == 0)
    *out = CLI_FORMAT_TABLE;
  else if (strcmp(s, "json") == 0)
    *out = CLI_FORMAT_JSON;
  else if (wide_ok && strcmp(s, "wide") == 0)
    *out = CLI_FORMAT_WIDE;
  else {
    cli_usage_error(usage, "%s: unknown output format %s (-o table|json%s)", what, s,
                    wide_ok ? "|wide" : "");
    return -1;
  }
  return 0;
}

int cli_print_json(json_t *j, const char *what) {
  char *s = j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(j);
  if (s == NULL)
    return cli_failf("%s: out of memory", what);
  fputs(s, stdout);
  fputc('\n', stdout);
  free(s);
  return CLI_OK;
}

void cli_json_push(json_t **arr, json_t *item) {
  if (*arr == NULL || json_array_append_new(*arr, item) != 0) {
    json_decref(*arr);
    *arr = NULL;
  }
}

/* Values in: stdin (one line without echo on a terminal, exact bytes from a
 * pipe) and --from-file. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"

size_t cli_trim_newlines(uint8_t *v, size_t len) {
  size_t n = len;
  while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r'))
    n--;
  OPENSSL_cleanse(v + n, len - n);
  return n;
}

/* One line from the terminal on fd 0, its newline dropped. Canonical mode
 * hands over whole lines; Ctrl-D on an empty line is end of input. */
static int read_line(os_buf *b, os_error *err) {
  char c;
  for (;;) {
    ssize_t n = read(0, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return os_error_set(err, OS_EIO, "read the terminal: %s", strerror(errno));
    if (n == 0 || c == '\n')
      break;
    if (os_buf_append(b, &c, 1) < 0) {
      c = 0;
      return os_error_set(err, OS_EINVAL, "value larger than %d bytes", SPEC_VALUE_MAX);
    }
  }
  c = 0;
  /* a terminal that sends CR LF: the CR is not part of the line either */
  if (b->len > 0 && b->data[b->len - 1] == '\r')
    b->data[--b->len] = 0;
  return 0;
}

static int read_all(os_buf *b, os_error *err) {
  char chunk[16384];
  int rc = 0;
  for (;;) {
    ssize_t n = read(0, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = os_error_set(err, OS_EIO, "read stdin: %s", strerror(errno));
      break;
    }
    if (n == 0)
      break;
    if (os_buf_append(b, chunk, (size_t)n) < 0) {
      rc = os_error_set(err, OS_EINVAL, "value larger than %d bytes", SPEC_VALUE_MAX);
      break;
    }
  }
  OPENSSL_cleanse(chunk, sizeof(chunk));
  return rc;
}

int cli_read_value(uint8_t **out, size_t *out_len, const char *label, bool trim, os_error *err) {
  *out = NULL;
  *out_len = 0;
  struct termios old, quiet;
  bool tty = isatty(0) == 1 && tcgetattr(0, &old) == 0;
  os_buf b;
  os_buf_init(&b, SPEC_VALUE_MAX + 1, true);
  int rc = 0;
  if (tty) {
    /* echo off before the prompt, so nothing typed after it is echoed or flushed */
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ICANON;
    (void)tcsetattr(0, TCSAFLUSH, &quiet);
    fprintf(stderr,
            "value for %s (one line, not echoed; Enter ends it and is not part of the "
            "value; longer or multi-line values: --from-file): ",
            label);
    fflush(stderr);
    rc = read_line(&b, err);
    (void)tcsetattr(0, TCSANOW, &old);
    fputc('\n', stderr);
  } else {
    rc = read_all(&b, err);
    bool newline = rc == 0 && b.len > 0 && b.data[b.len - 1] == '\n';
    if (newline && trim)
      b.len = cli_trim_newlines((uint8_t *)b.data, b.len);
    else if (newline && !org_value_blank((const uint8_t *)b.data, b.len))
      cli_note("warning: %s: the value read from stdin ends with a newline, which is kept as "
               "part of it; pipe it with `printf %%s \"$VALUE\" | ...` (echo adds one), or pass "
               "--trim to drop trailing newlines",
               label);
  }
  if (rc == 0) {
    char *d = NULL;
    rc = os_buf_detach(&d, out_len, &b);
    *out = (uint8_t *)d;
  }
  os_buf_free(&b);
  return rc;
}

int cli_read_value_file(uint8_t **out, size_t *out_len, const char *path, os_error *err) {
  char *d = NULL;
  *out = NULL;
  int rc = os_read_file(&d, out_len, path, SPEC_VALUE_MAX, err);
  if (rc == OS_ENOMEM)
    return os_error_set(err, rc, "%s: value larger than %d bytes", path, SPEC_VALUE_MAX);
  *out = (uint8_t *)d;
  return rc;
}

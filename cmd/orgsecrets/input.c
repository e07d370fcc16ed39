/* Values in: stdin (without echo on a terminal) and --from-file. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"

int cli_read_stdin(uint8_t **out, size_t *out_len, const char *name, os_error *err) {
  *out = NULL;
  *out_len = 0;
  struct termios old, quiet;
  bool tty = isatty(0) == 1 && tcgetattr(0, &old) == 0;
  if (tty) {
    /* echo off before the prompt, so nothing typed after it is echoed or flushed */
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    (void)tcsetattr(0, TCSAFLUSH, &quiet);
    fprintf(stderr, "value for %s (not echoed; end with Enter then Ctrl-D): ", name);
  }
  os_buf b;
  os_buf_init(&b, SPEC_VALUE_MAX + 1, true);
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
    if (os_buf_append(&b, chunk, (size_t)n) < 0) {
      rc = os_error_set(err, OS_EINVAL, "value larger than %d bytes", SPEC_VALUE_MAX);
      break;
    }
  }
  OPENSSL_cleanse(chunk, sizeof(chunk));
  if (tty) {
    (void)tcsetattr(0, TCSANOW, &old);
    fputc('\n', stderr);
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

/* Shared error codes and the caller-owned error struct.
 * Threading: an os_error belongs to one thread; functions here are reentrant. */
#ifndef ORGSECRETS_COMMON_ERR_H
#define ORGSECRETS_COMMON_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* On a function whose result must be checked (allocation, growth, parsing):
 * ignoring it is a compile-time warning (an error with -Werror). */
#define OS_NODISCARD __attribute__((warn_unused_result))

/* Every fallible function returns 0 or one of these negative codes. */
enum {
  OS_OK = 0,
  OS_ENOTFOUND = -1,   /* a named thing does not exist */
  OS_ECONFLICT = -2,   /* concurrent change, or an object we do not own */
  OS_EGONE = -3,       /* expired (watch resourceVersion, lease) */
  OS_EINVAL = -4,      /* bad input: a file, a flag, a request */
  OS_EIO = -5,         /* file system, process or network failure */
  OS_ECRYPTO = -6,     /* the crypto library failed, or integrity failed */
  OS_ENOMEM = -7,      /* allocation failed or a size limit was hit */
  OS_EARMOR = -8,      /* age: ASCII armor malformed */
  OS_EHEADER = -9,     /* age: header malformed */
  OS_EHMAC = -10,      /* age: header MAC mismatch */
  OS_EPAYLOAD = -11,   /* age: payload truncated or failed authentication */
  OS_ENOIDENTITY = -12,/* age: no identity matched any recipient stanza */
  OS_EBINDING = -13,   /* seal: envelope bound to another name/env/app/org */
  OS_EPERM = -14,      /* not allowed: role, file permissions, ownership */
  OS_EAUTH = -15,      /* the API server refused our credentials */
  OS_ETIMEOUT = -16,   /* a deadline passed */
  OS_EUNSUPPORTED = -17/* well-formed but not supported (e.g. scrypt stanza) */
};

#define OS_ERROR_MSG_MAX 512

/* Caller-owned: zero-initialise (OS_ERROR_INIT) and pass down. */
typedef struct os_error {
  int code;
  char msg[OS_ERROR_MSG_MAX];
} os_error;

#define OS_ERROR_INIT {0, {0}}

/* Records code and message in err (if non-NULL); returns code. The message
 * must never contain secret material. */
int os_error_set(os_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* vsnprintf into out (n > 0 bytes, truncated); "" on an encoding error.
 * Returns out. */
const char *os_vformat(char *out, size_t n, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The one "FILE:LINE: msg" form of a problem in a file: "FILE:LINE: msg",
 * "FILE: msg" when line <= 0, "msg" when file is NULL. Writes it into out
 * (n bytes, truncated, always NUL-terminated; n > 0) and returns out. */
const char *os_format_at(char *out, size_t n, const char *file, int line, const char *msg);

/* os_error_set() with the message placed at file:line as os_format_at()
 * does; returns code. */
int os_error_at(os_error *err, int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prepends "prefix: " to err's message, keeping its code; returns the code. */
int os_error_prefix(os_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Static name of a code, e.g. "not found". */
const char *os_error_name(int code);

/* Resets err to "no error". */
void os_error_clear(os_error *err);

#endif

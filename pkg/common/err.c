#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *os_vformat(char *out, size_t n, const char *fmt, va_list ap) {
  if (vsnprintf(out, n, fmt, ap) < 0)
    out[0] = '\0';
  return out;
}

int os_error_set(os_error *err, int code, const char *fmt, ...) {
  if (err == NULL)
    return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  os_vformat(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
  return code;
}

const char *os_format_at(char *out, size_t n, const char *file, int line, const char *msg) {
  int w;
  if (file == NULL)
    w = snprintf(out, n, "%s", msg);
  else if (line <= 0)
    w = snprintf(out, n, "%s: %s", file, msg);
  else
    w = snprintf(out, n, "%s:%d: %s", file, line, msg);
  if (w < 0)
    out[0] = '\0';
  return out;
}

int os_error_at(os_error *err, int code, const char *file, int line, const char *fmt, ...) {
  if (err == NULL)
    return code;
  char msg[OS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  os_vformat(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  err->code = code;
  os_format_at(err->msg, sizeof(err->msg), file, line, msg);
  return code;
}

int os_error_prefix(os_error *err, const char *fmt, ...) {
  if (err == NULL)
    return OS_EINVAL;
  char prefix[OS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  os_vformat(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  char joined[OS_ERROR_MSG_MAX];
  if (snprintf(joined, sizeof(joined), "%s: %s", prefix, err->msg) >= 0)
    memcpy(err->msg, joined, sizeof(err->msg));
  return err->code;
}

const char *os_error_name(int code) {
  switch (code) {
  case OS_OK: return "ok";
  case OS_ENOTFOUND: return "not found";
  case OS_ECONFLICT: return "conflict";
  case OS_EGONE: return "gone";
  case OS_EINVAL: return "invalid input";
  case OS_EIO: return "i/o error";
  case OS_ECRYPTO: return "crypto error";
  case OS_ENOMEM: return "out of memory";
  case OS_EARMOR: return "armor error";
  case OS_EHEADER: return "header error";
  case OS_EHMAC: return "header mac error";
  case OS_EPAYLOAD: return "payload error";
  case OS_ENOIDENTITY: return "no matching identity";
  case OS_EBINDING: return "binding mismatch";
  case OS_EPERM: return "permission denied";
  case OS_EAUTH: return "unauthorized";
  case OS_ETIMEOUT: return "timeout";
  case OS_EUNSUPPORTED: return "unsupported";
  default: return "unknown error";
  }
}

void os_error_clear(os_error *err) {
  if (err == NULL)
    return;
  err->code = 0;
  err->msg[0] = '\0';
}

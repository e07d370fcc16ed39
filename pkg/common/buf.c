#include "common/buf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void os_buf_init(os_buf *b, size_t max, bool secret) {
  memset(b, 0, sizeof(*b));
  b->max = max;
  b->secret = secret;
}

/* Moves b's content into one allocation of exactly cap bytes. */
static int resize(os_buf *b, size_t cap) {
  char *p = malloc(cap);
  if (p == NULL)
    return OS_ENOMEM;
  if (b->data != NULL) {
    memcpy(p, b->data, b->len + 1);
    if (b->secret)
      OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
  } else {
    p[0] = '\0';
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

static int grow(os_buf *b, size_t need) {
  if (need > b->max)
    return OS_ENOMEM;
  size_t want;
  if (!os_size_add(&want, need, 1))
    return OS_ENOMEM;
  if (want <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < want) {
    if (!os_size_mul(&cap, cap, 2))
      return OS_ENOMEM;
  }
  if (cap > b->max + 1)
    cap = b->max + 1;
  return resize(b, cap);
}

int os_buf_reserve(os_buf *b, size_t n) {
  size_t need, want;
  if (!os_size_add(&need, b->len, n) || need > b->max || !os_size_add(&want, need, 1))
    return OS_ENOMEM;
  return want <= b->cap ? 0 : resize(b, want);
}

int os_buf_append(os_buf *b, const void *p, size_t n) {
  size_t need;
  if (!os_size_add(&need, b->len, n))
    return OS_ENOMEM;
  int rc = grow(b, need);
  if (rc < 0)
    return rc;
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len = need;
  b->data[b->len] = '\0';
  return 0;
}

int os_buf_read_fd(os_buf *b, int fd) {
  char chunk[16384];
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = OS_EIO;
      break;
    }
    if (n == 0 || (rc = os_buf_append(b, chunk, (size_t)n)) < 0)
      break;
  }
  if (b->secret) {
    int saved = errno;
    OPENSSL_cleanse(chunk, sizeof(chunk));
    errno = saved;
  }
  return rc;
}

int os_buf_puts(os_buf *b, const char *s) { return os_buf_append(b, s, strlen(s)); }

int os_buf_printf(os_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return OS_EINVAL;
  size_t need;
  if (!os_size_add(&need, b->len, (size_t)n))
    return OS_ENOMEM;
  int rc = grow(b, need);
  if (rc < 0)
    return rc;
  va_start(ap, fmt);
  int m = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  if (m != n)
    return OS_EINVAL;
  b->len = need;
  return 0;
}

void os_buf_reset(os_buf *b) {
  if (b->data == NULL)
    return;
  if (b->secret)
    OPENSSL_cleanse(b->data, b->cap);
  b->len = 0;
  b->data[0] = '\0';
}

void os_buf_free(os_buf *b) {
  if (b->data != NULL) {
    if (b->secret)
      OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
  }
  b->data = NULL;
  b->len = b->cap = 0;
}

int os_buf_detach(char **out, size_t *out_len, os_buf *b) {
  if (b->data == NULL) {
    int rc = grow(b, 0);
    if (rc < 0)
      return rc;
  }
  *out = b->data;
  if (out_len != NULL)
    *out_len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return 0;
}

void os_free_secret(void *p, size_t n) {
  if (p == NULL)
    return;
  OPENSSL_cleanse(p, n);
  free(p);
}

void os_free_secret_str(char *s) {
  if (s == NULL)
    return;
  os_free_secret(s, strlen(s));
}

bool os_secure_equal(const void *a, const void *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

void os_hex_encode(char *out, const uint8_t *in, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
  out[2 * n] = '\0';
}

uint64_t os_fnv1a64(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

const char *os_str_pack(char **cursor, const char *s) {
  if (s == NULL)
    return NULL;
  size_t n = strlen(s) + 1;
  char *out = memcpy(*cursor, s, n);
  *cursor += n;
  return out;
}

int os_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t max) {
  if (need > max)
    return OS_ENOMEM;
  size_t want = need;
  if (cap != NULL) {
    if (need <= *cap)
      return 0;
    size_t twice;
    want = *cap < 8 ? 8 : os_size_mul(&twice, *cap, 2) ? twice : max;
    if (want > max)
      want = max;
    if (want < need)
      want = need;
  }
  size_t bytes;
  if (!os_size_mul(&bytes, want ? want : 1, elem))
    return OS_ENOMEM;
  void *p = realloc(*(void **)pp, bytes);
  if (p == NULL)
    return OS_ENOMEM;
  *(void **)pp = p;
  if (cap != NULL)
    *cap = want;
  return 0;
}

char *os_strdup(const char *s) {
  if (s == NULL)
    return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p != NULL)
    memcpy(p, s, n + 1);
  return p;
}

#include "common/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char alphabet_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alphabet_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Each character's value plus one; 0 for a character outside the alphabet.
 * The two alphabets differ in their last two characters only. */
#define COMMON_62 \
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, \
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, \
    ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, \
    ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, \
    ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, \
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, \
    ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, \
    ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, \
    ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62,
static const uint8_t value_std[256] = {COMMON_62 ['+'] = 63, ['/'] = 64};
static const uint8_t value_url[256] = {COMMON_62 ['-'] = 63, ['_'] = 64};

static const uint8_t *table(unsigned flags) {
  return flags & OS_BASE64_URL ? value_url : value_std;
}

size_t os_base64_encoded_len(size_t n, unsigned flags) {
  if (n > (SIZE_MAX - 2) / 4 * 3)
    return SIZE_MAX;
  if (!(flags & OS_BASE64_NOPAD))
    return (n + 2) / 3 * 4;
  return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t os_base64_decoded_max(size_t n) { return n / 4 * 3 + 2; }

void os_base64_encode(char *out, const void *in, size_t n, unsigned flags) {
  const char *a = flags & OS_BASE64_URL ? alphabet_url : alphabet_std;
  const uint8_t *p = in;
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = a[v >> 18 & 63];
    *o++ = a[v >> 12 & 63];
    *o++ = a[v >> 6 & 63];
    *o++ = a[v & 63];
  }
  size_t rem = n - i;
  if (rem == 0)
    return;
  uint32_t v = (uint32_t)p[i] << 16 | (rem == 2 ? (uint32_t)p[i + 1] << 8 : 0);
  *o++ = a[v >> 18 & 63];
  *o++ = a[v >> 12 & 63];
  if (rem == 2)
    *o++ = a[v >> 6 & 63];
  if (!(flags & OS_BASE64_NOPAD)) {
    *o++ = '=';
    if (rem == 1)
      *o++ = '=';
  }
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int os_base64_decode(void *out, size_t *out_len, const char *in, size_t n, unsigned flags) {
  const uint8_t *t = table(flags);
  const unsigned char *s = (const unsigned char *)in;
  uint8_t *o = out;
  uint32_t acc = 0;
  size_t chars = 0, pads = 0;
  *out_len = 0;
  size_t i = 0;
  /* whole groups of four alphabet characters, the common case */
  for (; i + 4 <= n; i += 4) {
    uint32_t a = t[s[i]], b = t[s[i + 1]], c = t[s[i + 2]], d = t[s[i + 3]];
    if (a == 0 || b == 0 || c == 0 || d == 0)
      break;
    uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
    *o++ = (uint8_t)(v >> 16);
    *o++ = (uint8_t)(v >> 8);
    *o++ = (uint8_t)v;
  }
  chars = i;
  /* the rest one character at a time: padding, whitespace, a short tail */
  for (; i < n; i++) {
    uint8_t v = t[s[i]];
    if (v != 0) {
      if (pads > 0)
        return OS_EINVAL; /* data after '=' */
      acc = acc << 6 | (uint32_t)(v - 1);
      if (++chars % 4 == 0) {
        *o++ = (uint8_t)(acc >> 16);
        *o++ = (uint8_t)(acc >> 8);
        *o++ = (uint8_t)acc;
        acc = 0;
      }
    } else if (s[i] == '=') {
      pads++;
    } else if (!(flags & OS_BASE64_SPACE) || !is_space(s[i])) {
      return OS_EINVAL;
    }
  }
  size_t rem = chars % 4;
  if (rem == 1)
    return OS_EINVAL;
  if (pads > 0) {
    if ((flags & OS_BASE64_NOPAD) || rem == 0 || pads != 4 - rem)
      return OS_EINVAL;
  } else if (rem != 0 && !(flags & (OS_BASE64_NOPAD | OS_BASE64_PAD_OPTIONAL))) {
    return OS_EINVAL;
  }
  if (rem == 2) {
    if (acc & 0xf)
      return OS_EINVAL; /* non-canonical trailing bits */
    *o++ = (uint8_t)(acc >> 4);
  } else if (rem == 3) {
    if (acc & 0x3)
      return OS_EINVAL;
    *o++ = (uint8_t)(acc >> 10);
    *o++ = (uint8_t)(acc >> 2);
  }
  *out_len = (size_t)(o - (uint8_t *)out);
  return 0;
}

size_t os_base64_span(const char *s, size_t n, unsigned flags) {
  const uint8_t *t = table(flags);
  bool pad = !(flags & OS_BASE64_NOPAD);
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i + 4 <= n && t[u[i]] != 0 && t[u[i + 1]] != 0 && t[u[i + 2]] != 0 && t[u[i + 3]] != 0)
    i += 4;
  while (i < n && (t[u[i]] != 0 || (pad && u[i] == '=')))
    i++;
  return i;
}

int os_base64_append(os_buf *b, const void *in, size_t n, unsigned flags) {
  size_t len = os_base64_encoded_len(n, flags);
  if (len == SIZE_MAX || os_buf_reserve(b, len) < 0)
    return OS_ENOMEM;
  os_base64_encode(b->data + b->len, in, n, flags);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

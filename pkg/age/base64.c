/* Strict base64 (RFC 4648 standard alphabet): canonical trailing bits,
 * padding either required (armor) or forbidden (age header). */
#include <string.h>

#include "age/age_internal.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63, or 0xff for anything else. */
static const uint8_t b64_value[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,
    ['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13,
    ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20,
    ['V'] = 21, ['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27,
    ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34,
    ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47, ['w'] = 48,
    ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62,
    ['/'] = 63,
};

/* The table above leaves unlisted entries 0, so validity is checked here. */
static bool b64_valid(unsigned char c) {
  return c == 'A' || b64_value[c] != 0;
}

size_t age_b64_encoded_len(size_t n, bool pad) {
  if (pad)
    return (n + 2) / 3 * 4;
  return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void age_b64_encode(char *out, const uint8_t *in, size_t n, bool pad) {
  size_t i = 0;
  char *o = out;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *o++ = b64_alphabet[v >> 18 & 63];
    *o++ = b64_alphabet[v >> 12 & 63];
    *o++ = b64_alphabet[v >> 6 & 63];
    *o++ = b64_alphabet[v & 63];
  }
  size_t rem = n - i;
  if (rem == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *o++ = b64_alphabet[v >> 18 & 63];
    *o++ = b64_alphabet[v >> 12 & 63];
    if (pad) {
      *o++ = '=';
      *o++ = '=';
    }
  } else if (rem == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *o++ = b64_alphabet[v >> 18 & 63];
    *o++ = b64_alphabet[v >> 12 & 63];
    *o++ = b64_alphabet[v >> 6 & 63];
    if (pad)
      *o++ = '=';
  }
}

int age_b64_decode(uint8_t *out, size_t *out_len, const char *in, size_t n, bool pad) {
  const unsigned char *s = (const unsigned char *)in;
  *out_len = 0;
  if (pad) {
    if (n % 4 != 0)
      return -1;
    if (n >= 1 && s[n - 1] == '=') {
      n--;
      if (n >= 1 && s[n - 1] == '=')
        n--;
    }
  }
  if (n % 4 == 1)
    return -1;
  size_t i = 0;
  uint8_t *o = out;
  for (; i + 4 <= n; i += 4) {
    if (!b64_valid(s[i]) || !b64_valid(s[i + 1]) || !b64_valid(s[i + 2]) || !b64_valid(s[i + 3]))
      return -1;
    uint32_t v = (uint32_t)b64_value[s[i]] << 18 | (uint32_t)b64_value[s[i + 1]] << 12 |
                 (uint32_t)b64_value[s[i + 2]] << 6 | b64_value[s[i + 3]];
    *o++ = (uint8_t)(v >> 16);
    *o++ = (uint8_t)(v >> 8);
    *o++ = (uint8_t)v;
  }
  size_t rem = n - i;
  if (rem == 2) {
    if (!b64_valid(s[i]) || !b64_valid(s[i + 1]))
      return -1;
    uint32_t v = (uint32_t)b64_value[s[i]] << 18 | (uint32_t)b64_value[s[i + 1]] << 12;
    if ((v & 0xffff) != 0)
      return -1; /* non-canonical trailing bits */
    *o++ = (uint8_t)(v >> 16);
  } else if (rem == 3) {
    if (!b64_valid(s[i]) || !b64_valid(s[i + 1]) || !b64_valid(s[i + 2]))
      return -1;
    uint32_t v = (uint32_t)b64_value[s[i]] << 18 | (uint32_t)b64_value[s[i + 1]] << 12 |
                 (uint32_t)b64_value[s[i + 2]] << 6;
    if ((v & 0xff) != 0)
      return -1;
    *o++ = (uint8_t)(v >> 16);
    *o++ = (uint8_t)(v >> 8);
  }
  *out_len = (size_t)(o - out);
  return 0;
}

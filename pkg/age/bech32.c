/* Bech32 (BIP-173): the checksum and 5-bit regrouping used by age keys. */
#include <string.h>

#include "age/age_internal.h"

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, uint8_t v) {
  static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t top = chk >> 25;
  chk = (chk & 0x1ffffff) << 5 ^ v;
  for (unsigned i = 0; i < 5; i++) {
    if ((top >> i) & 1)
      chk ^= gen[i];
  }
  return chk;
}

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static uint32_t hrp_polymod(const char *hrp, size_t hrp_len) {
  uint32_t chk = 1;
  for (size_t i = 0; i < hrp_len; i++)
    chk = polymod_step(chk, (uint8_t)((unsigned char)lower(hrp[i]) >> 5));
  chk = polymod_step(chk, 0);
  for (size_t i = 0; i < hrp_len; i++)
    chk = polymod_step(chk, (uint8_t)((unsigned char)lower(hrp[i]) & 31));
  return chk;
}

int age_bech32_encode(char *out, size_t out_cap, const char *hrp, const uint8_t *data, size_t n,
                      bool upper) {
  size_t hrp_len = strlen(hrp);
  if (hrp_len == 0)
    return -1;
  for (size_t i = 0; i < hrp_len; i++) {
    unsigned char c = (unsigned char)hrp[i];
    if (c < 33 || c > 126)
      return -1;
  }
  size_t n5 = (n * 8 + 4) / 5;
  size_t need = hrp_len + 1 + n5 + 6 + 1;
  if (n > SIZE_MAX / 8 - 1 || need > out_cap)
    return -1;
  size_t o = 0;
  for (size_t i = 0; i < hrp_len; i++)
    out[o++] = lower(hrp[i]);
  out[o++] = '1';
  uint32_t chk = hrp_polymod(hrp, hrp_len);
  uint32_t acc = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8 | data[i]) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      uint8_t v = (uint8_t)((acc >> bits) & 31);
      chk = polymod_step(chk, v);
      out[o++] = bech32_charset[v];
    }
  }
  if (bits > 0) {
    uint8_t v = (uint8_t)((acc << (5 - bits)) & 31);
    chk = polymod_step(chk, v);
    out[o++] = bech32_charset[v];
  }
  for (int i = 0; i < 6; i++)
    chk = polymod_step(chk, 0);
  chk ^= 1;
  for (int i = 0; i < 6; i++)
    out[o++] = bech32_charset[(chk >> (5 * (5 - i))) & 31];
  out[o] = '\0';
  if (upper) {
    for (size_t i = 0; i < o; i++) {
      if (out[i] >= 'a' && out[i] <= 'z')
        out[i] = (char)(out[i] - 'a' + 'A');
    }
  }
  return 0;
}

static int charset_index(char c) {
  c = lower(c);
  const char *p = memchr(bech32_charset, c, 32);
  return (p == NULL || c == '\0') ? -1 : (int)(p - bech32_charset);
}

int age_bech32_decode(char *hrp, size_t hrp_cap, uint8_t *data, size_t *data_len,
                      size_t data_cap, const char *s, size_t s_len, size_t max_len) {
  *data_len = 0;
  if (max_len != 0 && s_len > max_len)
    return -1;
  bool has_lower = false, has_upper = false;
  size_t sep = SIZE_MAX;
  for (size_t i = 0; i < s_len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 33 || c > 126)
      return -1;
    if (c >= 'a' && c <= 'z')
      has_lower = true;
    if (c >= 'A' && c <= 'Z')
      has_upper = true;
    if (c == '1')
      sep = i;
  }
  if (has_lower && has_upper)
    return -1;
  if (sep == SIZE_MAX || sep < 1 || sep + 7 > s_len || sep + 1 > hrp_cap)
    return -1;
  uint32_t chk = hrp_polymod(s, sep);
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t o = 0;
  size_t n_data = s_len - sep - 1 - 6; /* 5-bit groups before the checksum */
  for (size_t i = sep + 1; i < s_len; i++) {
    int v = charset_index(s[i]);
    if (v < 0)
      return -1;
    chk = polymod_step(chk, (uint8_t)v);
    if (i - sep - 1 < n_data) {
      acc = (acc << 5 | (uint32_t)v) & 0xfff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        if (o >= data_cap)
          return -1;
        data[o++] = (uint8_t)(acc >> bits);
      }
    }
  }
  if (chk != 1)
    return -1;
  /* Padding must be shorter than a group and all zero. */
  if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
    return -1;
  memcpy(hrp, s, sep);
  hrp[sep] = '\0';
  *data_len = o;
  return 0;
}

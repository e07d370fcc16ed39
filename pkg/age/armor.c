/* Strict ASCII armor (age spec: RFC 7468 strict, 64 columns, canonical
 * padded base64, whitespace only outside the armor). */
#include <stdlib.h>
#include <string.h>

#include "age/age_internal.h"
#include "common/base64.h"

/* Longest line accepted anywhere (whitespace around the armor included). */
#define ARMOR_LINE_MAX 4096u

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static bool all_space(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!is_space(s[i]))
      return false;
  }
  return true;
}

void age_armor_dec_init(age_armor_dec *d) { memset(d, 0, sizeof(*d)); }

int age_armor_dec_line(age_armor_dec *d, uint8_t out[AGE_BYTES_PER_LINE], size_t *out_len,
                       const char *line, size_t len, os_error *err) {
  *out_len = 0;
  d->lines++;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  switch (d->state) {
  case AGE_ARMOR_BEFORE: {
    size_t i = 0;
    while (i < len && is_space(line[i]))
      i++;
    if (i == len)
      return 0;
    /* checksrc: public: armor line */
    if (len - i != strlen(AGE_ARMOR_BEGIN) || memcmp(line + i, AGE_ARMOR_BEGIN, len - i) != 0)
      return os_error_set(err, OS_EARMOR, "armor: line %zu: expected \"%s\"", d->lines,
                          AGE_ARMOR_BEGIN);
    d->state = AGE_ARMOR_DATA;
    return 0;
  }
  case AGE_ARMOR_DATA:
  case AGE_ARMOR_LAST:
    /* checksrc: public: armor line */
    if (len == strlen(AGE_ARMOR_END) && memcmp(line, AGE_ARMOR_END, len) == 0) {
      d->state = AGE_ARMOR_AFTER;
      return 0;
    }
    if (d->state == AGE_ARMOR_LAST)
      return os_error_set(err, OS_EARMOR, "armor: line %zu: expected \"%s\" after a short line",
                          d->lines, AGE_ARMOR_END);
    if (len == 0)
      return os_error_set(err, OS_EARMOR, "armor: line %zu: empty line", d->lines);
    if (len > AGE_COLUMNS)
      return os_error_set(err, OS_EARMOR, "armor: line %zu: longer than %u columns", d->lines,
                          AGE_COLUMNS);
    if (os_base64_decode(out, out_len, line, len, 0) != 0)
      return os_error_set(err, OS_EARMOR, "armor: line %zu: invalid base64", d->lines);
    if (len < AGE_COLUMNS || line[len - 1] == '=')
      d->state = AGE_ARMOR_LAST;
    return 0;
  case AGE_ARMOR_AFTER:
    if (!all_space(line, len))
      return os_error_set(err, OS_EARMOR, "armor: line %zu: data after \"%s\"", d->lines,
                          AGE_ARMOR_END);
    return 0;
  }
  return os_error_set(err, OS_EARMOR, "armor: bad decoder state");
}

int age_armor_dec_finish(const age_armor_dec *d, os_error *err) {
  if (d->state == AGE_ARMOR_BEFORE)
    return os_error_set(err, OS_EARMOR, "armor: missing \"%s\" line", AGE_ARMOR_BEGIN);
  if (d->state != AGE_ARMOR_AFTER)
    return os_error_set(err, OS_EARMOR, "armor: missing \"%s\" line", AGE_ARMOR_END);
  return 0;
}

int age_armor_decode(uint8_t **out, size_t *out_len, const char *in, size_t n, os_error *err) {
  *out = NULL;
  *out_len = 0;
  /* Decoded size is at most 3/4 of the input. */
  uint8_t *buf = malloc(n / 4 * 3 + AGE_BYTES_PER_LINE + 1);
  if (buf == NULL)
    return os_error_set(err, OS_ENOMEM, "armor: out of memory");
  age_armor_dec d;
  age_armor_dec_init(&d);
  size_t o = 0;
  size_t pos = 0;
  int rc = 0;
  while (pos < n) {
    const char *nl = memchr(in + pos, '\n', n - pos);
    size_t len = nl != NULL ? (size_t)(nl - (in + pos)) : n - pos;
    if (len > ARMOR_LINE_MAX) {
      rc = os_error_set(err, OS_EARMOR, "armor: line %zu: too long", d.lines + 1);
      goto done;
    }
    size_t got = 0;
    rc = age_armor_dec_line(&d, buf + o, &got, in + pos, len, err);
    if (rc < 0)
      goto done;
    o += got;
    pos += len + (nl != NULL ? 1 : 0);
  }
  rc = age_armor_dec_finish(&d, err);
done:
  if (rc < 0) {
    OPENSSL_cleanse(buf, o);
    free(buf);
    return rc;
  }
  *out = buf;
  *out_len = o;
  return 0;
}

int age_armor_encode(os_buf *out, const uint8_t *data, size_t n) {
  int rc = os_buf_puts(out, AGE_ARMOR_BEGIN "\n");
  char line[AGE_COLUMNS + 1];
  for (size_t i = 0; rc == 0 && i < n; i += AGE_BYTES_PER_LINE) {
    size_t take = n - i < AGE_BYTES_PER_LINE ? n - i : AGE_BYTES_PER_LINE;
    size_t len = os_base64_encoded_len(take, 0);
    os_base64_encode(line, data + i, take, 0);
    line[len] = '\n';
    rc = os_buf_append(out, line, len + 1);
  }
  if (rc == 0)
    rc = os_buf_puts(out, AGE_ARMOR_END "\n");
  return rc;
}

bool age_is_armored(const uint8_t *in, size_t n) {
  static const char version[] = "age-encryption.org/";
  /* checksrc: public: format prefix */
  if (n >= sizeof(version) - 1 && memcmp(in, version, sizeof(version) - 1) == 0)
    return false;
  size_t i = 0;
  while (i < n && is_space((char)in[i]))
    i++;
  if (i == n)
    return false; /* empty: reported as a header failure */
  if (n - i >= 5 && memcmp(in + i, "-----", 5) == 0) /* checksrc: public: format prefix */
    return true;
  /* Text before a BEGIN line is garbage in an armored file. */
  size_t scan = n < 1024 ? n : 1024;
  for (size_t j = 0; j + 10 <= scan; j++) {
    if (memcmp(in + j, "-----BEGIN", 10) == 0) /* checksrc: public: format prefix */
      return true;
  }
  return false;
}

/* The age v1 header: version line, recipient stanzas, MAC line. */
#include <stdlib.h>
#include <string.h>

#include "age/age_internal.h"
#include "common/base64.h"

size_t age_header_find_end(const uint8_t *data, size_t n) {
  size_t pos = 0;
  while (pos < n) {
    const uint8_t *nl = memchr(data + pos, '\n', n - pos);
    if (pos + 3 <= n && memcmp(data + pos, "---", 3) == 0) /* checksrc: public: header text */
      return nl != NULL ? (size_t)(nl - data) + 1 : 0;
    if (nl == NULL)
      return 0;
    pos = (size_t)(nl - data) + 1;
  }
  return 0;
}

static bool valid_arg(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
      return false;
  }
  return true;
}

void age_header_free(age_header *hdr) {
  if (hdr == NULL)
    return;
  free(hdr->stanzas); /* one block holds every array and the body arena */
  memset(hdr, 0, sizeof(*hdr));
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

int age_header_parse(age_header *hdr, const uint8_t *data, size_t n, os_error *err) {
  memset(hdr, 0, sizeof(*hdr));
  const char *text = (const char *)data;
  size_t end = age_header_find_end(data, n);
  if (end == 0)
    return os_error_set(err, OS_EHEADER, "header: incomplete (no \"---\" line)");
  if (end > AGE_HEADER_MAX)
    return os_error_set(err, OS_EHEADER, "header: larger than %u bytes", AGE_HEADER_MAX);
  static const char version[] = AGE_VERSION_LINE "\n";
  /* checksrc: public: version line */
  if (end < sizeof(version) - 1 || memcmp(text, version, sizeof(version) - 1) != 0) {
    /* checksrc: public: version line */
    if (end >= 19 && memcmp(text, "age-encryption.org/", 19) == 0)
      return os_error_set(err, OS_EHEADER, "header: unsupported version");
    return os_error_set(err, OS_EHEADER, "header: not an age file (bad version line)");
  }
  size_t n_lines = 0, n_spaces = 0;
  for (size_t i = 0; i < end; i++) {
    n_lines += text[i] == '\n';
    n_spaces += text[i] == ' ';
  }
  size_t sz_st = align8(n_lines * sizeof(age_stanza));
  size_t sz_args = align8(n_spaces * sizeof(char *));
  size_t sz_lens = align8(n_spaces * sizeof(size_t));
  uint8_t *block = malloc(sz_st + sz_args + sz_lens + end + 8);
  if (block == NULL)
    return os_error_set(err, OS_ENOMEM, "header: out of memory");
  hdr->stanzas = (age_stanza *)(void *)block;
  hdr->arg_store = (const char **)(void *)(block + sz_st);
  hdr->arg_len_store = (size_t *)(void *)(block + sz_st + sz_args);
  hdr->arena = block + sz_st + sz_args + sz_lens;
  size_t args_used = 0, arena_used = 0;
  size_t pos = sizeof(version) - 1;
  int rc = 0;
  for (;;) {
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', end - pos);
    if (nl == NULL) {
      rc = os_error_set(err, OS_EHEADER, "header: unexpected end");
      goto done;
    }
    size_t len = (size_t)(nl - line);
    if (len >= 3 && memcmp(line, "---", 3) == 0) { /* checksrc: public: header line */
      size_t mac_len = 0;
      uint8_t mac[AGE_MAC_LEN + 3];
      if (len != 4 + os_base64_encoded_len(AGE_MAC_LEN, OS_BASE64_NOPAD) || line[3] != ' ' ||
          os_base64_decode(mac, &mac_len, line + 4, len - 4, OS_BASE64_NOPAD) != 0 ||
          mac_len != AGE_MAC_LEN) {
        rc = os_error_set(err, OS_EHEADER, "header: malformed MAC line");
        goto done;
      }
      memcpy(hdr->mac, mac, AGE_MAC_LEN);
      hdr->mac_covered = pos + 3;
      hdr->len = pos + len + 1;
      break;
    }
    if (len < 2 || memcmp(line, "->", 2) != 0) { /* checksrc: public: header line */
      rc = os_error_set(err, OS_EHEADER, "header: unexpected line (want a stanza or \"---\")");
      goto done;
    }
    age_stanza *st = &hdr->stanzas[hdr->n_stanzas++];
    memset(st, 0, sizeof(*st));
    st->args = hdr->arg_store + args_used;
    st->arg_lens = hdr->arg_len_store + args_used;
    size_t i = 2;
    if (i == len || line[i] != ' ') {
      rc = os_error_set(err, OS_EHEADER, "header: stanza %zu: malformed stanza line",
                        hdr->n_stanzas);
      goto done;
    }
    size_t n_tok = 0;
    while (i < len) {
      i++; /* the space */
      size_t start = i;
      while (i < len && line[i] != ' ')
        i++;
      if (!valid_arg(line + start, i - start)) {
        rc = os_error_set(err, OS_EHEADER, "header: stanza %zu: empty or invalid argument",
                          hdr->n_stanzas);
        goto done;
      }
      if (n_tok == 0) {
        st->type = line + start;
        st->type_len = i - start;
      } else {
        st->args[st->n_args] = line + start;
        st->arg_lens[st->n_args] = i - start;
        st->n_args++;
        args_used++;
      }
      n_tok++;
    }
    pos += len + 1;
    st->body = hdr->arena + arena_used;
    for (;;) {
      const char *bl = text + pos;
      const char *bnl = memchr(bl, '\n', end - pos);
      size_t blen = bnl != NULL ? (size_t)(bnl - bl) : 0;
      if (bnl == NULL || blen > AGE_COLUMNS) {
        rc = os_error_set(err, OS_EHEADER, "header: stanza %zu: body line too long or missing",
                          hdr->n_stanzas);
        goto done;
      }
      size_t got = 0;
      if (os_base64_decode(st->body + st->body_len, &got, bl, blen, OS_BASE64_NOPAD) != 0) {
        rc = os_error_set(err, OS_EHEADER, "header: stanza %zu: %s", hdr->n_stanzas,
                          (blen >= 2 && bl[0] == '-') ? "stanza ended without a short body line"
                                                      : "invalid base64 in body");
        goto done;
      }
      st->body_len += got;
      pos += blen + 1;
      if (got < AGE_BYTES_PER_LINE)
        break;
    }
    arena_used += st->body_len;
  }
done:
  if (rc < 0)
    age_header_free(hdr);
  return rc;
}

int age_header_encode_unmac(os_buf *out, const age_header *hdr) {
  int rc = os_buf_puts(out, AGE_VERSION_LINE "\n");
  char line[AGE_COLUMNS + 1];
  for (size_t s = 0; rc == 0 && s < hdr->n_stanzas; s++) {
    const age_stanza *st = &hdr->stanzas[s];
    rc = os_buf_append(out, "-> ", 3);
    if (rc == 0)
      rc = os_buf_append(out, st->type, st->type_len);
    for (size_t a = 0; rc == 0 && a < st->n_args; a++) {
      rc = os_buf_append(out, " ", 1);
      if (rc == 0)
        rc = os_buf_append(out, st->args[a], st->arg_lens[a]);
    }
    if (rc == 0)
      rc = os_buf_append(out, "\n", 1);
    /* Full lines, then a final short (possibly empty) line. */
    size_t i = 0;
    for (;;) {
      if (rc != 0)
        break;
      size_t take = st->body_len - i < AGE_BYTES_PER_LINE ? st->body_len - i : AGE_BYTES_PER_LINE;
      size_t len = os_base64_encoded_len(take, OS_BASE64_NOPAD);
      os_base64_encode(line, st->body + i, take, OS_BASE64_NOPAD);
      line[len] = '\n';
      rc = os_buf_append(out, line, len + 1);
      i += take;
      if (take < AGE_BYTES_PER_LINE)
        break;
    }
  }
  if (rc == 0)
    rc = os_buf_append(out, "---", 3);
  return rc;
}

int age_header_encode_mac(os_buf *out, const uint8_t mac[AGE_MAC_LEN]) {
  char line[64];
  size_t len = os_base64_encoded_len(AGE_MAC_LEN, OS_BASE64_NOPAD);
  line[0] = ' ';
  os_base64_encode(line + 1, mac, AGE_MAC_LEN, OS_BASE64_NOPAD);
  line[len + 1] = '\n';
  return os_buf_append(out, line, len + 2);
}

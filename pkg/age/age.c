/* age v1 file keys, headers, and whole-buffer encryption/decryption. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "age/age_internal.h"
#include "common/base64.h"

#define X25519_INFO "age-encryption.org/v1/X25519"

static bool stanza_is(const age_stanza *st, const char *type) {
  size_t n = strlen(type);
  return st->type_len == n && memcmp(st->type, type, n) == 0; /* checksrc: public: stanza type */
}

/* Recipient types defined by age and its plugins that this build lacks. */
static const char *const unsupported_types[] = {
    "scrypt", "mlkem768x25519", "ssh-rsa", "ssh-ed25519", "piv-p256", "p256tag",
    "mlkem768p256tag",
};

/* A validated X25519 stanza: share and wrapped file key. */
typedef struct x25519_stanza {
  uint8_t share[32];
  const uint8_t *body;
} x25519_stanza;

static int x25519_check(x25519_stanza *out, const age_stanza *st, size_t idx, os_error *err) {
  uint8_t share[34];
  size_t n = 0;
  if (st->n_args != 1)
    return os_error_set(err, OS_EHEADER, "header: stanza %zu: X25519 wants one argument",
                        idx + 1);
  if (st->arg_lens[0] != 43 ||
      os_base64_decode(share, &n, st->args[0], 43, OS_BASE64_NOPAD) != 0 || n != 32)
    return os_error_set(err, OS_EHEADER, "header: stanza %zu: malformed X25519 share", idx + 1);
  if (st->body_len != AGE_FILE_KEY_LEN + AGE_TAG_LEN)
    return os_error_set(err, OS_EHEADER, "header: stanza %zu: X25519 body is not 32 bytes",
                        idx + 1);
  memcpy(out->share, share, 32);
  out->body = st->body;
  return 0;
}

/* 0 when id unwrapped the stanza into file_key, 1 when it is not for id. */
static int x25519_unwrap(uint8_t file_key[AGE_FILE_KEY_LEN], const x25519_stanza *xs,
                         const age_identity *id, os_error *err) {
  uint8_t shared[32], wrap[32], salt[64];
  int rc = age_x25519(shared, age_identity_pkey(id), age_identity_derive_ctx(id), xs->share,
                      err);
  if (rc < 0)
    goto done;
  memcpy(salt, xs->share, 32);
  memcpy(salt + 32, age_recipient_key(age_identity_recipient(id)), 32);
  rc = age_hkdf_sha256(wrap, sizeof(wrap), shared, sizeof(shared), salt, sizeof(salt),
                       X25519_INFO, err);
  if (rc < 0)
    goto done;
  rc = age_aead_open_zero_nonce(file_key, wrap, xs->body, AGE_FILE_KEY_LEN + AGE_TAG_LEN, err);
done:
  OPENSSL_cleanse(shared, sizeof(shared));
  OPENSSL_cleanse(wrap, sizeof(wrap));
  return rc;
}

int age_unwrap_file_key(uint8_t file_key[AGE_FILE_KEY_LEN], const age_header *hdr,
                        const uint8_t *hdr_text, const age_identity *const *ids, size_t n_ids,
                        os_error *err) {
  const char *unsupported = NULL;
  size_t n_x25519 = 0;
  x25519_stanza small[4];
  x25519_stanza *xs = small;
  int rc = 0;
  for (size_t i = 0; i < hdr->n_stanzas; i++) {
    const age_stanza *st = &hdr->stanzas[i];
    if (stanza_is(st, "scrypt") && hdr->n_stanzas != 1)
      return os_error_set(err, OS_EHEADER, "header: an scrypt stanza must be the only one");
    if (stanza_is(st, "X25519"))
      n_x25519++;
    for (size_t u = 0; u < sizeof(unsupported_types) / sizeof(*unsupported_types); u++) {
      if (unsupported == NULL && stanza_is(st, unsupported_types[u]))
        unsupported = unsupported_types[u];
    }
  }
  if (n_x25519 > sizeof(small) / sizeof(*small)) {
    xs = calloc(n_x25519, sizeof(*xs));
    if (xs == NULL)
      return os_error_set(err, OS_ENOMEM, "header: out of memory");
  }
  /* Malformed X25519 stanzas fail whichever identity is used. */
  size_t k = 0;
  for (size_t i = 0; i < hdr->n_stanzas; i++) {
    if (!stanza_is(&hdr->stanzas[i], "X25519"))
      continue;
    rc = x25519_check(&xs[k++], &hdr->stanzas[i], i, err);
    if (rc < 0)
      goto done;
  }
  bool found = false;
  for (size_t i = 0; i < n_x25519 && !found; i++) {
    for (size_t j = 0; j < n_ids && !found; j++) {
      rc = x25519_unwrap(file_key, &xs[i], ids[j], err);
      if (rc < 0)
        goto done;
      found = rc == 0;
    }
  }
  if (!found) {
    if (unsupported != NULL)
      rc = os_error_set(err, OS_EUNSUPPORTED,
                        "no identity matched; the file is also encrypted to %s recipients, "
                        "which are not supported",
                        unsupported);
    else
      rc = os_error_set(err, OS_ENOIDENTITY, "no identity matched any of the file's recipients");
    goto done;
  }
  uint8_t mac_key[32], mac[AGE_MAC_LEN];
  rc = age_hkdf_sha256(mac_key, sizeof(mac_key), file_key, AGE_FILE_KEY_LEN, NULL, 0, "header",
                       err);
  if (rc == 0)
    rc = age_hmac_sha256(mac, mac_key, sizeof(mac_key), hdr_text, hdr->mac_covered, err);
  OPENSSL_cleanse(mac_key, sizeof(mac_key));
  if (rc == 0 && CRYPTO_memcmp(mac, hdr->mac, AGE_MAC_LEN) != 0)
    rc = os_error_set(err, OS_EHMAC, "header: MAC mismatch (header was modified)");
done:
  if (rc != 0)
    OPENSSL_cleanse(file_key, AGE_FILE_KEY_LEN);
  if (xs != small)
    free(xs);
  return rc;
}

static int wrap_x25519(os_buf *out, const uint8_t file_key[AGE_FILE_KEY_LEN],
                       const age_recipient *r, os_error *err) {
  uint8_t eph_secret[32], share[32], shared[32], wrap[32], salt[64];
  uint8_t body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];
  char line[128];
  size_t share_len = sizeof(share);
  int rc = 0;
  EVP_PKEY *eph = NULL;
  if (RAND_bytes(eph_secret, sizeof(eph_secret)) != 1) {
    rc = os_error_set(err, OS_ECRYPTO, "encrypt: random generator failed");
    goto done;
  }
  eph = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, eph_secret, sizeof(eph_secret));
  if (eph == NULL || EVP_PKEY_get_raw_public_key(eph, share, &share_len) != 1 ||
      share_len != 32) {
    ERR_clear_error();
    rc = os_error_set(err, OS_ECRYPTO, "encrypt: X25519 key generation failed");
    goto done;
  }
  rc = age_x25519(shared, eph, NULL, age_recipient_key(r), err);
  if (rc < 0) {
    rc = os_error_set(err, OS_EINVAL, "encrypt: recipient is not a valid X25519 public key");
    goto done;
  }
  memcpy(salt, share, 32);
  memcpy(salt + 32, age_recipient_key(r), 32);
  rc = age_hkdf_sha256(wrap, sizeof(wrap), shared, sizeof(shared), salt, sizeof(salt),
                       X25519_INFO, err);
  if (rc == 0)
    rc = age_aead_seal_zero_nonce(body, wrap, file_key, AGE_FILE_KEY_LEN, err);
  if (rc < 0)
    goto done;
  memcpy(line, "-> X25519 ", 10);
  os_base64_encode(line + 10, share, 32, OS_BASE64_NOPAD);
  line[53] = '\n';
  os_base64_encode(line + 54, body, sizeof(body), OS_BASE64_NOPAD);
  line[97] = '\n';
  rc = os_buf_append(out, line, 98);
  if (rc < 0)
    rc = os_error_set(err, OS_ENOMEM, "encrypt: header too large");
done:
  EVP_PKEY_free(eph);
  OPENSSL_cleanse(eph_secret, sizeof(eph_secret));
  OPENSSL_cleanse(shared, sizeof(shared));
  OPENSSL_cleanse(wrap, sizeof(wrap));
  return rc;
}

int age_build_header(os_buf *out, const uint8_t file_key[AGE_FILE_KEY_LEN],
                     const age_recipient *const *rcpts, size_t n_rcpts, os_error *err) {
  if (n_rcpts == 0)
    return os_error_set(err, OS_EINVAL, "encrypt: no recipients");
  size_t start = out->len;
  int rc = os_buf_puts(out, AGE_VERSION_LINE "\n");
  for (size_t i = 0; rc == 0 && i < n_rcpts; i++)
    rc = wrap_x25519(out, file_key, rcpts[i], err);
  if (rc == 0)
    rc = os_buf_append(out, "---", 3);
  if (rc < 0)
    return rc == OS_ENOMEM ? os_error_set(err, OS_ENOMEM, "encrypt: header too large") : rc;
  uint8_t mac_key[32], mac[AGE_MAC_LEN];
  rc = age_hkdf_sha256(mac_key, sizeof(mac_key), file_key, AGE_FILE_KEY_LEN, NULL, 0, "header",
                       err);
  if (rc == 0)
    rc = age_hmac_sha256(mac, mac_key, sizeof(mac_key), (const uint8_t *)out->data + start,
                         out->len - start, err);
  OPENSSL_cleanse(mac_key, sizeof(mac_key));
  if (rc == 0 && age_header_encode_mac(out, mac) < 0)
    rc = os_error_set(err, OS_ENOMEM, "encrypt: header too large");
  return rc;
}

int age_encrypt(char **out, size_t *out_len, const age_recipient *const *rcpts, size_t n_rcpts,
                const void *pt, size_t pt_len, bool armor, os_error *err) {
  *out = NULL;
  *out_len = 0;
  uint8_t file_key[AGE_FILE_KEY_LEN], nonce[AGE_NONCE_LEN];
  age_stream st = {0};
  os_buf hdr, arm;
  os_buf_init(&hdr, AGE_HEADER_MAX, false);
  os_buf_init(&arm, SIZE_MAX - 1, false);
  uint8_t *bin = NULL;
  size_t total = 0;
  int rc = 0;
  if (RAND_bytes(file_key, sizeof(file_key)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
    rc = os_error_set(err, OS_ECRYPTO, "encrypt: random generator failed");
    goto done;
  }
  rc = age_build_header(&hdr, file_key, rcpts, n_rcpts, err);
  if (rc < 0)
    goto done;
  size_t n_chunks = pt_len == 0 ? 1 : (pt_len + AGE_CHUNK_SIZE - 1) / AGE_CHUNK_SIZE;
  if (!os_size_mul(&total, n_chunks, AGE_TAG_LEN) || !os_size_add(&total, total, pt_len) ||
      !os_size_add(&total, total, hdr.len + AGE_NONCE_LEN) || total == SIZE_MAX) {
    rc = os_error_set(err, OS_ENOMEM, "encrypt: input too large");
    goto done;
  }
  bin = malloc(total + 1);
  if (bin == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "encrypt: out of memory");
    goto done;
  }
  memcpy(bin, hdr.data, hdr.len);
  memcpy(bin + hdr.len, nonce, AGE_NONCE_LEN);
  size_t o = hdr.len + AGE_NONCE_LEN;
  rc = age_stream_init(&st, file_key, nonce, false, err);
  if (rc < 0)
    goto done;
  static const uint8_t empty[1];
  const uint8_t *in = pt_len > 0 ? pt : empty;
  for (size_t i = 0; i < n_chunks; i++) {
    size_t off = i * AGE_CHUNK_SIZE;
    size_t take = pt_len - off < AGE_CHUNK_SIZE ? pt_len - off : AGE_CHUNK_SIZE;
    rc = age_stream_seal(&st, bin + o, in + off, take, i + 1 == n_chunks, err);
    if (rc < 0)
      goto done;
    o += take + AGE_TAG_LEN;
  }
  bin[total] = '\0';
  if (armor) {
    if (age_armor_encode(&arm, bin, total) < 0 || os_buf_detach(out, out_len, &arm) < 0) {
      rc = os_error_set(err, OS_ENOMEM, "encrypt: out of memory");
      goto done;
    }
  } else {
    *out = (char *)bin;
    *out_len = total;
    bin = NULL;
  }
done:
  OPENSSL_cleanse(file_key, sizeof(file_key));
  if (st.ctx != NULL)
    age_stream_free(&st);
  free(bin);
  os_buf_free(&hdr);
  os_buf_free(&arm);
  return rc;
}

int age_decrypt(uint8_t **out, size_t *out_len, const age_identity *const *ids, size_t n_ids,
                const void *ct, size_t ct_len, os_error *err) {
  *out = NULL;
  *out_len = 0;
  uint8_t *dearmored = NULL;
  size_t dearmored_len = 0;
  const uint8_t *data = ct;
  size_t n = ct_len;
  uint8_t file_key[AGE_FILE_KEY_LEN];
  age_header hdr = {0};
  age_stream st = {0};
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  int rc = 0;
  if (age_is_armored(data, n)) {
    rc = age_armor_decode(&dearmored, &dearmored_len, ct, ct_len, err);
    if (rc < 0)
      goto done;
    data = dearmored;
    n = dearmored_len;
  }
  rc = age_header_parse(&hdr, data, n, err);
  if (rc < 0)
    goto done;
  rc = age_unwrap_file_key(file_key, &hdr, data, ids, n_ids, err);
  if (rc < 0)
    goto done;
  if (n - hdr.len < AGE_NONCE_LEN) {
    rc = os_error_set(err, OS_EHEADER, "header: missing payload nonce");
    goto done;
  }
  const uint8_t *nonce = data + hdr.len;
  const uint8_t *payload = nonce + AGE_NONCE_LEN;
  size_t payload_len = n - hdr.len - AGE_NONCE_LEN;
  if (payload_len == 0) {
    rc = os_error_set(err, OS_EPAYLOAD, "payload: no chunks");
    goto done;
  }
  size_t n_chunks = (payload_len + AGE_ENC_CHUNK_SIZE - 1) / AGE_ENC_CHUNK_SIZE;
  size_t last_len = payload_len - (n_chunks - 1) * AGE_ENC_CHUNK_SIZE;
  if (last_len < AGE_TAG_LEN) {
    rc = os_error_set(err, OS_EPAYLOAD, "payload: truncated final chunk");
    goto done;
  }
  if (last_len == AGE_TAG_LEN && n_chunks > 1) {
    rc = os_error_set(err, OS_EPAYLOAD, "payload: final chunk is empty");
    goto done;
  }
  pt_len = payload_len - n_chunks * AGE_TAG_LEN;
  pt = malloc(pt_len + 1);
  if (pt == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "decrypt: out of memory");
    goto done;
  }
  rc = age_stream_init(&st, file_key, nonce, true, err);
  if (rc < 0)
    goto done;
  for (size_t i = 0; i < n_chunks; i++) {
    bool last = i + 1 == n_chunks;
    rc = age_stream_open(&st, pt + i * AGE_CHUNK_SIZE, payload + i * AGE_ENC_CHUNK_SIZE,
                         last ? last_len : AGE_ENC_CHUNK_SIZE, last, err);
    if (rc < 0)
      goto done;
  }
  pt[pt_len] = '\0';
  *out = pt;
  *out_len = pt_len;
  pt = NULL;
done:
  OPENSSL_cleanse(file_key, sizeof(file_key));
  if (st.ctx != NULL)
    age_stream_free(&st);
  age_header_free(&hdr);
  if (pt != NULL)
    os_free_secret(pt, pt_len + 1);
  free(dearmored);
  return rc;
}

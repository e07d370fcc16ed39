/* The primitives age needs, all from OpenSSL 3 EVP, fetched once. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "age/age_internal.h"

static age_algs algs;
static bool algs_ok;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;
/* Per-thread scratch objects, so that the hot path neither allocates nor
 * looks algorithms up by name: an HKDF context with its digest set, and an
 * X25519 public key whose value is replaced for each peer. */
typedef struct thread_scratch {
  EVP_KDF_CTX *hkdf;
  EVP_PKEY *peer;
} thread_scratch;
static pthread_key_t scratch_key;

static void scratch_free(void *p) {
  thread_scratch *t = p;
  if (t == NULL)
    return;
  EVP_KDF_CTX_free(t->hkdf);
  EVP_PKEY_free(t->peer);
  free(t);
}

static void algs_fetch(void) {
  algs.chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  algs.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  algs_ok = algs.chacha != NULL && algs.hkdf != NULL && algs.hmac != NULL &&
            pthread_key_create(&scratch_key, scratch_free) == 0;
}

static thread_scratch *scratch(void) {
  static const uint8_t basepoint[32] = {9};
  thread_scratch *t = pthread_getspecific(scratch_key);
  if (t != NULL)
    return t;
  t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  t->hkdf = EVP_KDF_CTX_new(algs.hkdf);
  t->peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, basepoint, 32);
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  if (t->hkdf == NULL || t->peer == NULL || EVP_KDF_CTX_set_params(t->hkdf, params) != 1 ||
      pthread_setspecific(scratch_key, t) != 0) {
    scratch_free(t);
    ERR_clear_error();
    return NULL;
  }
  return t;
}

const age_algs *age_algs_get(os_error *err) {
  pthread_once(&algs_once, algs_fetch);
  if (!algs_ok) {
    os_error_set(err, OS_ECRYPTO, "openssl lacks ChaCha20-Poly1305, HKDF or HMAC");
    return NULL;
  }
  return &algs;
}

int age_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
                    const uint8_t *salt, size_t salt_len, const char *info, os_error *err) {
  static const uint8_t dummy_key[1];
  if (age_algs_get(err) == NULL)
    return OS_ECRYPTO;
  thread_scratch *t = scratch();
  if (t == NULL)
    return os_error_set(err, OS_ENOMEM, "hkdf: out of memory");
  EVP_KDF_CTX *ctx = t->hkdf;
  OSSL_PARAM params[4];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)ikm,
                                                ikm_len);
  /* Always set (an empty salt is HKDF's default of zeros) so none lingers. */
  params[1] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)(salt != NULL ? salt : dummy_key), salt_len);
  params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)(uintptr_t)info,
                                                strlen(info));
  params[3] = OSSL_PARAM_construct_end();
  int rc = 0;
  if (EVP_KDF_derive(ctx, out, out_len, params) != 1) {
    ERR_clear_error();
    rc = os_error_set(err, OS_ECRYPTO, "hkdf: derive failed");
  }
  /* The cached context must not keep the secret input: replace it. */
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                (void *)(uintptr_t)dummy_key, 1);
  params[1] = OSSL_PARAM_construct_end();
  if (EVP_KDF_CTX_set_params(ctx, params) != 1) {
    /* Cannot scrub it: drop the context (freeing wipes the key). */
    pthread_setspecific(scratch_key, NULL);
    scratch_free(t);
  }
  return rc;
}

int age_hmac_sha256(uint8_t out[AGE_MAC_LEN], const uint8_t *key, size_t key_len,
                    const uint8_t *data, size_t n, os_error *err) {
  const age_algs *a = age_algs_get(err);
  if (a == NULL)
    return OS_ECRYPTO;
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(a->hmac);
  if (ctx == NULL)
    return os_error_set(err, OS_ENOMEM, "hmac: out of memory");
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  size_t out_len = 0;
  int rc = 0;
  if (EVP_MAC_init(ctx, key, key_len, params) != 1 || EVP_MAC_update(ctx, data, n) != 1 ||
      EVP_MAC_final(ctx, out, &out_len, AGE_MAC_LEN) != 1 || out_len != AGE_MAC_LEN)
    rc = os_error_set(err, OS_ECRYPTO, "hmac: failed");
  EVP_MAC_CTX_free(ctx);
  return rc;
}

static int aead_zero_nonce(uint8_t *out, const uint8_t key[32], const uint8_t *in, size_t n,
                           bool decrypt, os_error *err) {
  static const uint8_t zero_nonce[12];
  const age_algs *a = age_algs_get(err);
  if (a == NULL)
    return OS_ECRYPTO;
  if (n > INT32_MAX)
    return os_error_set(err, OS_EINVAL, "aead: input too large");
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL)
    return os_error_set(err, OS_ENOMEM, "aead: out of memory");
  int rc = 0, len = 0;
  if (!decrypt) {
    if (EVP_EncryptInit_ex2(ctx, a->chacha, key, zero_nonce, NULL) != 1 ||
        EVP_EncryptUpdate(ctx, out, &len, in, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, out + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)AGE_TAG_LEN, out + n) != 1)
      rc = os_error_set(err, OS_ECRYPTO, "aead: seal failed");
  } else {
    size_t ct = n - AGE_TAG_LEN;
    if (EVP_DecryptInit_ex2(ctx, a->chacha, key, zero_nonce, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)AGE_TAG_LEN,
                            (void *)(uintptr_t)(in + ct)) != 1 ||
        EVP_DecryptUpdate(ctx, out, &len, in, (int)ct) != 1)
      rc = os_error_set(err, OS_ECRYPTO, "aead: open failed");
    else if (EVP_DecryptFinal_ex(ctx, out + len, &len) != 1)
      rc = 1;
    if (rc != 0) {
      OPENSSL_cleanse(out, ct);
      ERR_clear_error();
    }
  }
  EVP_CIPHER_CTX_free(ctx);
  return rc;
}

int age_aead_seal_zero_nonce(uint8_t *out, const uint8_t key[32], const uint8_t *in, size_t n,
                             os_error *err) {
  return aead_zero_nonce(out, key, in, n, false, err);
}

int age_aead_open_zero_nonce(uint8_t *out, const uint8_t key[32], const uint8_t *in, size_t n,
                             os_error *err) {
  if (n < AGE_TAG_LEN)
    return 1;
  return aead_zero_nonce(out, key, in, n, true, err);
}

int age_stream_init(age_stream *s, const uint8_t file_key[AGE_FILE_KEY_LEN],
                    const uint8_t nonce[AGE_NONCE_LEN], bool decrypt, os_error *err) {
  memset(s, 0, sizeof(*s));
  const age_algs *a = age_algs_get(err);
  if (a == NULL)
    return OS_ECRYPTO;
  uint8_t key[32];
  int rc = age_hkdf_sha256(key, sizeof(key), file_key, AGE_FILE_KEY_LEN, nonce, AGE_NONCE_LEN,
                           "payload", err);
  if (rc < 0)
    goto done;
  s->decrypt = decrypt;
  s->ctx = EVP_CIPHER_CTX_new();
  if (s->ctx == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "stream: out of memory");
    goto done;
  }
  if (EVP_CipherInit_ex2(s->ctx, a->chacha, key, s->nonce, decrypt ? 0 : 1, NULL) != 1)
    rc = os_error_set(err, OS_ECRYPTO, "stream: cipher init failed");
done:
  OPENSSL_cleanse(key, sizeof(key));
  if (rc < 0)
    age_stream_free(s);
  return rc;
}

static int stream_set_nonce(age_stream *s, bool last) {
  uint64_t c = s->counter;
  memset(s->nonce, 0, 3);
  for (int i = 10; i >= 3; i--) {
    s->nonce[i] = (uint8_t)c;
    c >>= 8;
  }
  s->nonce[11] = last ? 1 : 0;
  /* Key stays; only the nonce (and the Poly1305 state) is reset. */
  return EVP_CipherInit_ex2(s->ctx, NULL, NULL, s->nonce, s->decrypt ? 0 : 1, NULL) == 1 ? 0
                                                                                          : -1;
}

int age_stream_seal(age_stream *s, uint8_t *out, const uint8_t *in, size_t n, bool last,
                    os_error *err) {
  int len = 0;
  if (n > AGE_CHUNK_SIZE || s->counter == UINT64_MAX)
    return os_error_set(err, OS_EINVAL, "stream: chunk too large");
  if (stream_set_nonce(s, last) != 0 || EVP_EncryptUpdate(s->ctx, out, &len, in, (int)n) != 1 ||
      EVP_EncryptFinal_ex(s->ctx, out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, (int)AGE_TAG_LEN, out + n) != 1)
    return os_error_set(err, OS_ECRYPTO, "stream: encryption failed");
  s->counter++;
  return 0;
}

int age_stream_open(age_stream *s, uint8_t *out, const uint8_t *in, size_t n, bool last,
                    os_error *err) {
  int len = 0;
  if (n < AGE_TAG_LEN || n > AGE_ENC_CHUNK_SIZE)
    return os_error_set(err, OS_EPAYLOAD, "payload: chunk %llu: truncated",
                        (unsigned long long)s->counter);
  size_t ct = n - AGE_TAG_LEN;
  if (stream_set_nonce(s, last) != 0 ||
      EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, (int)AGE_TAG_LEN,
                          (void *)(uintptr_t)(in + ct)) != 1 ||
      EVP_DecryptUpdate(s->ctx, out, &len, in, (int)ct) != 1 ||
      EVP_DecryptFinal_ex(s->ctx, out + len, &len) != 1) {
    OPENSSL_cleanse(out, ct);
    ERR_clear_error();
    return os_error_set(err, OS_EPAYLOAD, "payload: chunk %llu: authentication failed",
                        (unsigned long long)s->counter);
  }
  s->counter++;
  return 0;
}

void age_stream_free(age_stream *s) {
  EVP_CIPHER_CTX_free(s->ctx);
  OPENSSL_cleanse(s, sizeof(*s));
}

int age_x25519(uint8_t out[32], EVP_PKEY *priv, EVP_PKEY_CTX *derive_tmpl,
               const uint8_t peer[32], os_error *err) {
  if (age_algs_get(err) == NULL)
    return OS_ECRYPTO;
  thread_scratch *t = scratch();
  /* The thread's scratch key takes the peer's value; no other user exists. */
  EVP_PKEY *pub = t != NULL ? t->peer : NULL;
  EVP_PKEY_CTX *ctx = NULL;
  int rc = 0;
  if (pub == NULL || EVP_PKEY_set1_encoded_public_key(pub, peer, 32) != 1) {
    pub = NULL;
    ERR_clear_error();
    rc = os_error_set(err, OS_ECRYPTO, "x25519: bad public key");
    goto done;
  }
  size_t len = 32;
  if (derive_tmpl != NULL) {
    ctx = EVP_PKEY_CTX_dup(derive_tmpl);
  } else {
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    if (ctx != NULL && EVP_PKEY_derive_init(ctx) != 1) {
      EVP_PKEY_CTX_free(ctx);
      ctx = NULL;
    }
  }
  if (ctx == NULL || EVP_PKEY_derive_set_peer_ex(ctx, pub, 0) != 1) {
    ERR_clear_error();
    rc = os_error_set(err, OS_ECRYPTO, "x25519: derive setup failed");
    goto done;
  }
  /* OpenSSL refuses an all-zero shared secret (a low-order peer point). */
  if (EVP_PKEY_derive(ctx, out, &len) != 1 || len != 32) {
    OPENSSL_cleanse(out, 32);
    ERR_clear_error();
    rc = os_error_set(err, OS_EHEADER, "header: X25519 share is a low-order point");
    goto done;
  }
done:
  EVP_PKEY_CTX_free(ctx);
  return rc;
}

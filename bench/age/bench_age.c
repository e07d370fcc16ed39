/* In-process age benchmarks: unseal rate of small armored values with
 * age_decrypt, beside an RSA-OAEP-4096 (SHA-256) decrypt loop — the
 * per-value cost of Sealed Secrets' hybrid scheme. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "age/age.h"
#include "common/buf.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long arg_long(const char *s, long def) {
  if (s == NULL)
    return def;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  return (end == s || *end != '\0' || v <= 0) ? def : v;
}

/* Seals n values of value_len bytes to n_rcpts recipients (ours last) and
 * returns values unsealed per second. */
static double unseal_rate(long n, size_t value_len, size_t n_rcpts) {
  os_error err = OS_ERROR_INIT;
  age_identity *ids[8] = {0};
  const age_recipient *rcpts[8];
  for (size_t i = 0; i < n_rcpts; i++) {
    if (age_identity_generate(&ids[i], &err) != 0)
      exit(1);
    rcpts[i] = age_identity_recipient(ids[i]);
  }
  const age_identity *mine = ids[n_rcpts - 1];
  char **cts = calloc((size_t)n, sizeof(*cts));
  size_t *ct_lens = calloc((size_t)n, sizeof(*ct_lens));
  uint8_t value[4096];
  if (cts == NULL || ct_lens == NULL || value_len > sizeof(value))
    exit(1);
  for (long i = 0; i < n; i++) {
    RAND_bytes(value, (int)value_len);
    if (age_encrypt(&cts[i], &ct_lens[i], rcpts, n_rcpts, value, value_len, true, &err) != 0) {
      fprintf(stderr, "encrypt: %s\n", err.msg);
      exit(1);
    }
  }
  /* Best of three passes: the figure is the cost, not the machine's noise. */
  double best = 0;
  for (int pass = 0; pass < 3; pass++) {
    double t0 = now();
    for (long i = 0; i < n; i++) {
      uint8_t *pt = NULL;
      size_t pt_len = 0;
      if (age_decrypt(&pt, &pt_len, &mine, 1, cts[i], ct_lens[i], &err) != 0 ||
          pt_len != value_len) {
        fprintf(stderr, "decrypt: %s\n", err.msg);
        exit(1);
      }
      os_free_secret(pt, pt_len);
    }
    double dt = now() - t0;
    if (best == 0 || dt < best)
      best = dt;
  }
  for (long i = 0; i < n; i++)
    free(cts[i]);
  free(cts);
  free(ct_lens);
  for (size_t i = 0; i < n_rcpts; i++)
    age_identity_free(ids[i]);
  return (double)n / best;
}

/* Bare X25519 derives per second with one reused context: the floor. */
static double x25519_rate(long n) {
  uint8_t a[32], b[32], out[32];
  RAND_bytes(a, sizeof(a));
  RAND_bytes(b, sizeof(b));
  EVP_PKEY *priv = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, a, 32);
  EVP_PKEY *other = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, b, 32);
  uint8_t pub[32];
  size_t pub_len = sizeof(pub);
  if (priv == NULL || other == NULL || EVP_PKEY_get_raw_public_key(other, pub, &pub_len) != 1)
    exit(1);
  EVP_PKEY *peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, pub, 32);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
  if (peer == NULL || ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1)
    exit(1);
  double best = 0;
  for (int pass = 0; pass < 3; pass++) {
    double t0 = now();
    for (long i = 0; i < n; i++) {
      size_t len = sizeof(out);
      if (EVP_PKEY_derive(ctx, out, &len) != 1)
        exit(1);
    }
    double dt = now() - t0;
    if (best == 0 || dt < best)
      best = dt;
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(priv);
  EVP_PKEY_free(other);
  EVP_PKEY_free(peer);
  return (double)n / best;
}

static double rsa_oaep_rate(long n) {
  EVP_PKEY *key = EVP_RSA_gen(4096);
  if (key == NULL)
    exit(1);
  uint8_t session[32], ct[512], pt[512];
  size_t ct_len = sizeof(ct);
  RAND_bytes(session, sizeof(session));
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
  if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
      EVP_PKEY_encrypt(ctx, ct, &ct_len, session, sizeof(session)) != 1)
    exit(1);
  EVP_PKEY_CTX_free(ctx);
  double t0 = now();
  for (long i = 0; i < n; i++) {
    size_t pt_len = sizeof(pt);
    ctx = EVP_PKEY_CTX_new(key, NULL);
    if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_decrypt(ctx, pt, &pt_len, ct, ct_len) != 1 || pt_len != sizeof(session))
      exit(1);
    EVP_PKEY_CTX_free(ctx);
  }
  double dt = now() - t0;
  EVP_PKEY_free(key);
  return (double)n / dt;
}

int main(int argc, char **argv) {
  long n = arg_long(argc > 1 ? argv[1] : NULL, 10000);
  long n_rsa = arg_long(argc > 2 ? argv[2] : NULL, 300);
  double r1 = unseal_rate(n, 64, 1);
  double r5 = unseal_rate(n / 4 > 0 ? n / 4 : 1, 64, 5);
  double x = x25519_rate(n / 2 > 0 ? n / 2 : 1);
  double rsa = rsa_oaep_rate(n_rsa);
  printf("%-54s %12s %12s\n", "in-process unseal (one core, best of 3 passes)", "values/s", "us/value");
  printf("%-54s %12.0f %12.1f\n", "age_decrypt, armored 64 B value, 1 recipient", r1, 1e6 / r1);
  printf("%-54s %12.0f %12.1f\n", "age_decrypt, armored 64 B value, 5 recipients (ours last)", r5,
         1e6 / r5);
  printf("%-54s %12.0f %12.1f\n", "bare X25519 derive, reused context (the floor)", x, 1e6 / x);
  printf("%-54s %12.0f %12.1f\n", "RSA-OAEP-4096 SHA-256 decrypt (OpenSSL)", rsa, 1e6 / rsa);
  printf("age_decrypt cost beyond the X25519 derive: %.1f us/value\n", 1e6 / r1 - 1e6 / x);
  printf("age/RSA ratio: %.1fx (goal: >= 20000 values/s with age)\n", r1 / rsa);
  return r1 >= 20000 ? 0 : 3;
}

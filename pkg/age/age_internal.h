/* Private parts of pkg/age shared by its .c files, its tests and its fuzz
 * targets. Not a public interface.
 * Threading: every function is reentrant; age_algs() is initialised once. */
#ifndef ORGSECRETS_AGE_AGE_INTERNAL_H
#define ORGSECRETS_AGE_AGE_INTERNAL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "age/age.h"
#include "common/buf.h"
#include "common/err.h"

#define AGE_VERSION_LINE "age-encryption.org/v1"
#define AGE_CHUNK_SIZE 65536u
#define AGE_TAG_LEN 16u
#define AGE_ENC_CHUNK_SIZE (AGE_CHUNK_SIZE + AGE_TAG_LEN)
#define AGE_FILE_KEY_LEN 16u
#define AGE_NONCE_LEN 16u
#define AGE_MAC_LEN 32u
#define AGE_STREAM_NONCE_LEN 12u
/* Largest header accepted (about 9000 X25519 stanzas). */
#define AGE_HEADER_MAX (1024u * 1024u)
#define AGE_COLUMNS 64u
#define AGE_BYTES_PER_LINE 48u

#define AGE_ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define AGE_ARMOR_END "-----END AGE ENCRYPTED FILE-----"

/* ---- Bech32 (BIP-173 checksum, no length limit unless max_len) ---- */

/* Encodes hrp + data as Bech32 into out (NUL-terminated), upper case when
 * upper is set. Returns 0, or -1 when out_cap is too small or hrp invalid. */
int age_bech32_encode(char *out, size_t out_cap, const char *hrp, const uint8_t *data, size_t n,
                      bool upper);
/* Decodes s (all lower or all upper case). hrp receives the human-readable
 * part as written (NUL-terminated); data the 8-bit payload. max_len 0 means
 * no overall length limit (age keys), 90 is BIP-173's. Returns 0 or -1. */
int age_bech32_decode(char *hrp, size_t hrp_cap, uint8_t *data, size_t *data_len,
                      size_t data_cap, const char *s, size_t s_len, size_t max_len);

/* ---- ASCII armor (strict PEM, age spec) ---- */

enum age_armor_state { AGE_ARMOR_BEFORE = 0, AGE_ARMOR_DATA, AGE_ARMOR_LAST, AGE_ARMOR_AFTER };

/* Line-by-line armor decoder, for streaming. */
typedef struct age_armor_dec {
  enum age_armor_state state;
  size_t lines;
} age_armor_dec;

void age_armor_dec_init(age_armor_dec *d);
/* Feeds one line without its '\n' (a trailing '\r' is allowed). Decoded
 * bytes (at most 48) go to out. Returns 0 or OS_EARMOR. */
int age_armor_dec_line(age_armor_dec *d, uint8_t out[AGE_BYTES_PER_LINE], size_t *out_len,
                       const char *line, size_t len, os_error *err);
/* Returns 0 when the END line was seen, else OS_EARMOR. */
int age_armor_dec_finish(const age_armor_dec *d, os_error *err);

/* Decodes a whole armored file. Caller frees *out with free() (or
 * os_free_secret when it holds plaintext). Errors: OS_EARMOR, OS_ENOMEM. */
int age_armor_decode(uint8_t **out, size_t *out_len, const char *in, size_t n, os_error *err);
/* Appends the armored form of data to out. */
int age_armor_encode(os_buf *out, const uint8_t *data, size_t n);
/* True when in (of n bytes) looks like armor rather than a binary age file. */
bool age_is_armored(const uint8_t *in, size_t n);

/* ---- header ---- */

typedef struct age_stanza {
  const char *type; /* points into the header text; type_len bytes */
  size_t type_len;
  const char **args; /* args[i] has arg_lens[i] bytes, into the header text */
  size_t *arg_lens;
  size_t n_args;
  uint8_t *body; /* into the header's body arena */
  size_t body_len;
} age_stanza;

typedef struct age_header {
  age_stanza *stanzas;
  size_t n_stanzas;
  size_t mac_covered; /* bytes covered by the MAC: through "---" */
  size_t len;         /* bytes of the whole header, through the final '\n' */
  uint8_t mac[AGE_MAC_LEN];
  /* private storage */
  const char **arg_store;
  size_t *arg_len_store;
  uint8_t *arena;
} age_header;

/* Length of the header in data (through the '\n' ending the "---" line), or
 * 0 when data does not hold a complete header yet. */
size_t age_header_find_end(const uint8_t *data, size_t n);
/* Parses the header at the start of data (pointers into data stay valid while
 * data lives). Returns 0, OS_EHEADER or OS_ENOMEM; free with age_header_free. */
int age_header_parse(age_header *hdr, const uint8_t *data, size_t n, os_error *err);
void age_header_free(age_header *hdr);
/* Appends the header's canonical encoding up to and including "---"; the
 * caller appends " <mac>\n". */
int age_header_encode_unmac(os_buf *out, const age_header *hdr);
/* Appends " <base64 mac>\n". */
int age_header_encode_mac(os_buf *out, const uint8_t mac[AGE_MAC_LEN]);

/* ---- primitives (OpenSSL EVP, fetched once) ---- */

typedef struct age_algs {
  EVP_CIPHER *chacha;
  EVP_KDF *hkdf;
  EVP_MAC *hmac;
} age_algs;

/* The fetched algorithms, or NULL (with err set) if OpenSSL lacks them. */
const age_algs *age_algs_get(os_error *err);

int age_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
                    const uint8_t *salt, size_t salt_len, const char *info, os_error *err);
int age_hmac_sha256(uint8_t out[AGE_MAC_LEN], const uint8_t *key, size_t key_len,
                    const uint8_t *data, size_t n, os_error *err);
/* One-shot ChaCha20-Poly1305 with a zero nonce (stanza bodies). out has
 * n + 16 bytes. */
int age_aead_seal_zero_nonce(uint8_t *out, const uint8_t key[32], const uint8_t *in, size_t n,
                             os_error *err);
/* Returns 0, or 1 when authentication failed, or a negative error. */
int age_aead_open_zero_nonce(uint8_t *out, const uint8_t key[32], const uint8_t *in, size_t n,
                             os_error *err);

/* STREAM (age payload): one cipher context initialised once with the key. */
typedef struct age_stream {
  EVP_CIPHER_CTX *ctx;
  uint8_t nonce[AGE_STREAM_NONCE_LEN];
  uint64_t counter;
  bool decrypt;
} age_stream;

int age_stream_init(age_stream *s, const uint8_t file_key[AGE_FILE_KEY_LEN],
                    const uint8_t nonce[AGE_NONCE_LEN], bool decrypt, os_error *err);
/* Encrypts n <= 64 KiB bytes from in to out (n + 16 bytes; may be in place). */
int age_stream_seal(age_stream *s, uint8_t *out, const uint8_t *in, size_t n, bool last,
                    os_error *err);
/* Decrypts a chunk of n >= 16 bytes from in to out (n - 16 bytes; out may
 * equal in). Returns 0 or OS_EPAYLOAD; out is wiped on failure. */
int age_stream_open(age_stream *s, uint8_t *out, const uint8_t *in, size_t n, bool last,
                    os_error *err);
void age_stream_free(age_stream *s);

/* ---- X25519 ---- */

/* Shared secret of priv and the raw peer key. derive_tmpl, if not NULL, is a
 * derive-initialised context of priv, duplicated (never modified) here.
 * Returns 0, or OS_EHEADER when the result is all zero (low-order peer), or
 * OS_ECRYPTO. */
int age_x25519(uint8_t out[32], EVP_PKEY *priv, EVP_PKEY_CTX *derive_tmpl,
               const uint8_t peer[32], os_error *err);
EVP_PKEY *age_identity_pkey(const age_identity *id);
/* The identity's derive-initialised context (read-only template). */
EVP_PKEY_CTX *age_identity_derive_ctx(const age_identity *id);
EVP_PKEY *age_recipient_pkey(const age_recipient *r);

/* ---- file-key recovery, shared by the in-memory and streaming paths ---- */

/* Unwraps the file key from hdr's stanzas with ids and checks the header MAC
 * over hdr_text. Errors: OS_EHEADER, OS_EHMAC, OS_ENOIDENTITY,
 * OS_EUNSUPPORTED. */
int age_unwrap_file_key(uint8_t file_key[AGE_FILE_KEY_LEN], const age_header *hdr,
                        const uint8_t *hdr_text, const age_identity *const *ids, size_t n_ids,
                        os_error *err);
/* Builds a complete header (with MAC) for a fresh file key into out. */
int age_build_header(os_buf *out, const uint8_t file_key[AGE_FILE_KEY_LEN],
                     const age_recipient *const *rcpts, size_t n_rcpts, os_error *err);

#endif

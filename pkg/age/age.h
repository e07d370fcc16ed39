/* age v1 (age-encryption.org/v1) with X25519 recipients, on OpenSSL 3.
 * Threading: identities and recipients are immutable once made and may be
 * read from several threads; every call is reentrant. */
#ifndef ORGSECRETS_AGE_AGE_H
#define ORGSECRETS_AGE_AGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct age_identity age_identity;   /* an X25519 secret key */
typedef struct age_recipient age_recipient; /* an X25519 public key */

#define AGE_X25519_KEY_LEN 32
/* Largest identity file accepted. */
#define AGE_IDENTITY_FILE_MAX (64 * 1024)

/* Makes a new random identity; caller frees *out with age_identity_free(). */
int age_identity_generate(age_identity **out, os_error *err);
/* Parses "AGE-SECRET-KEY-1..." (upper case, Bech32); caller frees *out. */
int age_identity_parse(age_identity **out, const char *s, os_error *err);
/* Encodes the identity as "AGE-SECRET-KEY-1..."; caller frees *out with
 * os_free_secret_str(). */
int age_identity_encode(char **out, const age_identity *id, os_error *err);
/* The identity's public recipient; borrowed, valid while id lives. */
const age_recipient *age_identity_recipient(const age_identity *id);
/* Wipes and frees; accepts NULL. */
void age_identity_free(age_identity *id);

/* Loads every identity of an age identity file (AGE-SECRET-KEY-1 lines, '#'
 * comments, blank lines). Refuses a file readable by group or others, as
 * ssh does. Caller frees with age_identities_free(). */
int age_identities_load_file(age_identity ***out, size_t *out_n, const char *path,
                             os_error *err);
void age_identities_free(age_identity **ids, size_t n);

/* Parses "age1..." (lower case, Bech32); caller frees *out. */
int age_recipient_parse(age_recipient **out, const char *s, os_error *err);
/* Encodes as "age1..."; caller frees *out with free(). */
int age_recipient_encode(char **out, const age_recipient *r, os_error *err);
/* The 32-byte X25519 public key; borrowed. */
const uint8_t *age_recipient_key(const age_recipient *r);
/* Copies r; caller frees *out. */
int age_recipient_dup(age_recipient **out, const age_recipient *r, os_error *err);
void age_recipient_free(age_recipient *r);

/* Encrypts pt to every recipient, binary or ASCII-armored. Caller frees *out
 * with free(). */
int age_encrypt(char **out, size_t *out_len, const age_recipient *const *rcpts, size_t n_rcpts,
                const void *pt, size_t pt_len, bool armor, os_error *err);

/* Decrypts an armored or binary age file held in memory with the first
 * identity that matches a stanza. *out is secret: caller frees it with
 * os_free_secret(*out, *out_len). Errors: OS_EARMOR, OS_EHEADER, OS_EHMAC,
 * OS_EPAYLOAD, OS_ENOIDENTITY, OS_EUNSUPPORTED (only non-X25519 stanzas). */
int age_decrypt(uint8_t **out, size_t *out_len, const age_identity *const *ids, size_t n_ids,
                const void *ct, size_t ct_len, os_error *err);

/* Streams in_fd to out_fd, holding at most one 64 KiB chunk (plus buffers)
 * in memory. */
int age_encrypt_fd(int out_fd, int in_fd, const age_recipient *const *rcpts, size_t n_rcpts,
                   bool armor, os_error *err);
/* Streams in_fd (armored or binary, detected) to out_fd. Every chunk is
 * authenticated before any of it is written, so no unauthenticated
 * plaintext reaches out_fd; on error, what was written is a prefix of the
 * authentic plaintext. A binary payload is read by a short-lived helper
 * thread (joined before return) so that reading overlaps decryption. */
int age_decrypt_fd(int out_fd, int in_fd, const age_identity *const *ids, size_t n_ids,
                   os_error *err);

#endif

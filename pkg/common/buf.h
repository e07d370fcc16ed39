/* Growable byte buffer with a hard maximum, and secret-memory helpers.
 * Threading: a buf belongs to one thread. */
#ifndef ORGSECRETS_COMMON_BUF_H
#define ORGSECRETS_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Open struct: data is NUL-terminated after len for convenience. When
 * secret is set, memory is wiped whenever it is released or moved. */
typedef struct os_buf {
  char *data;
  size_t len;
  size_t cap;
  size_t max;   /* appends beyond max fail with OS_ENOMEM */
  bool secret;
} os_buf;

/* Initialises b with the given maximum size (no allocation yet). */
void os_buf_init(os_buf *b, size_t max, bool secret);

/* Appends n bytes; returns 0, or OS_ENOMEM when max would be exceeded. */
int os_buf_append(os_buf *b, const void *p, size_t n) OS_NODISCARD;
int os_buf_puts(os_buf *b, const char *s) OS_NODISCARD;
/* Makes room for n more bytes in one allocation of exactly that size (no
 * doubling), e.g. for a body whose length is announced; 0, or OS_ENOMEM
 * beyond max. */
int os_buf_reserve(os_buf *b, size_t n) OS_NODISCARD;
int os_buf_printf(os_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
    OS_NODISCARD;

/* Appends everything read from fd up to end of file, resuming after EINTR:
 * 0; OS_ENOMEM when it would pass b's max; OS_EIO with errno set when a
 * read fails. What was read stays in b either way; the read buffer is wiped
 * if b is secret. */
int os_buf_read_fd(os_buf *b, int fd) OS_NODISCARD;

/* Empties b, keeping its memory (wiped if secret). */
void os_buf_reset(os_buf *b);

/* Releases b's memory (wiped if secret); b may be reused after os_buf_init. */
void os_buf_free(os_buf *b);

/* Hands the data to the caller (caller frees, with os_free_secret if secret)
 * and leaves b empty. Never NULL on success: an empty buffer yields "". */
int os_buf_detach(char **out, size_t *out_len, os_buf *b) OS_NODISCARD;

/* Wipes n bytes at p and frees p; accepts NULL. */
void os_free_secret(void *p, size_t n);
/* Wipes and frees a NUL-terminated string; accepts NULL. */
void os_free_secret_str(char *s);

/* Constant-time comparison; true when equal. */
bool os_secure_equal(const void *a, const void *b, size_t n);

/* Checked size arithmetic: returns false on overflow. */
static inline bool os_size_add(size_t *out, size_t a, size_t b) {
  return !__builtin_add_overflow(a, b, out);
}
static inline bool os_size_mul(size_t *out, size_t a, size_t b) {
  return !__builtin_mul_overflow(a, b, out);
}

/* The one growth of an array: makes *pp (an array of elem-byte elements,
 * capacity *cap) hold at least need elements, at most max. With cap the
 * capacity at least doubles (from 8), clamped to max; with cap NULL the
 * array is resized to exactly need (for arrays other code sizes exactly).
 * Returns 0, or OS_ENOMEM when need > max, the byte size overflows or
 * realloc fails (*pp and *cap are then unchanged). pp is a T ** passed as
 * void *. */
int os_grow(void *pp, size_t *cap, size_t need, size_t elem, size_t max) OS_NODISCARD;

/* strdup that returns NULL on NULL. */
char *os_strdup(const char *s);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void os_hex_encode(char *out, const uint8_t *in, size_t n);

/* FNV-1a, 64 bits, continuing from h (start with OS_FNV1A64_INIT): for hash
 * tables and change detection, never for security. */
#define OS_FNV1A64_INIT 14695981039346656037ULL
uint64_t os_fnv1a64(uint64_t h, const void *p, size_t n);

/* Copies s (may be NULL: returns NULL) to *cursor and moves the cursor past
 * its NUL; for packing strings into one allocation sized beforehand. */
const char *os_str_pack(char **cursor, const char *s);

#endif

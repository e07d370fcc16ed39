/* The one base64 (RFC 4648): standard or URL-safe alphabet, padded or not,
 * strict decoding (only the alphabet, canonical trailing bits, padding
 * exactly as the flags say). age's header (no padding) and armor (padded),
 * kubeconfig data, Secret data and admission patches all use it.
 * Threading: reentrant. */
#ifndef ORGSECRETS_COMMON_BASE64_H
#define ORGSECRETS_COMMON_BASE64_H

#include <stddef.h>

#include "common/buf.h"

enum {
  OS_BASE64_URL = 1u,          /* "-_" instead of "+/" (RFC 4648 section 5) */
  OS_BASE64_NOPAD = 2u,        /* encode without '='; decoding refuses any '=' */
  OS_BASE64_PAD_OPTIONAL = 4u, /* decoding: complete '=' padding, or none */
  OS_BASE64_SPACE = 8u         /* decoding: space, tab, CR and LF anywhere are skipped */
};

/* Characters (no NUL) of the encoding of n bytes; SIZE_MAX when that does
 * not fit a size_t. */
size_t os_base64_encoded_len(size_t n, unsigned flags);

/* Bytes the decoding of n characters can take at most. */
size_t os_base64_decoded_max(size_t n);

/* Writes os_base64_encoded_len(n, flags) characters to out (no NUL). */
void os_base64_encode(char *out, const void *in, size_t n, unsigned flags);

/* Decodes n characters at in into out (room for os_base64_decoded_max(n)
 * bytes). Without flags the input is padded ('=' only at its end, making a
 * multiple of 4 characters) and holds nothing but the alphabet; trailing
 * bits must be zero. Returns 0 with *out_len set, or OS_EINVAL (out may
 * hold partial output: wipe it if it is secret). */
int os_base64_decode(void *out, size_t *out_len, const char *in, size_t n,
                     unsigned flags) OS_NODISCARD;

/* How many leading characters of s (n bytes) can appear in an encoding
 * with these flags: the alphabet, and '=' unless OS_BASE64_NOPAD. For a
 * quick shape check; os_base64_decode() is the real one. */
size_t os_base64_span(const char *s, size_t n, unsigned flags);

/* Appends the encoding of n bytes to b (one exact reservation); 0 or
 * OS_ENOMEM. */
int os_base64_append(os_buf *b, const void *in, size_t n, unsigned flags) OS_NODISCARD;

#endif

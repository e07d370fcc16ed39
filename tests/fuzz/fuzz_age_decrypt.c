/* libFuzzer target: whole-file decryption (armor detection, header, X25519
 * unwrap, MAC, STREAM) with the test vectors' identity; in-memory and
 * streaming decryption must agree on success and on the plaintext. (With
 * several defects the class may differ: streaming meets a header error before
 * an armor error further on, which the in-memory path decodes first.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "age/age_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static age_identity *id;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  os_error err = OS_ERROR_INIT;
  if (id == NULL &&
      age_identity_parse(&id,
                         "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
                         &err) != 0)
    abort();
  if (size > (1u << 20))
    return 0;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  int rc = age_decrypt(&pt, &pt_len, (const age_identity *const *)&id, 1, data, size, &err);
  FILE *in = tmpfile(), *out = tmpfile();
  if (in == NULL || out == NULL)
    abort();
  if (size > 0 && fwrite(data, 1, size, in) != size)
    abort();
  fflush(in);
  rewind(in);
  os_error err2 = OS_ERROR_INIT;
  int rc2 = age_decrypt_fd(fileno(out), fileno(in), (const age_identity *const *)&id, 1, &err2);
  off_t n = lseek(fileno(out), 0, SEEK_END);
  if ((rc == 0) != (rc2 == 0))
    abort();
  if (rc == 0 && (size_t)n != pt_len)
    abort();
  fclose(in);
  fclose(out);
  if (pt != NULL)
    os_free_secret(pt, pt_len);
  return 0;
}

/* libFuzzer target: the strict armor decoder. A decoded input, armored again,
 * must decode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "age/age_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *out = NULL, *again = NULL;
  size_t out_len = 0, again_len = 0;
  os_error err = OS_ERROR_INIT;
  (void)age_is_armored(data, size);
  if (age_armor_decode(&out, &out_len, (const char *)data, size, &err) != 0)
    return 0;
  os_buf b;
  os_buf_init(&b, SIZE_MAX - 1, false);
  if (age_armor_encode(&b, out, out_len) != 0)
    abort();
  if (age_armor_decode(&again, &again_len, b.data, b.len, &err) != 0)
    abort();
  if (again_len != out_len || memcmp(again, out, out_len) != 0)
    abort();
  os_buf_free(&b);
  free(out);
  free(again);
  return 0;
}

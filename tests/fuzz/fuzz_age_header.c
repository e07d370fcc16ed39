/* libFuzzer target: the header parser. Parsing is strict, so a header that
 * parses must re-encode to exactly its own bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "age/age_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  age_header hdr;
  os_error err = OS_ERROR_INIT;
  size_t end = age_header_find_end(data, size);
  if (age_header_parse(&hdr, data, size, &err) != 0)
    return 0;
  if (hdr.len != end || hdr.mac_covered + 45 != hdr.len)
    abort();
  os_buf b;
  os_buf_init(&b, SIZE_MAX - 1, false);
  if (age_header_encode_unmac(&b, &hdr) != 0 || age_header_encode_mac(&b, hdr.mac) != 0)
    abort();
  if (b.len != hdr.len || memcmp(b.data, data, hdr.len) != 0)
    abort();
  os_buf_free(&b);
  age_header_free(&hdr);
  return 0;
}

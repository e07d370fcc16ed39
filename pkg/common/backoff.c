#include "common/backoff.h"

#include <openssl/rand.h>
#include <stdint.h>

double os_random_unit(void) {
  uint64_t r = 0;
  if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
    return 0.5;
  return (double)(r >> 11) / 9007199254740992.0; /* 53 random bits / 2^53 */
}

double os_backoff_jitter(unsigned attempt, double base, double cap, double u) {
  double d = base;
  for (unsigned i = 0; i < attempt && d < cap; i++)
    d *= 2;
  if (d > cap)
    d = cap;
  if (!(u >= 0)) /* NaN too */
    u = 0;
  if (u > 1)
    u = 1;
  return d / 2 + d / 2 * u;
}

double os_backoff_delay(unsigned attempt, double base, double cap) {
  return os_backoff_jitter(attempt, base, cap, os_random_unit());
}

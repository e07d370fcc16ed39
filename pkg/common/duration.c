#include "common/duration.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int os_duration_parse(int64_t *seconds, const char *s) {
  if (s == NULL || s[0] < '0' || s[0] > '9')
    return OS_EINVAL;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || v < 0)
    return OS_EINVAL;
  long long mul = 1;
  if (strcmp(end, "m") == 0)
    mul = 60;
  else if (strcmp(end, "h") == 0)
    mul = 3600;
  else if (end[0] != '\0' && strcmp(end, "s") != 0)
    return OS_EINVAL;
  if (v > OS_DURATION_MAX_S / mul)
    return OS_EINVAL;
  *seconds = (int64_t)(v * mul);
  return 0;
}

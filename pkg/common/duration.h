/* Durations on the command line: "90" or "90s", "10m", "1h" — the one
 * parser for every option that takes one (--resync, --lease-duration,
 * --idle-timeout).
 * Threading: reentrant. */
#ifndef ORGSECRETS_COMMON_DURATION_H
#define ORGSECRETS_COMMON_DURATION_H

#include <stdint.h>

#include "common/err.h"

#define OS_DURATION_MAX_S (100LL * 24 * 3600) /* 100 days */

/* Parses a non-negative whole number of seconds, minutes ("m") or hours
 * ("h"), with an optional "s" for seconds, into seconds; at most
 * OS_DURATION_MAX_S. Returns 0, or OS_EINVAL (*seconds untouched). */
int os_duration_parse(int64_t *seconds, const char *s) OS_NODISCARD;

#endif

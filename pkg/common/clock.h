/* Clocks and RFC 3339 time stamps: the one monotonic clock, the one wall
 * clock of record (with its test hook), the one formatter and the one
 * parser.
 *
 * Two wall clocks, on purpose:
 *  - os_now() is what orgsecrets records as "when": createdAt, updatedAt and
 *    rotatedAt written by the CLI, lint's rotation age, the controller's
 *    status conditions and Events. Tests set ORGSECRETS_NOW (RFC 3339, e.g.
 *    "2024-01-02T03:04:05Z") to fix it instead of sleeping.
 *  - os_wall_clock() is the real clock, never the hook: anything another
 *    party checks against its own clock or that guards security (TLS,
 *    credential and lease expiry, log lines, the audit log).
 *
 * Threading: reentrant (os_now() reads the environment each call). */
#ifndef ORGSECRETS_COMMON_CLOCK_H
#define ORGSECRETS_COMMON_CLOCK_H

#include <stdint.h>

#include "common/err.h"

#define OS_NOW_ENV "ORGSECRETS_NOW"

/* Monotonic time (CLOCK_MONOTONIC) for durations, timeouts and deadlines,
 * in nanoseconds and in seconds. */
int64_t os_mono_ns(void);
double os_mono_seconds(void);

/* The real wall clock (CLOCK_REALTIME), never ORGSECRETS_NOW: seconds since
 * the epoch and nanoseconds (nsec may be NULL). */
int64_t os_wall_clock(long *nsec);

/* The wall clock of record, in seconds since the epoch: ORGSECRETS_NOW when
 * it is set and parses (os_time_parse, flags 0), else the real clock. An
 * unparsable value is ignored here; os_now_check() reports it. */
int64_t os_now(void);

/* 0 when ORGSECRETS_NOW is unset or parses; else OS_EINVAL naming it, for
 * the executables to refuse at start-up. */
int os_now_check(os_error *err) OS_NODISCARD;

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" and its NUL fit. */
#define OS_TIME_MAX 32

/* Formats sec (+ nsec, 0..999999999) as RFC 3339 UTC with digits
 * fractional digits (0, 3, 6 or 9, truncated): "2024-01-02T03:04:05Z",
 * "2024-01-02T03:04:05.123456Z". Returns 0, or OS_EINVAL (out is "") for
 * a year outside 0000..9999 or a bad digits/nsec. */
int os_time_format(char out[OS_TIME_MAX], int64_t sec, long nsec, int digits);

/* os_time_format(out, os_now(), 0, 0): the CLI's timestamps. */
void os_now_format(char out[OS_TIME_MAX]);

enum {
  /* only "YYYY-MM-DDTHH:MM:SSZ": the form specs store (no fraction, no offset) */
  OS_TIME_CANONICAL = 1u
};

/* The one parser of RFC 3339 time stamps, strict: "YYYY-MM-DDTHH:MM:SS",
 * an optional fraction of 1 to 9 digits (".123456", as Kubernetes writes
 * a MicroTime), then "Z" or an offset "+HH:MM" / "-HH:MM"; upper-case T
 * and Z only; a real date (February 29 only in leap years); hours 00-23,
 * minutes and seconds 00-59 (a leap second ":60" is refused, as Go's
 * time.Parse that Kubernetes uses does); nothing after. With
 * OS_TIME_CANONICAL only the "...Z" form without fraction. *sec gets
 * seconds since the epoch (UTC), *nsec (may be NULL) the fraction in
 * nanoseconds. Returns 0 or OS_EINVAL (outputs untouched). */
int os_time_parse(int64_t *sec, long *nsec, const char *s, unsigned flags) OS_NODISCARD;

#endif

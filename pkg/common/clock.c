#include "common/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t os_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double os_mono_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t os_wall_clock(long *nsec) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (nsec != NULL)
    *nsec = ts.tv_nsec;
  return (int64_t)ts.tv_sec;
}

int64_t os_now(void) {
  const char *hook = getenv(OS_NOW_ENV);
  int64_t t;
  if (hook != NULL && hook[0] != '\0' && os_time_parse(&t, NULL, hook, 0) == 0)
    return t;
  return os_wall_clock(NULL);
}

int os_now_check(os_error *err) {
  const char *hook = getenv(OS_NOW_ENV);
  int64_t t;
  if (hook == NULL || hook[0] == '\0' || os_time_parse(&t, NULL, hook, 0) == 0)
    return 0;
  return os_error_set(err, OS_EINVAL, "%s=\"%.40s\" is not an RFC 3339 time", OS_NOW_ENV, hook);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse (civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : mdays[m - 1];
}

int os_time_format(char out[OS_TIME_MAX], int64_t sec, long nsec, int digits) {
  out[0] = '\0';
  if ((digits != 0 && digits != 3 && digits != 6 && digits != 9) || nsec < 0 || nsec > 999999999 ||
      sec < -62167219200LL || sec > 253402300799LL)
    return OS_EINVAL; /* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
  int64_t days = sec / 86400, rem = sec % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  int n = snprintf(out, OS_TIME_MAX, "%04d-%02u-%02uT%02d:%02d:%02d", (int)y, m, d,
                   (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
  if (n != 19) {
    out[0] = '\0';
    return OS_EINVAL;
  }
  if (digits > 0) {
    long frac = nsec;
    for (int i = digits; i < 9; i++)
      frac /= 10;
    n += snprintf(out + n, (size_t)(OS_TIME_MAX - n), ".%0*ld", digits, frac);
  }
  out[n] = 'Z';
  out[n + 1] = '\0';
  return 0;
}

void os_now_format(char out[OS_TIME_MAX]) {
  if (os_time_format(out, os_now(), 0, 0) < 0)
    out[0] = '\0';
}

/* n decimal digits at s into *v; false when one is not a digit. */
static bool digits_at(const char *s, size_t n, unsigned *v) {
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    x = x * 10 + (unsigned)(s[i] - '0');
  }
  *v = x;
  return true;
}

int os_time_parse(int64_t *sec, long *nsec, const char *s, unsigned flags) {
  unsigned y, mo, d, h, mi, se;
  if (s == NULL || strnlen(s, 20) < 20 || !digits_at(s, 4, &y) || s[4] != '-' ||
      !digits_at(s + 5, 2, &mo) || s[7] != '-' || !digits_at(s + 8, 2, &d) || s[10] != 'T' ||
      !digits_at(s + 11, 2, &h) || s[13] != ':' || !digits_at(s + 14, 2, &mi) || s[16] != ':' ||
      !digits_at(s + 17, 2, &se))
    return OS_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
    return OS_EINVAL;
  const char *p = s + 19;
  long frac = 0;
  if (*p == '.' && !(flags & OS_TIME_CANONICAL)) {
    int n = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, n++) {
      if (n == 9)
        return OS_EINVAL;
      frac = frac * 10 + (*p - '0');
    }
    if (n == 0)
      return OS_EINVAL;
    for (; n < 9; n++)
      frac *= 10;
  }
  int64_t offset = 0;
  if (*p == 'Z') {
    p++;
  } else if ((*p == '+' || *p == '-') && !(flags & OS_TIME_CANONICAL)) {
    unsigned oh, om;
    if (!digits_at(p + 1, 2, &oh) || p[3] != ':' || !digits_at(p + 4, 2, &om) || oh > 23 || om > 59)
      return OS_EINVAL;
    offset = (int64_t)oh * 3600 + (int64_t)om * 60;
    if (*p == '-')
      offset = -offset;
    p += 6;
  } else {
    return OS_EINVAL;
  }
  if (*p != '\0')
    return OS_EINVAL;
  *sec = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + se - offset;
  if (nsec != NULL)
    *nsec = frac;
  return 0;
}

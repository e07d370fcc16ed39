#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"

static enum os_log_level min_level = OS_LOG_INFO;
static int json_lines;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void os_log_setup(enum os_log_level min, int json) {
  min_level = min;
  json_lines = json;
}

static const char *level_name(enum os_log_level l) {
  switch (l) {
  case OS_LOG_DEBUG: return "debug";
  case OS_LOG_INFO: return "info";
  case OS_LOG_WARN: return "warn";
  default: return "error";
  }
}

void os_log(enum os_log_level level, const char *fmt, ...) {
  if (level < min_level)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  long nsec = 0;
  int64_t sec = os_wall_clock(&nsec); /* the real clock, never ORGSECRETS_NOW */
  char when[OS_TIME_MAX];
  if (os_time_format(when, sec, nsec, 3) < 0)
    when[0] = '\0';
  pthread_mutex_lock(&log_lock);
  if (json_lines) {
    fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", when, level_name(level));
    for (const char *p = msg; *p; p++) {
      unsigned char c = (unsigned char)*p;
      if (c == '"' || c == '\\')
        fprintf(stderr, "\\%c", c);
      else if (c < 0x20)
        fprintf(stderr, "\\u%04x", c);
      else
        fputc(c, stderr);
    }
    fputs("\"}\n", stderr);
  } else {
    fprintf(stderr, "%s %s %s\n", when, level_name(level), msg);
  }
  pthread_mutex_unlock(&log_lock);
}

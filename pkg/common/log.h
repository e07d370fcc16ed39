/* Logging to stderr: one line per message, text or JSON (logfmt-like keys).
 * Threading: safe from any thread (a mutex serialises lines).
 * Never pass secret material to these functions. */
#ifndef ORGSECRETS_COMMON_LOG_H
#define ORGSECRETS_COMMON_LOG_H

enum os_log_level { OS_LOG_DEBUG = 0, OS_LOG_INFO = 1, OS_LOG_WARN = 2, OS_LOG_ERROR = 3 };

/* Sets the minimum level and the format (json non-zero: JSON lines). */
void os_log_setup(enum os_log_level min, int json);

void os_log(enum os_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define os_log_debug(...) os_log(OS_LOG_DEBUG, __VA_ARGS__)
#define os_log_info(...) os_log(OS_LOG_INFO, __VA_ARGS__)
#define os_log_warn(...) os_log(OS_LOG_WARN, __VA_ARGS__)
#define os_log_error(...) os_log(OS_LOG_ERROR, __VA_ARGS__)

#endif

/* Files: bounded reads and atomic writes.
 * Threading: reentrant. */
#ifndef ORGSECRETS_COMMON_FSUTIL_H
#define ORGSECRETS_COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* Reads the whole file at path, refusing files larger than max bytes.
 * *out is NUL-terminated; caller frees it (os_free_secret if secret). */
int os_read_file(char **out, size_t *out_len, const char *path, size_t max, os_error *err);

/* Replaces path atomically with data: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. The old file survives
 * any failure. mode is applied to the new file (e.g. 0600, 0644). */
int os_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         os_error *err);

/* Like os_write_file_atomic, but leaves the file untouched when its content
 * already equals data; *changed (may be NULL) tells whether it wrote. */
int os_write_file_if_changed(const char *path, const void *data, size_t len, mode_t mode,
                             bool *changed, os_error *err);

/* mkdir -p with mode for created directories. */
int os_mkdir_p(const char *path, mode_t mode, os_error *err);

/* Joins a and b with one '/'; caller frees. NULL on allocation failure. */
char *os_path_join(const char *a, const char *b);

#endif

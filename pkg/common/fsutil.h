/* Files: bounded reads, atomic writes, and outputs that may be devices.
 *
 * Writes never leave a half-written file at the final name: new content goes
 * to an unnamed O_TMPFILE (linked into place), or, where the file system has
 * none, to a temporary ".orgsecrets-tmp-XXXXXXXXXXXX" (28 bytes, whatever the
 * final name's length) in the same directory, held under an exclusive flock
 * while it exists. os_temps_sweep() removes such files left by a killed
 * writer: a temporary nobody holds a lock on is stale.
 *
 * Threading: reentrant (the test hook is process-wide, for tests only). */
#ifndef ORGSECRETS_COMMON_FSUTIL_H
#define ORGSECRETS_COMMON_FSUTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

/* Writes all n bytes of p to fd, resuming after EINTR and short writes:
 * 0, or -1 with errno set (EIO when the fd takes no bytes). *written (may
 * be NULL) is how many bytes went out, also on failure. */
int os_write_all(int fd, const void *p, size_t n, size_t *written) OS_NODISCARD;

/* Reads the whole file at path, refusing files larger than max bytes.
 * *out is NUL-terminated; caller frees it (os_free_secret if secret). */
int os_read_file(char **out, size_t *out_len, const char *path, size_t max, os_error *err);

/* An output being written. Open so that it can live on the stack; callers
 * use fd only and leave the rest to os_output_*. */
typedef struct os_output {
  int fd;                  /* write the content here */
  int dirfd;               /* directory of the final name; -1 when written in place */
  char name[NAME_MAX + 1]; /* final name in dirfd */
  char tmp[32];            /* temporary name in dirfd; "" while unnamed or none */
  char path[PATH_MAX];     /* for messages */
  unsigned flags;
  mode_t mode;
  bool unnamed;            /* fd is an O_TMPFILE */
  bool in_place;           /* a FIFO, a character device or stdout: written directly */
} os_output;

enum {
  OS_OUTPUT_EXCL = 1u,   /* create only: an existing path (even a dangling symlink) is OS_ECONFLICT */
  OS_OUTPUT_STDOUT = 2u  /* "-" and "/dev/stdout" mean the process's standard output */
};

/* Opens path for writing. The rule, the same for every caller:
 *  - missing, or a regular file: the content goes to a temporary file in the
 *    same directory, which os_output_commit() fsyncs and renames over path
 *    (fsyncing the directory) and gives mode; the old file survives any
 *    failure;
 *  - a FIFO or a character device (/dev/null, a terminal): opened without
 *    O_CREAT and written in place; mode is not applied, nothing is renamed;
 *  - a symbolic link: followed by the kernel (so fs.protected_symlinks
 *    applies); to a regular file, that file is replaced as above in its own
 *    directory and the link is kept; to a FIFO or character device, written
 *    in place; a dangling link or a link to anything else is refused;
 *  - anything else (directory, socket, block device) is refused (OS_EINVAL).
 * With OS_OUTPUT_EXCL the path must not exist (OS_ECONFLICT otherwise) and
 * is never replaced, even by a file created meanwhile. On success the caller
 * writes to o->fd and ends with os_output_commit() or os_output_abort(). */
int os_output_open(os_output *o, const char *path, mode_t mode, unsigned flags, os_error *err);

/* Like os_output_open for dir/rel, for files a less trusted party names (env
 * files named by a spec): rel must be relative without "." or ".." parts;
 * missing directories below dir are created with mode 0700; no symbolic
 * link is followed below dir (neither a directory nor the file), and an
 * existing file that is not regular is refused. dir itself is trusted. */
int os_output_open_below(os_output *o, const char *dir, const char *rel, mode_t mode,
                         os_error *err);

/* Makes the content final (fsync, link or rename, fsync of the directory)
 * and closes o->fd. On failure the old file is untouched. */
int os_output_commit(os_output *o, os_error *err);

/* Closes o->fd and removes any temporary file; the old file is untouched
 * (content already written in place stays written). Accepts an output that
 * failed to open or was committed (no-op). */
void os_output_abort(os_output *o);

/* Writes data to path with the os_output_open rule (no flags). */
int os_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         os_error *err);

/* Creates path with data (OS_OUTPUT_EXCL): OS_ECONFLICT when path exists.
 * The file appears complete or not at all. */
int os_write_file_new(const char *path, const void *data, size_t len, mode_t mode,
                      os_error *err) OS_NODISCARD;

/* Like os_write_file_atomic, but leaves the file untouched when it is a
 * regular file whose content and mode already equal data and mode;
 * *changed (may be NULL) tells whether it wrote. */
int os_write_file_if_changed(const char *path, const void *data, size_t len, mode_t mode,
                             bool *changed, os_error *err);

/* os_write_file_if_changed for dir/rel under the rule of os_output_open_below. */
int os_write_file_below(const char *dir, const char *rel, const void *data, size_t len,
                        mode_t mode, bool *changed, os_error *err);

/* os_read_file of dir/rel without following any symbolic link below dir; a
 * missing file is OS_ENOTFOUND, one that is not regular OS_EINVAL. */
int os_read_file_below(char **out, size_t *out_len, const char *dir, const char *rel, size_t max,
                       os_error *err);

/* Opens the regular file rel below the directory dirfd for reading without
 * following any symbolic link on the way (neither a directory nor the
 * file; rel relative, without "." or ".." parts) and without blocking on a
 * FIFO swapped in: *fd (caller closes) and *st (may be NULL). OS_ENOTFOUND
 * when missing, OS_EINVAL for a link, a bad rel or anything but a regular
 * file, else OS_EIO; messages start with rel. */
int os_open_below(int *fd, struct stat *st, int dirfd, const char *rel, os_error *err)
    OS_NODISCARD;

/* True for the names of temporary files that atomic writes create:
 * ".orgsecrets-tmp-" + 12 hex digits. */
bool os_is_temp_name(const char *name);

/* Called for each stale temporary file found (path is dir joined with its
 * relative path). */
typedef void (*os_temp_fn)(void *ctx, const char *path);

typedef struct os_temps_opts {
  bool recursive;     /* below dir too (symbolic links and ".git" are not entered) */
  bool remove;        /* delete those owned by this process's user; else only find */
  const char *legacy; /* also "NAME.tmp.XXXXXX" of older versions (mkstemp) whose NAME
                       * ends with this ("": any NAME); NULL: not those */
  os_temp_fn fn;      /* called for each one found (or removed); may be NULL */
  void *ctx;
} os_temps_opts;

/* Finds the stale temporary files of interrupted writes in dir: regular
 * files named as os_is_temp_name (or o->legacy) that no live writer holds
 * locked. *n (may be NULL) gets how many were found (removed, with
 * o->remove). A missing dir is no error. Writers of older versions did not
 * lock their temporary files, so a legacy one still being written counts as
 * stale: pass o->legacy only for folders orgsecrets writes. */
int os_temps_sweep(const char *dir, const os_temps_opts *o, size_t *n, os_error *err);

/* mkdir -p with mode for created directories. */
int os_mkdir_p(const char *path, mode_t mode, os_error *err);

/* Joins a and b with one '/'; caller frees. NULL on allocation failure. */
char *os_path_join(const char *a, const char *b);

/* The program a bare name (no '/') runs, searched in path_list (a $PATH
 * value; NULL or unset: "/usr/local/bin:/usr/bin:/bin"; an empty entry is
 * the current directory) as execvp does: the first regular file that is
 * executable. A name with a '/' is returned as it is. Caller frees; NULL
 * when not found (errno ENOENT, or EACCES when only non-executable files
 * matched) or on allocation failure (ENOMEM). */
char *os_find_program(const char *name, const char *path_list);

/* Tests only: fn is called at each step of a write ("temp-created",
 * "temp-named", before the rename or link), in the writing process; with
 * no_tmpfile, the paths for older kernels are taken: no O_TMPFILE, no
 * openat2(). NULL/false restores the defaults. */
void os_fs_test_hook(void (*fn)(const char *step), bool no_tmpfile);

#endif

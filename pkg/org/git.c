/* Git as a child process: argv only, never a shell. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "org/org.h"

#define GIT_ARGS_MAX 64

/* In the child: stdin from in_fd (or /dev/null), stdout to out_fd, stderr
 * to /dev/null, then exec git. Only async-signal-safe calls. */
static void child(int in_fd, int out_fd, const char *const *argv) {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0)
    _exit(127);
  if (dup2(in_fd >= 0 ? in_fd : null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(null_fd, 2) < 0)
    _exit(127);
  execvp(argv[0], (char *const *)(uintptr_t)argv); /* execvp does not write them */
  _exit(errno == ENOENT ? 127 : 126);
}

int org_git(char **out, size_t *out_len, const char *dir, const char *const *args,
            const void *input, size_t input_len, size_t max, os_error *err) {
  *out = NULL;
  if (out_len != NULL)
    *out_len = 0;
  const char *argv[GIT_ARGS_MAX + 4] = {"git", "-C", dir};
  size_t n = 3;
  for (size_t i = 0; args[i] != NULL; i++) {
    if (n >= GIT_ARGS_MAX + 3)
      return os_error_set(err, OS_EINVAL, "git: too many arguments");
    argv[n++] = args[i];
  }
  argv[n] = NULL;

  int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return os_error_set(err, OS_EIO, "git: pipe: %s", strerror(errno));
  /* stdin through a socket: send(MSG_NOSIGNAL) needs no SIGPIPE handling when
   * git exits before reading all of it */
  if (input != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pipe) != 0) {
    int e = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return os_error_set(err, OS_EIO, "git: pipe: %s", strerror(e));
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0)
    child(in_pipe[0], out_pipe[1], argv);
  int fork_errno = errno;
  close(out_pipe[1]);
  if (in_pipe[0] >= 0)
    close(in_pipe[0]);
  if (pid < 0) {
    close(out_pipe[0]);
    if (in_pipe[1] >= 0)
      close(in_pipe[1]);
    return os_error_set(err, OS_EIO, "git: fork: %s", strerror(fork_errno));
  }

  /* feed stdin while draining stdout, so that neither side can block the other */
  int in_fd = in_pipe[1];
  os_buf b;
  os_buf_init(&b, max, false);
  const char *in = input;
  size_t sent = 0;
  bool too_big = false, io_error = false;
  char chunk[16384];
  if (in_fd >= 0 && input_len == 0) {
    close(in_fd);
    in_fd = -1;
  }
  for (;;) {
    struct pollfd p[2] = {{out_pipe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    int r = poll(p, in_fd >= 0 ? 2 : 1, -1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      io_error = true;
      break;
    }
    if (in_fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      ssize_t w = send(in_fd, in + sent, input_len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0)
        sent += (size_t)w;
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == input_len) {
        close(in_fd);
        in_fd = -1;
      }
    }
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t got = read(out_pipe[0], chunk, sizeof(chunk));
      if (got < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (got <= 0)
        break;
      if (!too_big && os_buf_append(&b, chunk, (size_t)got) < 0)
        too_big = true;
    }
  }
  if (in_fd >= 0)
    close(in_fd);
  close(out_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int rc = 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    rc = os_error_set(err, OS_ENOTFOUND, "git: not installed (or not in PATH)");
  else if (too_big)
    rc = os_error_set(err, OS_EIO, "git %s: output larger than %zu bytes", args[0], max);
  else if (io_error || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    rc = os_error_set(err, OS_EIO, "git %s failed", args[0]);
  else if (os_buf_detach(out, out_len, &b) < 0)
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  os_buf_free(&b);
  return rc;
}

bool org_git_is_commit(const char *dir, const char *ref) {
  char rev[PATH_MAX];
  int n = snprintf(rev, sizeof(rev), "%s^{commit}", ref);
  if (n < 0 || (size_t)n >= sizeof(rev))
    return false;
  const char *const args[] = {"rev-parse", "--verify", "--quiet", rev, NULL};
  char *out = NULL;
  if (org_git(&out, NULL, dir, args, NULL, 0, 4096, NULL) < 0)
    return false;
  free(out);
  return true;
}

int org_git_show(char **out, size_t *out_len, const char *dir, const char *rev,
                 const char *path, os_error *err) {
  char spec[PATH_MAX + 128];
  int n = snprintf(spec, sizeof(spec), "%s:./%s", rev, path);
  if (n < 0 || (size_t)n >= sizeof(spec))
    return os_error_set(err, OS_EINVAL, "%s: path too long", path);
  const char *const args[] = {"show", spec, NULL};
  int rc = org_git(out, out_len, dir, args, NULL, 0, SPEC_FILE_MAX, err);
  if (rc == OS_EIO)
    rc = os_error_set(err, OS_ENOTFOUND, "%s: not in commit %s", path, rev);
  return rc;
}

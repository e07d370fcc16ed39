/* LD_PRELOAD shim for the controller tests: every pthread_create() fails
 * with EAGAIN, as it does at a thread limit (RLIMIT_NPROC, cgroup pids). */
#include <errno.h>
#include <pthread.h>

int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                   void *arg) {
  (void)thread;
  (void)attr;
  (void)start;
  (void)arg;
  return EAGAIN;
}

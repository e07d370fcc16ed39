#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct audit_log {
  pthread_mutex_t mu;
  int fd;
  char *path;
  unsigned long long seq;
  char prev[AUDIT_HASH_HEX_LEN + 1];
  bool fsync_each;
  bool broken; /* a write failed half-way: the tail is unknown */
  double head_interval;              /* seconds between head log lines while growing */
  double head_logged_at;             /* monotonic time of the last one */
  bool opened;                       /* the open succeeded: close logs the head */
};

/* Under a->mu: the anchor that audit_verify_file_anchored() checks against. */
static void log_head(audit_log *a, const char *when) {
  os_log_info("audit log %s %s: chain head seq %llu sha256 %s (check with: orgsecrets audit "
              "verify %s --head %llu:%s)",
              a->path, when, a->seq, a->prev, a->path, a->seq, a->prev);
  a->head_logged_at = os_mono_seconds();
}

static const char *const reserved_keys[] = {"seq", "time", "event", "prev"};
static const char *const value_keys[] = {"value",      "values",         "data",  "stringdata",
                                         "plaintext", "ciphertext", "encryptedvalue",
                                         "token",      "password"};

static int sha256_hex(char out[AUDIT_HASH_HEX_LEN + 1], const void *p, size_t n) {
  unsigned char md[32];
  unsigned int md_len = 0;
  if (EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(md))
    return OS_ECRYPTO;
  os_hex_encode(out, md, sizeof(md));
  return 0;
}

static bool is_hash_hex(const char *s) {
  if (s == NULL || strlen(s) != AUDIT_HASH_HEX_LEN)
    return false;
  for (const char *p = s; *p != '\0'; p++) {
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  }
  return true;
}

/* The fixed members of a parsed line; NULL message when all are valid. */
static const char *check_fixed(const json_t *o, unsigned long long *seq, const char **prev) {
  if (!json_is_object(o))
    return "not a JSON object";
  const json_t *s = json_object_get(o, "seq");
  if (!json_is_integer(s) || json_integer_value(s) < 1)
    return "missing or invalid \"seq\"";
  const json_t *p = json_object_get(o, "prev");
  if (!json_is_string(p) || !is_hash_hex(json_string_value(p)))
    return "missing or invalid \"prev\"";
  if (!json_is_string(json_object_get(o, "time")))
    return "missing or invalid \"time\"";
  if (!json_is_string(json_object_get(o, "event")))
    return "missing or invalid \"event\"";
  *seq = (unsigned long long)json_integer_value(s);
  *prev = json_string_value(p);
  return NULL;
}

/* Continues the chain from the last line of an existing, non-empty file. */
static int resume(audit_log *a, off_t size, os_error *err) {
  int rc = 0;
  json_t *o = NULL;
  /* the longest line, its newline, and the newline before it */
  size_t want = (size_t)size > AUDIT_MAX_LINE + 2 ? AUDIT_MAX_LINE + 2 : (size_t)size;
  off_t from = size - (off_t)want;
  char *buf = malloc(want);
  if (buf == NULL)
    return os_error_set(err, OS_ENOMEM, "audit log %s: out of memory", a->path);
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(a->fd, buf + got, want - got, from + (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = os_error_set(err, OS_EIO, "audit log %s: cannot read tail: %s", a->path,
                        n < 0 ? strerror(errno) : "short read");
      goto done;
    }
    got += (size_t)n;
  }
  if (buf[want - 1] != '\n') {
    rc = os_error_set(err, OS_EINVAL, "audit log %s: last line truncated (no newline at end)",
                      a->path);
    goto done;
  }
  size_t start = want - 1;
  while (start > 0 && buf[start - 1] != '\n')
    start--;
  if (start == 0 && from > 0) {
    rc = os_error_set(err, OS_EINVAL, "audit log %s: last line longer than %d bytes", a->path,
                      AUDIT_MAX_LINE);
    goto done;
  }
  size_t len = want - 1 - start;
  json_error_t jerr;
  o = json_loadb(buf + start, len, JSON_REJECT_DUPLICATES, &jerr);
  unsigned long long seq = 0;
  const char *prev = NULL;
  const char *why = o == NULL ? "not JSON" : check_fixed(o, &seq, &prev);
  if (why != NULL) {
    rc = os_error_set(err, OS_EINVAL, "audit log %s: corrupt last line: %s", a->path, why);
    goto done;
  }
  rc = sha256_hex(a->prev, buf + start, len);
  if (rc < 0) {
    os_error_set(err, rc, "audit log %s: sha-256 failed", a->path);
    goto done;
  }
  a->seq = seq;
done:
  json_decref(o);
  free(buf);
  return rc;
}

int audit_log_open(audit_log **out, const char *path, os_error *err) {
  int rc = 0;
  *out = NULL;
  audit_log *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return os_error_set(err, OS_ENOMEM, "audit log: out of memory");
  pthread_mutex_init(&a->mu, NULL);
  a->fd = -1;
  a->fsync_each = true;
  memcpy(a->prev, ZERO_HASH, sizeof(a->prev));
  a->path = os_strdup(path);
  if (a->path == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "audit log: out of memory");
    goto done;
  }
  a->head_interval = 60.0;
  a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (a->fd < 0) {
    rc = errno == ELOOP ? os_error_set(err, OS_EINVAL,
                                       "audit log %s: a symbolic link; refusing to follow it", path)
                        : os_error_set(err, OS_EIO, "audit log %s: cannot open: %s", path,
                                       strerror(errno));
    goto done;
  }
  if (flock(a->fd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK
             ? os_error_set(err, OS_ECONFLICT, "audit log %s: in use by another process", path)
             : os_error_set(err, OS_EIO, "audit log %s: cannot lock: %s", path,
                            strerror(errno));
    goto done;
  }
  struct stat st;
  if (fstat(a->fd, &st) != 0) {
    rc = os_error_set(err, OS_EIO, "audit log %s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = os_error_set(err, OS_EINVAL, "audit log %s: not a regular file", path);
    goto done;
  }
  if (st.st_size > 0) {
    rc = resume(a, st.st_size, err);
    if (rc < 0)
      goto done;
  }
  log_head(a, "opened");
  a->opened = true;
  *out = a;
  a = NULL;
done:
  audit_log_close(a);
  return rc;
}

void audit_log_set_fsync(audit_log *a, bool each_line) {
  pthread_mutex_lock(&a->mu);
  a->fsync_each = each_line;
  pthread_mutex_unlock(&a->mu);
}

void audit_log_head(audit_log *a, unsigned long long *seq, char *head) {
  pthread_mutex_lock(&a->mu);
  if (seq != NULL)
    *seq = a->seq;
  if (head != NULL)
    memcpy(head, a->prev, sizeof(a->prev));
  pthread_mutex_unlock(&a->mu);
}

void audit_log_set_head_interval(audit_log *a, double seconds) {
  pthread_mutex_lock(&a->mu);
  a->head_interval = seconds > 0 ? seconds : 0;
  pthread_mutex_unlock(&a->mu);
}

unsigned long long audit_log_seq(audit_log *a) {
  pthread_mutex_lock(&a->mu);
  unsigned long long s = a->seq;
  pthread_mutex_unlock(&a->mu);
  return s;
}

void audit_log_close(audit_log *a) {
  if (a == NULL)
    return;
  if (a->fd >= 0) {
    (void)fsync(a->fd);
    if (a->opened && !a->broken)
      log_head(a, "closed");
    close(a->fd); /* releases the flock */
  }
  free(a->path);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

/* Refuses reserved and value-like keys at any depth (values never belong in
 * the audit log). */
static int check_fields(const json_t *fields, int depth, os_error *err) {
  const char *key;
  json_t *v;
  if (depth > 8)
    return os_error_set(err, OS_EINVAL, "audit: fields nested too deeply");
  if (json_is_array(fields)) {
    size_t i;
    json_array_foreach(fields, i, v) {
      int rc = check_fields(v, depth + 1, err);
      if (rc < 0)
        return rc;
    }
    return 0;
  }
  if (!json_is_object(fields))
    return 0;
  json_object_foreach((json_t *)(uintptr_t)fields, key, v) {
    if (depth == 0) {
      for (size_t i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++) {
        if (strcmp(key, reserved_keys[i]) == 0)
          return os_error_set(err, OS_EINVAL, "audit: field \"%s\" is reserved", key);
      }
    }
    for (size_t i = 0; i < sizeof(value_keys) / sizeof(value_keys[0]); i++) {
      if (strcasecmp(key, value_keys[i]) == 0)
        return os_error_set(err, OS_EINVAL,
                            "audit: field \"%s\" refused: the audit log records names, "
                            "never values",
                            key);
    }
    int rc = check_fields(v, depth + 1, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static bool valid_event(const char *e) {
  size_t n = e != NULL ? strlen(e) : 0;
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = e[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

int audit_log_append(audit_log *a, const char *event, const json_t *fields, os_error *err) {
  int rc = 0;
  json_t *o = NULL;
  char *line = NULL;
  bool locked = false;
  if (!valid_event(event))
    return os_error_set(err, OS_EINVAL, "audit: invalid event name");
  if (fields != NULL && !json_is_object(fields))
    return os_error_set(err, OS_EINVAL, "audit: fields must be a JSON object");
  if (fields != NULL && (rc = check_fields(fields, 0, err)) < 0)
    return rc;

  char now[OS_TIME_MAX];
  long nsec = 0;
  int64_t sec = os_wall_clock(&nsec); /* the real clock, never ORGSECRETS_NOW */
  if (os_time_format(now, sec, nsec, 3) < 0)
    return os_error_set(err, OS_EIO, "audit: cannot read the clock");

  pthread_mutex_lock(&a->mu);
  locked = true;
  if (a->broken) {
    rc = os_error_set(err, OS_EIO, "audit log %s: an earlier write failed; reopen the log",
                      a->path);
    goto done;
  }
  o = json_object();
  if (o == NULL ||
      json_object_set_new(o, "seq", json_integer((json_int_t)(a->seq + 1))) != 0 ||
      json_object_set_new(o, "time", json_string(now)) != 0 ||
      json_object_set_new(o, "event", json_string(event)) != 0 ||
      json_object_set_new(o, "prev", json_string(a->prev)) != 0)
    goto nomem;
  if (fields != NULL) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)fields, key, v) {
      if (json_object_set(o, key, v) != 0)
        goto nomem;
    }
  }
  line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (line == NULL)
    goto nomem;
  size_t len = strlen(line);
  if (len > AUDIT_MAX_LINE) {
    rc = os_error_set(err, OS_EINVAL, "audit: line longer than %d bytes", AUDIT_MAX_LINE);
    goto done;
  }
  char hash[AUDIT_HASH_HEX_LEN + 1];
  if (sha256_hex(hash, line, len) < 0) {
    rc = os_error_set(err, OS_ECRYPTO, "audit: sha-256 failed");
    goto done;
  }
  line[len] = '\n'; /* json_dumps' NUL becomes the newline; written as one write */
  size_t off = 0;
  if (os_write_all(a->fd, line, len + 1, &off) < 0) {
    a->broken = off > 0;
    rc = os_error_set(err, OS_EIO, "audit log %s: write failed: %s", a->path, strerror(errno));
    goto done;
  }
  if (a->fsync_each && fdatasync(a->fd) != 0) {
    rc = os_error_set(err, OS_EIO, "audit log %s: fsync failed: %s", a->path, strerror(errno));
    a->broken = true; /* the line may or may not be durable; refuse to guess */
    goto done;
  }
  a->seq++;
  memcpy(a->prev, hash, sizeof(a->prev));
  if (os_mono_seconds() - a->head_logged_at >= a->head_interval)
    log_head(a, "growing");
done:
  if (locked)
    pthread_mutex_unlock(&a->mu);
  free(line);
  json_decref(o);
  return rc;
nomem:
  rc = os_error_set(err, OS_ENOMEM, "audit: out of memory");
  goto done;
}

/* Reads one line (without its newline) into b. *got: false at clean EOF.
 * *newline: whether it ended with '\n'. *too_long: more than max bytes. */
static int read_line(FILE *f, os_buf *b, bool *got, bool *newline, bool *too_long) {
  os_buf_reset(b);
  *got = false;
  *newline = false;
  *too_long = false;
  int c;
  while ((c = getc_unlocked(f)) != EOF) {
    *got = true;
    if (c == '\n') {
      *newline = true;
      return 0;
    }
    char ch = (char)c;
    if (os_buf_append(b, &ch, 1) < 0) {
      *too_long = true;
      return 0;
    }
  }
  return ferror(f) ? OS_EIO : 0;
}

/* Peeks at the seq of the next line (for telling "reordered" from
 * "removed"); 0 when unreadable. */
static unsigned long long next_seq(FILE *f, os_buf *b) {
  bool got, nl, too_long;
  if (read_line(f, b, &got, &nl, &too_long) < 0 || !got || !nl || too_long)
    return 0;
  json_t *o = json_loadb(b->data, b->len, 0, NULL);
  unsigned long long seq = 0;
  const char *prev;
  if (o != NULL && check_fixed(o, &seq, &prev) != NULL)
    seq = 0;
  json_decref(o);
  return seq;
}

/* A head recorded earlier: hash, and seq when known (0: any). */
typedef struct anchor {
  char hash[AUDIT_HASH_HEX_LEN + 1];
  unsigned long long seq;
  bool has_seq;
} anchor;

static int parse_anchor(anchor *an, const char *s, os_error *err) {
  memset(an, 0, sizeof(*an));
  const char *colon = strchr(s, ':');
  const char *h = s;
  if (colon != NULL) {
    unsigned long long v = 0;
    const char *p = s;
    for (; p < colon && *p >= '0' && *p <= '9' && v < 1000000000000000000ULL; p++)
      v = v * 10 + (unsigned long long)(*p - '0');
    if (p != colon || p == s)
      return os_error_set(err, OS_EINVAL, "audit: head \"%.80s\": want HASH or SEQ:HASH", s);
    an->seq = v;
    an->has_seq = true;
    h = colon + 1;
  }
  if (strlen(h) != AUDIT_HASH_HEX_LEN)
    return os_error_set(err, OS_EINVAL, "audit: head \"%.80s\": want 64 hex digits", s);
  for (size_t i = 0; i < AUDIT_HASH_HEX_LEN; i++) {
    char c = h[i];
    if (c >= 'A' && c <= 'F')
      c = (char)(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return os_error_set(err, OS_EINVAL, "audit: head \"%.80s\": want 64 hex digits", s);
    an->hash[i] = c;
  }
  return 0;
}

static int verify(const char *path, size_t *n_lines, char *head, const anchor *an,
                  size_t *anchor_line, os_error *err) {
  int rc = 0;
  FILE *f = NULL;
  json_t *o = NULL;
  os_buf b;
  os_buf_init(&b, AUDIT_MAX_LINE, false);
  char prev_hash[AUDIT_HASH_HEX_LEN + 1] = ZERO_HASH;
  unsigned long long prev_seq = 0;
  size_t line_no = 0, found_line = 0;
  /* the empty chain's head (seq 0, 64 zeros) is the start of every log */
  bool found = an != NULL && strcmp(an->hash, ZERO_HASH) == 0 && (!an->has_seq || an->seq == 0);
  if (n_lines != NULL)
    *n_lines = 0;

  f = fopen(path, "rbe");
  if (f == NULL) {
    rc = os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO, "%s: cannot open: %s",
                      path, strerror(errno));
    goto done;
  }
  for (;;) {
    bool got, newline, too_long;
    rc = read_line(f, &b, &got, &newline, &too_long);
    if (rc < 0) {
      os_error_set(err, rc, "%s: read failed", path);
      goto done;
    }
    if (!got)
      break;
    line_no++;
    if (too_long) {
      rc = os_error_set(err, OS_EINVAL, "%s: line %zu: longer than %d bytes", path, line_no,
                        AUDIT_MAX_LINE);
      goto done;
    }
    if (!newline) {
      rc = os_error_set(err, OS_EINVAL, "%s: line %zu: truncated (no newline at end of file)",
                        path, line_no);
      goto done;
    }
    json_error_t jerr;
    json_decref(o);
    o = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
      rc = os_error_set(err, OS_EINVAL, "%s: line %zu: not JSON: %s", path, line_no, jerr.text);
      goto done;
    }
    unsigned long long seq = 0;
    const char *prev = NULL;
    const char *why = check_fixed(o, &seq, &prev);
    if (why != NULL) {
      rc = os_error_set(err, OS_EINVAL, "%s: line %zu: %s", path, line_no, why);
      goto done;
    }
    unsigned long long want = prev_seq + 1;
    if (seq < want) {
      rc = os_error_set(err, OS_EINVAL,
                        "%s: line %zu: seq %llu does not follow seq %llu (lines reordered or "
                        "duplicated)",
                        path, line_no, seq, prev_seq);
      goto done;
    }
    if (seq > want) {
      if (next_seq(f, &b) == want)
        rc = os_error_set(err, OS_EINVAL,
                          "%s: line %zu: seq %llu comes before seq %llu on line %zu (lines "
                          "reordered)",
                          path, line_no, seq, want, line_no + 1);
      else if (seq == want + 1)
        rc = os_error_set(err, OS_EINVAL,
                          "%s: line %zu: seq %llu follows seq %llu: seq %llu is missing (line "
                          "removed)",
                          path, line_no, seq, prev_seq, want);
      else
        rc = os_error_set(err, OS_EINVAL,
                          "%s: line %zu: seq %llu follows seq %llu: seq %llu to %llu are "
                          "missing (lines removed)",
                          path, line_no, seq, prev_seq, want, seq - 1);
      goto done;
    }
    if (strcmp(prev, prev_hash) != 0) {
      if (line_no == 1)
        rc = os_error_set(err, OS_EINVAL,
                          "%s: line 1: \"prev\" is not the start of a chain (64 zeros)", path);
      else
        rc = os_error_set(err, OS_EINVAL,
                          "%s: line %zu: edited: its SHA-256 does not match \"prev\" of line "
                          "%zu",
                          path, line_no - 1, line_no);
      goto done;
    }
    if (sha256_hex(prev_hash, b.data, b.len) < 0) {
      rc = os_error_set(err, OS_ECRYPTO, "%s: sha-256 failed", path);
      goto done;
    }
    prev_seq = seq;
    if (an != NULL && !found && strcmp(prev_hash, an->hash) == 0 &&
        (!an->has_seq || an->seq == seq)) {
      found = true;
      found_line = line_no;
    }
  }
  if (an != NULL && !found) {
    if (an->has_seq && an->seq > prev_seq)
      rc = os_error_set(err, OS_EINVAL,
                        "%s: the recorded head (seq %llu) is past the end of the log (seq %llu): "
                        "lines were cut off the end",
                        path, an->seq, prev_seq);
    else
      rc = os_error_set(err, OS_EINVAL,
                        "%s: the recorded head %s is not in the log: lines were cut off or "
                        "rewritten after it was recorded (the log has %zu lines, head %s)",
                        path, an->hash, line_no, prev_hash);
    goto done;
  }
  if (n_lines != NULL)
    *n_lines = line_no;
  if (head != NULL)
    memcpy(head, prev_hash, sizeof(prev_hash));
  if (anchor_line != NULL)
    *anchor_line = found_line;
done:
  json_decref(o);
  os_buf_free(&b);
  if (f != NULL)
    fclose(f);
  return rc;
}

int audit_verify_file_head(const char *path, size_t *n_lines, char *head, os_error *err) {
  return verify(path, n_lines, head, NULL, NULL, err);
}

int audit_verify_file_anchored(const char *path, const char *anchor_s, size_t *n_lines, char *head,
                               size_t *anchor_line, os_error *err) {
  anchor an;
  int rc = parse_anchor(&an, anchor_s, err);
  return rc < 0 ? rc : verify(path, n_lines, head, &an, anchor_line, err);
}

int audit_verify_file(const char *path, size_t *n_lines, os_error *err) {
  return verify(path, n_lines, NULL, NULL, NULL, err);
}

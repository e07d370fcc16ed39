/* Streaming age encryption and decryption between file descriptors, in
 * batches of 64 KiB chunks with one cipher context. */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "age/age_internal.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/fsutil.h"

/* Chunks per read/decrypt/write batch: 1 MiB of I/O per system call. */
#define BATCH_CHUNKS 16u
#define BATCH_BYTES (BATCH_CHUNKS * AGE_ENC_CHUNK_SIZE)
/* One extra chunk of room so a batch can always look one byte ahead. */
#define BUF_CAP (BATCH_BYTES + AGE_ENC_CHUNK_SIZE)
#define RAW_CAP (256u * 1024u)
/* Bytes read first to tell armor from binary. */
#define PROBE_LEN 1024u
#define ARMOR_LINE_MAX 4096u

/* ---- output ---- */

static int write_all(int fd, const void *p, size_t n, os_error *err) {
  if (os_write_all(fd, p, n, NULL) < 0)
    return os_error_set(err, OS_EIO, "write: %s", strerror(errno));
  return 0;
}

static int writev_all(int fd, struct iovec *iov, int cnt, os_error *err) {
  while (cnt > 0) {
    ssize_t w = writev(fd, iov, cnt);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return os_error_set(err, OS_EIO, "write: %s", strerror(errno));
    size_t done = (size_t)w;
    while (cnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return 0;
}

/* Binary or armored output. */
typedef struct sink {
  int fd;
  bool armor;
  uint8_t carry[AGE_BYTES_PER_LINE];
  size_t carry_len;
  char *txt;
  size_t txt_len;
} sink;

#define TXT_CAP (64u * 1024u)

static int sink_flush(sink *s, os_error *err) {
  int rc = write_all(s->fd, s->txt, s->txt_len, err);
  s->txt_len = 0;
  return rc;
}

static int sink_line(sink *s, const uint8_t *data, size_t n, os_error *err) {
  if (s->txt_len + AGE_COLUMNS + 1 > TXT_CAP) {
    int rc = sink_flush(s, err);
    if (rc < 0)
      return rc;
  }
  size_t len = os_base64_encoded_len(n, 0);
  os_base64_encode(s->txt + s->txt_len, data, n, 0);
  s->txt[s->txt_len + len] = '\n';
  s->txt_len += len + 1;
  return 0;
}

static int sink_write(sink *s, const uint8_t *data, size_t n, os_error *err) {
  if (!s->armor)
    return write_all(s->fd, data, n, err);
  int rc = 0;
  if (s->carry_len > 0) {
    size_t take = AGE_BYTES_PER_LINE - s->carry_len < n ? AGE_BYTES_PER_LINE - s->carry_len : n;
    memcpy(s->carry + s->carry_len, data, take);
    s->carry_len += take;
    data += take;
    n -= take;
    if (s->carry_len < AGE_BYTES_PER_LINE)
      return 0;
    rc = sink_line(s, s->carry, AGE_BYTES_PER_LINE, err);
    s->carry_len = 0;
  }
  while (rc == 0 && n >= AGE_BYTES_PER_LINE) {
    rc = sink_line(s, data, AGE_BYTES_PER_LINE, err);
    data += AGE_BYTES_PER_LINE;
    n -= AGE_BYTES_PER_LINE;
  }
  if (rc == 0 && n > 0) {
    memcpy(s->carry, data, n);
    s->carry_len = n;
  }
  return rc;
}

static int sink_finish(sink *s, os_error *err) {
  if (!s->armor)
    return 0;
  int rc = 0;
  if (s->carry_len > 0)
    rc = sink_line(s, s->carry, s->carry_len, err);
  if (rc == 0) {
    size_t n = strlen(AGE_ARMOR_END "\n");
    if (s->txt_len + n > TXT_CAP)
      rc = sink_flush(s, err);
    if (rc == 0) {
      memcpy(s->txt + s->txt_len, AGE_ARMOR_END "\n", n);
      s->txt_len += n;
    }
  }
  if (rc == 0)
    rc = sink_flush(s, err);
  return rc;
}

/* ---- input ---- */

/* Reads up to n bytes; returns the count (0 at EOF) or a negative error. */
static ssize_t read_some(int fd, void *p, size_t n, os_error *err) {
  for (;;) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return os_error_set(err, OS_EIO, "read: %s", strerror(errno));
    return r;
  }
}

/* Binary or armored input, delivering the binary age file. */
typedef struct source {
  int fd;
  int wake_fd; /* readable once a read must give up; -1: never */
  bool armored;
  bool fd_eof;
  bool done; /* armored: END line seen and input exhausted */
  age_armor_dec ad;
  char *raw;
  size_t raw_off, raw_len;
  uint8_t dec[AGE_BYTES_PER_LINE];
  size_t dec_off, dec_len;
} source;

/* read_some() on the input, unless wake_fd becomes readable first (a read
 * from a pipe can block for ever; the reader thread is stopped this way,
 * not cancelled). */
static ssize_t source_read_fd(source *s, void *p, size_t n, os_error *err) {
  if (s->wake_fd >= 0) {
    struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->wake_fd, .events = POLLIN}};
    for (;;) {
      int pr = poll(pfd, 2, -1);
      if (pr < 0 && errno == EINTR)
        continue;
      if (pr < 0)
        return os_error_set(err, OS_EIO, "read: poll: %s", strerror(errno));
      break;
    }
    if (pfd[1].revents != 0)
      return os_error_set(err, OS_EIO, "read: stopped");
  }
  return read_some(s->fd, p, n, err);
}

static int source_open(source *s, int fd, os_error *err) {
  memset(s, 0, sizeof(*s));
  s->fd = fd;
  s->wake_fd = -1;
  s->raw = malloc(PROBE_LEN);
  if (s->raw == NULL)
    return os_error_set(err, OS_ENOMEM, "decrypt: out of memory");
  /* Look at the start of the input to tell armor from binary. */
  while (s->raw_len < PROBE_LEN && !s->fd_eof) {
    ssize_t r = source_read_fd(s, s->raw + s->raw_len, PROBE_LEN - s->raw_len, err);
    if (r < 0)
      return (int)r;
    if (r == 0)
      s->fd_eof = true;
    s->raw_len += (size_t)r;
  }
  s->armored = age_is_armored((const uint8_t *)s->raw, s->raw_len);
  if (s->armored) {
    /* Armored text is read through a larger line buffer. */
    if (os_grow(&s->raw, NULL, RAW_CAP, 1, RAW_CAP) < 0)
      return os_error_set(err, OS_ENOMEM, "decrypt: out of memory");
  }
  age_armor_dec_init(&s->ad);
  return 0;
}

static void source_close(source *s) { free(s->raw); }

/* Next complete line of armor (without '\n'), or *len_out = SIZE_MAX at EOF. */
static int source_line(source *s, const char **line, size_t *len_out, os_error *err) {
  for (;;) {
    char *start = s->raw + s->raw_off;
    size_t avail = s->raw_len - s->raw_off;
    char *nl = memchr(start, '\n', avail);
    if (nl != NULL) {
      *line = start;
      *len_out = (size_t)(nl - start);
      s->raw_off += *len_out + 1;
      return 0;
    }
    if (avail > ARMOR_LINE_MAX)
      return os_error_set(err, OS_EARMOR, "armor: line %zu: too long", s->ad.lines + 1);
    if (s->fd_eof) {
      *line = start;
      *len_out = avail > 0 ? avail : SIZE_MAX;
      s->raw_off = s->raw_len;
      return 0;
    }
    memmove(s->raw, start, avail);
    s->raw_off = 0;
    s->raw_len = avail;
    ssize_t r = source_read_fd(s, s->raw + s->raw_len, RAW_CAP - s->raw_len, err);
    if (r < 0)
      return (int)r;
    if (r == 0)
      s->fd_eof = true;
    s->raw_len += (size_t)r;
  }
}

/* Reads up to n bytes of the binary file; returns the count, 0 at its end. */
static ssize_t source_read(source *s, uint8_t *dst, size_t n, os_error *err) {
  if (!s->armored) {
    if (s->raw_off < s->raw_len) {
      size_t take = s->raw_len - s->raw_off < n ? s->raw_len - s->raw_off : n;
      memcpy(dst, s->raw + s->raw_off, take);
      s->raw_off += take;
      return (ssize_t)take;
    }
    if (s->fd_eof)
      return 0;
    ssize_t r = source_read_fd(s, dst, n, err);
    if (r == 0)
      s->fd_eof = true;
    return r;
  }
  size_t got = 0;
  while (got < n) {
    if (s->dec_off < s->dec_len) {
      size_t take = s->dec_len - s->dec_off < n - got ? s->dec_len - s->dec_off : n - got;
      memcpy(dst + got, s->dec + s->dec_off, take);
      s->dec_off += take;
      got += take;
      continue;
    }
    if (s->done)
      break;
    const char *line = NULL;
    size_t len = 0;
    int rc = source_line(s, &line, &len, err);
    if (rc < 0)
      return rc;
    if (len == SIZE_MAX) {
      rc = age_armor_dec_finish(&s->ad, err);
      if (rc < 0)
        return rc;
      s->done = true;
      break;
    }
    s->dec_off = 0;
    rc = age_armor_dec_line(&s->ad, s->dec, &s->dec_len, line, len, err);
    if (rc < 0)
      return rc;
  }
  return (ssize_t)got;
}

/* Fills buf up to want bytes (from *have); stops early only at the end. */
static int source_fill(source *s, uint8_t *buf, size_t *have, size_t want, bool *eof,
                       os_error *err) {
  *eof = false;
  while (*have < want) {
    ssize_t r = source_read(s, buf + *have, want - *have, err);
    if (r < 0)
      return (int)r;
    if (r == 0) {
      *eof = true;
      break;
    }
    *have += (size_t)r;
  }
  return 0;
}

/* Decrypts the chunks in data[0, have) that can be decided now (all when
 * eof, else all but the last byte's chunk) and writes the authentic ones.
 * *off gets the bytes consumed, *final whether the final chunk was done. */
static int decrypt_batch(age_stream *st, int out_fd, uint8_t *data, size_t have, bool eof,
                         bool *first, size_t *off_out, bool *final_out, os_error *err) {
  *off_out = 0;
  *final_out = false;
  if (have == 0)
    return os_error_set(err, OS_EPAYLOAD,
                        *first ? "payload: no chunks" : "payload: missing final chunk");
  /* Without EOF, one byte past the batch shows its last chunk is not final. */
  size_t n_chunks = eof ? (have + AGE_ENC_CHUNK_SIZE - 1) / AGE_ENC_CHUNK_SIZE
                        : (have - 1) / AGE_ENC_CHUNK_SIZE;
  struct iovec iov[BATCH_CHUNKS + 1];
  int n_iov = 0;
  size_t off = 0;
  int chunk_rc = 0;
  bool final = false;
  for (size_t i = 0; i < n_chunks; i++) {
    size_t len = have - off < AGE_ENC_CHUNK_SIZE ? have - off : AGE_ENC_CHUNK_SIZE;
    final = eof && i + 1 == n_chunks;
    if (final && len == AGE_TAG_LEN && !*first) {
      chunk_rc = os_error_set(err, OS_EPAYLOAD, "payload: final chunk is empty");
      break;
    }
    chunk_rc = age_stream_open(st, data + off, data + off, len, final, err);
    if (chunk_rc < 0)
      break;
    *first = false;
    if (len > AGE_TAG_LEN) {
      iov[n_iov].iov_base = data + off;
      iov[n_iov].iov_len = len - AGE_TAG_LEN;
      n_iov++;
    }
    off += len;
  }
  /* Only authenticated chunks are written, also before reporting a failure. */
  int rc = n_iov > 0 ? writev_all(out_fd, iov, n_iov, err) : 0;
  if (rc == 0)
    rc = chunk_rc;
  *off_out = off;
  *final_out = final && rc == 0;
  return rc;
}

/* Binary payloads are read by a second thread into two alternating buffers
 * while this one decrypts: read(2)'s copy overlaps the cipher work. Each
 * buffer has a gap in front for the bytes carried over from the previous
 * batch (a partial chunk, at most one chunk plus one byte, or what the
 * header read left). When the decryption ends early (a damaged chunk, a
 * write error) the reader is told to stop (the stop flag, its semaphores
 * and the wake-up descriptor) and joined, never cancelled: cancellation
 * needs libgcc_s at run time, which a minimal image may not have, and would
 * interrupt it anywhere. */
#define SEG_BYTES (8u * AGE_ENC_CHUNK_SIZE)
#define GAP_BYTES (2u * AGE_ENC_CHUNK_SIZE)

typedef struct reader {
  source *src;
  uint8_t *buf[2];
  size_t got[2];
  bool eof[2];
  int rc[2];
  os_error err[2];
  sem_t empty[2], full[2];
  atomic_bool stop;
} reader;

static void *reader_main(void *arg) {
  reader *r = arg;
  for (unsigned i = 0;; i++) {
    unsigned b = i & 1;
    while (sem_wait(&r->empty[b]) != 0)
      ;
    if (atomic_load(&r->stop))
      return NULL;
    r->got[b] = 0;
    r->rc[b] = source_fill(r->src, r->buf[b] + GAP_BYTES, &r->got[b], SEG_BYTES, &r->eof[b],
                           &r->err[b]);
    bool stop = r->rc[b] < 0 || r->eof[b];
    sem_post(&r->full[b]);
    if (stop)
      return NULL;
  }
}

static int decrypt_payload_threaded(age_stream *st, int out_fd, source *src,
                                    const uint8_t *carry, size_t carry_len, os_error *err) {
  reader r;
  memset(&r, 0, sizeof(r));
  r.src = src;
  atomic_init(&r.stop, false);
  int rc = 0;
  bool started = false, finished = false, first = true;
  uint8_t *block = malloc(2 * (GAP_BYTES + SEG_BYTES));
  if (block == NULL)
    return os_error_set(err, OS_ENOMEM, "decrypt: out of memory");
  int wake_fd = eventfd(0, EFD_CLOEXEC);
  if (wake_fd < 0) {
    free(block);
    return os_error_set(err, OS_EIO, "decrypt: eventfd: %s", strerror(errno));
  }
  src->wake_fd = wake_fd;
  r.buf[0] = block;
  r.buf[1] = block + GAP_BYTES + SEG_BYTES;
  for (int b = 0; b < 2; b++) {
    sem_init(&r.empty[b], 0, 1);
    sem_init(&r.full[b], 0, 0);
  }
  memcpy(r.buf[0] + GAP_BYTES - carry_len, carry, carry_len);
  pthread_t th;
  if (pthread_create(&th, NULL, reader_main, &r) != 0) {
    rc = os_error_set(err, OS_EIO, "decrypt: cannot start reader thread");
    goto done;
  }
  started = true;
  for (unsigned i = 0;; i++) {
    unsigned b = i & 1;
    while (sem_wait(&r.full[b]) != 0)
      ;
    if (r.rc[b] < 0) {
      *err = r.err[b];
      rc = r.rc[b];
      finished = true; /* the reader has stopped */
      goto done;
    }
    uint8_t *data = r.buf[b] + GAP_BYTES - carry_len;
    size_t have = carry_len + r.got[b];
    bool eof = r.eof[b];
    size_t off = 0;
    bool final = false;
    rc = decrypt_batch(st, out_fd, data, have, eof, &first, &off, &final, err);
    if (eof)
      finished = true;
    if (rc < 0 || final || eof) {
      if (rc == 0 && !final)
        rc = os_error_set(err, OS_EPAYLOAD, "payload: missing final chunk");
      goto done;
    }
    carry_len = have - off;
    if (carry_len > GAP_BYTES) {
      rc = os_error_set(err, OS_EPAYLOAD, "payload: internal carry overflow");
      goto done;
    }
    /* The reader only writes the other buffer's data region, not its gap. */
    memcpy(r.buf[b ^ 1] + GAP_BYTES - carry_len, data + off, carry_len);
    sem_post(&r.empty[b]);
  }
done:
  if (started) {
    if (!finished) {
      /* It waits for a buffer or in poll(2): wake both. */
      atomic_store(&r.stop, true);
      const uint64_t one = 1;
      while (write(wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
      sem_post(&r.empty[0]);
      sem_post(&r.empty[1]);
    }
    pthread_join(th, NULL);
  }
  src->wake_fd = -1;
  close(wake_fd);
  for (int b = 0; b < 2; b++) {
    sem_destroy(&r.empty[b]);
    sem_destroy(&r.full[b]);
  }
  OPENSSL_cleanse(block, 2 * (GAP_BYTES + SEG_BYTES));
  free(block);
  return rc;
}

int age_decrypt_fd(int out_fd, int in_fd, const age_identity *const *ids, size_t n_ids,
                   os_error *err) {
  source src;
  uint8_t *buf = NULL;
  uint8_t file_key[AGE_FILE_KEY_LEN];
  age_header hdr = {0};
  age_stream st = {0};
  size_t have = 0;
  bool eof = false;
  int rc = source_open(&src, in_fd, err);
  if (rc < 0)
    goto done;
  buf = malloc(BUF_CAP);
  if (buf == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "decrypt: out of memory");
    goto done;
  }
  /* Header: read until its "---" line is complete. */
  size_t hdr_len = 0;
  while ((hdr_len = age_header_find_end(buf, have)) == 0) {
    if (eof || have >= AGE_HEADER_MAX) {
      rc = have == 0 ? os_error_set(err, OS_EHEADER, "header: empty input")
                     : os_error_set(err, OS_EHEADER, "header: incomplete or too large");
      goto done;
    }
    size_t step = src.armored ? 64u * 1024u : 4096u;
    size_t want = have + step < AGE_HEADER_MAX ? have + step : AGE_HEADER_MAX;
    rc = source_fill(&src, buf, &have, want, &eof, err);
    if (rc < 0)
      goto done;
  }
  rc = age_header_parse(&hdr, buf, have, err);
  if (rc < 0)
    goto done;
  rc = age_unwrap_file_key(file_key, &hdr, buf, ids, n_ids, err);
  age_header_free(&hdr);
  if (rc < 0)
    goto done;
  if (have - hdr_len < AGE_NONCE_LEN) {
    rc = source_fill(&src, buf, &have, hdr_len + AGE_NONCE_LEN, &eof, err);
    if (rc < 0)
      goto done;
    if (have - hdr_len < AGE_NONCE_LEN) {
      rc = os_error_set(err, OS_EHEADER, "header: missing payload nonce");
      goto done;
    }
  }
  rc = age_stream_init(&st, file_key, buf + hdr_len, true, err);
  OPENSSL_cleanse(file_key, sizeof(file_key));
  if (rc < 0)
    goto done;
  have -= hdr_len + AGE_NONCE_LEN;
  memmove(buf, buf + hdr_len + AGE_NONCE_LEN, have);
  if (!src.armored && !eof && have <= GAP_BYTES) {
    rc = decrypt_payload_threaded(&st, out_fd, &src, buf, have, err);
    goto done;
  }
  bool first = true;
  for (;;) {
    if (!eof) {
      rc = source_fill(&src, buf, &have, BATCH_BYTES + 1, &eof, err);
      if (rc < 0)
        goto done;
    }
    size_t off = 0;
    bool final = false;
    rc = decrypt_batch(&st, out_fd, buf, have, eof, &first, &off, &final, err);
    if (rc < 0 || final)
      goto done;
    /* No wipe here: the next read overwrites the buffer, wiped at the end. */
    memmove(buf, buf + off, have - off);
    have -= off;
  }
done:
  OPENSSL_cleanse(file_key, sizeof(file_key));
  if (st.ctx != NULL)
    age_stream_free(&st);
  age_header_free(&hdr);
  if (buf != NULL) {
    OPENSSL_cleanse(buf, BUF_CAP);
    free(buf);
  }
  source_close(&src);
  return rc;
}

int age_encrypt_fd(int out_fd, int in_fd, const age_recipient *const *rcpts, size_t n_rcpts,
                   bool armor, os_error *err) {
  uint8_t file_key[AGE_FILE_KEY_LEN], nonce[AGE_NONCE_LEN];
  age_stream st = {0};
  os_buf hdr;
  os_buf_init(&hdr, AGE_HEADER_MAX, false);
  uint8_t *pt = NULL, *ct = NULL;
  sink out = {.fd = out_fd, .armor = armor};
  size_t have = 0;
  const size_t batch_pt = BATCH_CHUNKS * AGE_CHUNK_SIZE;
  int rc = 0;
  pt = malloc(batch_pt + 1);
  ct = malloc(BATCH_BYTES);
  out.txt = armor ? malloc(TXT_CAP) : NULL;
  if (pt == NULL || ct == NULL || (armor && out.txt == NULL)) {
    rc = os_error_set(err, OS_ENOMEM, "encrypt: out of memory");
    goto done;
  }
  if (RAND_bytes(file_key, sizeof(file_key)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
    rc = os_error_set(err, OS_ECRYPTO, "encrypt: random generator failed");
    goto done;
  }
  rc = age_build_header(&hdr, file_key, rcpts, n_rcpts, err);
  if (rc == 0)
    rc = age_stream_init(&st, file_key, nonce, false, err);
  OPENSSL_cleanse(file_key, sizeof(file_key));
  if (rc < 0)
    goto done;
  if (armor) {
    memcpy(out.txt, AGE_ARMOR_BEGIN "\n", strlen(AGE_ARMOR_BEGIN "\n"));
    out.txt_len = strlen(AGE_ARMOR_BEGIN "\n");
  }
  rc = sink_write(&out, (const uint8_t *)hdr.data, hdr.len, err);
  if (rc == 0)
    rc = sink_write(&out, nonce, sizeof(nonce), err);
  if (rc < 0)
    goto done;
  bool eof = false;
  for (;;) {
    while (!eof && have < batch_pt + 1) {
      ssize_t r = read_some(in_fd, pt + have, batch_pt + 1 - have, err);
      if (r < 0) {
        rc = (int)r;
        goto done;
      }
      if (r == 0)
        eof = true;
      have += (size_t)r;
    }
    /* Without EOF, keep the byte past the batch: the final chunk is never empty
     * unless the whole input is. */
    size_t take_total = eof ? have : batch_pt;
    size_t off = 0, o = 0;
    bool final = false;
    do {
      size_t take = take_total - off < AGE_CHUNK_SIZE ? take_total - off : AGE_CHUNK_SIZE;
      final = eof && off + take == take_total;
      rc = age_stream_seal(&st, ct + o, pt + off, take, final, err);
      if (rc < 0)
        goto done;
      off += take;
      o += take + AGE_TAG_LEN;
    } while (off < take_total);
    rc = sink_write(&out, ct, o, err);
    if (rc < 0 || final)
      break;
    memmove(pt, pt + off, have - off);
    have -= off;
  }
  if (rc == 0)
    rc = sink_finish(&out, err);
done:
  if (st.ctx != NULL)
    age_stream_free(&st);
  os_buf_free(&hdr);
  if (pt != NULL) {
    OPENSSL_cleanse(pt, batch_pt + 1);
    free(pt);
  }
  free(ct);
  free(out.txt);
  return rc;
}

/* Unit tests of pkg/age: base64 and Bech32 against their specs' vectors,
 * keys, round trips, tampering, identity files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "age/age.h"
#include "age/age_internal.h"
#include "common/buf.h"
#include "common/fsutil.h"

/* The C2SP vectors' identity and its recipient (from age-keygen -y). */
#define VEC_IDENTITY "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
#define VEC_RECIPIENT "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef"

/* base64 is pkg/common's: tests/common/test_primitives.c */

/* ---- Bech32: BIP-173 test vectors ---- */

static void test_bech32_bip173(void **state) {
  (void)state;
  static const char *const valid[] = {
      "A12UEL5L",
      "a12uel5l",
      "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
      "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
      "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
      "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
      "?1ezyfcl",
  };
  static const char *const invalid[] = {
      " 1nwldj5",
      "\x7f" "1axkwrx",
      "\x80" "1eym55h",
      "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
      "pzry9x0s0muk",
      "1pzry9x0s0muk",
      "x1b4n0q5v",
      "li1dgmt3",
      "de1lg7wt\xff",
      "A1G7SGD8",
      "10a06t8",
      "1qzzfhee",
      "a12UEL5L", /* mixed case */
  };
  char hrp[100];
  uint8_t data[100];
  size_t n;
  for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++) {
    if (age_bech32_decode(hrp, sizeof(hrp), data, &n, sizeof(data), valid[i], strlen(valid[i]),
                          90) != 0)
      fail_msg("valid BIP-173 vector %zu rejected", i);
    /* Re-encoding the lower-case form reproduces the string. */
    char enc[128], low[128];
    snprintf(low, sizeof(low), "%s", valid[i]);
    for (char *p = low; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    if (strcmp(valid[i], "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j") != 0) {
      assert_int_equal(age_bech32_encode(enc, sizeof(enc), hrp, data, n, false), 0);
      assert_string_equal(enc, low);
    }
  }
  for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
    if (age_bech32_decode(hrp, sizeof(hrp), data, &n, sizeof(data), invalid[i],
                          strlen(invalid[i]), 90) == 0)
      fail_msg("invalid BIP-173 vector %zu accepted", i);
  }
  /* A flipped character breaks the checksum. */
  char bad[] = "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw";
  bad[10] = bad[10] == 'q' ? 'p' : 'q';
  assert_int_not_equal(age_bech32_decode(hrp, sizeof(hrp), data, &n, sizeof(data), bad,
                                         strlen(bad), 90),
                       0);
}

/* ---- keys ---- */

static void test_keys(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  assert_int_equal(age_identity_parse(&id, VEC_IDENTITY, &err), 0);
  char *s = NULL;
  assert_int_equal(age_recipient_encode(&s, age_identity_recipient(id), &err), 0);
  assert_string_equal(s, VEC_RECIPIENT);
  free(s);
  assert_int_equal(age_identity_encode(&s, id, &err), 0);
  assert_int_equal(strcmp(s, VEC_IDENTITY), 0);
  os_free_secret_str(s);
  age_recipient *r = NULL, *r2 = NULL;
  assert_int_equal(age_recipient_parse(&r, VEC_RECIPIENT, &err), 0);
  assert_memory_equal(age_recipient_key(r), age_recipient_key(age_identity_recipient(id)), 32);
  assert_int_equal(age_recipient_dup(&r2, r, &err), 0);
  assert_memory_equal(age_recipient_key(r2), age_recipient_key(r), 32);
  age_recipient_free(r);
  age_recipient_free(r2);
  age_identity_free(id);

  /* Wrong case, wrong prefix, broken checksum; secrets stay out of messages. */
  char lower[128];
  snprintf(lower, sizeof(lower), "%s", VEC_IDENTITY);
  for (char *p = lower; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  assert_int_not_equal(age_identity_parse(&id, lower, &err), 0);
  assert_null(strstr(err.msg, "EGTZVFFV"));
  char flipped[] = VEC_IDENTITY;
  flipped[20] = flipped[20] == 'Q' ? 'P' : 'Q';
  assert_int_equal(age_identity_parse(&id, flipped, &err), OS_EINVAL);
  assert_null(strstr(err.msg, "EGTZVFFV"));
  assert_int_not_equal(age_recipient_parse(&r, "AGE1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4Q47RYEF", &err), 0);
  assert_int_not_equal(age_recipient_parse(&r, VEC_IDENTITY, &err), 0);
  assert_null(strstr(err.msg, "EGTZVFFV")); /* a secret passed as -r is not echoed */
  assert_int_not_equal(age_recipient_parse(&r, "age1notakey", &err), 0);
  assert_non_null(strstr(err.msg, "age1notakey"));
  assert_int_not_equal(age_identity_parse(&id, VEC_RECIPIENT, &err), 0);
  assert_null(id);
  assert_null(r);

  /* Generated identities are distinct and encode/parse round trip. */
  age_identity *a = NULL, *b = NULL, *c = NULL;
  assert_int_equal(age_identity_generate(&a, &err), 0);
  assert_int_equal(age_identity_generate(&b, &err), 0);
  assert_memory_not_equal(age_recipient_key(age_identity_recipient(a)),
                          age_recipient_key(age_identity_recipient(b)), 32);
  assert_int_equal(age_identity_encode(&s, a, &err), 0);
  assert_int_equal(age_identity_parse(&c, s, &err), 0);
  os_free_secret_str(s);
  assert_memory_equal(age_recipient_key(age_identity_recipient(a)),
                      age_recipient_key(age_identity_recipient(c)), 32);
  age_identity_free(a);
  age_identity_free(b);
  age_identity_free(c);
}

/* ---- round trips ---- */

static uint8_t *random_bytes(size_t n) {
  uint8_t *p = malloc(n + 1);
  assert_non_null(p);
  if (n > 0)
    assert_int_equal(RAND_bytes(p, (int)n), 1);
  return p;
}

/* Streams data through age_encrypt_fd / age_decrypt_fd using temp files. */
static int fd_roundtrip(int (*fn)(int, int, void *), void *arg, const void *in, size_t in_len,
                        uint8_t **out, size_t *out_len) {
  FILE *fin = tmpfile(), *fout = tmpfile();
  assert_non_null(fin);
  assert_non_null(fout);
  if (in_len > 0)
    assert_int_equal(fwrite(in, 1, in_len, fin), in_len);
  fflush(fin);
  rewind(fin);
  int rc = fn(fileno(fout), fileno(fin), arg);
  off_t end = lseek(fileno(fout), 0, SEEK_END);
  *out_len = (size_t)end;
  *out = malloc(*out_len + 1);
  assert_int_equal(pread(fileno(fout), *out, *out_len, 0), (ssize_t)*out_len);
  fclose(fin);
  fclose(fout);
  return rc;
}

typedef struct enc_args {
  const age_recipient *const *rcpts;
  size_t n;
  bool armor;
} enc_args;
typedef struct dec_args {
  const age_identity *const *ids;
  size_t n;
  os_error err;
} dec_args;

static int enc_fn(int out, int in, void *arg) {
  enc_args *a = arg;
  os_error err = OS_ERROR_INIT;
  return age_encrypt_fd(out, in, a->rcpts, a->n, a->armor, &err);
}
static int dec_fn(int out, int in, void *arg) {
  dec_args *a = arg;
  return age_decrypt_fd(out, in, a->ids, a->n, &a->err);
}

static void check_armor_lines(const char *ct, size_t n) {
  assert_true(n > 70);
  assert_memory_equal(ct, AGE_ARMOR_BEGIN "\n", strlen(AGE_ARMOR_BEGIN) + 1);
  const char *p = ct + strlen(AGE_ARMOR_BEGIN) + 1;
  const char *end = ct + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    assert_non_null(nl);
    size_t len = (size_t)(nl - p);
    if (len == strlen(AGE_ARMOR_END) && memcmp(p, AGE_ARMOR_END, len) == 0) {
      assert_ptr_equal(nl + 1, end);
      return;
    }
    assert_true(len >= 1 && len <= 64);
    p = nl + 1;
  }
  fail_msg("no END line");
}

static void test_roundtrip(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 16 * 65536, 16 * 65536 + 1,
                                 17 * 65536 + 100};
  os_error err = OS_ERROR_INIT;
  age_identity *ids[3];
  const age_recipient *rcpts[3];
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(age_identity_generate(&ids[i], &err), 0);
    rcpts[i] = age_identity_recipient(ids[i]);
  }
  for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
    uint8_t *pt = random_bytes(sizes[s]);
    for (int armor = 0; armor <= 1; armor++) {
      for (size_t n_r = 1; n_r <= 3; n_r += 2) {
        char *ct = NULL;
        size_t ct_len = 0;
        assert_int_equal(age_encrypt(&ct, &ct_len, rcpts, n_r, pt, sizes[s], armor, &err), 0);
        if (armor)
          check_armor_lines(ct, ct_len);
        size_t expect_bin = sizes[s] + 16 * (sizes[s] == 0 ? 1 : (sizes[s] + 65535) / 65536);
        if (!armor)
          assert_true(ct_len > expect_bin + 16);
        /* Every recipient's identity opens it, in memory and streaming. */
        for (size_t k = 0; k < n_r; k++) {
          const age_identity *one = ids[n_r == 1 ? 0 : k];
          uint8_t *out = NULL;
          size_t out_len = 0;
          assert_int_equal(age_decrypt(&out, &out_len, &one, 1, ct, ct_len, &err), 0);
          assert_int_equal(out_len, sizes[s]);
          assert_memory_equal(out, pt, sizes[s]);
          os_free_secret(out, out_len);
          dec_args da = {&one, 1, OS_ERROR_INIT};
          assert_int_equal(fd_roundtrip(dec_fn, &da, ct, ct_len, &out, &out_len), 0);
          assert_int_equal(out_len, sizes[s]);
          assert_memory_equal(out, pt, sizes[s]);
          free(out);
        }
        free(ct);
        /* Streaming encryption, opened by the in-memory decrypter. */
        enc_args ea = {rcpts, n_r, armor};
        uint8_t *sct = NULL;
        size_t sct_len = 0;
        assert_int_equal(fd_roundtrip(enc_fn, &ea, pt, sizes[s], &sct, &sct_len), 0);
        if (armor)
          check_armor_lines((const char *)sct, sct_len);
        uint8_t *out = NULL;
        size_t out_len = 0;
        const age_identity *last = ids[n_r - 1];
        assert_int_equal(age_decrypt(&out, &out_len, &last, 1, sct, sct_len, &err), 0);
        assert_int_equal(out_len, sizes[s]);
        assert_memory_equal(out, pt, sizes[s]);
        os_free_secret(out, out_len);
        free(sct);
      }
    }
    free(pt);
  }
  for (size_t i = 0; i < 3; i++)
    age_identity_free(ids[i]);
}

static void test_wrong_identity_and_multiple(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  age_identity *right = NULL, *wrong = NULL;
  assert_int_equal(age_identity_generate(&right, &err), 0);
  assert_int_equal(age_identity_generate(&wrong, &err), 0);
  const age_recipient *r = age_identity_recipient(right);
  char *ct = NULL;
  size_t ct_len = 0;
  assert_int_equal(age_encrypt(&ct, &ct_len, &r, 1, "value", 5, true, &err), 0);
  uint8_t *out = NULL;
  size_t out_len = 0;
  const age_identity *w = wrong;
  assert_int_equal(age_decrypt(&out, &out_len, &w, 1, ct, ct_len, &err), OS_ENOIDENTITY);
  assert_null(out);
  dec_args da = {&w, 1, OS_ERROR_INIT};
  assert_int_equal(fd_roundtrip(dec_fn, &da, ct, ct_len, &out, &out_len), OS_ENOIDENTITY);
  assert_int_equal(out_len, 0);
  free(out);
  /* An empty value given as NULL. */
  char *ect = NULL;
  size_t ect_len = 0;
  assert_int_equal(age_encrypt(&ect, &ect_len, &r, 1, NULL, 0, false, &err), 0);
  const age_identity *rid = right;
  assert_int_equal(age_decrypt(&out, &out_len, &rid, 1, ect, ect_len, &err), 0);
  assert_int_equal(out_len, 0);
  os_free_secret(out, out_len);
  free(ect);
  /* Several identities: the matching one is found wherever it is. */
  const age_identity *both[2] = {wrong, right};
  assert_int_equal(age_decrypt(&out, &out_len, both, 2, ct, ct_len, &err), 0);
  assert_int_equal(out_len, 5);
  assert_memory_equal(out, "value", 5);
  os_free_secret(out, out_len);
  free(ct);
  age_identity_free(right);
  age_identity_free(wrong);
}

static void test_tampering(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  assert_int_equal(age_identity_generate(&id, &err), 0);
  const age_recipient *r = age_identity_recipient(id);
  const age_identity *ids = id;
  size_t pt_len = 20 * 65536 + 7;
  uint8_t *pt = random_bytes(pt_len);
  char *ct = NULL;
  size_t ct_len = 0;
  assert_int_equal(age_encrypt(&ct, &ct_len, &r, 1, pt, pt_len, false, &err), 0);
  size_t payload = ct_len - (21 * 65552 - 65536 + 7) ; /* offset of chunk 0 */
  assert_int_equal(payload + 20 * 65552 + 7 + 16, ct_len);
  static const size_t bad_chunks[] = {0, 1, 15, 16, 18, 20};
  for (size_t b = 0; b < sizeof(bad_chunks) / sizeof(*bad_chunks); b++) {
    size_t k = bad_chunks[b];
    ct[payload + k * 65552 + 5] ^= 0x01;
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, ct, ct_len, &err), OS_EPAYLOAD);
    assert_null(out);
    dec_args da = {&ids, 1, OS_ERROR_INIT};
    assert_int_equal(fd_roundtrip(dec_fn, &da, ct, ct_len, &out, &out_len), OS_EPAYLOAD);
    /* Exactly the authentic chunks before the bad one were written. */
    assert_int_equal(out_len, k * 65536);
    assert_memory_equal(out, pt, out_len);
    free(out);
    ct[payload + k * 65552 + 5] ^= 0x01;
  }
  /* Truncation and trailing data. */
  uint8_t *out = NULL;
  size_t out_len = 0;
  assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, ct, ct_len - 1, &err), OS_EPAYLOAD);
  assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, ct, ct_len - 23, &err), OS_EPAYLOAD);
  char *longer = malloc(ct_len + 1);
  memcpy(longer, ct, ct_len);
  longer[ct_len] = 'x';
  assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, longer, ct_len + 1, &err), OS_EPAYLOAD);
  dec_args da = {&ids, 1, OS_ERROR_INIT};
  assert_int_equal(fd_roundtrip(dec_fn, &da, longer, ct_len + 1, &out, &out_len), OS_EPAYLOAD);
  free(out);
  free(longer);
  /* A modified MAC, and an inserted stanza, fail the header MAC. */
  char *mac = strstr(ct, "\n--- ");
  assert_non_null(mac);
  char saved = mac[6];
  mac[6] = saved == 'A' ? 'B' : 'A';
  assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, ct, ct_len, &err), OS_EHMAC);
  mac[6] = saved;
  size_t v = strlen(AGE_VERSION_LINE "\n");
  const char grease[] = "-> grease x\n\n";
  char *ins = malloc(ct_len + sizeof(grease));
  memcpy(ins, ct, v);
  memcpy(ins + v, grease, sizeof(grease) - 1);
  memcpy(ins + v + sizeof(grease) - 1, ct + v, ct_len - v);
  assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, ins, ct_len + sizeof(grease) - 1, &err),
                   OS_EHMAC);
  free(ins);
  /* Still intact after all the flips. */
  assert_int_equal(age_decrypt(&out, &out_len, &ids, 1, ct, ct_len, &err), 0);
  assert_int_equal(out_len, pt_len);
  assert_memory_equal(out, pt, pt_len);
  os_free_secret(out, out_len);
  free(ct);
  free(pt);
  age_identity_free(id);
}

/* Input trickling through a pipe in odd-sized pieces, armored (one thread)
 * and binary (reader thread). */
static void pipe_roundtrip(bool armor, size_t pt_len, size_t bad_chunk, bool keep_open) {
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  assert_int_equal(age_identity_generate(&id, &err), 0);
  const age_recipient *r = age_identity_recipient(id);
  const age_identity *ids = id;
  uint8_t *pt = random_bytes(pt_len);
  char *ct = NULL;
  size_t ct_len = 0;
  assert_int_equal(age_encrypt(&ct, &ct_len, &r, 1, pt, pt_len, false, &err), 0);
  bool tamper = bad_chunk != SIZE_MAX;
  if (tamper) {
    size_t n_chunks = (pt_len + 65535) / 65536;
    size_t payload = ct_len - (pt_len + 16 * n_chunks);
    ct[payload + bad_chunk * 65552 + 3] ^= 1;
  }
  if (armor) {
    os_buf a;
    os_buf_init(&a, SIZE_MAX - 1, false);
    assert_int_equal(age_armor_encode(&a, (const uint8_t *)ct, ct_len), 0);
    free(ct);
    assert_int_equal(os_buf_detach(&ct, &ct_len, &a), 0);
  }
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    for (size_t off = 0; off < ct_len; off += 777) {
      size_t n = ct_len - off < 777 ? ct_len - off : 777;
      if (write(fds[1], ct + off, n) != (ssize_t)n)
        _exit(keep_open ? 0 : 1);
    }
    if (keep_open)
      sleep(60); /* the decrypter must not wait for this end to close */
    _exit(0);
  }
  close(fds[1]);
  FILE *fout = tmpfile();
  int rc = age_decrypt_fd(fileno(fout), fds[0], &ids, 1, &err);
  close(fds[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  off_t end = lseek(fileno(fout), 0, SEEK_END);
  size_t want_len = tamper ? bad_chunk * 65536 : pt_len;
  assert_int_equal(rc, tamper ? OS_EPAYLOAD : 0);
  assert_int_equal(end, (off_t)want_len);
  uint8_t *out = malloc(want_len + 1);
  assert_int_equal(pread(fileno(fout), out, want_len, 0), (ssize_t)want_len);
  assert_memory_equal(out, pt, want_len);
  fclose(fout);
  free(out);
  free(pt);
  free(ct);
  age_identity_free(id);
}

static void test_stream_pipe(void **state) {
  (void)state;
  pipe_roundtrip(true, 3 * 65536 + 11, SIZE_MAX, false);
  pipe_roundtrip(false, 3 * 65536 + 11, SIZE_MAX, false);
  pipe_roundtrip(false, 40 * 65536, SIZE_MAX, false);
  pipe_roundtrip(false, 40 * 65536 + 1, SIZE_MAX, false);
  /* A bad chunk stops decryption at once, though the writer keeps the pipe
   * open (the reader thread is cancelled). */
  pipe_roundtrip(false, 40 * 65536 + 5, 9, true);
  pipe_roundtrip(true, 20 * 65536 + 5, 3, true);
}

/* ---- identity files ---- */

static void write_file(const char *path, const char *text, mode_t mode) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void test_identity_file(void **state) {
  (void)state;
  char dir[] = "/tmp/age-unit-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof(path), "%s/keys.txt", dir);
  os_error err = OS_ERROR_INIT;
  age_identity *gen = NULL;
  assert_int_equal(age_identity_generate(&gen, &err), 0);
  char *second = NULL;
  assert_int_equal(age_identity_encode(&second, gen, &err), 0);
  os_buf text;
  os_buf_init(&text, 4096, true);
  assert_int_equal(os_buf_printf(&text,
                                 "# created: 2024-01-01T00:00:00Z\n"
                                 "# public key: %s\n" VEC_IDENTITY "\n\n"
                                 "# another\r\n%s\r\n",
                                 VEC_RECIPIENT, second),
                   0);
  write_file(path, text.data, 0600);
  age_identity **ids = NULL;
  size_t n = 0;
  assert_int_equal(age_identities_load_file(&ids, &n, path, &err), 0);
  assert_int_equal(n, 2);
  char *enc = NULL;
  assert_int_equal(age_recipient_encode(&enc, age_identity_recipient(ids[0]), &err), 0);
  assert_string_equal(enc, VEC_RECIPIENT);
  free(enc);
  assert_memory_equal(age_recipient_key(age_identity_recipient(ids[1])),
                      age_recipient_key(age_identity_recipient(gen)), 32);
  age_identities_free(ids, n);

  /* Readable or writable by group or others: refused like ssh does. */
  static const mode_t open_modes[] = {0640, 0604, 0644, 0620, 0660};
  for (size_t i = 0; i < sizeof(open_modes) / sizeof(*open_modes); i++) {
    assert_int_equal(chmod(path, open_modes[i]), 0);
    ids = NULL;
    assert_int_equal(age_identities_load_file(&ids, &n, path, &err), OS_EPERM);
    assert_null(ids);
    assert_non_null(strstr(err.msg, "too open"));
    assert_null(strstr(err.msg, "AGE-SECRET-KEY"));
  }
  assert_int_equal(chmod(path, 0400), 0);
  assert_int_equal(age_identities_load_file(&ids, &n, path, &err), 0);
  age_identities_free(ids, n);

  /* A Kubernetes Secret volume: owned by root, group-readable (fsGroup),
   * read by another user: accepted; other-readable or group-writable: not.
   * Needs root to give the file away. */
  if (geteuid() == 0) {
    assert_int_equal(chmod(dir, 0711), 0); /* the other user must reach the file */
    assert_int_equal(chown(path, 0, 65532), 0); /* root:fsGroup, as the kubelet does */
    assert_int_equal(chmod(path, 0440), 0);
    assert_int_equal(setegid(65532), 0);
    assert_int_equal(seteuid(65532), 0);
    assert_int_equal(age_identities_load_file(&ids, &n, path, &err), 0);
    age_identities_free(ids, n);
    assert_int_equal(seteuid(0), 0);
    static const mode_t foreign_bad[] = {0444, 0460}; /* other-readable, group-writable */
    for (size_t i = 0; i < sizeof(foreign_bad) / sizeof(*foreign_bad); i++) {
      assert_int_equal(chmod(path, foreign_bad[i]), 0);
      assert_int_equal(seteuid(65532), 0);
      assert_int_equal(age_identities_load_file(&ids, &n, path, &err), OS_EPERM);
      assert_int_equal(seteuid(0), 0);
    }
    assert_int_equal(setegid(0), 0);
    assert_int_equal(chown(path, 0, 0), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(chmod(dir, 0700), 0);
  } else {
    print_message("skipped: the foreign-owner identity file case needs root\n");
  }

  /* A bad line is reported by number, never by content. */
  write_file(path, "# ok\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
             0600);
  assert_int_equal(age_identities_load_file(&ids, &n, path, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "line 2"));
  assert_null(strstr(err.msg, "QQQQ"));
  write_file(path, "# only comments\n\n", 0600);
  assert_int_equal(age_identities_load_file(&ids, &n, path, &err), OS_EINVAL);
  snprintf(path, sizeof(path), "%s/missing.txt", dir);
  assert_int_equal(age_identities_load_file(&ids, &n, path, &err), OS_ENOTFOUND);

  snprintf(path, sizeof(path), "%s/keys.txt", dir);
  unlink(path);
  rmdir(dir);
  os_buf_free(&text);
  os_free_secret_str(second);
  age_identity_free(gen);
}

/* The armor decoder used by streaming agrees with the whole-buffer one on
 * line-level rules. */
static void test_armor_rules(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  uint8_t *out = NULL;
  size_t n = 0;
  const char *ok = AGE_ARMOR_BEGIN "\nZm9vYmFy\n" AGE_ARMOR_END "\n";
  assert_int_equal(age_armor_decode(&out, &n, ok, strlen(ok), &err), 0);
  assert_int_equal(n, 6);
  assert_memory_equal(out, "foobar", 6);
  free(out);
  static const char *const bad[] = {
      AGE_ARMOR_BEGIN "\nZm9vYmFy\n",                                    /* no END */
      AGE_ARMOR_BEGIN "\nZm9v\nYmFy\n" AGE_ARMOR_END "\n",               /* short then more */
      AGE_ARMOR_BEGIN "\nZm9vYg\n" AGE_ARMOR_END "\n",                   /* no padding */
      "x" AGE_ARMOR_BEGIN "\nZm9vYmFy\n" AGE_ARMOR_END "\n",             /* garbage */
      AGE_ARMOR_BEGIN "\nZm9vYmFy\n" AGE_ARMOR_END "\nx",                /* trailing */
      AGE_ARMOR_BEGIN "\n\nZm9vYmFy\n" AGE_ARMOR_END "\n",               /* empty line */
      AGE_ARMOR_BEGIN "\n Zm9vYmFy\n" AGE_ARMOR_END "\n",                /* indent */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    out = NULL;
    if (age_armor_decode(&out, &n, bad[i], strlen(bad[i]), &err) != OS_EARMOR)
      fail_msg("bad armor %zu accepted", i);
    assert_null(out);
  }
  assert_true(age_is_armored((const uint8_t *)"\n " AGE_ARMOR_BEGIN, 36));
  assert_false(age_is_armored((const uint8_t *)AGE_VERSION_LINE "\n", 22));
}

/* One identity shared by several threads, as the controller does. */
typedef struct thread_job {
  const age_identity *id;
  const char *ct;
  size_t ct_len;
  int failures;
} thread_job;

static void *decrypt_many(void *arg) {
  thread_job *job = arg;
  for (int i = 0; i < 200; i++) {
    os_error err = OS_ERROR_INIT;
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (age_decrypt(&out, &out_len, &job->id, 1, job->ct, job->ct_len, &err) != 0 ||
        out_len != 6 || memcmp(out, "shared", 6) != 0)
      job->failures++;
    os_free_secret(out, out_len);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  assert_int_equal(age_identity_generate(&id, &err), 0);
  const age_recipient *r = age_identity_recipient(id);
  char *ct = NULL;
  size_t ct_len = 0;
  assert_int_equal(age_encrypt(&ct, &ct_len, &r, 1, "shared", 6, true, &err), 0);
  pthread_t th[4];
  thread_job jobs[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (thread_job){id, ct, ct_len, 0};
    assert_int_equal(pthread_create(&th[i], NULL, decrypt_many, &jobs[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(jobs[i].failures, 0);
  }
  free(ct);
  age_identity_free(id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bech32_bip173),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_wrong_identity_and_multiple),
      cmocka_unit_test(test_tampering),
      cmocka_unit_test(test_stream_pipe),
      cmocka_unit_test(test_identity_file),
      cmocka_unit_test(test_armor_rules),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

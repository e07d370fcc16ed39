/* Runs every C2SP age test vector (tests/age/testdata) through age_decrypt
 * and age_decrypt_fd, and checks armor/header round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "age/age.h"
#include "age/age_internal.h"
#include "common/buf.h"
#include "common/fsutil.h"

#define VEC_DIR TESTS_DIR "/age/testdata"
#define MAX_IDS 4

typedef struct vector {
  char name[128];
  char expect[32];
  char payload_hex[65];
  bool armored, compressed, passphrase;
  age_identity *ids[MAX_IDS];
  size_t n_ids;
  size_t n_other_ids; /* identities of types we do not implement */
  uint8_t *body;
  size_t body_len;
} vector;

static void vector_free(vector *v) {
  for (size_t i = 0; i < v->n_ids; i++)
    age_identity_free(v->ids[i]);
  free(v->body);
  memset(v, 0, sizeof(*v));
}

static uint8_t *inflate_all(const uint8_t *in, size_t n, size_t *out_len) {
  size_t cap = 1 << 20, len = 0;
  uint8_t *out = malloc(cap);
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  assert_int_equal(inflateInit(&zs), Z_OK);
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  int zrc;
  do {
    if (len == cap) {
      cap *= 2;
      out = realloc(out, cap);
      assert_non_null(out);
    }
    zs.next_out = out + len;
    zs.avail_out = (uInt)(cap - len);
    zrc = inflate(&zs, Z_NO_FLUSH);
    assert_true(zrc == Z_OK || zrc == Z_STREAM_END);
    len = cap - zs.avail_out;
  } while (zrc != Z_STREAM_END);
  inflateEnd(&zs);
  *out_len = len;
  return out;
}

static void vector_load(vector *v, const char *name) {
  memset(v, 0, sizeof(*v));
  snprintf(v->name, sizeof(v->name), "%s", name);
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", VEC_DIR, name);
  char *data = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(os_read_file(&data, &len, path, 64u << 20, &err), 0);
  char *sep = strstr(data, "\n\n");
  assert_non_null(sep);
  *sep = '\0';
  for (char *line = strtok(data, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    char *colon = strchr(line, ':');
    assert_non_null(colon);
    *colon = '\0';
    const char *val = colon + 2;
    if (strcmp(line, "expect") == 0) {
      snprintf(v->expect, sizeof(v->expect), "%s", val);
    } else if (strcmp(line, "payload") == 0) {
      snprintf(v->payload_hex, sizeof(v->payload_hex), "%s", val);
    } else if (strcmp(line, "identity") == 0) {
      if (strncmp(val, "AGE-SECRET-KEY-1", 16) == 0) {
        assert_true(v->n_ids < MAX_IDS);
        assert_int_equal(age_identity_parse(&v->ids[v->n_ids], val, &err), 0);
        v->n_ids++;
      } else {
        v->n_other_ids++;
      }
    } else if (strcmp(line, "passphrase") == 0) {
      v->passphrase = true;
    } else if (strcmp(line, "armored") == 0) {
      v->armored = strcmp(val, "yes") == 0;
    } else if (strcmp(line, "compressed") == 0) {
      v->compressed = strcmp(val, "zlib") == 0;
    }
  }
  const uint8_t *body = (const uint8_t *)sep + 2;
  size_t body_len = len - (size_t)(sep + 2 - data);
  if (v->compressed) {
    v->body = inflate_all(body, body_len, &v->body_len);
  } else {
    v->body = malloc(body_len + 1);
    memcpy(v->body, body, body_len);
    v->body_len = body_len;
  }
  free(data);
}

static int expected_code(const char *expect) {
  if (strcmp(expect, "success") == 0)
    return 0;
  if (strcmp(expect, "armor failure") == 0)
    return OS_EARMOR;
  if (strcmp(expect, "header failure") == 0)
    return OS_EHEADER;
  if (strcmp(expect, "HMAC failure") == 0)
    return OS_EHMAC;
  if (strcmp(expect, "payload failure") == 0)
    return OS_EPAYLOAD;
  if (strcmp(expect, "no match") == 0)
    return OS_ENOIDENTITY;
  fail_msg("unknown expect value %s", expect);
  return 1;
}

static void sha256_hex(char hex[65], const uint8_t *p, size_t n) {
  uint8_t md[32];
  unsigned int md_len = 0;
  assert_int_equal(EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL), 1);
  for (size_t i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Decrypts through a temporary file with age_decrypt_fd. */
static int decrypt_via_fd(const vector *v, uint8_t **out, size_t *out_len, os_error *err) {
  FILE *in = tmpfile(), *outf = tmpfile();
  assert_non_null(in);
  assert_non_null(outf);
  assert_int_equal(fwrite(v->body, 1, v->body_len, in), v->body_len);
  fflush(in);
  rewind(in);
  int rc = age_decrypt_fd(fileno(outf), fileno(in), (const age_identity *const *)v->ids,
                          v->n_ids, err);
  long sz = ftell(outf);
  (void)sz;
  off_t end = lseek(fileno(outf), 0, SEEK_END);
  assert_true(end >= 0);
  *out_len = (size_t)end;
  *out = malloc(*out_len + 1);
  assert_int_equal(pread(fileno(outf), *out, *out_len, 0), (ssize_t)*out_len);
  fclose(in);
  fclose(outf);
  return rc;
}

/* Re-encoding a parsed header gives back the same bytes. */
static void check_header_roundtrip(const vector *v, const uint8_t *bin, size_t n, int *checked) {
  age_header hdr;
  os_error err = OS_ERROR_INIT;
  if (age_header_parse(&hdr, bin, n, &err) != 0)
    return;
  os_buf b;
  os_buf_init(&b, 1u << 22, false);
  assert_int_equal(age_header_encode_unmac(&b, &hdr), 0);
  assert_int_equal(age_header_encode_mac(&b, hdr.mac), 0);
  if (b.len != hdr.len || memcmp(b.data, bin, hdr.len) != 0)
    fail_msg("%s: header does not round-trip", v->name);
  (*checked)++;
  os_buf_free(&b);
  age_header_free(&hdr);
}

/* Re-armoring the decoded bytes gives the original, up to outer whitespace
 * and line endings. */
static void check_armor_roundtrip(const vector *v, int *checked) {
  uint8_t *bin = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(age_armor_decode(&bin, &n, (const char *)v->body, v->body_len, &err), 0);
  os_buf enc, norm;
  os_buf_init(&enc, 1u << 26, false);
  os_buf_init(&norm, 1u << 26, false);
  assert_int_equal(age_armor_encode(&enc, bin, n), 0);
  const char *s = (const char *)v->body;
  size_t a = 0, z = v->body_len;
  while (a < z && strchr(" \t\r\n", s[a]) != NULL)
    a++;
  while (z > a && strchr(" \t\r\n", s[z - 1]) != NULL)
    z--;
  for (size_t i = a; i < z; i++) {
    if (s[i] != '\r')
      assert_int_equal(os_buf_append(&norm, s + i, 1), 0);
  }
  assert_int_equal(os_buf_append(&norm, "\n", 1), 0);
  if (enc.len != norm.len || memcmp(enc.data, norm.data, enc.len) != 0)
    fail_msg("%s: armor does not round-trip", v->name);
  (*checked)++;
  os_buf_free(&enc);
  os_buf_free(&norm);
  free(bin);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_vectors(void **state) {
  (void)state;
  DIR *d = opendir(VEC_DIR);
  assert_non_null(d);
  char *names[512];
  size_t n_names = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
      continue;
    assert_true(n_names < 512);
    names[n_names++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n_names, sizeof(*names), name_cmp);
  int passed = 0, skipped = 0, failures = 0, hdr_rt = 0, armor_rt = 0;
  for (size_t i = 0; i < n_names; i++) {
    vector v;
    vector_load(&v, names[i]);
    if (v.n_ids == 0) {
      /* passphrase (scrypt) or post-quantum identities only */
      skipped++;
      vector_free(&v);
      free(names[i]);
      continue;
    }
    int want = expected_code(v.expect);
    os_error err = OS_ERROR_INIT;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    int rc = age_decrypt(&pt, &pt_len, (const age_identity *const *)v.ids, v.n_ids, v.body,
                         v.body_len, &err);
    os_error err2 = OS_ERROR_INIT;
    uint8_t *pt2 = NULL;
    size_t pt2_len = 0;
    int rc2 = decrypt_via_fd(&v, &pt2, &pt2_len, &err2);
    if (rc != want || rc2 != want) {
      print_error("FAIL %s: want %s (%d), age_decrypt gave %d (%s), age_decrypt_fd gave %d (%s)\n",
                  v.name, v.expect, want, rc, err.msg, rc2, err2.msg);
      failures++;
    } else if (want == 0) {
      char hex[65], hex2[65];
      sha256_hex(hex, pt, pt_len);
      sha256_hex(hex2, pt2, pt2_len);
      if (strcmp(hex, v.payload_hex) != 0 || strcmp(hex2, v.payload_hex) != 0) {
        print_error("FAIL %s: plaintext hash mismatch\n", v.name);
        failures++;
      } else {
        passed++;
      }
    } else {
      passed++;
    }
    if (want == 0 && v.armored)
      check_armor_roundtrip(&v, &armor_rt);
    if (!v.armored)
      check_header_roundtrip(&v, v.body, v.body_len, &hdr_rt);
    if (pt != NULL)
      os_free_secret(pt, pt_len);
    free(pt2);
    vector_free(&v);
    free(names[i]);
  }
  print_message("age vectors: %d passed, %d failed, %d skipped (passphrase or non-X25519 "
                "identities only); %d headers and %d armors round-tripped\n",
                passed, failures, skipped, hdr_rt, armor_rt);
  assert_int_equal(failures, 0);
  assert_int_equal((size_t)(passed + skipped), n_names);
  assert_true(passed >= 98);
  assert_true(hdr_rt >= 40);
  assert_true(armor_rt >= 5);
}

/* A scrypt-only file opened with an X25519 identity is "unsupported", not
 * "no match". */
static void test_unsupported_stanza(void **state) {
  (void)state;
  vector v;
  vector_load(&v, "scrypt");
  age_identity *id = NULL;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(age_identity_generate(&id, &err), 0);
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  assert_int_equal(age_decrypt(&pt, &pt_len, (const age_identity *const *)&id, 1, v.body,
                               v.body_len, &err),
                   OS_EUNSUPPORTED);
  assert_non_null(strstr(err.msg, "scrypt"));
  vector_free(&v);
  vector_load(&v, "hybrid");
  assert_int_equal(age_decrypt(&pt, &pt_len, (const age_identity *const *)&id, 1, v.body,
                               v.body_len, &err),
                   OS_EUNSUPPORTED);
  assert_null(pt);
  vector_free(&v);
  age_identity_free(id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_unsupported_stanza),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

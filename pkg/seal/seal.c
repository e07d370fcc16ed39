#include "seal/seal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define ENVELOPE_MAGIC "orgsecrets.io/envelope/v1\n"
/* Header fields are names (at most 253 bytes each) plus the magic and keys. */
#define ENVELOPE_HEADER_MAX 2048

void seal_strings_free(char **v, size_t n) {
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

int seal_fingerprint(char *out, const char *recipient, os_error *err) {
  age_recipient *r = NULL;
  int rc = age_recipient_parse(&r, recipient, err);
  if (rc < 0)
    return rc;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(age_recipient_key(r), AGE_X25519_KEY_LEN, md, &md_len, EVP_sha256(), NULL) != 1) {
    age_recipient_free(r);
    return os_error_set(err, OS_ECRYPTO, "sha-256 failed");
  }
  age_recipient_free(r);
  os_hex_encode(out, md, SPEC_FINGERPRINT_LEN / 2);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts v and drops duplicates in place; returns the new count. */
static size_t sort_unique(char **v, size_t n) {
  if (n == 0)
    return 0;
  qsort(v, n, sizeof(*v), cmp_str);
  size_t w = 1;
  for (size_t i = 1; i < n; i++) {
    if (strcmp(v[i], v[w - 1]) == 0) {
      free(v[i]);
      continue;
    }
    v[w++] = v[i];
  }
  return w;
}

int seal_recipients_for(char ***out, size_t *out_n, const spec_org *org, const char *env,
                        bool visible_to_viewers, os_error *err) {
  *out = NULL;
  *out_n = 0;
  const spec_environment *e = spec_org_find_env(org, env);
  if (e == NULL)
    return os_error_set(err, OS_ENOTFOUND, "environment %s is not defined in organization %s",
                        env, org->id);
  size_t cap = e->n_controllers + org->n_members;
  char **v = calloc(cap ? cap : 1, sizeof(*v));
  if (v == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  size_t n = 0;
  int rc = 0;
  for (size_t i = 0; i < e->n_controllers; i++) {
    if ((v[n] = os_strdup(e->controllers[i])) == NULL)
      goto oom;
    n++;
  }
  for (size_t i = 0; i < org->n_members; i++) {
    const spec_member *m = &org->members[i];
    if (m->recipient == NULL)
      continue;
    if (m->role == SPEC_ROLE_VIEWER && !visible_to_viewers)
      continue;
    if ((v[n] = os_strdup(m->recipient)) == NULL)
      goto oom;
    n++;
  }
  if (e->n_controllers == 0) {
    rc = os_error_set(err, OS_EINVAL, "environment %s has no controller recipient", env);
    seal_strings_free(v, n);
    return rc;
  }
  *out_n = sort_unique(v, n);
  *out = v;
  return 0;
oom:
  seal_strings_free(v, n);
  return os_error_set(err, OS_ENOMEM, "out of memory");
}

int seal_fingerprints_for(char ***out, size_t *out_n, const spec_org *org, const char *env,
                          bool visible_to_viewers, os_error *err) {
  char **rcpts = NULL;
  size_t n = 0;
  *out = NULL;
  *out_n = 0;
  int rc = seal_recipients_for(&rcpts, &n, org, env, visible_to_viewers, err);
  if (rc < 0)
    return rc;
  char **fps = calloc(n ? n : 1, sizeof(*fps));
  if (fps == NULL) {
    seal_strings_free(rcpts, n);
    return os_error_set(err, OS_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    fps[i] = malloc(SPEC_FINGERPRINT_LEN + 1);
    if (fps[i] == NULL) {
      rc = os_error_set(err, OS_ENOMEM, "out of memory");
      goto fail;
    }
    rc = seal_fingerprint(fps[i], rcpts[i], err);
    if (rc < 0) {
      free(fps[i]);
      fps[i] = NULL;
      goto fail;
    }
  }
  seal_strings_free(rcpts, n);
  *out_n = sort_unique(fps, n);
  *out = fps;
  return 0;
fail:
  seal_strings_free(fps, n);
  seal_strings_free(rcpts, n);
  return rc;
}

bool seal_recipients_current(const spec_secret *s, const spec_org *org) {
  char **fps = NULL;
  size_t n = 0;
  os_error err = OS_ERROR_INIT;
  if (seal_fingerprints_for(&fps, &n, org, s->environment, s->visible_to_viewers, &err) < 0)
    return false;
  bool same = n == s->n_recipients;
  for (size_t i = 0; same && i < n; i++)
    same = strcmp(fps[i], s->recipients[i]) == 0;
  seal_strings_free(fps, n);
  return same;
}

int seal_authorized_init(seal_authorized *a, const spec_org *org, const char *env, os_error *err) {
  memset(a, 0, sizeof(*a));
  int rc = seal_fingerprints_for(&a->fps, &a->n, org, env, false, err);
  if (rc == 0)
    rc = seal_fingerprints_for(&a->with_viewers, &a->n_with_viewers, org, env, true, err);
  return rc;
}

void seal_authorized_clear(seal_authorized *a) {
  seal_strings_free(a->fps, a->n);
  seal_strings_free(a->with_viewers, a->n_with_viewers);
  memset(a, 0, sizeof(*a));
}

static bool authorized_has(char *const *v, size_t n, const char *fp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid], fp);
    if (c == 0)
      return true;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

void seal_authorized_compare(size_t *unauthorized, size_t *missing, const seal_authorized *a,
                             bool visible, char *const *fps, size_t n) {
  char *const *v = visible ? a->with_viewers : a->fps;
  size_t nv = visible ? a->n_with_viewers : a->n, known = 0;
  *unauthorized = 0;
  for (size_t i = 0; i < n; i++) {
    if (authorized_has(v, nv, fps[i]))
      known++;
    else
      (*unauthorized)++;
  }
  *missing = nv - (known < nv ? known : nv);
}

void seal_authorized_compare_list(size_t *unauthorized, size_t *missing, const seal_authorized *a,
                                  bool visible, const char *list) {
  char *const *v = visible ? a->with_viewers : a->fps;
  size_t nv = visible ? a->n_with_viewers : a->n, known = 0;
  *unauthorized = 0;
  for (const char *p = list; p != NULL && *p != '\0';) {
    const char *comma = strchr(p, ',');
    size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
    char fp[SPEC_FINGERPRINT_LEN + 1];
    if (len == SPEC_FINGERPRINT_LEN) {
      memcpy(fp, p, len);
      fp[len] = '\0';
    } else {
      fp[0] = '\0'; /* not a fingerprint: never authorized */
    }
    if (fp[0] != '\0' && authorized_has(v, nv, fp))
      known++;
    else
      (*unauthorized)++;
    p = comma != NULL ? comma + 1 : NULL;
  }
  *missing = nv - (known < nv ? known : nv);
}

/* Bucketed size of the whole envelope: at least 256 bytes, powers of two up
 * to 4 KiB, then multiples of 4 KiB. */
static size_t padded_size(size_t n) {
  size_t p = 256;
  while (p < n && p < 4096)
    p *= 2;
  if (p >= n)
    return p;
  return (n + 4095) / 4096 * 4096;
}

int seal_envelope_encode(uint8_t **out, size_t *out_len, const char *org, const char *env,
                         const char *app, const char *name, const void *value, size_t len,
                         os_error *err) {
  *out = NULL;
  *out_len = 0;
  if (len == 0 || len > SPEC_VALUE_MAX)
    return os_error_set(err, OS_EINVAL, "value must be 1 to %d bytes", SPEC_VALUE_MAX);
  char header[ENVELOPE_HEADER_MAX];
  int h = snprintf(header, sizeof(header),
                   ENVELOPE_MAGIC "organization: %s\nenvironment: %s\napplication:%s%s\n"
                   "name: %s\nlength: %zu\n\n",
                   org, env, app ? " " : "", app ? app : "", name, len);
  if (h < 0 || (size_t)h >= sizeof(header))
    return os_error_set(err, OS_EINVAL, "envelope header too long");
  size_t used = (size_t)h + len;
  size_t total = padded_size(used);
  uint8_t *p = calloc(1, total);
  if (p == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  memcpy(p, header, (size_t)h);
  memcpy(p + h, value, len);
  *out = p;
  *out_len = total;
  return 0;
}

/* Reads "key: value\n" (or "key:\n" for an empty value) at *pos. */
static int read_field(const char **val, size_t *val_len, const uint8_t *d, size_t n, size_t *pos,
                      const char *key) {
  size_t klen = strlen(key);
  /* checksrc: public: an envelope key */
  if (n - *pos < klen + 2 || memcmp(d + *pos, key, klen) != 0 || d[*pos + klen] != ':')
    return -1;
  size_t i = *pos + klen + 1;
  size_t start = i;
  if (i < n && d[i] == ' ')
    start = ++i;
  while (i < n && d[i] != '\n') {
    if (d[i] < 0x21 || d[i] > 0x7e)
      return -1;
    i++;
  }
  if (i >= n)
    return -1;
  if (start == i && d[start - 1] == ' ')
    return -1; /* "key: " with nothing after it is not canonical */
  *val = (const char *)d + start;
  *val_len = i - start;
  *pos = i + 1;
  return 0;
}

static bool field_is(const char *v, size_t vlen, const char *want) {
  size_t wlen = want ? strlen(want) : 0;
  /* checksrc: public: binding names */
  return vlen == wlen && (wlen == 0 || memcmp(v, want, wlen) == 0);
}

int seal_envelope_decode(uint8_t **value, size_t *len, const uint8_t *d, size_t n,
                         const char *org, const char *env, const char *app, const char *name,
                         os_error *err) {
  *value = NULL;
  *len = 0;
  size_t pos = strlen(ENVELOPE_MAGIC);
  if (n < pos || memcmp(d, ENVELOPE_MAGIC, pos) != 0) /* checksrc: public: the envelope magic */
    return os_error_set(err, OS_EINVAL, "not an orgsecrets envelope (unknown format or version)");
  const char *f_org, *f_env, *f_app, *f_name, *f_len;
  size_t l_org, l_env, l_app, l_name, l_len;
  if (read_field(&f_org, &l_org, d, n, &pos, "organization") < 0 ||
      read_field(&f_env, &l_env, d, n, &pos, "environment") < 0 ||
      read_field(&f_app, &l_app, d, n, &pos, "application") < 0 ||
      read_field(&f_name, &l_name, d, n, &pos, "name") < 0 ||
      read_field(&f_len, &l_len, d, n, &pos, "length") < 0 || pos >= n || d[pos] != '\n')
    return os_error_set(err, OS_EINVAL, "malformed envelope header");
  pos++;
  if (!field_is(f_org, l_org, org) || !field_is(f_env, l_env, env) ||
      !field_is(f_app, l_app, app) || !field_is(f_name, l_name, name)) {
    return os_error_set(err, OS_EBINDING,
                        "binding mismatch: value was sealed for %.*s/%.*s/%.*s/%.*s, "
                        "not %s/%s/%s/%s",
                        (int)l_org, f_org, (int)l_env, f_env, l_app ? (int)l_app : 1,
                        l_app ? f_app : "-", (int)l_name, f_name, org, env, app ? app : "-",
                        name);
  }
  size_t vlen = 0;
  if (l_len == 0 || l_len > 7 || (l_len > 1 && f_len[0] == '0'))
    return os_error_set(err, OS_EINVAL, "malformed envelope length");
  for (size_t i = 0; i < l_len; i++) {
    if (f_len[i] < '0' || f_len[i] > '9')
      return os_error_set(err, OS_EINVAL, "malformed envelope length");
    vlen = vlen * 10 + (size_t)(f_len[i] - '0');
  }
  if (vlen == 0 || vlen > SPEC_VALUE_MAX || vlen > n - pos || padded_size(pos + vlen) != n)
    return os_error_set(err, OS_EINVAL, "malformed envelope length or padding");
  for (size_t i = pos + vlen; i < n; i++) {
    if (d[i] != 0)
      return os_error_set(err, OS_EINVAL, "malformed envelope padding");
  }
  uint8_t *v = malloc(vlen);
  if (v == NULL)
    return os_error_set(err, OS_ENOMEM, "out of memory");
  memcpy(v, d + pos, vlen);
  *value = v;
  *len = vlen;
  return 0;
}

int seal_value(spec_secret *s, const spec_org *org, const void *value, size_t len,
               os_error *err) {
  char **rcpts = NULL, **fps = NULL, *armored = NULL;
  size_t n = 0, n_fps = 0, armored_len = 0, env_len = 0;
  uint8_t *envelope = NULL;
  age_recipient **parsed = NULL;
  int rc = seal_recipients_for(&rcpts, &n, org, s->environment, s->visible_to_viewers, err);
  if (rc < 0)
    goto done;
  rc = seal_fingerprints_for(&fps, &n_fps, org, s->environment, s->visible_to_viewers, err);
  if (rc < 0)
    goto done;
  parsed = calloc(n, sizeof(*parsed));
  if (parsed == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
    goto done;
  }
  {
    /* the environment's controllers first: a controller then opens each value
     * with one X25519 operation instead of trying every member's stanza */
    const spec_environment *e = spec_org_find_env(org, s->environment);
    size_t w = 0;
    for (int pass = 0; pass < 2; pass++) {
      for (size_t i = 0; i < n; i++) {
        bool ctl = false;
        for (size_t k = 0; e != NULL && k < e->n_controllers; k++)
          ctl |= strcmp(e->controllers[k], rcpts[i]) == 0;
        if (ctl != (pass == 0))
          continue;
        rc = age_recipient_parse(&parsed[w++], rcpts[i], err);
        if (rc < 0)
          goto done;
      }
    }
  }
  rc = seal_envelope_encode(&envelope, &env_len, s->organization, s->environment,
                            s->application, s->name, value, len, err);
  if (rc < 0)
    goto done;
  rc = age_encrypt(&armored, &armored_len, (const age_recipient *const *)parsed, n, envelope,
                   env_len, true, err);
  if (rc < 0)
    goto done;
  free(s->encrypted_value);
  s->encrypted_value = armored;
  armored = NULL;
  seal_strings_free(s->recipients, s->n_recipients);
  s->recipients = fps;
  s->n_recipients = n_fps;
  fps = NULL;
done:
  os_free_secret(envelope, env_len);
  if (parsed != NULL) {
    for (size_t i = 0; i < n; i++)
      age_recipient_free(parsed[i]);
    free(parsed);
  }
  free(armored);
  seal_strings_free(fps, n_fps);
  seal_strings_free(rcpts, n);
  return rc;
}

int seal_unseal(uint8_t **value, size_t *len, const spec_secret *s,
                const age_identity *const *ids, size_t n_ids, os_error *err) {
  *value = NULL;
  *len = 0;
  if (s->encrypted_value == NULL)
    return os_error_set(err, OS_EINVAL, "%s/%s: no encryptedValue", s->environment, s->name);
  uint8_t *plain = NULL;
  size_t plain_len = 0;
  int rc = age_decrypt(&plain, &plain_len, ids, n_ids, s->encrypted_value,
                       strlen(s->encrypted_value), err);
  if (rc == OS_ENOIDENTITY) {
    return os_error_set(err, rc, "%s/%s: not a recipient: no identity given can open this value",
                        s->environment, s->name);
  }
  if (rc < 0)
    return os_error_prefix(err, "%s/%s: integrity check failed", s->environment, s->name);
  rc = seal_envelope_decode(value, len, plain, plain_len, s->organization, s->environment,
                            s->application, s->name, err);
  os_free_secret(plain, plain_len);
  if (rc < 0)
    os_error_prefix(err, "%s/%s", s->environment, s->name);
  return rc;
}

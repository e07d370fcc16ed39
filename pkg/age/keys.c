/* X25519 identities and recipients, and their Bech32 encodings. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age/age_internal.h"

#define RECIPIENT_HRP "age"
#define IDENTITY_HRP "AGE-SECRET-KEY-"
/* Longest encoding of a 32-byte key with either prefix, plus NUL. */
#define KEY_STR_MAX 128

struct age_recipient {
  uint8_t key[AGE_X25519_KEY_LEN];
  EVP_PKEY *pkey;
};

struct age_identity {
  uint8_t secret[AGE_X25519_KEY_LEN];
  EVP_PKEY *pkey;
  EVP_PKEY_CTX *derive; /* derive-initialised; only ever duplicated */
  age_recipient rcpt;
};

EVP_PKEY *age_identity_pkey(const age_identity *id) { return id->pkey; }
EVP_PKEY_CTX *age_identity_derive_ctx(const age_identity *id) { return id->derive; }
EVP_PKEY *age_recipient_pkey(const age_recipient *r) { return r->pkey; }

static int identity_from_secret(age_identity **out, const uint8_t secret[32], os_error *err) {
  *out = NULL;
  age_identity *id = calloc(1, sizeof(*id));
  if (id == NULL)
    return os_error_set(err, OS_ENOMEM, "identity: out of memory");
  memcpy(id->secret, secret, 32);
  size_t pub_len = 32;
  id->pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, secret, 32);
  if (id->pkey == NULL || EVP_PKEY_get_raw_public_key(id->pkey, id->rcpt.key, &pub_len) != 1 ||
      pub_len != 32) {
    age_identity_free(id);
    ERR_clear_error();
    return os_error_set(err, OS_ECRYPTO, "identity: cannot make X25519 key");
  }
  id->rcpt.pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, id->rcpt.key, 32);
  id->derive = EVP_PKEY_CTX_new_from_pkey(NULL, id->pkey, NULL);
  if (id->rcpt.pkey == NULL || id->derive == NULL || EVP_PKEY_derive_init(id->derive) != 1) {
    age_identity_free(id);
    ERR_clear_error();
    return os_error_set(err, OS_ECRYPTO, "identity: cannot make X25519 public key");
  }
  *out = id;
  return 0;
}

int age_identity_generate(age_identity **out, os_error *err) {
  uint8_t secret[32];
  *out = NULL;
  if (RAND_bytes(secret, sizeof(secret)) != 1)
    return os_error_set(err, OS_ECRYPTO, "identity: random generator failed");
  int rc = identity_from_secret(out, secret, err);
  OPENSSL_cleanse(secret, sizeof(secret));
  return rc;
}

int age_identity_parse(age_identity **out, const char *s, os_error *err) {
  char hrp[32];
  uint8_t data[40];
  size_t n = 0;
  *out = NULL;
  int rc = 0;
  if (age_bech32_decode(hrp, sizeof(hrp), data, &n, sizeof(data), s, strlen(s), 0) != 0) {
    rc = os_error_set(err, OS_EINVAL, "identity: malformed secret key");
    goto done;
  }
  if (strcmp(hrp, IDENTITY_HRP) != 0) {
    rc = os_error_set(err, strncmp(hrp, "AGE-", 4) == 0 ? OS_EUNSUPPORTED : OS_EINVAL,
                      "identity: not an X25519 age secret key (prefix %s)", hrp);
    goto done;
  }
  if (n != 32) {
    rc = os_error_set(err, OS_EINVAL, "identity: secret key has the wrong length");
    goto done;
  }
  rc = identity_from_secret(out, data, err);
done:
  OPENSSL_cleanse(data, sizeof(data));
  return rc;
}

int age_identity_encode(char **out, const age_identity *id, os_error *err) {
  *out = malloc(KEY_STR_MAX);
  if (*out == NULL)
    return os_error_set(err, OS_ENOMEM, "identity: out of memory");
  if (age_bech32_encode(*out, KEY_STR_MAX, IDENTITY_HRP, id->secret, 32, true) != 0) {
    os_free_secret(*out, KEY_STR_MAX);
    *out = NULL;
    return os_error_set(err, OS_EINVAL, "identity: encoding failed");
  }
  return 0;
}

const age_recipient *age_identity_recipient(const age_identity *id) { return &id->rcpt; }

void age_identity_free(age_identity *id) {
  if (id == NULL)
    return;
  EVP_PKEY_CTX_free(id->derive);
  EVP_PKEY_free(id->pkey);
  EVP_PKEY_free(id->rcpt.pkey);
  OPENSSL_cleanse(id, sizeof(*id));
  free(id);
}

/* As OpenSSH does for private keys: a file we own must be private to us.
 * A file owned by someone else (a Kubernetes Secret volume: root-owned,
 * group = the pod's fsGroup, mode 0440) may be group-readable, since its
 * owner chose who reads it; others may never read or write it. */
static int check_mode(const char *path, const struct stat *st, os_error *err) {
  bool ours = st->st_uid == geteuid();
  if ((st->st_mode & 007) == 0 && (!ours || (st->st_mode & 070) == 0) &&
      (ours || (st->st_mode & 020) == 0))
    return 0;
  /* chmod is advice only for the owner: anyone else cannot, and should not */
  if (ours)
    return os_error_set(err, OS_EPERM,
                        "identity file %s: permissions %04o are too open (readable or writable "
                        "by group or others); run chmod 600 %s",
                        path, (unsigned)(st->st_mode & 07777), path);
  return os_error_set(err, OS_EPERM,
                      "identity file %s: permissions %04o are too open (readable or writable by "
                      "others) and it belongs to user id %u, not to you: ask its owner to make "
                      "it private, or use an identity file of your own (orgsecrets keygen)",
                      path, (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid);
}

int age_identities_load_file(age_identity ***out, size_t *out_n, const char *path,
                             os_error *err) {
  *out = NULL;
  *out_n = 0;
  os_buf b;
  os_buf_init(&b, AGE_IDENTITY_FILE_MAX, true);
  age_identity **ids = NULL;
  size_t n_ids = 0;
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return os_error_set(err, errno == ENOENT ? OS_ENOTFOUND : OS_EIO,
                        "identity file %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = os_error_set(err, OS_EIO, "identity file %s: %s", path, strerror(errno));
    goto done;
  }
  if (S_ISREG(st.st_mode)) {
    rc = check_mode(path, &st, err);
    if (rc < 0)
      goto done;
  }
  if ((rc = os_buf_read_fd(&b, fd)) < 0) {
    if (rc == OS_EIO)
      rc = os_error_set(err, OS_EIO, "identity file %s: %s", path, strerror(errno));
    else
      rc = os_error_set(err, OS_EINVAL, "identity file %s: larger than %d bytes", path,
                        AGE_IDENTITY_FILE_MAX);
    goto done;
  }
  char *text = b.data;
  size_t len = b.len;
  size_t n_lines = 1;
  for (size_t i = 0; i < len; i++)
    n_lines += text[i] == '\n';
  ids = calloc(n_lines, sizeof(*ids));
  if (ids == NULL) {
    rc = os_error_set(err, OS_ENOMEM, "identity file %s: out of memory", path);
    goto done;
  }
  size_t pos = 0, line_no = 0;
  while (pos < len) {
    line_no++;
    char *line = text + pos;
    char *nl = memchr(line, '\n', len - pos);
    size_t l = nl != NULL ? (size_t)(nl - line) : len - pos;
    pos += l + (nl != NULL ? 1 : 0);
    if (l > 0 && line[l - 1] == '\r')
      l--;
    while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
      l--;
    if (l == 0 || line[0] == '#')
      continue;
    line[l] = '\0';
    os_error sub = OS_ERROR_INIT;
    rc = age_identity_parse(&ids[n_ids], line, &sub);
    if (rc < 0) {
      rc = os_error_set(err, rc == OS_EUNSUPPORTED ? OS_EUNSUPPORTED : OS_EINVAL,
                        "identity file %s line %zu: %s", path, line_no,
                        rc == OS_EUNSUPPORTED ? "unsupported identity type"
                                              : "not a valid AGE-SECRET-KEY-1 identity");
      goto done;
    }
    n_ids++;
  }
  if (n_ids == 0) {
    rc = os_error_set(err, OS_EINVAL, "identity file %s: no identities found", path);
    goto done;
  }
  *out = ids;
  *out_n = n_ids;
  ids = NULL;
done:
  if (ids != NULL)
    age_identities_free(ids, n_ids);
  os_buf_free(&b);
  close(fd);
  return rc;
}

void age_identities_free(age_identity **ids, size_t n) {
  if (ids == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    age_identity_free(ids[i]);
  free(ids);
}

/* Echoes a rejected recipient string only when it cannot be a secret key. */
static const char *shown(const char *s) {
  if (strncmp(s, "age1", 4) != 0 || strlen(s) > 120)
    return "(not shown)";
  return s;
}

int age_recipient_parse(age_recipient **out, const char *s, os_error *err) {
  char hrp[32];
  uint8_t data[40];
  size_t n = 0;
  *out = NULL;
  if (age_bech32_decode(hrp, sizeof(hrp), data, &n, sizeof(data), s, strlen(s), 0) != 0)
    return os_error_set(err, OS_EINVAL, "recipient %s: not a valid age1... public key", shown(s));
  if (strcmp(hrp, RECIPIENT_HRP) != 0)
    return os_error_set(err, strncmp(hrp, "age1", 4) == 0 ? OS_EUNSUPPORTED : OS_EINVAL,
                        "recipient %s: not an X25519 age recipient", shown(s));
  if (n != 32)
    return os_error_set(err, OS_EINVAL, "recipient %s: wrong key length", shown(s));
  age_recipient *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return os_error_set(err, OS_ENOMEM, "recipient: out of memory");
  memcpy(r->key, data, 32);
  r->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, r->key, 32);
  if (r->pkey == NULL) {
    free(r);
    ERR_clear_error();
    return os_error_set(err, OS_ECRYPTO, "recipient: cannot make X25519 key");
  }
  *out = r;
  return 0;
}

int age_recipient_encode(char **out, const age_recipient *r, os_error *err) {
  *out = malloc(KEY_STR_MAX);
  if (*out == NULL)
    return os_error_set(err, OS_ENOMEM, "recipient: out of memory");
  if (age_bech32_encode(*out, KEY_STR_MAX, RECIPIENT_HRP, r->key, 32, false) != 0) {
    free(*out);
    *out = NULL;
    return os_error_set(err, OS_EINVAL, "recipient: encoding failed");
  }
  return 0;
}

const uint8_t *age_recipient_key(const age_recipient *r) { return r->key; }

int age_recipient_dup(age_recipient **out, const age_recipient *r, os_error *err) {
  *out = calloc(1, sizeof(**out));
  if (*out == NULL)
    return os_error_set(err, OS_ENOMEM, "recipient: out of memory");
  memcpy((*out)->key, r->key, 32);
  if (EVP_PKEY_up_ref(r->pkey) != 1) {
    free(*out);
    *out = NULL;
    return os_error_set(err, OS_ECRYPTO, "recipient: cannot copy key");
  }
  (*out)->pkey = r->pkey;
  return 0;
}

void age_recipient_free(age_recipient *r) {
  if (r == NULL)
    return;
  EVP_PKEY_free(r->pkey);
  free(r);
}

/* orgsecrets age keygen|encrypt|decrypt: plain age v1 files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "age/age.h"
#include "cli.h"
#include "common/buf.h"
#include "common/fsutil.h"

#define MAX_KEYS 256
#define RECIPIENTS_FILE_MAX (1024 * 1024)

static const char age_usage[] =
    "usage: orgsecrets age keygen [-o FILE]\n"
    "       orgsecrets age encrypt (-r AGE1... | -R FILE)... [-a] [-o OUT] [IN]\n"
    "       orgsecrets age decrypt -i FILE [-i FILE]... [-o OUT] [IN]\n";

static const char keygen_usage[] =
    "usage: orgsecrets age keygen [-o FILE]\n"
    "Generates an X25519 age identity. With -o, writes it to FILE (mode 0600, refusing\n"
    "to overwrite) and prints the public key on stderr; else prints the file on stdout.\n";

static const char encrypt_usage[] =
    "usage: orgsecrets age encrypt (-r AGE1... | -R FILE)... [-a] [-o OUT] [IN]\n"
    "Encrypts IN (default stdin) to every recipient, in the age v1 format.\n"
    "  -r, --recipient AGE1...   a recipient public key (repeatable)\n"
    "  -R, --recipients-file F   a file of recipients, one per line, # comments\n"
    "  -a, --armor               ASCII-armored output\n"
    "  -o, --output OUT          write to OUT, else stdout (a file is replaced only on\n"
    "                            success; a FIFO or device is written in place)\n";

static const char decrypt_usage[] =
    "usage: orgsecrets age decrypt -i FILE [-i FILE]... [-o OUT] [IN]\n"
    "Decrypts IN (default stdin; binary or armored) with the identities in FILE.\n"
    "  -i, --identity FILE       an age identity file, mode 0600 (repeatable); default\n"
    "                            $ORGSECRETS_IDENTITY, else ~/.config/orgsecrets/identity\n"
    "  -o, --output OUT          write to OUT, else stdout (a file is replaced only on\n"
    "                            success; a FIFO or device is written in place)\n";

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
  char msg[OS_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "orgsecrets: %s\n", msg);
  return 1;
}

/* Matches "-x VALUE", "-xVALUE", "--long VALUE" and "--long=VALUE". */
static bool opt_value(int argc, char **argv, int *i, const char *s, const char *l,
                      const char **val) {
  const char *a = argv[*i];
  size_t ll = strlen(l);
  if (strcmp(a, s) == 0 || strcmp(a, l) == 0) {
    if (*i + 1 >= argc) {
      *val = NULL;
      return true;
    }
    *val = argv[++*i];
    return true;
  }
  if (strncmp(a, l, ll) == 0 && a[ll] == '=') {
    *val = a + ll + 1;
    return true;
  }
  if (strncmp(a, s, 2) == 0 && a[2] != '\0' && s[1] != '-') {
    *val = a + 2;
    return true;
  }
  return false;
}

/* Output to stdout, or to path under the rule of os_output_open: a file is
 * replaced only on success; FIFOs and devices are written in place. */
static int output_open(os_output *o, const char *path, mode_t mode) {
  os_error err = OS_ERROR_INIT;
  if (cli_output_open(o, path == NULL ? "-" : path, mode, &err) < 0)
    return fail("%s", err.msg);
  return 0;
}

static int output_close(os_output *o, bool ok) {
  if (!ok) {
    os_output_abort(o);
    return 1;
  }
  os_error err = OS_ERROR_INIT;
  if (os_output_commit(o, &err) < 0)
    return fail("%s", err.msg);
  return 0;
}

static int open_input(const char *path) {
  if (path == NULL || strcmp(path, "-") == 0)
    return STDIN_FILENO;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail("open %s: %s", path, strerror(errno));
  return fd;
}

static mode_t umask_mode(mode_t mode) {
  mode_t m = umask(0);
  umask(m);
  return mode & ~m;
}

static int age_keygen(int argc, char **argv) {
  const char *out_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(keygen_usage, stdout);
      return 0;
    } else if (opt_value(argc, argv, &i, "-o", "--output", &v)) {
      if (v == NULL)
        return fail("age keygen: -o needs a file");
      out_path = v;
    } else {
      return fail("age keygen: unexpected argument %s (see --help)", argv[i]);
    }
  }
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  char *secret = NULL, *pub = NULL;
  os_buf text;
  os_buf_init(&text, 4096, true);
  int rc = 1;
  if (age_identity_generate(&id, &err) < 0 || age_identity_encode(&secret, id, &err) < 0 ||
      age_recipient_encode(&pub, age_identity_recipient(id), &err) < 0) {
    fail("age keygen: %s", err.msg);
    goto done;
  }
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    fail("age keygen: cannot format the time");
    goto done;
  }
  if (os_buf_printf(&text, "# created: %s\n# public key: %s\n", stamp, pub) < 0 ||
      os_buf_puts(&text, secret) < 0 || os_buf_puts(&text, "\n") < 0) {
    fail("age keygen: out of memory");
    goto done;
  }
  if (out_path != NULL) {
    int wrc = os_write_file_new(out_path, text.data, text.len, 0600, &err);
    if (wrc == OS_ECONFLICT) {
      fail("age keygen: %s already exists; not overwriting an identity", out_path);
      goto done;
    }
    if (wrc < 0) {
      fail("age keygen: %s", err.msg);
      goto done;
    }
    fprintf(stderr, "Public key: %s\n", pub);
  } else {
    if (fwrite(text.data, 1, text.len, stdout) != text.len || fflush(stdout) != 0) {
      fail("age keygen: write to stdout failed");
      goto done;
    }
  }
  rc = 0;
done:
  os_buf_free(&text);
  os_free_secret_str(secret);
  free(pub);
  age_identity_free(id);
  return rc;
}

static int add_recipient(age_recipient **rcpts, size_t *n, const char *s) {
  os_error err = OS_ERROR_INIT;
  if (*n >= MAX_KEYS)
    return fail("age encrypt: more than %d recipients", MAX_KEYS);
  if (age_recipient_parse(&rcpts[*n], s, &err) < 0)
    return fail("age encrypt: %s", err.msg);
  (*n)++;
  return 0;
}

static int add_recipients_file(age_recipient **rcpts, size_t *n, const char *path) {
  os_error err = OS_ERROR_INIT;
  char *text = NULL;
  size_t len = 0;
  if (os_read_file(&text, &len, path, RECIPIENTS_FILE_MAX, &err) < 0)
    return fail("age encrypt: recipients file %s: %s", path, err.msg);
  int rc = 0;
  size_t before = *n, line_no = 0;
  char *p = text;
  while (rc == 0 && p < text + len) {
    line_no++;
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    char *end = nl != NULL ? nl : text + len;
    char *next = nl != NULL ? nl + 1 : end;
    while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
      end--;
    *end = '\0';
    if (*p != '\0' && *p != '#') {
      os_error e2 = OS_ERROR_INIT;
      if (*n >= MAX_KEYS) {
        rc = fail("age encrypt: more than %d recipients", MAX_KEYS);
      } else if (age_recipient_parse(&rcpts[*n], p, &e2) < 0) {
        rc = fail("age encrypt: recipients file %s line %zu: %s", path, line_no, e2.msg);
      } else {
        (*n)++;
      }
    }
    p = next;
  }
  if (rc == 0 && *n == before)
    rc = fail("age encrypt: recipients file %s: no recipients found", path);
  free(text);
  return rc;
}

static int age_encrypt_cmd(int argc, char **argv) {
  age_recipient *rcpts[MAX_KEYS];
  size_t n = 0;
  const char *out_path = NULL, *in_path = NULL;
  bool armor = false;
  int rc = 1;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(encrypt_usage, stdout);
      rc = 0;
      goto done;
    } else if (strcmp(a, "-a") == 0 || strcmp(a, "--armor") == 0) {
      armor = true;
    } else if (opt_value(argc, argv, &i, "-r", "--recipient", &v)) {
      if (v == NULL) {
        fail("age encrypt: -r needs a recipient");
        goto done;
      }
      if (add_recipient(rcpts, &n, v) != 0)
        goto done;
    } else if (opt_value(argc, argv, &i, "-R", "--recipients-file", &v)) {
      if (v == NULL) {
        fail("age encrypt: -R needs a file");
        goto done;
      }
      if (add_recipients_file(rcpts, &n, v) != 0)
        goto done;
    } else if (opt_value(argc, argv, &i, "-o", "--output", &v)) {
      if (v == NULL) {
        fail("age encrypt: -o needs a file");
        goto done;
      }
      out_path = v;
    } else if (a[0] == '-' && a[1] != '\0') {
      fail("age encrypt: unknown option %s (see --help)", a);
      goto done;
    } else if (in_path == NULL) {
      in_path = a;
    } else {
      fail("age encrypt: more than one input file");
      goto done;
    }
  }
  if (n == 0) {
    fail("age encrypt: no recipients (use -r or -R)");
    goto done;
  }
  int in_fd = open_input(in_path);
  if (in_fd < 0)
    goto done;
  os_output out;
  if (output_open(&out, out_path, umask_mode(0666)) != 0) {
    if (in_fd != STDIN_FILENO)
      close(in_fd);
    goto done;
  }
  os_error err = OS_ERROR_INIT;
  int erc = age_encrypt_fd(out.fd, in_fd, (const age_recipient *const *)rcpts, n, armor, &err);
  if (erc < 0)
    fail("age encrypt: %s", err.msg);
  rc = output_close(&out, erc == 0);
  if (in_fd != STDIN_FILENO)
    close(in_fd);
done:
  for (size_t i = 0; i < n; i++)
    age_recipient_free(rcpts[i]);
  return rc;
}

static int age_decrypt_cmd(int argc, char **argv) {
  age_identity *ids[MAX_KEYS];
  size_t n = 0;
  const char *out_path = NULL, *in_path = NULL;
  int rc = 1;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(decrypt_usage, stdout);
      rc = 0;
      goto done;
    } else if (strcmp(a, "-d") == 0 || strcmp(a, "--decrypt") == 0) {
      continue;
    } else if (opt_value(argc, argv, &i, "-i", "--identity", &v)) {
      if (v == NULL) {
        fail("age decrypt: -i needs a file");
        goto done;
      }
      os_error err = OS_ERROR_INIT;
      age_identity **loaded = NULL;
      size_t n_loaded = 0;
      if (age_identities_load_file(&loaded, &n_loaded, v, &err) < 0) {
        fail("age decrypt: %s", err.msg);
        goto done;
      }
      for (size_t k = 0; k < n_loaded; k++) {
        if (n < MAX_KEYS) {
          ids[n++] = loaded[k];
          loaded[k] = NULL;
        }
      }
      age_identities_free(loaded, n_loaded);
    } else if (opt_value(argc, argv, &i, "-o", "--output", &v)) {
      if (v == NULL) {
        fail("age decrypt: -o needs a file");
        goto done;
      }
      out_path = v;
    } else if (a[0] == '-' && a[1] != '\0') {
      fail("age decrypt: unknown option %s (see --help)", a);
      goto done;
    } else if (in_path == NULL) {
      in_path = a;
    } else {
      fail("age decrypt: more than one input file");
      goto done;
    }
  }
  if (n == 0) {
    /* Like the global -i: $ORGSECRETS_IDENTITY, else the default file. */
    char def[PATH_MAX];
    const char *path = getenv("ORGSECRETS_IDENTITY");
    const char *home = getenv("HOME");
    if ((path == NULL || path[0] == '\0') && home != NULL && home[0] != '\0') {
      int len = snprintf(def, sizeof(def), "%s/.config/orgsecrets/identity", home);
      if (len > 0 && (size_t)len < sizeof(def) && access(def, F_OK) == 0)
        path = def;
    }
    if (path == NULL || path[0] == '\0') {
      fail("age decrypt: no identity (use -i FILE)");
      goto done;
    }
    os_error err = OS_ERROR_INIT;
    age_identity **loaded = NULL;
    size_t n_loaded = 0;
    if (age_identities_load_file(&loaded, &n_loaded, path, &err) < 0) {
      fail("age decrypt: %s", err.msg);
      goto done;
    }
    for (size_t k = 0; k < n_loaded && n < MAX_KEYS; k++) {
      ids[n++] = loaded[k];
      loaded[k] = NULL;
    }
    age_identities_free(loaded, n_loaded);
  }
  int in_fd = open_input(in_path);
  if (in_fd < 0)
    goto done;
  os_output out;
  if (output_open(&out, out_path, 0600) != 0) {
    if (in_fd != STDIN_FILENO)
      close(in_fd);
    goto done;
  }
  os_error err = OS_ERROR_INIT;
  int drc = age_decrypt_fd(out.fd, in_fd, (const age_identity *const *)ids, n, &err);
  if (drc < 0)
    fail("age decrypt: %s", err.msg);
  rc = output_close(&out, drc == 0);
  if (in_fd != STDIN_FILENO)
    close(in_fd);
done:
  for (size_t i = 0; i < n; i++)
    age_identity_free(ids[i]);
  return rc;
}

int cmd_age(int argc, char **argv) {
  if (argc < 2) {
    fputs(age_usage, stderr);
    return 1;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
    fputs(age_usage, stdout);
    return 0;
  }
  if (strcmp(sub, "keygen") == 0)
    return age_keygen(argc - 1, argv + 1);
  if (strcmp(sub, "encrypt") == 0)
    return age_encrypt_cmd(argc - 1, argv + 1);
  if (strcmp(sub, "decrypt") == 0)
    return age_decrypt_cmd(argc - 1, argv + 1);
  return fail("age: unknown command %s (keygen, encrypt, decrypt)", sub);
}

/* orgsecrets age keygen|encrypt|decrypt: plain age v1 files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "common/clock.h"
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
    "                            success; a FIFO or device is written in place);\n"
    "                            also --output-file OUT. -o is a file here, as in age\n";

static const char decrypt_usage[] =
    "usage: orgsecrets age decrypt -i FILE [-i FILE]... [-o OUT] [IN]\n"
    "Decrypts IN (default stdin; binary or armored) with the identities in FILE.\n"
    "  -i, --identity FILE       an age identity file, mode 0600 (repeatable); default\n"
    "                            $ORGSECRETS_IDENTITY, else ~/.config/orgsecrets/identity\n"
    "  -o, --output OUT          write to OUT, else stdout (a file is replaced only on\n"
    "                            success; a FIFO or device is written in place);\n"
    "                            also --output-file OUT. -o is a file here, as in age\n";

/* Output to stdout, or to path under the rule of os_output_open: a file is
 * replaced only on success; FIFOs and devices are written in place. */
static int output_open(os_output *o, const char *path, mode_t mode) {
  os_error err = OS_ERROR_INIT;
  if (cli_output_open(o, path == NULL ? "-" : path, mode, &err) < 0)
    return cli_failf("%s", err.msg);
  return 0;
}

static int output_close(os_output *o, bool ok) {
  if (!ok) {
    os_output_abort(o);
    return 1;
  }
  os_error err = OS_ERROR_INIT;
  if (os_output_commit(o, &err) < 0)
    return cli_failf("%s", err.msg);
  return 0;
}

static int open_input(const char *path) {
  if (path == NULL || strcmp(path, "-") == 0)
    return STDIN_FILENO;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    cli_failf("open %s: %s", path, strerror(errno));
  return fd;
}

static mode_t umask_mode(mode_t mode) {
  mode_t m = umask(0);
  umask(m);
  return mode & ~m;
}

static int age_keygen(int argc, char **argv) {
  const char *out_path = NULL;
  const cli_opt opts[] = {{"--output", "-o", CLI_VALUE, &out_path},
                          {"--output-file", NULL, CLI_VALUE, &out_path}};
  cli_args a;
  int prc = cli_parse(NULL, &a, argc, argv, opts, 2, 0, keygen_usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;
  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  char *secret = NULL, *pub = NULL;
  os_buf text;
  os_buf_init(&text, 4096, true);
  int rc = 1;
  if (age_identity_generate(&id, &err) < 0 || age_identity_encode(&secret, id, &err) < 0 ||
      age_recipient_encode(&pub, age_identity_recipient(id), &err) < 0) {
    cli_failf("age keygen: %s", err.msg);
    goto done;
  }
  char stamp[OS_TIME_MAX];
  os_now_format(stamp);
  if (os_buf_printf(&text, "# created: %s\n# public key: %s\n", stamp, pub) < 0 ||
      os_buf_puts(&text, secret) < 0 || os_buf_puts(&text, "\n") < 0) {
    cli_failf("age keygen: out of memory");
    goto done;
  }
  if (out_path != NULL) {
    int wrc = os_write_file_new(out_path, text.data, text.len, 0600, &err);
    if (wrc == OS_ECONFLICT) {
      cli_failf("age keygen: %s already exists; not overwriting an identity", out_path);
      goto done;
    }
    if (wrc < 0) {
      cli_failf("age keygen: %s", err.msg);
      goto done;
    }
    fprintf(stderr, "Public key: %s\n", pub);
  } else {
    if (fwrite(text.data, 1, text.len, stdout) != text.len || fflush(stdout) != 0) {
      cli_failf("age keygen: write to stdout failed");
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
    return cli_failf("age encrypt: more than %d recipients", MAX_KEYS);
  if (age_recipient_parse(&rcpts[*n], s, &err) < 0)
    return cli_failf("age encrypt: %s", err.msg);
  (*n)++;
  return 0;
}

static int add_recipients_file(age_recipient **rcpts, size_t *n, const char *path) {
  os_error err = OS_ERROR_INIT;
  char *text = NULL;
  size_t len = 0;
  if (os_read_file(&text, &len, path, RECIPIENTS_FILE_MAX, &err) < 0)
    return cli_failf("age encrypt: recipients file %s: %s", path, err.msg);
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
        rc = cli_failf("age encrypt: more than %d recipients", MAX_KEYS);
      } else if (age_recipient_parse(&rcpts[*n], p, &e2) < 0) {
        rc = cli_failf("age encrypt: recipients file %s line %zu: %s", path, line_no, e2.msg);
      } else {
        (*n)++;
      }
    }
    p = next;
  }
  if (rc == 0 && *n == before)
    rc = cli_failf("age encrypt: recipients file %s: no recipients found", path);
  free(text);
  return rc;
}

static int age_encrypt_cmd(int argc, char **argv) {
  age_recipient *rcpts[MAX_KEYS];
  size_t n = 0;
  const char *out_path = NULL;
  bool armor = false;
  cli_list r = {0}, rfiles = {0};
  const cli_opt opts[] = {{"--recipient", "-r", CLI_LIST, &r},
                          {"--recipients-file", "-R", CLI_LIST, &rfiles},
                          {"--armor", "-a", CLI_FLAG, &armor},
                          {"--output", "-o", CLI_VALUE, &out_path},
                          {"--output-file", NULL, CLI_VALUE, &out_path}};
  cli_args a;
  int rc = CLI_FAIL;
  int prc = cli_parse(NULL, &a, argc, argv, opts, 5, 1, encrypt_usage);
  if (prc != 0) {
    rc = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  const char *in_path = a.n_pos > 0 ? a.pos[0] : NULL;
  for (size_t i = 0; i < r.n; i++) {
    if (add_recipient(rcpts, &n, r.v[i]) != 0)
      goto done;
  }
  for (size_t i = 0; i < rfiles.n; i++) {
    if (add_recipients_file(rcpts, &n, rfiles.v[i]) != 0)
      goto done;
  }
  if (n == 0) {
    cli_failf("age encrypt: no recipients (use -r or -R)");
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
    cli_failf("age encrypt: %s", err.msg);
  rc = output_close(&out, erc == 0);
  if (in_fd != STDIN_FILENO)
    close(in_fd);
done:
  for (size_t i = 0; i < n; i++)
    age_recipient_free(rcpts[i]);
  cli_list_free(&r);
  cli_list_free(&rfiles);
  return rc;
}

/* Appends the identities of the file at path to ids. */
static int add_identities(age_identity **ids, size_t *n, const char *path) {
  os_error err = OS_ERROR_INIT;
  age_identity **loaded = NULL;
  size_t n_loaded = 0;
  if (age_identities_load_file(&loaded, &n_loaded, path, &err) < 0)
    return cli_failf("age decrypt: %s", err.msg);
  for (size_t k = 0; k < n_loaded && *n < MAX_KEYS; k++) {
    ids[(*n)++] = loaded[k];
    loaded[k] = NULL;
  }
  age_identities_free(loaded, n_loaded);
  return 0;
}

/* default_identity: the global -i ($ORGSECRETS_IDENTITY), used without -i. */
static int age_decrypt_cmd(const char *default_identity, int argc, char **argv) {
  age_identity *ids[MAX_KEYS];
  size_t n = 0;
  const char *out_path = NULL;
  bool decrypt = false;
  cli_list files = {0};
  const cli_opt opts[] = {{"--identity", "-i", CLI_LIST, &files},
                          {"--output", "-o", CLI_VALUE, &out_path},
                          {"--output-file", NULL, CLI_VALUE, &out_path},
                          {"--decrypt", "-d", CLI_FLAG, &decrypt}};
  cli_args a;
  int rc = CLI_FAIL;
  int prc = cli_parse(NULL, &a, argc, argv, opts, 4, 1, decrypt_usage);
  if (prc != 0) {
    rc = prc > 0 ? CLI_OK : CLI_USAGE;
    goto done;
  }
  const char *in_path = a.n_pos > 0 ? a.pos[0] : NULL;
  for (size_t i = 0; i < files.n; i++) {
    if (add_identities(ids, &n, files.v[i]) != 0)
      goto done;
  }
  if (files.n == 0) {
    /* the global -i, else the default file when it exists */
    char def[PATH_MAX];
    const char *path = default_identity;
    if ((path == NULL || path[0] == '\0') && org_identity_path(def, sizeof(def), NULL, NULL) == 0 &&
        access(def, F_OK) == 0)
      path = def;
    if (path == NULL || path[0] == '\0') {
      cli_failf("age decrypt: no identity (use -i FILE)");
      goto done;
    }
    if (add_identities(ids, &n, path) != 0)
      goto done;
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
    cli_failf("age decrypt: %s", err.msg);
  rc = output_close(&out, drc == 0);
  if (in_fd != STDIN_FILENO)
    close(in_fd);
done:
  for (size_t i = 0; i < n; i++)
    age_identity_free(ids[i]);
  cli_list_free(&files);
  return rc;
}

int cmd_age(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2)
    return cli_usage_error(age_usage, "age: missing command (keygen, encrypt, decrypt)");
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
    return age_decrypt_cmd(ctx->identity, argc - 1, argv + 1);
  return cli_usage_error(age_usage, "age: unknown command %s (keygen, encrypt, decrypt)", sub);
}

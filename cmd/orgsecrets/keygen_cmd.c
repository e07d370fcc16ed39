/* keygen: a new identity file for the user. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/fsutil.h"

static const char usage[] =
    "usage: orgsecrets keygen [-o|--output-file FILE]\n"
    "\n"
    "Creates a new age X25519 identity and writes it to FILE (default: the\n"
    "identity path, -i / $ORGSECRETS_IDENTITY / ~/.config/orgsecrets/identity)\n"
    "with mode 0600, creating missing parent directories with mode 0700. An\n"
    "existing file is never overwritten. The public key (age1...) is printed\n"
    "on stdout: give it to an admin for `orgsecrets member add`. Here -o is the\n"
    "output file, as for age-keygen (the one exception besides `age`).\n";

/* Creates the parent directory of path (mode 0700) when it is missing. */
static int make_parent(const char *path, os_error *err) {
  char dir[PATH_MAX];
  int n = snprintf(dir, sizeof(dir), "%s", path);
  if (n < 0 || (size_t)n >= sizeof(dir))
    return os_error_set(err, OS_EINVAL, "path too long");
  char *slash = strrchr(dir, '/');
  if (slash == NULL || slash == dir)
    return 0;
  *slash = '\0';
  return os_mkdir_p(dir, 0700, err);
}

int cmd_keygen(cli_ctx *ctx, int argc, char **argv) {
  const char *out_path = NULL;
  const cli_opt opts[] = {{"--output", "-o", CLI_VALUE, &out_path},
                          {"--output-file", NULL, CLI_VALUE, &out_path}};
  cli_args a;
  int prc = cli_parse(ctx, &a, argc, argv, opts, 2, 0, usage);
  if (prc != 0)
    return prc > 0 ? CLI_OK : CLI_USAGE;

  os_error err = OS_ERROR_INIT;
  age_identity *id = NULL;
  char *secret = NULL, *pub = NULL, *text = NULL;
  size_t text_len = 0;
  char path[PATH_MAX];
  int status = CLI_FAIL;
  if (out_path != NULL) {
    int n = snprintf(path, sizeof(path), "%s", out_path);
    if (n < 0 || (size_t)n >= sizeof(path)) {
      status = cli_failf("keygen: path too long");
      goto done;
    }
  } else if (org_identity_path(path, sizeof(path), ctx->identity, &err) < 0) {
    status = cli_fail("keygen", &err);
    goto done;
  }
  struct stat st;
  if (lstat(path, &st) == 0) {
    status = cli_failf("keygen: %s already exists; refusing to overwrite it", path);
    goto done;
  }
  if (age_identity_generate(&id, &err) < 0 || age_identity_encode(&secret, id, &err) < 0 ||
      age_recipient_encode(&pub, age_identity_recipient(id), &err) < 0) {
    status = cli_fail("keygen", &err);
    goto done;
  }
  char created[OS_TIME_MAX];
  os_now_format(created);
  os_buf b;
  os_buf_init(&b, 4096, true);
  if (os_buf_printf(&b, "# created: %s\n# public key: %s\n%s\n", created, pub, secret) < 0 ||
      os_buf_detach(&text, &text_len, &b) < 0) {
    os_buf_free(&b);
    status = cli_failf("keygen: out of memory");
    goto done;
  }
  os_buf_free(&b);
  if (make_parent(path, &err) < 0) {
    status = cli_fail("keygen", &err);
    goto done;
  }
  int wrc = os_write_file_new(path, text, text_len, 0600, &err);
  if (wrc == OS_ECONFLICT) {
    status = cli_failf("keygen: %s already exists; refusing to overwrite it", path);
    goto done;
  }
  if (wrc < 0) {
    status = cli_fail("keygen", &err);
    goto done;
  }
  printf("%s\n", pub);
  fprintf(stderr, "orgsecrets: wrote identity to %s\n", path);
  status = CLI_OK;
done:
  os_free_secret(text, text_len);
  os_free_secret_str(secret);
  free(pub);
  age_identity_free(id);
  return status;
}

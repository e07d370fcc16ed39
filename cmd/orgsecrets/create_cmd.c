/* create and update: set's flow, refusing an existing (create) or a
 * missing (update) secret. */
#include "cli.h"

int cmd_create(cli_ctx *ctx, int argc, char **argv) {
  return cli_secret_write(ctx, argc, argv, ORG_SET_CREATE);
}

int cmd_update(cli_ctx *ctx, int argc, char **argv) {
  return cli_secret_write(ctx, argc, argv, ORG_SET_UPDATE);
}

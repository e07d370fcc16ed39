#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "age") == 0)
    return cmd_age(argc - 1, argv + 1);
  fprintf(stderr, "usage: orgsecrets COMMAND [ARGS]\n");
  return 2;
}

/* Entry points of the orgsecrets subcommands; each returns the exit status. */
#ifndef ORGSECRETS_CMD_CLI_H
#define ORGSECRETS_CMD_CLI_H

/* orgsecrets age keygen|encrypt|decrypt (cmd/orgsecrets/age_cmd.c). argv[0] is "age". */
int cmd_age(int argc, char **argv);

#endif

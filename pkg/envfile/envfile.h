/* The env-file format shared by `orgsecrets render --format env` and the
 * controller's env-file targets: one NAME=value line per variable. Values of
 * only A-Z a-z 0-9 _ . / : @ % + , = - are written bare; others in double
 * quotes with a backslash before \ " $ and `, newlines kept. POSIX sh
 * (`set -a; . FILE`) and systemd EnvironmentFile= read the values back
 * exactly; docker --env-file reads bare values exactly. NUL bytes cannot be
 * represented and are refused.
 * Threading: reentrant. */
#ifndef ORGSECRETS_ENVFILE_ENVFILE_H
#define ORGSECRETS_ENVFILE_ENVFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* One variable; value is secret. */
typedef struct envfile_entry {
  char *name;
  uint8_t *value;
  size_t len;
  int line; /* where it starts in the parsed text */
} envfile_entry;

/* Appends one line for name=value to out; OS_EINVAL for a value with a NUL
 * byte (the message names the variable, never the value). */
int envfile_append(os_buf *out, const char *name, const uint8_t *value, size_t len,
                   os_error *err);

/* Names that must not come from a secret because they decide which program
 * runs or what code a shell, the dynamic loader, an interpreter or a common
 * tool loads: PATH, IFS, ENV, BASH_ENV, PS4, HOME, LD_*, PYTHON*, PERL5*,
 * NODE_OPTIONS, GIT_SSH_COMMAND, MAKEFILES, ... (the full list is in
 * envfile.c and docs/security.md). `orgsecrets run` refuses such a secret
 * unless allowed by name, `set` refuses to create one and `lint` reports it
 * as an error. Returns why the name is dangerous ("decides which program
 * runs"), or NULL. */
const char *envfile_name_hazard(const char *name);

/* Parses dotenv text, a superset of what envfile_append writes, in file
 * order (a repeated name is returned twice):
 *   NAME=value          blanks around = and at the end are dropped; a #
 *                       after a blank starts a comment
 *   export NAME=value   the shell's prefix is ignored
 *   NAME="..."          may span lines; \n \r \t \\ \" \$ \` are escapes,
 *                       another backslash stays as written
 *   NAME='...'          literal, may span lines
 *   # comment, blank lines, CR LF line ends, a UTF-8 byte-order mark
 * NAME is [A-Za-z_][A-Za-z0-9_]*. Values are taken literally otherwise:
 * no ${VAR} expansion. Errors name the line ("line 3: unterminated quote"),
 * never a value. Caller frees with envfile_entries_free(). */
int envfile_parse(envfile_entry **out, size_t *out_n, const char *data, size_t len,
                  os_error *err);
void envfile_entries_free(envfile_entry *v, size_t n);

#endif

/* Hash-chained audit log: one JSON object per line,
 *   {"seq":N,"time":"2026-01-02T03:04:05.678Z","event":"unseal",
 *    "prev":"<hex SHA-256 of the previous line's bytes, without its
 *            newline; 64 zeros on the first line>", ...fields}
 * seq starts at 1 and grows by one per line. Editing, removing or
 * reordering lines, or cutting the last one short, breaks the chain and
 * audit_verify_file() names the first bad line. The file alone cannot show
 * that whole lines were cut off its end (or the tail rewritten with a fresh
 * chain): for that, the chain head is anchored outside the file. The log
 * writes its head ("seq N sha256 HASH") to the process log (os_log_info) when
 * it is opened, at most once per head interval while it grows (default 60 s)
 * and when it is closed; audit_verify_file_anchored() checks a file against
 * such a recorded head. Format and limits: docs/audit.md.
 *
 * NAMES ONLY, NEVER VALUES: fields carry organization, environment, name,
 * target, namespace, result, reason, actor... Callers must never pass a
 * secret value, ciphertext or token; as a guard, field names such as
 * "value", "data", "plaintext" are refused (OS_EINVAL).
 *
 * Threading: audit_log_append() is safe from any thread (one mutex per
 * log). One process owns a file at a time (an exclusive flock). */
#ifndef ORGSECRETS_AUDIT_AUDIT_H
#define ORGSECRETS_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

typedef struct audit_log audit_log;

/* Longest line accepted (written or read). */
#define AUDIT_MAX_LINE 65536
/* Hex SHA-256 length. */
#define AUDIT_HASH_HEX_LEN 64

/* Opens path for appending (never through a symbolic link: OS_EINVAL):
 * creates it with mode 0600, or resumes an
 * existing log by reading its last line to continue seq and the chain (only
 * the last line is checked; run audit_verify_file() for the whole chain).
 * A last line that is truncated, not JSON or without seq -> OS_EINVAL.
 * Another process holding the log -> OS_ECONFLICT. Caller frees *out with
 * audit_log_close(). */
int audit_log_open(audit_log **out, const char *path, os_error *err);

/* fsync after every line (the default, true) or leave it to the OS. */
void audit_log_set_fsync(audit_log *a, bool each_line);

/* Appends one line. event: a short name ("unseal", "write", "delete",
 * "inject", ...). fields: a JSON object (may be NULL) whose members follow
 * the fixed ones in its own order; reserved keys (seq, time, event, prev)
 * and value-like keys (value, values, data, stringData, plaintext,
 * ciphertext, encryptedValue, token, password; any case) are refused with
 * OS_EINVAL, as are lines above AUDIT_MAX_LINE. On OS_EIO the log may not
 * be appended to again (the tail is unknown). */
int audit_log_append(audit_log *a, const char *event, const json_t *fields, os_error *err);

/* seq of the last line written (0 for an empty log). */
unsigned long long audit_log_seq(audit_log *a);

/* The chain head: seq of the last line and the hex SHA-256 of its bytes
 * (64 zeros, seq 0, for an empty log) into head (AUDIT_HASH_HEX_LEN+1). */
void audit_log_head(audit_log *a, unsigned long long *seq, char *head);

/* How often the head is logged while lines are added: at most once per
 * seconds (0: after every line). */
void audit_log_set_head_interval(audit_log *a, double seconds);

/* Flushes, unlocks and closes; accepts NULL. */
void audit_log_close(audit_log *a);

/* Verifies the whole file. 0 when intact (*n_lines, may be NULL, gets the
 * number of lines); otherwise OS_EINVAL with a message "line N: ..." naming
 * the first bad line and why (not JSON, missing field, seq gap = line
 * removed, seq not increasing = lines reordered, hash mismatch = line
 * edited, truncated last line), or OS_EIO/OS_ENOMEM. An empty file is
 * intact with 0 lines. */
int audit_verify_file(const char *path, size_t *n_lines, os_error *err);

/* Same, and copies the hex SHA-256 of the last line (the chain head; 64
 * zeros for an empty file) to head (AUDIT_HASH_HEX_LEN+1 bytes). Recording
 * the head elsewhere is what detects rewriting of the whole tail. */
int audit_verify_file_head(const char *path, size_t *n_lines, char *head, os_error *err);

/* audit_verify_file_head, and the chain must contain a head recorded
 * earlier: anchor is "HASH" or "SEQ:HASH" (as logged). Lines after it are
 * fine (the log grew); *anchor_line (may be NULL) gets its line number.
 * When no line hashes to it (at that seq), OS_EINVAL with a message saying
 * the log was cut or rewritten after the head was recorded; a malformed
 * anchor is OS_EINVAL too. */
int audit_verify_file_anchored(const char *path, const char *anchor, size_t *n_lines, char *head,
                               size_t *anchor_line, os_error *err);

#endif

/* Helpers shared by the files of pkg/org; not part of its API. */
#ifndef ORGSECRETS_ORG_INTERNAL_H
#define ORGSECRETS_ORG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "org/org.h"

/* Passes one formatted line to c->note (when set). */
void org_note(const org_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces *dst with a copy of v (NULL allowed); 0 or OS_ENOMEM. */
int org_set_str(char **dst, const char *v) OS_NODISCARD;

/* Runs the loader's checks on t's organization as it would be written, then
 * writes organization.yaml (members.c). */
int org_save_org(const org_ctx *c, const spec_tree *t, os_error *err) OS_NODISCARD;

/* True when a and b are equal strings or both NULL. */
bool org_str_eq(const char *a, const char *b);

/* Appends a finding (file made relative to dir when below it); 0 or
 * OS_ENOMEM. fix may be NULL. */
int org_finding_add(org_findings *f, const char *dir, enum org_severity sev, const char *code,
                    const char *object, const char *file, int line, const char *fix,
                    const char *fmt, ...) __attribute__((format(printf, 9, 10))) OS_NODISCARD;

/* The plaintext scan of every non-hidden file below dir (scan.c). */
int org_lint_scan(org_findings *out, const char *dir, os_error *err);

/* The documents of file (relative to dir) as of commit ref, or NULL when
 * it did not exist or does not parse (widen.c). Caller frees. */
spec_tree *org_git_tree_at(const char *dir, const char *ref, const char *file);

/* The widening check since a commit (widen.c). */
int org_lint_widening(org_findings *out, const spec_tree *t, const char *dir, const char *ref,
                      bool explicit_ref, os_error *err);

#endif

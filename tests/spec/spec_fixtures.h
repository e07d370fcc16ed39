/* Test fixtures for pkg/spec: temporary folders and canonical spec text. */
#ifndef ORGSECRETS_TESTS_SPEC_FIXTURES_H
#define ORGSECRETS_TESTS_SPEC_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "common/buf.h"

/* A fixture step that cannot fail in a test (a buffer append): aborts if it does. */
#define FX_OK(expr) \
  do { \
    if ((expr) != 0) \
      abort(); \
  } while (0)

/* A fresh directory below /tmp; caller frees and removes with fx_rmtree. */
char *fx_tmpdir(void);
void fx_rmtree(const char *dir);
/* Writes dir/rel (creating parents); aborts the test program on failure. */
void fx_write(const char *dir, const char *rel, const char *text);
/* Reads dir/rel; caller frees; NULL when missing. */
char *fx_read(const char *dir, const char *rel, size_t *len);

/* A syntactically valid "age1..." recipient, distinct per seed (static buffer per call site). */
void fx_recipient(char out[63], unsigned seed);
/* A fake armored age file (14 base64 lines) whose payload derives from seed. */
void fx_armor(os_buf *b, unsigned seed, const char *indent);

/* Canonical Organization text: org "acme", envs dev/staging/prod, apps
 * api/web/worker, three members. */
void fx_org_text(os_buf *b);
/* Canonical OrgSecret text (app and desc may be NULL). */
void fx_secret_text(os_buf *b, const char *env, const char *name, const char *app,
                    const char *desc, unsigned seed);

/* Generates an organization folder with n secrets across environments and
 * applications, mostly one per file, plus a multi-document file. */
void fx_generate_tree(const char *dir, size_t n);

#endif

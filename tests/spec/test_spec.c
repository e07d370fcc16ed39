/* pkg/spec unit tests: validators, canonical quoting, JSON custom resources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "spec/spec.h"
#include "spec/spec_internal.h"
#include "spec_fixtures.h"

static void test_names(void **state) {
  (void)state;
  assert_true(spec_secret_name_valid("DATABASE_PASSWORD"));
  assert_true(spec_secret_name_valid("A"));
  assert_true(spec_secret_name_valid("A1_B2"));
  assert_false(spec_secret_name_valid("database_password"));
  assert_false(spec_secret_name_valid("_A"));
  assert_false(spec_secret_name_valid("1A"));
  assert_false(spec_secret_name_valid("A-B"));
  assert_false(spec_secret_name_valid(""));
  assert_false(spec_secret_name_valid(NULL));
  char longname[300];
  memset(longname, 'A', 253);
  longname[253] = '\0';
  assert_true(spec_secret_name_valid(longname));
  longname[253] = 'A';
  longname[254] = '\0';
  assert_false(spec_secret_name_valid(longname));

  assert_true(spec_dns_label_valid("prod"));
  assert_true(spec_dns_label_valid("a-1"));
  assert_false(spec_dns_label_valid("Prod"));
  assert_false(spec_dns_label_valid("-a"));
  assert_false(spec_dns_label_valid("a-"));
  assert_false(spec_dns_label_valid("a.b"));
  assert_false(spec_dns_label_valid(""));
  char label[80];
  memset(label, 'a', 64);
  label[64] = '\0';
  assert_false(spec_dns_label_valid(label));
  label[63] = '\0';
  assert_true(spec_dns_label_valid(label));

  enum spec_role r;
  assert_int_equal(spec_role_parse(&r, "viewer"), 0);
  assert_int_equal(r, SPEC_ROLE_VIEWER);
  assert_string_equal(spec_role_name(r), "viewer");
  assert_int_equal(spec_role_parse(&r, "owner"), OS_EINVAL);

  assert_true(spec_timestamp_valid("2026-11-26T10:00:00Z"));
  assert_true(spec_timestamp_valid("2024-02-29T23:59:59Z"));
  assert_false(spec_timestamp_valid("2026-02-29T00:00:00Z"));
  assert_false(spec_timestamp_valid("1900-02-29T00:00:00Z"));
  assert_true(spec_timestamp_valid("2000-02-29T00:00:00Z"));
  assert_false(spec_timestamp_valid("2026-04-31T00:00:00Z"));
  assert_false(spec_timestamp_valid("2026-11-26T24:00:00Z"));
  assert_false(spec_timestamp_valid("2026-11-26T10:00:00"));
  assert_false(spec_timestamp_valid("2026-11-26T10:00:00.5Z"));
  assert_false(spec_timestamp_valid("2026-11-26t10:00:00z"));
  assert_false(spec_timestamp_valid("2026-11-26 10:00:00Z"));

  char rcp[63];
  fx_recipient(rcp, 9);
  assert_true(spec_recipient_shaped(rcp));
  rcp[10] = 'b'; /* not in the bech32 alphabet */
  assert_false(spec_recipient_shaped(rcp));
  assert_false(spec_recipient_shaped("age1"));
  assert_false(spec_recipient_shaped("AGE1QQQQ"));
  assert_true(spec_fingerprint_valid("0123456789abcdef"));
  assert_false(spec_fingerprint_valid("0123456789ABCDEF"));
  assert_false(spec_fingerprint_valid("0123456789abcde"));
  assert_true(spec_env_file_valid("prod.env"));
  assert_true(spec_env_file_valid("acme/prod.env"));
  assert_false(spec_env_file_valid("/etc/prod.env"));
  assert_false(spec_env_file_valid("../prod.env"));
  assert_false(spec_env_file_valid("a//b"));
  assert_false(spec_env_file_valid("a/"));
  assert_true(spec_dns_subdomain_valid("acme.prod.database-password"));
  assert_false(spec_dns_subdomain_valid("acme..prod"));
  assert_false(spec_dns_subdomain_valid("acme.prod.x-"));

  char *rn = spec_secret_resource_name("acme", "prod", NULL, "DATABASE_PASSWORD");
  assert_string_equal(rn, "acme.prod.database-password");
  free(rn);
  char *p = spec_secret_default_path("prod", NULL, "DATABASE_PASSWORD");
  assert_string_equal(p, "secrets/prod/DATABASE_PASSWORD.yaml");
  free(p);
}

/* Parses one secret document text; fails the test on error. */
static spec_tree *parse_one(const char *text) {
  spec_tree *t = spec_tree_new("/nonexistent");
  assert_non_null(t);
  os_error err = OS_ERROR_INIT;
  if (spec_tree_parse(t, "t.yaml", text, strlen(text), &err) != 0)
    fail_msg("%s", err.msg);
  return t;
}

static spec_secret *fixture_secret(void) {
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_secret_text(&b, "prod", "DATABASE_PASSWORD", "api", "Primary database password", 0);
  spec_tree *t = parse_one(b.data);
  os_buf_free(&b);
  assert_int_equal(t->n_secrets, 1);
  spec_secret *s = spec_tree_take_secret(t, "prod", "api", "DATABASE_PASSWORD");
  spec_tree_free(t);
  return s;
}

/* Emits s with the given description, checks the emitted line, re-parses,
 * and checks the description survives exactly. */
static void check_description(const char *desc, const char *want_line) {
  spec_secret *s = fixture_secret();
  free(s->description);
  s->description = strdup(desc);
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  if (spec_secret_emit(&out, &len, s, &err) != 0)
    fail_msg("%s", err.msg);
  if (want_line != NULL && strstr(out, want_line) == NULL)
    fail_msg("emitted text lacks line %s", want_line);
  spec_tree *t = parse_one(out);
  const char *got = t->secrets[0]->description;
  if (strcmp(got, desc) != 0)
    fail_msg("description changed in a round trip: [%s] -> [%s]", desc, got);
  /* And emitting again is byte-identical. */
  char *out2 = NULL;
  size_t len2 = 0;
  assert_int_equal(spec_secret_emit(&out2, &len2, t->secrets[0], &err), 0);
  assert_int_equal(len, len2);
  assert_memory_equal(out, out2, len);
  free(out2);
  spec_tree_free(t);
  free(out);
  spec_secret_free(s);
}

static void test_quoting(void **state) {
  (void)state;
  check_description("Primary database password", "  description: Primary database password\n");
  check_description("host: db", "  description: \"host: db\"\n");
  check_description("a #comment", "  description: \"a #comment\"\n");
  check_description("#hash", "  description: \"#hash\"\n");
  check_description("a#b", "  description: a#b\n");
  check_description("key:value", "  description: key:value\n");
  check_description("ends with colon:", "  description: \"ends with colon:\"\n");
  check_description("- leading dash", "  description: \"- leading dash\"\n");
  check_description("-", "  description: \"-\"\n");
  check_description("yes", "  description: \"yes\"\n");
  check_description("no", "  description: \"no\"\n");
  check_description("On", "  description: \"On\"\n");
  check_description("true", "  description: \"true\"\n");
  check_description("FALSE", "  description: \"FALSE\"\n");
  check_description("null", "  description: \"null\"\n");
  check_description("~", "  description: \"~\"\n");
  check_description("42", "  description: \"42\"\n");
  check_description("-1.5e3", "  description: \"-1.5e3\"\n");
  check_description("0x1F", "  description: \"0x1F\"\n");
  check_description("1_000", "  description: \"1_000\"\n");
  check_description(".5", "  description: \".5\"\n");
  check_description(".inf", "  description: \".inf\"\n");
  check_description("12:30", "  description: \"12:30\"\n");
  check_description("1.2.3", "  description: 1.2.3\n");
  check_description("1e5", "  description: \"1e5\"\n");
  check_description("1.", "  description: \"1.\"\n");
  check_description("+7", "  description: \"+7\"\n");
  check_description("1e", "  description: 1e\n");
  check_description("3 apples", "  description: 3 apples\n");
  check_description("2026-11-26", "  description: \"2026-11-26\"\n");
  check_description("", "  description: \"\"\n");
  check_description(" padded ", "  description: \" padded \"\n");
  check_description("Grüße, 日本語 ✓", "  description: Grüße, 日本語 ✓\n");
  check_description("say \"hi\" \\ there", "  description: say \"hi\" \\ there\n");
  check_description("\"quoted\"", "  description: \"\\\"quoted\\\"\"\n");
  check_description("line1\nline2", "  description: \"line1\\nline2\"\n");
  check_description("tab\there", "  description: \"tab\\there\"\n");
  check_description("bell\x07", "  description: \"bell\\x07\"\n");
  check_description("nel\xc2\x85", "  description: \"nel\\x85\"\n");
  check_description("ls\xe2\x80\xa8", "  description: \"ls\\L\"\n");
  check_description("'single'", "  description: \"'single'\"\n");
  check_description("[list]", "  description: \"[list]\"\n");
  check_description("{map}", "  description: \"{map}\"\n");
  check_description("*alias", "  description: \"*alias\"\n");
  check_description("&anchor", "  description: \"&anchor\"\n");
  check_description("!tag", "  description: \"!tag\"\n");
  check_description("|literal", "  description: \"|literal\"\n");
  check_description(">folded", "  description: \">folded\"\n");
  check_description("%directive", "  description: \"%directive\"\n");
  check_description("@at", "  description: \"@at\"\n");
  check_description("`tick", "  description: \"`tick\"\n");
  check_description("?question", "  description: \"?question\"\n");
  check_description("a, b, c", "  description: a, b, c\n");
  check_description("50% off", "  description: 50% off\n");
}

static void test_emit_rejects_bad_input(void **state) {
  (void)state;
  spec_secret *s = fixture_secret();
  free(s->description);
  s->description = strdup("bad \xff utf-8");
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_secret_emit(&out, &len, s, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "description: not valid UTF-8"));
  free(s->description);
  s->description = NULL;
  free(s->encrypted_value);
  s->encrypted_value = strdup("plaintext-that-must-not-leak");
  assert_int_equal(spec_secret_emit(&out, &len, s, &err), OS_EINVAL);
  assert_null(strstr(err.msg, "plaintext-that-must-not-leak"));
  spec_secret_free(s);
}

static void test_numeric_fingerprint_quoted(void **state) {
  (void)state;
  spec_secret *s = fixture_secret();
  free(s->recipients[0]);
  s->recipients[0] = strdup("0123456789012345");
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_secret_emit(&out, &len, s, &err), 0);
  assert_non_null(strstr(out, "    - \"0123456789012345\"\n"));
  assert_non_null(strstr(out, "    - 1a2b3c4d5e6f7a8b\n"));
  assert_non_null(strstr(out, "  createdAt: \"2026-11-26T10:00:00Z\"\n"));
  spec_tree *t = parse_one(out);
  assert_string_equal(t->secrets[0]->recipients[0], "0123456789012345");
  spec_tree_free(t);
  /* Unquoted, the same digits are a number: not a fingerprint string. */
  char *bad = strdup(out);
  char *p = strstr(bad, "\"0123456789012345\"");
  memcpy(p, " 0123456789012345 ", 18);
  t = spec_tree_new(NULL);
  assert_int_equal(spec_tree_parse(t, "t.yaml", bad, strlen(bad), &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "t.yaml:19: spec.recipients[0]: expected a string"));
  spec_tree_free(t);
  free(bad);
  free(out);
  spec_secret_free(s);
}

static void test_org_emit_roundtrip(void **state) {
  (void)state;
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_org_text(&b);
  spec_tree *t = parse_one(b.data);
  assert_non_null(t->org);
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_org_emit(&out, &len, t->org, &err), 0);
  assert_int_equal(len, b.len);
  assert_memory_equal(out, b.data, len);
  free(out);
  spec_org *d = spec_org_dup(t->org);
  assert_non_null(d);
  assert_int_equal(spec_org_emit(&out, &len, d, &err), 0);
  assert_memory_equal(out, b.data, len);
  free(out);
  spec_org_free(d);
  /* An empty organization. */
  spec_org *e = spec_org_new();
  e->id = strdup("solo");
  assert_int_equal(spec_org_emit(&out, &len, e, &err), 0);
  assert_string_equal(out, "apiVersion: orgsecrets.io/v1\nkind: Organization\nmetadata:\n  name: solo\nspec: {}\n");
  spec_tree *t2 = parse_one(out);
  assert_string_equal(t2->org->id, "solo");
  spec_tree_free(t2);
  free(out);
  spec_org_free(e);
  spec_tree_free(t);
  os_buf_free(&b);
}

static char *dump(const json_t *j) {
  char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
  assert_non_null(s);
  return s;
}

static void test_json_secret_roundtrip(void **state) {
  (void)state;
  spec_secret *s = fixture_secret();
  json_t *j = spec_secret_to_json(s);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "kind")), "OrgSecret");
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "name")),
                      "acme.prod.api.database-password");
  assert_true(json_is_false(json_object_get(json_object_get(j, "spec"), "visibleToViewers")));
  /* What the API server adds to metadata is accepted; generation kept. */
  json_t *meta = json_object_get(j, "metadata");
  json_object_set_new(meta, "uid", json_string("0d1c9b7e-1111-2222-3333-444455556666"));
  json_object_set_new(meta, "resourceVersion", json_string("12345"));
  json_object_set_new(meta, "generation", json_integer(7));
  json_object_set_new(meta, "creationTimestamp", json_string("2026-11-26T10:00:00Z"));
  json_object_set_new(meta, "managedFields", json_pack("[{s:s}]", "manager", "kubectl"));
  json_object_set_new(j, "status", json_pack("{s:[]}", "conditions"));
  spec_secret *back = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_secret_from_json(&back, j, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(back->generation, 7);
  char *a = NULL, *b = NULL;
  size_t la = 0, lb = 0;
  assert_int_equal(spec_secret_emit(&a, &la, s, &err), 0);
  assert_int_equal(spec_secret_emit(&b, &lb, back, &err), 0);
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  free(a);
  free(b);
  json_t *j2 = spec_secret_to_json(back);
  json_object_del(meta, "uid");
  json_object_del(meta, "resourceVersion");
  json_object_del(meta, "generation");
  json_object_del(meta, "creationTimestamp");
  json_object_del(meta, "managedFields");
  json_object_del(j, "status");
  char *d1 = dump(j), *d2 = dump(j2);
  assert_string_equal(d1, d2);
  free(d1);
  free(d2);
  json_decref(j2);
  spec_secret_free(back);

  /* spec is strict, and errors name the object. */
  json_t *spec = json_object_get(j, "spec");
  json_object_set_new(spec, "bogus", json_true());
  assert_int_equal(spec_secret_from_json(&back, j, &err), OS_EINVAL);
  assert_string_equal(err.msg,
                      "OrgSecret acme.prod.api.database-password: spec.bogus: unknown field");
  json_object_del(spec, "bogus");
  json_object_set_new(spec, "state", json_string("paused"));
  assert_int_equal(spec_secret_from_json(&back, j, &err), OS_EINVAL);
  assert_string_equal(err.msg,
                      "OrgSecret acme.prod.api.database-password: spec.state: \"paused\" is "
                      "not active or disabled");
  json_object_set_new(spec, "state", json_string("disabled"));
  json_object_set_new(spec, "visibleToViewers", json_string("true"));
  assert_int_equal(spec_secret_from_json(&back, j, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "spec.visibleToViewers: expected a boolean"));
  json_object_set_new(spec, "visibleToViewers", json_true());
  json_object_set_new(spec, "encryptedValue", json_string("secret-plaintext"));
  assert_int_equal(spec_secret_from_json(&back, j, &err), OS_EINVAL);
  assert_null(strstr(err.msg, "secret-plaintext"));
  /* The final newline may be lost on the way through JSON. */
  json_object_set_new(spec, "encryptedValue", json_stringn(s->encrypted_value, strlen(s->encrypted_value) - 1));
  assert_int_equal(spec_secret_from_json(&back, j, &err), 0);
  assert_string_equal(back->encrypted_value, s->encrypted_value);
  assert_int_equal(back->state, SPEC_STATE_DISABLED);
  assert_true(back->visible_to_viewers);
  spec_secret_free(back);
  spec_org *o = NULL;
  assert_int_equal(spec_org_from_json(&o, j, &err), OS_EINVAL);
  assert_non_null(strstr(err.msg, "expected kind Organization"));
  json_decref(j);
  spec_secret_free(s);
}

static void test_json_org_roundtrip(void **state) {
  (void)state;
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_org_text(&b);
  spec_tree *t = parse_one(b.data);
  json_t *j = spec_org_to_json(t->org);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "spec"), "rotationDays")), 90);
  json_object_set_new(json_object_get(j, "metadata"), "generation", json_integer(3));
  json_object_set_new(json_object_get(j, "metadata"), "labels", json_pack("{s:s}", "team", "platform"));
  spec_org *o = NULL;
  os_error err = OS_ERROR_INIT;
  if (spec_org_from_json(&o, j, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(o->generation, 3);
  assert_int_equal(o->n_labels, 1);
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(spec_org_emit(&out, &len, o, &err), 0);
  assert_non_null(strstr(out, "  labels:\n    team: platform\nspec:\n"));
  free(out);
  /* Labels aside, the YAML is the original. */
  free(o->labels[0].key);
  free(o->labels[0].value);
  free(o->labels);
  o->labels = NULL;
  o->n_labels = 0;
  assert_int_equal(spec_org_emit(&out, &len, o, &err), 0);
  assert_int_equal(len, b.len);
  assert_memory_equal(out, b.data, len);
  free(out);
  spec_org_free(o);
  /* Strict spec. */
  json_t *member = json_array_get(json_object_get(json_object_get(j, "spec"), "members"), 1);
  json_object_set_new(member, "role", json_string("owner"));
  assert_int_equal(spec_org_from_json(&o, j, &err), OS_EINVAL);
  assert_string_equal(err.msg, "Organization acme: spec.members[1].role: \"owner\" is not a role "
                               "(admin, member or viewer)");
  json_object_set_new(member, "role", json_string("member"));
  json_object_set_new(json_object_get(j, "spec"), "rotationDays", json_string("90"));
  assert_int_equal(spec_org_from_json(&o, j, &err), OS_EINVAL);
  assert_string_equal(err.msg, "Organization acme: spec.rotationDays: expected an integer");
  json_decref(j);
  spec_tree_free(t);
  os_buf_free(&b);
}

static void test_parse_rejects_yaml_features(void **state) {
  (void)state;
  const char *docs[][2] = {
      {"a: &x 1\nb: *x\n", "t.yaml:1: YAML anchors are not supported"},
      {"apiVersion: !!str orgsecrets.io/v1\n", "t.yaml:1: YAML tags are not supported"},
      {"- just\n- a list\n", "t.yaml:1: document: expected a mapping, found a list"},
      {"kind: Organization\n", "t.yaml:1: apiVersion: missing"},
      {"apiVersion: orgsecrets.io/v1\nkind: Organization\nmetadata:\n  name: acme\n", "t.yaml:1: spec: missing"},
      {"\t- bad", "t.yaml:1: invalid YAML"},
  };
  for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
    spec_tree *t = spec_tree_new(NULL);
    os_error err = OS_ERROR_INIT;
    assert_int_equal(spec_tree_parse(t, "t.yaml", docs[i][0], strlen(docs[i][0]), &err), OS_EINVAL);
    if (strncmp(err.msg, docs[i][1], strlen(docs[i][1])) != 0)
      fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, docs[i][1]);
    spec_tree_free(t);
  }
  /* All or nothing: a bad second document leaves the tree unchanged. */
  {
    os_buf b;
    os_buf_init(&b, 1 << 20, false);
    fx_secret_text(&b, "prod", "GOOD", NULL, NULL, 1);
    FX_OK(os_buf_puts(&b, "---\nkind: Nonsense\n"));
    spec_tree *t = spec_tree_new(NULL);
    os_error err = OS_ERROR_INIT;
    assert_int_equal(spec_tree_parse(t, "x.yaml", b.data, b.len, &err), OS_EINVAL);
    assert_int_equal(t->n_secrets, 0);
    spec_tree_free(t);
    os_buf_free(&b);
  }
  /* Empty documents and comment-only files are fine. */
  spec_tree *t = spec_tree_new(NULL);
  os_error err = OS_ERROR_INIT;
  const char *empty = "# nothing here\n---\n";
  assert_int_equal(spec_tree_parse(t, "e.yaml", empty, strlen(empty), &err), 0);
  assert_int_equal(t->n_secrets, 0);
  assert_null(t->org);
  spec_tree_free(t);
}

/* The loader's block-literal fast path must give what plain libyaml gives,
 * including when its pattern appears where it is not a literal. */
static void test_literal_fast_path_fallbacks(void **state) {
  (void)state;
  spec_secret *ref = fixture_secret();
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_secret_text(&b, "prod", "DATABASE_PASSWORD", "api", "Primary database password", 0);
  /* encryptedValue first, other keys after it. */
  const char *ev = strstr(b.data, "  encryptedValue: |\n");
  assert_non_null(ev);
  const char *spec = strstr(b.data, "spec:\n") + 6;
  os_buf r;
  os_buf_init(&r, 1 << 20, false);
  FX_OK(os_buf_append(&r, b.data, (size_t)(spec - b.data)));
  FX_OK(os_buf_puts(&r, ev));
  FX_OK(os_buf_append(&r, spec, (size_t)(ev - spec)));
  spec_tree *t = parse_one(r.data);
  assert_string_equal(t->secrets[0]->encrypted_value, ref->encrypted_value);
  assert_string_equal(t->secrets[0]->rotated_at, "2026-11-26T10:00:00Z");
  spec_tree_free(t);
  /* The pattern inside a multi-line double-quoted description. */
  os_buf_reset(&r);
  const char *desc = strstr(b.data, "  description: ");
  const char *after = strchr(desc, '\n') + 1;
  FX_OK(os_buf_append(&r, b.data, (size_t)(desc - b.data)));
  FX_OK(os_buf_puts(&r, "  description: \"x\n  encryptedValue: |\n    AAAA\n    BBBB\n  \"\n"));
  FX_OK(os_buf_puts(&r, after));
  t = parse_one(r.data);
  assert_string_equal(t->secrets[0]->description, "x encryptedValue: | AAAA BBBB ");
  assert_string_equal(t->secrets[0]->encrypted_value, ref->encrypted_value);
  spec_tree_free(t);
  /* CRLF line endings: the same values. */
  os_buf_reset(&r);
  for (size_t i = 0; i < b.len; i++) {
    if (b.data[i] == '\n')
      FX_OK(os_buf_puts(&r, "\r\n"));
    else
      FX_OK(os_buf_append(&r, &b.data[i], 1));
  }
  t = parse_one(r.data);
  assert_string_equal(t->secrets[0]->encrypted_value, ref->encrypted_value);
  assert_string_equal(t->secrets[0]->description, "Primary database password");
  spec_tree_free(t);
  os_buf_free(&r);
  os_buf_free(&b);
  spec_secret_free(ref);
}

static void test_labels_roundtrip(void **state) {
  (void)state;
  os_buf b;
  os_buf_init(&b, 1 << 20, false);
  fx_secret_text(&b, "prod", "DATABASE_PASSWORD", "api", NULL, 0);
  const char *meta_end = strstr(b.data, "spec:\n");
  os_buf r;
  os_buf_init(&r, 1 << 20, false);
  FX_OK(os_buf_append(&r, b.data, (size_t)(meta_end - b.data)));
  FX_OK(os_buf_puts(&r, "  labels:\n    app.kubernetes.io/part-of: billing\n    team: \"42\"\n"
                  "  annotations:\n    note: \"a: b\"\n"));
  FX_OK(os_buf_puts(&r, meta_end));
  spec_tree *t = parse_one(r.data);
  spec_secret *s = t->secrets[0];
  assert_int_equal(s->n_labels, 2);
  assert_int_equal(s->n_annotations, 1);
  assert_string_equal(s->annotations[0].value, "a: b");
  char *out = NULL;
  size_t len = 0;
  os_error err = OS_ERROR_INIT;
  assert_int_equal(spec_secret_emit(&out, &len, s, &err), 0);
  assert_int_equal(len, r.len);
  assert_memory_equal(out, r.data, len);
  free(out);
  spec_tree_free(t);
  os_buf_free(&r);
  os_buf_free(&b);
}

/* The fast path must give exactly what plain libyaml gives: same result,
 * same error, same documents. */
static void same_as_slow_path(const spec_tree *fast, int fast_rc, const os_error *fast_err,
                              const char *buf, size_t len, long iter) {
  spec_tree *slow = spec_tree_new(NULL);
  arena *a = arena_new();
  os_error err = OS_ERROR_INIT;
  int rc = spec_tree_parse_arena(slow, a, "m.yaml", buf, len, false, &err);
  if (rc != fast_rc || (rc != 0 && strcmp(err.msg, fast_err->msg) != 0))
    fail_msg("iteration %ld: fast path %d \"%s\", slow path %d \"%s\"", iter, fast_rc,
             fast_err->msg, rc, err.msg);
  if (rc != 0) { /* spec_tree_parse appends nothing on failure */
    assert_int_equal(fast->n_secrets, 0);
    assert_null(fast->org);
    arena_free(a);
    spec_tree_free(slow);
    return;
  }
  assert_int_equal(slow->n_secrets, fast->n_secrets);
  assert_int_equal(slow->org != NULL, fast->org != NULL);
  for (size_t i = 0; i < slow->n_secrets; i++) {
    const spec_secret *x = slow->secrets[i], *y = fast->secrets[i];
    assert_int_equal(x->pos.line, y->pos.line);
    assert_string_equal(x->encrypted_value, y->encrypted_value);
    if ((x->description == NULL) != (y->description == NULL) ||
        (x->description != NULL && strcmp(x->description, y->description) != 0))
      fail_msg("iteration %ld: descriptions differ", iter);
  }
  arena_free(a);
  spec_tree_free(slow);
}

/* Deterministic mutations of valid documents (byte flips, insertions,
 * truncations) must never crash the parser (run under ASan/UBSan in CI), and
 * whenever a mutant parses, its canonical emission must parse back to the
 * same emission. */
static void mutate(const os_buf *base_in);

static void test_mutations_never_crash(void **state) {
  (void)state;
  os_buf base;
  os_buf_init(&base, 1 << 20, false);
  fx_org_text(&base);
  FX_OK(os_buf_puts(&base, "---\n"));
  fx_secret_text(&base, "prod", "DATABASE_PASSWORD", "api", "Primary database password", 3);
  mutate(&base);
  /* Secrets only: exercises the canonical fast path. */
  os_buf_reset(&base);
  fx_secret_text(&base, "prod", "DATABASE_PASSWORD", "api", "Primary database password", 3);
  FX_OK(os_buf_puts(&base, "---\n"));
  fx_secret_text(&base, "dev", "API_KEY", NULL, "Gr\xc3\xbc\xc3\x9f" "e, yes", 4);
  mutate(&base);
  os_buf_free(&base);
}

static void mutate(const os_buf *base_in) {
  const os_buf base = *base_in;
  {
    spec_tree *t = spec_tree_new(NULL);
    os_error err = OS_ERROR_INIT;
    if (spec_tree_parse(t, "base.yaml", base.data, base.len, &err) != 0)
      fail_msg("mutation base does not parse: %s", err.msg);
    spec_tree_free(t);
  }
  static const char alphabet[] = " \n\t:-#|>\"'{}[],&*!%@`?\\aZ09.~\r\x85\xe2\xc3";
  /* ORGSECRETS_MUTATIONS=N runs longer (e.g. under the sanitizers). */
  const char *env = getenv("ORGSECRETS_MUTATIONS");
  long iterations = env != NULL ? strtol(env, NULL, 10) : 20000;
  if (iterations < 20000)
    iterations = 20000;
  unsigned x = env != NULL ? (unsigned)iterations : 12345;
  char *buf = malloc(base.len + 64);
  assert_non_null(buf);
  int parsed = 0;
  for (long iter = 0; iter < iterations; iter++) {
    memcpy(buf, base.data, base.len);
    size_t len = base.len;
    int edits = 1 + (int)(iter % 4);
    for (int e = 0; e < edits; e++) {
      x = x * 1103515245u + 12345u;
      size_t pos = (x >> 8) % len;
      x = x * 1103515245u + 12345u;
      char c = alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
      switch ((x >> 20) % 4) {
      case 0: buf[pos] = c; break;
      case 1: len = pos + 1; break;
      case 2:
        memmove(buf + pos + 1, buf + pos, len - pos);
        buf[pos] = c;
        len++;
        break;
      default:
        memmove(buf + pos, buf + pos + 1, len - pos - 1);
        len--;
        break;
      }
      if (len == 0 || len >= base.len + 60)
        break;
    }
    spec_tree *t = spec_tree_new(NULL);
    os_error err = OS_ERROR_INIT;
    int rc = spec_tree_parse(t, "m.yaml", buf, len, &err);
    same_as_slow_path(t, rc, &err, buf, len, iter);
    if (rc == 0) {
      parsed++;
      for (size_t i = 0; i < t->n_secrets; i++) {
        char *out = NULL, *out2 = NULL;
        size_t n = 0, n2 = 0;
        if (spec_secret_emit(&out, &n, t->secrets[i], &err) != 0)
          continue;
        spec_tree *t2 = spec_tree_new(NULL);
        if (spec_tree_parse(t2, "e.yaml", out, n, &err) != 0)
          fail_msg("iteration %ld: emitted document does not parse: %s", iter, err.msg);
        assert_int_equal(spec_secret_emit(&out2, &n2, t2->secrets[0], &err), 0);
        assert_int_equal(n, n2);
        assert_memory_equal(out, out2, n);
        free(out);
        free(out2);
        spec_tree_free(t2);
      }
    } else {
      assert_true(strncmp(err.msg, "m.yaml:", 7) == 0);
    }
    spec_tree_free(t);
  }
  assert_true(parsed > 100);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_quoting),
      cmocka_unit_test(test_emit_rejects_bad_input),
      cmocka_unit_test(test_numeric_fingerprint_quoted),
      cmocka_unit_test(test_org_emit_roundtrip),
      cmocka_unit_test(test_json_secret_roundtrip),
      cmocka_unit_test(test_json_org_roundtrip),
      cmocka_unit_test(test_parse_rejects_yaml_features),
      cmocka_unit_test(test_literal_fast_path_fallbacks),
      cmocka_unit_test(test_labels_roundtrip),
      cmocka_unit_test(test_mutations_never_crash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

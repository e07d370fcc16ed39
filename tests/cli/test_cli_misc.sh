#!/usr/bin/env bash
# Terminal prompts (delete confirmation, value entry without echo), viewer
# visibility changes, audit verify.
. "$(dirname "$0")/lib.sh"
setup_org

V1=$(new_value)
os_in "$V1" set STATUS_PAGE_TOKEN --env prod
secret_out "$TMP/o" reveal STATUS_PAGE_TOKEN --env prod -i keys/vic
expect_rc 1 "viewer key cannot open before --visible-to-viewers"
ct=$(sed -n '/encryptedValue/,$p' org/secrets/prod/STATUS_PAGE_TOKEN.yaml)
rot=$(grep rotatedAt org/secrets/prod/STATUS_PAGE_TOKEN.yaml)
os set STATUS_PAGE_TOKEN --env prod --visible-to-viewers --keep-value </dev/null
expect_rc 0 "make visible to viewers (metadata only)"
check "re-sealed for the new recipient set" test "$(sed -n '/encryptedValue/,$p' org/secrets/prod/STATUS_PAGE_TOKEN.yaml)" != "$ct"
check "rotatedAt unchanged (the value did not change)" grep -qF "$rot" org/secrets/prod/STATUS_PAGE_TOKEN.yaml
secret_out "$TMP/o" reveal STATUS_PAGE_TOKEN --env prod -i keys/vic --as vic@example.com
check "viewer reads it now" test "$(cat "$TMP/o")" = "$V1"
os set STATUS_PAGE_TOKEN --env prod --description "status page API" --keep-value </dev/null
check "description changed without a value" grep -q 'description: status page API' org/secrets/prod/STATUS_PAGE_TOKEN.yaml
check "rotatedAt still unchanged" grep -qF "$rot" org/secrets/prod/STATUS_PAGE_TOKEN.yaml

# a terminal: delete asks, "n" keeps, "y" deletes; set reads without echo
V2=$(new_value)
PTY="python3 $TESTS_LIB/ptysession.py"
$PTY "[y/N]" 'n\n' "$OS_BIN" delete STATUS_PAGE_TOKEN --env prod >"$TMP/tty1" 2>&1
RC=$?; cat "$TMP/tty1" >>"$LOG"
expect_rc 1 "answering n refuses"
check "the prompt is asked" grep -qF "delete STATUS_PAGE_TOKEN in prod? [y/N]" "$TMP/tty1"
check "file kept after n" test -f org/secrets/prod/STATUS_PAGE_TOKEN.yaml
$PTY "[y/N]" 'y\n' "$OS_BIN" delete STATUS_PAGE_TOKEN --env prod >"$TMP/tty2" 2>&1
RC=$?; cat "$TMP/tty2" >>"$LOG"
expect_rc 0 "answering y deletes"
check "file gone after y" test ! -e org/secrets/prod/STATUS_PAGE_TOKEN.yaml
$PTY "not echoed" "$V2\\n" "$OS_BIN" set TYPED_AT_TERMINAL --env dev >"$TMP/tty3" 2>&1
RC=$?; cat "$TMP/tty3" >>"$LOG"
expect_rc 0 "value typed at a terminal"
check "the typed value is not echoed" test -z "$(grep -F "$V2" "$TMP/tty3")"
secret_out "$TMP/o" reveal TYPED_AT_TERMINAL --env dev
check "the typed value is stored exactly" test "$(cat "$TMP/o")" = "$V2"

# audit verify: an intact chain, then an edited line
python3 - "$TMP/audit.log" <<'PY'
import hashlib, json, sys
prev = "0" * 64
lines = []
for i in range(1, 4):
    line = json.dumps({"seq": i, "time": "2026-11-27T00:00:0%d.000Z" % i, "event": "unseal",
                       "prev": prev, "name": "DB_PASSWORD"}, separators=(",", ":"))
    prev = hashlib.sha256(line.encode()).hexdigest()
    lines.append(line)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
os audit verify "$TMP/audit.log"
expect_rc 0 "intact audit log verifies"
expect_out "ok: 3 lines" "audit verify counts lines"
HEAD3=$(sed -n 's/^head: //p' <<<"$OUT")
check "audit verify prints the head as SEQ:HASH" grep -qE '^3:[0-9a-f]{64}$' <<<"$HEAD3"
os audit verify "$TMP/audit.log" --head "$HEAD3"
expect_rc 0 "the log contains its recorded head"
expect_out "recorded head: line 3 (0 line(s) added since)" "--head says where the head is"
# cutting the last line leaves a valid chain; only the recorded head shows it
head -n 2 "$TMP/audit.log" >"$TMP/audit-cut.log"
os audit verify "$TMP/audit-cut.log"
expect_rc 0 "a log cut at a line boundary still chains"
os audit verify "$TMP/audit-cut.log" --head "$HEAD3"
expect_rc 1 "a log cut after its recorded head fails --head"
expect_err "past the end of the log" "--head says lines were cut off"
os audit verify "$TMP/audit-cut.log" --head "${HEAD3#3:}"
expect_rc 1 "a bare hash works as --head too"
expect_err "is not in the log" "--head without seq says so"
os audit verify "$TMP/audit.log" --head nonsense
expect_rc 1 "a malformed --head is refused"
sed -i '2s/DB_PASSWORD/API_KEY/' "$TMP/audit.log"
os audit verify "$TMP/audit.log"
expect_rc 1 "edited audit log fails"
expect_err "line 2" "audit verify names the edited line"

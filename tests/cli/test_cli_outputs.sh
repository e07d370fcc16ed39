#!/usr/bin/env bash
# Output files of render -o, age encrypt/decrypt -o, age keygen -o and keygen:
# devices, FIFOs and symlinks are kept; stale temporary files are swept;
# long names can be created.
. "$(dirname "$0")/lib.sh"
setup_org

V1=$(new_value)
os_in "$V1" set SIMPLE_TOKEN --env prod
secret_out "$TMP/want.env" render --env prod
expect_rc 0 "render to stdout"
OUTS=$TMP/outs
mkdir -p "$OUTS"

# A private /dev/null (character device 1,3): a regression replaces this node,
# not the machine's. Tests run as root; without mknod the device checks skip.
DEV=$OUTS/null
if mknod "$DEV" c 1 3 2>/dev/null && chmod 666 "$DEV"; then
  for cmd in render age-decrypt age-encrypt; do
    case $cmd in
    render) secret_out "$TMP/o" render --env prod -o "$DEV" ;;
    age-decrypt)
      printf %s "$V1" | "$OS_BIN" age encrypt -r "$(pubkey keys/alice)" >"$TMP/v.age"
      secret_out "$TMP/o" age decrypt -i keys/alice -o "$DEV" "$TMP/v.age" ;;
    age-encrypt) secret_out "$TMP/o" age encrypt -r "$(pubkey keys/alice)" -o "$DEV" "$TMP/want.env" ;;
    esac
    expect_rc 0 "$cmd -o a character device succeeds"
    check "$cmd -o leaves the character device a device" test -c "$DEV"
    check "$cmd -o leaves the device's mode alone" test "$(stat -c %a "$DEV")" = 666
  done
  check "no temporary file next to the device" test "$(ls -A "$OUTS")" = null
  if [ -c "$DEV" ]; then # the real /dev/null, only once the private node held
    secret_out "$TMP/o" render --env prod -o /dev/null
    expect_rc 0 "render -o /dev/null"
    check "/dev/null is still a character device" test -c /dev/null
  fi
else
  echo "note: mknod not allowed here; device checks skipped"
fi

# a FIFO is written, not replaced
FIFO=$OUTS/fifo
mkfifo "$FIFO"
timeout 20 cat "$FIFO" >"$TMP/from-fifo" &
reader=$!
secret_out "$TMP/o" render --env prod -o "$FIFO"
expect_rc 0 "render -o FIFO"
wait $reader
check "the FIFO's reader got the output" cmp -s "$TMP/from-fifo" "$TMP/want.env"
check "the FIFO is still a FIFO" test -p "$FIFO"
timeout 20 cat "$FIFO" >"$TMP/from-fifo" &
reader=$!
secret_out "$TMP/o" age decrypt -i keys/alice -o "$FIFO" "$TMP/v.age"
expect_rc 0 "age decrypt -o FIFO"
wait $reader
check "age decrypt wrote the value into the FIFO" test "$(cat "$TMP/from-fifo")" = "$V1"
check "the FIFO is still a FIFO after age decrypt" test -p "$FIFO"

# /dev/stdout and - are stdout. A private link to /proc/self/fd/1 first: only
# when it survives is the machine's /dev/stdout used (a regression would
# replace it with a file).
ln -s /proc/self/fd/1 "$OUTS/stdout-link"
secret_out "$TMP/stdout.env" render --env prod -o "$OUTS/stdout-link"
expect_rc 0 "render -o a link to /proc/self/fd/1"
check "the link to /proc/self/fd/1 is kept" test -L "$OUTS/stdout-link"
check "output through the link reached stdout" cmp -s "$TMP/stdout.env" "$TMP/want.env"
if [ -L "$OUTS/stdout-link" ] && [ -L /dev/stdout ]; then
  secret_out "$TMP/stdout.env" render --env prod -o /dev/stdout
  expect_rc 0 "render -o /dev/stdout"
  check "render -o /dev/stdout writes stdout" cmp -s "$TMP/stdout.env" "$TMP/want.env"
  check "/dev/stdout is still a symlink" test -L /dev/stdout
  secret_out "$TMP/stdout.v" age decrypt -i keys/alice -o /dev/stdout "$TMP/v.age"
  check "age decrypt -o /dev/stdout writes stdout" test "$(cat "$TMP/stdout.v")" = "$V1"
  check "/dev/stdout is still a symlink after age decrypt" test -L /dev/stdout
fi
secret_out "$TMP/stdout.env" render --env prod --output-file -
check "render --output-file - writes stdout" cmp -s "$TMP/stdout.env" "$TMP/want.env"

# a regular file is replaced atomically, mode 0600
printf 'OLD=1\n' >"$OUTS/prod.env"
chmod 644 "$OUTS/prod.env"
secret_out "$TMP/o" render --env prod -o "$OUTS/prod.env"
check "a regular file is replaced" cmp -s "$OUTS/prod.env" "$TMP/want.env"
check "with mode 0600" test "$(stat -c %a "$OUTS/prod.env")" = 600

# symlinks: followed to a regular file (the link stays), else refused
mkdir -p "$OUTS/real"
printf 'OLD=1\n' >"$OUTS/real/target.env"
ln -s real/target.env "$OUTS/link.env"
secret_out "$TMP/o" render --env prod -o "$OUTS/link.env"
expect_rc 0 "render -o symlink to a regular file"
check "the symlink is kept" test -L "$OUTS/link.env"
check "its target got the output" cmp -s "$OUTS/real/target.env" "$TMP/want.env"
ln -s "$OUTS/nowhere.env" "$OUTS/dangling.env"
secret_out "$TMP/o" render --env prod -o "$OUTS/dangling.env"
expect_rc 1 "render -o dangling symlink is refused"
expect_err "symbolic link to a missing file" "the refusal says why"
check "nothing created where the dangling link points" test ! -e "$OUTS/nowhere.env"
ln -s "$OUTS/real" "$OUTS/dirlink"
secret_out "$TMP/o" render --env prod -o "$OUTS/dirlink"
expect_rc 1 "render -o symlink to a directory is refused"
check "the directory link is kept" test -L "$OUTS/dirlink"
secret_out "$TMP/o" age decrypt -i keys/alice -o "$OUTS/dangling.env" "$TMP/v.age"
expect_rc 1 "age decrypt -o dangling symlink is refused"
check "nothing created by age decrypt either" test ! -e "$OUTS/nowhere.env"

# a failed decryption leaves the old file
printf 'KEEP=1\n' >"$OUTS/keep"
printf 'not age' >"$TMP/bad.age"
secret_out "$TMP/o" age decrypt -i keys/alice -o "$OUTS/keep" "$TMP/bad.age"
expect_rc 1 "age decrypt of garbage fails"
check "the old output file is untouched" test "$(cat "$OUTS/keep")" = "KEEP=1"

# keygen and age keygen never overwrite, never follow a symlink
printf 'MINE\n' >"$OUTS/id"
os age keygen -o "$OUTS/id"
expect_rc 1 "age keygen -o an existing file fails"
check "the existing file is untouched" test "$(cat "$OUTS/id")" = MINE
ln -s "$OUTS/planted-target" "$OUTS/id-link"
os age keygen -o "$OUTS/id-link"
expect_rc 1 "age keygen -o a dangling symlink fails"
check "nothing created through the link" test ! -e "$OUTS/planted-target"
os keygen -o "$OUTS/id-link"
expect_rc 1 "keygen -o a dangling symlink fails"
check "keygen created nothing through the link" test ! -e "$OUTS/planted-target"
os age keygen -o "$OUTS/new-id"
expect_rc 0 "age keygen -o a new file"
check "age keygen -o mode 0600" test "$(stat -c %a "$OUTS/new-id")" = 600
check "age keygen -o wrote an identity" grep -q '^AGE-SECRET-KEY-1' "$OUTS/new-id"

# stale temporary files of a killed render are removed by the next one
printf 'PLAIN=%s\n' "$V1" >"$OUTS/.orgsecrets-tmp-00112233aabb"
printf 'PLAIN=%s\n' "$V1" >"$OUTS/prod.env.tmp.Xy12Zq"
printf 'not ours\n' >"$OUTS/report.json.tmp.Ab12Cd"
secret_out "$TMP/o" render --env prod -o "$OUTS/prod.env"
expect_rc 0 "render -o with stale temporary files around"
check "another program's temporary file is left alone" test -f "$OUTS/report.json.tmp.Ab12Cd"
rm -f "$OUTS/report.json.tmp.Ab12Cd"
check "the stale temporary files are gone" test -z "$(ls -A "$OUTS" | grep -e '^\.orgsecrets-tmp-' -e '\.tmp\.')"
check "nothing in the output folder holds the value but the output" \
  test "$(grep -rlF "$V1" "$OUTS" | sort | tr '\n' ' ')" = "$OUTS/prod.env $OUTS/real/target.env "

# names up to 253 characters can be created, updated, listed and rendered
for len in 245 250 251 253; do
  name=L$(printf 'A%.0s' $(seq 2 "$len"))
  VL=$(new_value)
  os_in "$VL" set "$name" --env dev
  expect_rc 0 "set a $len-character name"
  os list --env dev -o json
  check "list shows the $len-character name" grep -q "\"$name\"" <<<"$OUT"
  secret_out "$TMP/long.env" render --env dev
  check "render has the $len-character name" grep -qx "$name=$VL" "$TMP/long.env"
  os_in "$(new_value)" set "$name" --env dev
  expect_rc 0 "update a $len-character name"
done
os lint
check "long names load and lint without errors" test "$RC" -eq 0

# init writes a .gitignore for what may hold plaintext
check "init wrote .gitignore" test -f "$TMP/org/.gitignore"
git -C "$TMP/org" init -q
for f in .orgsecrets-tmp-0123456789ab secrets/prod/DB.yaml.tmp.Ab12Cd prod.env .env .env.local out/web.env; do
  check "git ignores $f" git -C "$TMP/org" check-ignore -q "$f"
done
check "git does not ignore specs" test -z "$(git -C "$TMP/org" check-ignore secrets/prod/DB.yaml organization.yaml)"
mkdir -p "$TMP/other"
printf 'node_modules/' >"$TMP/other/.gitignore"
os --dir "$TMP/other" init --org other
expect_rc 0 "init next to an existing .gitignore"
check "the existing .gitignore keeps its lines" grep -qx 'node_modules/' "$TMP/other/.gitignore"
check "and gains the block" grep -qx '.orgsecrets-tmp-\*' "$TMP/other/.gitignore"

# a set killed mid-write left plaintext: lint reports it, the next write removes it
VK=$(new_value)
printf 'value: %s\n' "$VK" >"$TMP/org/secrets/prod/.orgsecrets-tmp-a0a1a2a3a4a5"
printf 'value: %s\n' "$VK" >"$TMP/org/secrets/prod/SIMPLE_TOKEN.yaml.tmp.Zz9Yy8"
# and a write in flight in another process: locked, so neither reported nor removed
printf 'in flight\n' >"$TMP/org/secrets/prod/.orgsecrets-tmp-b0b1b2b3b4b5"
flock -o "$TMP/org/secrets/prod/.orgsecrets-tmp-b0b1b2b3b4b5" sleep 30 >/dev/null 2>&1 &
holder=$!
for _ in $(seq 200); do # until the holder has the lock (at most 10 s)
  flock -n "$TMP/org/secrets/prod/.orgsecrets-tmp-b0b1b2b3b4b5" true || break
  sleep 0.05
done
os lint
expect_rc 1 "lint fails on stale temporary files"
expect_out "secrets/prod/.orgsecrets-tmp-a0a1a2a3a4a5:0: error: stale temporary file" "lint reports the new-style one"
expect_out "secrets/prod/SIMPLE_TOKEN.yaml.tmp.Zz9Yy8:0: error: stale temporary file" "lint reports the old-style one"
check "lint does not report the locked one" test -z "$(grep b0b1b2b3b4b5 <<<"$OUT")"
check "lint removed nothing" test -f "$TMP/org/secrets/prod/.orgsecrets-tmp-a0a1a2a3a4a5"
os_in "$(new_value)" set SIMPLE_TOKEN --env prod
expect_rc 0 "set next to stale temporary files"
expect_err "removed 2 stale temporary file(s)" "set says it removed them"
check "no plaintext left in the folder" test -z "$(grep -rlF "$VK" "$TMP/org")"
check "the locked one is left alone" test -f "$TMP/org/secrets/prod/.orgsecrets-tmp-b0b1b2b3b4b5"
kill $holder 2>/dev/null
wait $holder 2>/dev/null
os lint
expect_out "b0b1b2b3b4b5:0: error: stale temporary file" "once its writer is gone it is stale"
rm -f "$TMP/org/secrets/prod/.orgsecrets-tmp-b0b1b2b3b4b5"

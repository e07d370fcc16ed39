#!/usr/bin/env bash
# docs/cli.md covers every command and subcommand `orgsecrets --help` lists,
# and the README's quick start shows `env use` once instead of repeating
# --env.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
DOC=$SRC/docs/cli.md
os --help
expect_rc 0 "--help"
cmds=$(sed -n '/^commands:/,/^$/p' <<<"$OUT" | awk 'NR > 1 && /^  [a-z]/ {print $1}')
check "the help lists commands" test "$(wc -l <<<"$cmds")" -ge 20
for c in $cmds; do
  check "docs/cli.md shows \`orgsecrets $c\`" grep -qE "orgsecrets $c( |\$)" "$DOC"
done
# subcommands, as the help names them (`member add|remove|update|list`)
while read -r c subs; do
  for s in ${subs//|/ }; do
    check "docs/cli.md shows \`orgsecrets $c $s\`" grep -qE "orgsecrets $c ([a-z|]*\\|)?$s\\b" "$DOC"
  done
done < <(sed -n '/^commands:/,/^$/p' <<<"$OUT" | awk '/^  [a-z]+ [a-z]+\|[a-z|]+/ {print $1, $2}')
for o in --strict --status --rotation-days --delete-secrets --overwrite --at --output-file; do
  check "docs/cli.md documents $o" grep -q -- "$o" "$DOC"
done
quick=$(sed -n '/^## Team quick start/,/^## /p' "$SRC/README.md")
check "the quick start shows env use" grep -q '^    orgsecrets env use ' <<<"$quick"
after=$(sed -n '/orgsecrets env use /,$p' <<<"$quick" | grep '^    .*orgsecrets ')
check "no --env after env use in the quick start" test -z "$(grep -- '--env' <<<"$after")"
check "the quick start shows orgsecrets ui" grep -q 'orgsecrets ui' <<<"$quick"

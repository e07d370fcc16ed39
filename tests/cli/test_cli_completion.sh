#!/usr/bin/env bash
# completion bash|zsh|fish: the scripts loaded into the real shells, and a
# few completions through each: commands, subcommands, options, option
# values, and environment, member and secret names of the organization.
. "$(dirname "$0")/lib.sh"
setup_org
os_in "$(new_value)" set DATABASE_PASSWORD --env prod
os_in "$(new_value)" set DEV_TOKEN --env dev
mkdir -p "$TMP/bin" && ln -s "$OS_BIN" "$TMP/bin/orgsecrets"
export PATH=$TMP/bin:$PATH
cd "$TMP/org/secrets" || exit 1 # found upward, as a user would have it
unset ORGSECRETS_DIR

# __complete itself
c() { "$OS_BIN" __complete "$@" 2>>"$LOG" | tr '\n' ' ' | sed 's/ $//'; }
check "commands" test "$(c re)" = "reveal rekey render resolve refs"
check "subcommands" test "$(c env '')" = "add list remove use"
check "an option" test "$(c reveal --e)" = "--env"
check "a short alias" grep -qw -- -e <<<"$(c reveal -)"
check "environments" test "$(c reveal --env '')" = "dev prod"
check "list --env has all" test "$(c list --env '')" = "all dev prod"
check "--env=VALUE" test "$(c reveal --env=p)" = "--env=prod"
check "secrets of --env" test "$(c reveal --env prod '')" = "DATABASE_PASSWORD"
check "secrets of any environment" test "$(c reveal '')" = "DATABASE_PASSWORD DEV_TOKEN"
check "applications" test "$(c set X --app '')" = "web"
check "app remove: applications" test "$(c app remove '')" = "web"
check "history: secret names" test "$(c history --env dev '')" = "DEV_TOKEN"
check "list --status: the statuses list accepts" test "$(c list --status '')" = "active disabled conflict invalid"
check "members" test "$(c member update '')" = "alice@example.com bob@example.com vic@example.com"
check "roles" test "$(c member add x --role '')" = "admin member viewer"
check "render formats" test "$(c render -o '')" = "env json k8s"
check "list formats" test "$(c list -o '')" = "table json wide"
check "files" test "$(c import --from-file '')" = ":files"
check "keygen -o is a file" test "$(c keygen -o '')" = ":files"
check "shells" test "$(c completion '')" = "bash zsh fish"
check "nothing after run's --" test -z "$(c run -- '')"
check "the hidden command is not offered" test -z "$(grep __complete <<<"$(c '')")"
check "--dir changes the organization" test "$(c --dir "$TMP/nowhere" reveal '')" = ""
check "options come from the parser" grep -qw -- --rotation-days <<<"$(c set X --)"

# bash, for real
out=$(bash --norc --noprofile -c '
source <(orgsecrets completion bash) || exit 9
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _orgsecrets_complete; printf "%s," "${COMPREPLY[@]}"; echo; }
complete -p orgsecrets
t orgsecrets rek
t orgsecrets reveal --env ""
t orgsecrets reveal --env prod D
t orgsecrets reveal --env = d
t orgsecrets import --from-file "'"$TMP"'/keys/al"
' 2>>"$LOG")
echo "$out" >>"$LOG"
check "bash: registered" grep -qx 'complete -F _orgsecrets_complete orgsecrets' <<<"$out"
check "bash: a command" grep -qx 'rekey,' <<<"$out"
check "bash: environments" grep -qx 'dev,prod,' <<<"$out"
check "bash: a secret name" grep -qx 'DATABASE_PASSWORD,' <<<"$out"
check "bash: --env = d (bash splits at =)" grep -qx 'dev,' <<<"$out"
check "bash: file names" grep -qx "$TMP/keys/alice," <<<"$out"

# zsh, for real: an interactive zsh on a pseudo-terminal, TAB typed
if command -v zsh >/dev/null; then
  zout=$TMP/zsh.out
  cat >"$TMP/drive.zsh" <<'Z'
zmodload zsh/zpty || exit 9
out=$1; shift
zpty z zsh -f -i
zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source <(orgsecrets completion zsh)'
zpty -w z "show() { print -r -- \"BUF:\$BUFFER\" >> $out; BUFFER=; }; zle -N show; bindkey '^X' show"
n=0
for line in "$@"; do
  zpty -w -n z "$line"$'\t'$'\C-x'
  n=$((n + 1))
  for i in {1..200}; do
    [[ -f $out && $(wc -l < $out) -ge $n ]] && break
    sleep 0.05
  done
done
zpty -d z
Z
  timeout 60 zsh -f "$TMP/drive.zsh" "$zout" 'orgsecrets rev' 'orgsecrets reveal --env pr' \
    'orgsecrets reveal --env dev DE' 'orgsecrets member update bo' 'orgsecrets completion fi' \
    >>"$LOG" 2>&1
  cat "$zout" >>"$LOG" 2>/dev/null
  check "zsh: a command" grep -qx 'BUF:orgsecrets reveal ' "$zout"
  check "zsh: an environment" grep -qx 'BUF:orgsecrets reveal --env prod ' "$zout"
  check "zsh: a secret name" grep -qx 'BUF:orgsecrets reveal --env dev DEV_TOKEN ' "$zout"
  check "zsh: a member" grep -qx 'BUF:orgsecrets member update bob@example.com ' "$zout"
  check "zsh: a shell" grep -qx 'BUF:orgsecrets completion fish ' "$zout"
else
  echo "zsh not installed: its completion is not tested (scripts/deps.sh installs it)"
fi

# fish, for real: complete -C asks fish's own completion machinery
if command -v fish >/dev/null; then
  fout=$(fish --no-config -c 'orgsecrets completion fish | source
complete -C "orgsecrets rev"; echo ==
complete -C "orgsecrets reveal --env "; echo ==
complete -C "orgsecrets reveal --env prod D"; echo ==
complete -C "orgsecrets list -o "' 2>>"$LOG")
  echo "$fout" >>"$LOG"
  check "fish: a command" grep -qx 'reveal' <<<"$fout"
  check "fish: environments" test "$(sed -n '/^==$/,/^==$/p' <<<"$fout" | grep -cxE 'dev|prod')" -eq 2
  check "fish: a secret name" grep -qx 'DATABASE_PASSWORD' <<<"$fout"
  check "fish: formats" grep -qx 'wide' <<<"$fout"
else
  echo "fish not installed: its completion is not tested (scripts/deps.sh installs it)"
fi
os completion tcsh
expect_rc 2 "an unknown shell"

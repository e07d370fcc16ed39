# Sourced by scripts that build from Debian's source packages (curl.sh,
# kube-e2e.sh): fetches a source package with apt-get source, which checks it
# against the archive's signed index. apt runs on a private configuration
# with deb-src entries derived from the system's deb entries of this release
# (its -updates and -security suites included, backports and other releases
# not); the system's /etc/apt and /var/lib/apt are left alone.
# The caller defines die() and sets debsrc_tag (its name, for messages).

# debsrc_init WORK: writes the private apt configuration below WORK/apt and
# sets the array debsrc_apt_opts that points apt-get and apt-cache at it.
debsrc_init() {
  local work=$1 codename sys_list sys_parts suite_ok f
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/parts"
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release)"
  eval "$(apt-config shell sys_list Dir::Etc::sourcelist/f sys_parts Dir::Etc::sourceparts/d)"
  suite_ok='BEGIN { c = "'"$codename"'" }
function ok(s) { return s == c || s == c "-updates" || s == c "-security" || s == c "/updates" }'
  list_to_src() {  # one-line format: "deb [opts] uri suite comp..."
    awk "$suite_ok"'
      { sub(/#.*/, "") }
      $1 != "deb" { next }
      { rest = $0; sub(/^[ \t]*deb[ \t]+/, "", rest); o = ""
        if (rest ~ /^\[/) { i = index(rest, "]"); o = substr(rest, 1, i) " "; rest = substr(rest, i + 1) }
        n = split(rest, f, /[ \t]+/); k = (f[1] == "") ? 2 : 1
        if (ok(f[k + 1])) print "deb-src " o rest }' "$1"
  }
  deb822_to_src() {  # deb822 stanzas: Types, Suites and Enabled rewritten, the rest kept
    awk "$suite_ok"'
      function flush(   i, n, s, kept) {
        if (nl > 0 && deb && enabled) {
          n = split(suites, s, /[ \t]+/); kept = ""
          for (i = 1; i <= n; i++) if (s[i] != "" && ok(s[i])) kept = kept " " s[i]
          if (kept != "") {
            print "Types: deb-src"; print "Suites:" kept
            for (i = 1; i <= nl; i++) print line[i]
            print ""
          }
        }
        nl = 0; deb = 0; enabled = 1; suites = ""; field = ""
      }
      BEGIN { flush() }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (field == "suites") suites = suites " " $0; else if (field != "types" && field != "enabled") line[++nl] = $0; next }
      { field = tolower($0); sub(/:.*/, "", field); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
        if (field == "types") { if ((" " v " ") ~ /[ \t]deb[ \t]/) deb = 1 }
        else if (field == "suites") suites = v
        else if (field == "enabled") enabled = (tolower(v) !~ /^(no|false|0)/)
        else line[++nl] = $0 }
      END { flush() }' "$1"
  }
  : > "$work/apt/sources.list"
  rm -f "$work/apt/parts/"*.sources
  [ -f "$sys_list" ] && list_to_src "$sys_list" >> "$work/apt/sources.list"
  for f in "$sys_parts"*.list; do [ -f "$f" ] && list_to_src "$f" >> "$work/apt/sources.list"; done
  for f in "$sys_parts"*.sources; do
    [ -f "$f" ] && deb822_to_src "$f" > "$work/apt/parts/$(basename "$f")"
  done
  if ! grep -qs '^deb-src' "$work/apt/sources.list" && ! grep -qs '^Types: deb-src' "$work/apt/parts/"*.sources; then
    die "no deb entries for $codename in $sys_list or $sys_parts to derive deb-src entries from"
  fi
  debsrc_apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/parts"
                   -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
                   -o "Dir::Cache::archives=$work/apt/cache/archives")
  # As root apt downloads as _apt, which must be able to write there.
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
    chown -R _apt "$work/apt/lists/partial"
  fi
  debsrc_work=$work
}

# debsrc_versions PACKAGE: refreshes the private index and prints the
# versions of source PACKAGE it lists, one a line; dies when there is none.
debsrc_versions() {
  local pkg=$1 versions
  echo "$debsrc_tag: fetching the Debian source index (private apt configuration in $debsrc_work/apt)" >&2
  if ! apt-get "${debsrc_apt_opts[@]}" -q update > "$debsrc_work/apt-update.log" 2>&1; then
    # A failing third-party index is not fatal if Debian's was fetched.
    echo "$debsrc_tag: apt-get update reported errors (continuing if $pkg's source is listed):" >&2
    grep -E '^(E|W):' "$debsrc_work/apt-update.log" >&2 || tail -n 20 "$debsrc_work/apt-update.log" >&2
  fi
  versions=$( (apt-cache "${debsrc_apt_opts[@]}" showsrc --only-source "$pkg" 2>/dev/null || true) |
              sed -n 's/^Version: //p' | sort -u)
  [ -n "$versions" ] || { tail -n 20 "$debsrc_work/apt-update.log" >&2; die "no source package $pkg in the deb-src indexes (see above)"; }
  printf '%s\n' "$versions"
}

# debsrc_newest VERSION...: prints the highest of the Debian versions given.
debsrc_newest() {
  local v newest=
  for v in "$@"; do
    if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest"; then newest=$v; fi
  done
  printf '%s\n' "$newest"
}

# debsrc_get PACKAGE VERSION DEST: apt-get source into DEST (Debian's
# patches applied by dpkg-source); prints the unpacked directory.
debsrc_get() {
  local pkg=$1 version=$2 dest=$3 upstream src
  mkdir -p "$dest"
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$dest"; fi
  echo "$debsrc_tag: apt-get source $pkg=$version" >&2
  if ! (cd "$dest" && apt-get "${debsrc_apt_opts[@]}" -q source --only-source "$pkg=$version") \
       > "$dest/apt-source.log" 2>&1; then
    tail -n 20 "$dest/apt-source.log" >&2
    die "apt-get source $pkg=$version failed (see above)"
  fi
  upstream=${version#*:}; upstream=${upstream%-*}
  src=$dest/$pkg-$upstream
  [ -d "$src" ] || die "apt-get source did not unpack $src"
  [ -f "$src/debian/patches/series" ] && ! grep -q 'dpkg-source: info: applying' "$dest/apt-source.log" \
    && die "dpkg-source applied none of Debian's patches to $src"
  printf '%s\n' "$src"
}

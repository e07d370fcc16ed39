# Shell functions shared by image_libs.sh and image_build.sh (sourced; they
# need root: chroot, mount namespaces).

# distroless_root DIR: fills DIR with what gcr.io/distroless/base-debian12
# gives the binaries, taken from this Debian 12 host: a usr-merged root with
# glibc's and libssl3's shared libraries, the CA bundle, passwd/group with
# root and nonroot (65532), and /tmp; no shell, no package manager.
distroless_root() {
  r=$1
  mkdir -p "$r/usr/lib" "$r/usr/lib64" "$r/usr/local/bin" "$r/etc/ssl/certs" "$r/home/nonroot" "$r/tmp"
  ln -s usr/lib "$r/lib"
  ln -s usr/lib64 "$r/lib64"
  chmod 1777 "$r/tmp"
  for pkg in libc6 libssl3; do
    dpkg -L "$pkg" | grep -E '^/(usr/)?lib(64)?/.*\.so' | while read -r f; do
      [ -e "$f" ] || continue
      d="$r$(readlink -f "$(dirname "$f")")"
      mkdir -p "$d"
      cp -a "$f" "$d/"
    done
  done
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$r/etc/group"
  chown 65532:65532 "$r/home/nonroot"
}

# run_in_root ROOT WORK CMD [ARG...]: CMD in ROOT as 65532:65532, the way the
# Deployment runs the image: ROOT read-only, WORK (read-only too) as /tmp,
# in a private mount namespace. Exit status and output are CMD's.
run_in_root() {
  unshare -m sh -c '
    set -e
    r=$1; w=$2; shift 2
    mount --bind "$r" "$r"
    mount --bind "$w" "$r/tmp"
    mount -o remount,bind,ro "$r/tmp"
    mount -o remount,bind,ro "$r"
    exec chroot --userspec=65532:65532 --groups=65532 "$r" "$@"' sh "$@"
}

# check_image_root ROOT VERSION: the image's binaries in ROOT, read-only as
# 65532: both print VERSION, the controller's --help works, and the CLI
# decrypts a large file, then reports a damaged one with exit 1 and one
# error line (not a crash: glibc's pthread_cancel needs libgcc_s, which
# distroless/base lacks). Prints ok/FAIL lines; returns 1 on any FAIL.
check_image_root() {
  root=$1
  version=$2
  work=$(mktemp -d)
  chmod 755 "$work"
  st=0
  for b in orgsecrets orgsecrets-controller; do
    out=$(run_in_root "$root" "$work" "/usr/local/bin/$b" --version 2>&1) || true
    if [ "$out" = "$b $version" ]; then
      echo "ok   $b --version: $out"
    else
      echo "FAIL $b --version printed \"$out\", expected \"$b $version\""; st=1
    fi
  done
  if run_in_root "$root" "$work" /usr/local/bin/orgsecrets-controller --help > "$work/help" 2>&1 &&
     grep -q '^usage: orgsecrets-controller' "$work/help"; then
    echo "ok   orgsecrets-controller --help"
  else
    echo "FAIL orgsecrets-controller --help:"; sed 's/^/     /' "$work/help"; st=1
  fi
  run_in_root "$root" "$work" /usr/local/bin/orgsecrets age keygen > "$work/k.txt" 2>/dev/null
  chown 65532:65532 "$work/k.txt"
  chmod 600 "$work/k.txt"
  recipient=$(grep -o 'age1[a-z0-9]*' "$work/k.txt" | head -n 1)
  head -c 4194304 /dev/urandom > "$work/p.bin"
  run_in_root "$root" "$work" /usr/local/bin/orgsecrets age encrypt -r "$recipient" /tmp/p.bin > "$work/c.age"
  rc=0
  run_in_root "$root" "$work" /usr/local/bin/orgsecrets age decrypt -i /tmp/k.txt /tmp/c.age > "$work/out.bin" 2> "$work/err" || rc=$?
  if [ "$rc" -eq 0 ] && cmp -s "$work/p.bin" "$work/out.bin"; then
    echo "ok   orgsecrets age encrypt/decrypt of 4 MiB"
  else
    echo "FAIL orgsecrets age decrypt of an intact file: exit $rc"; sed 's/^/     /' "$work/err"; st=1
  fi
  cp "$work/c.age" "$work/bad.age"
  dd if=/dev/zero of="$work/bad.age" bs=1 seek=100000 count=16 conv=notrunc 2>/dev/null
  rc=0
  run_in_root "$root" "$work" /usr/local/bin/orgsecrets age decrypt -i /tmp/k.txt /tmp/bad.age > /dev/null 2> "$work/err" || rc=$?
  if [ "$rc" -eq 1 ] && [ "$(wc -l < "$work/err")" -eq 1 ] &&
     grep -q '^orgsecrets: .*authentication failed' "$work/err"; then
    echo "ok   orgsecrets age decrypt of a damaged 4 MiB file: exit 1, $(cat "$work/err")"
  else
    echo "FAIL orgsecrets age decrypt of a damaged 4 MiB file: exit $rc (expected 1 and one error line):"
    sed 's/^/     /' "$work/err"; st=1
  fi
  rm -rf "$work"
  return $st
}

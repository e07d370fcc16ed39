#!/bin/sh
# Both executables print the version CMake's project(VERSION) sets, the
# same one: `orgsecrets --version`, `orgsecrets version`,
# `orgsecrets-controller --version`.
# usage: version.sh ORGSECRETS_BIN CONTROLLER_BIN VERSION
set -u
status=0
check() {  # check WANT CMD...
  want=$1; shift
  got=$("$@" 2>&1)
  if [ "$got" = "$want" ]; then
    echo "ok   $(basename "$1") ${2:-}: $got"
  else
    echo "FAIL $(basename "$1") ${2:-}: \"$got\", expected \"$want\""; status=1
  fi
}
check "orgsecrets $3" "$1" --version
check "orgsecrets $3" "$1" version
check "orgsecrets-controller $3" "$2" --version
exit $status

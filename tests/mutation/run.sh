#!/usr/bin/env bash
# Mutation smoke: applies each mutant of tests/mutation/mutants.txt to a
# scratch copy of the tree and fails unless one of the tests named for it
# fails. See tests/mutation/README.md.
# usage: tests/mutation/run.sh [--table FILE] [--mutant NAME]... [--jobs N] [--every-test]
#                              [--keep] [--list] [--check]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/mutate.py" --source "$(cd "$here/../.." && pwd)" "$@"

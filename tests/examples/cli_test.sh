#!/bin/sh
# Runs an example program's command line as a user would: --help prints the
# usage to stdout and exits 0 before any window exists (an unknown Qt platform
# would make the application's creation fail), and an argument that neither
# the program nor Qt knows exits 2 with a pointer to --help.
#   cli_test.sh BINARY NAME
set -u
bin=$1 name=$2
fail=0

out=$(QT_QPA_PLATFORM=no-such-platform "$bin" --help 2>/dev/null); rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: '$name --help' exited with $rc, expected 0"; fail=1; }
case "$out" in
  "usage: $name "*) ;;
  *) echo "FAIL: '$name --help' printed no usage line on stdout: '$out'"; fail=1 ;;
esac

err=$(QT_QPA_PLATFORM=offscreen "$bin" --no-such-option 2>&1 >/dev/null); rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: '$name --no-such-option' exited with $rc, expected 2"; fail=1; }
case "$err" in
  *"try --help"*) ;;
  *) echo "FAIL: '$name --no-such-option' did not point to --help: '$err'"; fail=1 ;;
esac

[ "$fail" -eq 0 ] && echo "all checks passed"
exit "$fail"

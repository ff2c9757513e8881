#!/bin/sh
# Starts the GLib host example, presses Ctrl-C once it has ticked, and
# expects a clean end: status 0, the cleanup line, the cancellation line.
#   sigint_program.sh BINARY
set -u
bin=$1
scale=${GLOOP_TEST_TIME_SCALE:-1}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$bin" --interval 0.05 >"$out" 2>&1 &
pid=$!
# Up to 10 s (times the suite's scale) for the first tick.
i=0
while ! grep -q '^tick 1 ' "$out"; do
  i=$((i + 1))
  if [ "$i" -gt $((200 * scale)) ]; then
    echo "FAIL: no tick within $((10 * scale)) s"; cat "$out"; kill -9 "$pid"; exit 1
  fi
  sleep 0.05
done
kill -INT "$pid"
wait "$pid"; rc=$?
fail=0
[ "$rc" -eq 0 ] || { echo "FAIL: exited with $rc after Ctrl-C, expected 0"; fail=1; }
grep -q '^cleaned up after ' "$out" || { echo "FAIL: no cleanup line"; fail=1; }
grep -q '^stopped: the run was cancelled' "$out" || { echo "FAIL: no cancellation line"; fail=1; }
[ "$fail" -eq 0 ] && echo "all checks passed" || cat "$out"
exit "$fail"

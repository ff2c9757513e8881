#!/bin/sh
# screenshots.sh - runs the Qt examples under Xvfb and captures their windows to docs/images/minimal.png, sieve.png and worker.png.
#
# Usage: screenshots.sh BUILD_DIR [OUTPUT_DIR]
#   BUILD_DIR   a built tree; its examples/ holds guestloop-minimal,
#               guestloop-sieve and guestloop-worker
#   OUTPUT_DIR  where the PNG files go (default: docs/images of the source
#               tree that holds this script)
#
# Needs xvfb-run (Debian package xvfb), xwininfo (x11-utils) and import
# (imagemagick). The sieve's status line uses emoji; without a colour emoji
# font (fonts-noto-color-emoji) they show as empty boxes.
#
# minimal.png shows the window as it starts. sieve.png shows a finished run:
# the sieve runs with a 10 ms tick and a fixed colour seed, so the picture is
# the same each time up to the race between markers (see sieve.c).
# worker.png shows a count under way: started at once (--start), with a
# limit that keeps it running well past the moment of the capture.

set -eu

usage() {
  echo "usage: $0 BUILD_DIR [OUTPUT_DIR]" >&2
  exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
[ -d "$1" ] || usage
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=${2:-$here/../../docs/images}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for program in guestloop-minimal guestloop-sieve guestloop-worker; do
  if [ ! -x "$build/examples/$program" ]; then
    echo "screenshots.sh: $build/examples/$program is missing; build the examples first" >&2
    exit 1
  fi
done
for tool in xvfb-run xwininfo import; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "screenshots.sh: $tool is not installed" >&2
    exit 1
  fi
done

# The rest runs inside a private X server with a screen large enough for the
# sieve's window (about 1510 x 860 pixels). xvfb-run starts the server, runs
# this same script again with SCREENSHOTS_IN_XVFB set, and stops the server.
if [ "${SCREENSHOTS_IN_XVFB:-}" != 1 ]; then
  SCREENSHOTS_IN_XVFB=1 exec xvfb-run -a -s "-screen 0 1920x1200x24" "$0" "$build" "$out"
fi

export QT_QPA_PLATFORM=xcb

# Prints the id of the viewable top-level window whose WM_CLASS instance is
# $1, waiting up to $2 seconds for it to appear. Qt names the class after the
# program, since the examples set no window title.
find_window() {
  tries=$(($2 * 10))
  while [ "$tries" -gt 0 ]; do
    for id in $(xwininfo -root -children | awk -v cls="(\"$1\"" 'index($0, cls) { print $1 }'); do
      if xwininfo -id "$id" | grep -q 'Map State: IsViewable'; then
        echo "$id"
        return 0
      fi
    done
    sleep 0.1
    tries=$((tries - 1))
  done
  echo "screenshots.sh: no window of $1 appeared" >&2
  return 1
}

# capture PROGRAM SECONDS PNG [ARGS...]: starts PROGRAM, lets it run for
# SECONDS after its window appears, saves the window as PNG, and stops it.
capture() {
  program=$1
  seconds=$2
  png=$3
  shift 3
  "$build/examples/$program" "$@" &
  pid=$!
  if ! id=$(find_window "$program" 10); then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
  fi
  sleep "$seconds"
  import -window "$id" -strip "$png"
  size=$(xwininfo -id "$id" | awk '/Width:/ { w = $2 } /Height:/ { h = $2 } END { print w "x" h }')
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "wrote $png ($size)"
}

capture guestloop-minimal 1 "$out/minimal.png"
capture guestloop-sieve 15 "$out/sieve.png" --tick 0.01 --seed 2024
capture guestloop-worker 3 "$out/worker.png" --start --limit 100000000

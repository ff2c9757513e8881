#!/bin/sh
# Drives the consumer tests: install the built tree to a prefix, then build
# and run an outside application against it in one of three ways.
#   run.sh install   BUILD_DIR PREFIX
#   run.sh cmake-c   SRC_DIR PREFIX WORK_DIR
#   run.sh cmake-cxx SRC_DIR PREFIX WORK_DIR
#   run.sh pkgconfig SRC_DIR PREFIX WORK_DIR
#   run.sh examples  PREFIX
#   run.sh asan      BUILD_DIR PREFIX WORK_DIR SRC_DIR CC CXX
#   run.sh fetchcontent PROJECT_SRC_DIR CONSUMER_SRC_DIR WORK_DIR CC
set -eu
mode=$1
export QT_QPA_PLATFORM=offscreen
case "$mode" in
  install)
    rm -rf "$3"
    cmake --install "$2" --prefix "$3" >/dev/null
    test -f "$3/lib/cmake/Guestloop/GuestloopConfig.cmake"
    ;;
  cmake-c|cmake-cxx)
    lang=C; [ "$mode" = cmake-cxx ] && lang=CXX
    rm -rf "$4"
    cmake -S "$2" -B "$4" -DCMAKE_PREFIX_PATH="$3" -DCONSUMER_LANG=$lang >/dev/null
    cmake --build "$4" >/dev/null
    "$4/consumer"
    ;;
  pkgconfig)
    rm -rf "$4"; mkdir -p "$4"
    PKG_CONFIG_PATH="$3/lib/pkgconfig"; export PKG_CONFIG_PATH
    # shellcheck disable=SC2046
    cc -o "$4/consumer" "$2/consumer.c" $(pkg-config --cflags --libs guestloop-qt6)
    LD_LIBRARY_PATH="$3/lib" "$4/consumer"
    ;;
  examples)
    # The installed programs find the installed libraries through their
    # relative run path alone: no LD_LIBRARY_PATH, no system directory.
    unset LD_LIBRARY_PATH
    for ex in minimal sieve; do
      "$2/bin/guestloop-$ex" --help >/dev/null
    done
    "$2/bin/guestloop-sieve" --tick 0.0002 --quit-when-done
    ;;
  asan)
    # An application built with AddressSanitizer against this (plain)
    # build, installed: the library must tell the ASan runtime about its
    # stack switches, and the programs must run without any report.
    rm -rf "$3" "$4"; mkdir -p "$4"
    cmake --install "$2" --prefix "$3" >/dev/null
    libdir=$3/lib
    [ -d "$libdir" ] || libdir=$(dirname "$(find "$3" -name 'libguestloop.so' | head -n 1)")
    flags="-g -O1 -fsanitize=address -fno-omit-frame-pointer -I$3/include -L$libdir -Wl,-rpath,$libdir"
    # shellcheck disable=SC2086
    "$6" -std=c11 $flags -pthread -o "$4/asan_c" "$5/asan_app.c" -lguestloop
    # shellcheck disable=SC2086
    "$7" -std=c++17 $flags -o "$4/asan_cxx" "$5/asan_app.cpp" -lguestloop
    for prog in asan_c asan_cxx; do
      ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 "$4/$prog" 2>"$4/$prog.err"
      # A warning alone ("ignoring requested __asan_handle_no_return") means
      # the runtime lost track of the stack, so any output counts as failure,
      # except the one line the runtime prints at the first swapcontext of
      # every program (the ucontext backend), whatever the program does.
      grep -v "WARNING: ASan doesn't fully support makecontext/swapcontext" \
        "$4/$prog.err" >"$4/$prog.report" || true
      if [ -s "$4/$prog.report" ]; then cat "$4/$prog.err" >&2; exit 1; fi
    done
    ;;
  fetchcontent)
    # A parent project takes the source tree with FetchContent (no
    # download: SOURCE_DIR), with the parent's compiler and no build type.
    rm -rf "$4"
    cmake -S "$3" -B "$4" -DGUESTLOOP_SOURCE_DIR="$2" -DCMAKE_C_COMPILER="$5" >"$4.log" 2>&1 ||
      { cat "$4.log" >&2; exit 1; }
    cmake --build "$4" -j2 >"$4.log" 2>&1 || { cat "$4.log" >&2; exit 1; }
    "$4/fetch_consumer"
    ;;
  *) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
esac

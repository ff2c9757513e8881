# GLib for the GLib host example, its tests and the documentation's GLib blocks: glib-2.0 through pkg-config, kept only if a program using it links with this build's compiler.
#
# Sets GLOOP_GLIB_FOUND and, when found, the imported target
# PkgConfig::GLOOP_GLIB. pkg-config answers for the build machine, so in a
# cross build (AArch64, musl, -m32) it would hand over the host's GLib: cross
# builds skip GLib unless PKG_CONFIG_LIBDIR or PKG_CONFIG_SYSROOT_DIR is set,
# and a link check catches what is left.
# Included once, by the top-level CMakeLists.txt, so every directory sees
# the answer.

set(GLOOP_GLIB_FOUND OFF)
find_package(PkgConfig QUIET)
# A cross build sees the target's GLib only if pkg-config is pointed at the
# target's .pc files; otherwise it is left out (a musl build would even link
# against the host's glibc GLib, and fail only when run).
if(CMAKE_CROSSCOMPILING AND NOT DEFINED ENV{PKG_CONFIG_LIBDIR} AND NOT DEFINED ENV{PKG_CONFIG_SYSROOT_DIR})
  set(GLOOP_GLIB_CROSS_SKIP ON)
  set(GLOOP_GLIB_CROSS_NOTE " for this cross build (set PKG_CONFIG_LIBDIR to the target's .pc files)")
endif()
if(PKG_CONFIG_FOUND AND NOT GLOOP_GLIB_CROSS_SKIP)
  pkg_check_modules(GLOOP_GLIB QUIET IMPORTED_TARGET glib-2.0)
endif()
if(GLOOP_GLIB_FOUND)
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_LIBRARIES PkgConfig::GLOOP_GLIB)
  check_c_source_compiles("
#include <glib.h>
int main(void) { GMainContext *c = g_main_context_new(); g_main_context_unref(c); return 0; }"
    GLOOP_GLIB_LINKS)
  unset(CMAKE_REQUIRED_LIBRARIES)
  if(NOT GLOOP_GLIB_LINKS)
    set(GLOOP_GLIB_FOUND OFF)
  endif()
endif()
if(GLOOP_GLIB_FOUND)
  message(STATUS "guestloop: GLib ${GLOOP_GLIB_VERSION} found: the GLib host example and its tests are built")
else()
  message(STATUS "guestloop: no usable GLib${GLOOP_GLIB_CROSS_NOTE} (glib-2.0 via pkg-config, libglib2.0-dev on Debian): the GLib host example and its tests are skipped")
endif()

/* version.h - compile-time version of libguestloop. */
#ifndef GUESTLOOP_VERSION_H
#define GUESTLOOP_VERSION_H

#define GLOOP_VERSION_MAJOR 0
#define GLOOP_VERSION_MINOR 1
#define GLOOP_VERSION_PATCH 0
#define GLOOP_VERSION_STRING "0.1.0"
#define GLOOP_VERSION_HEX \
  ((GLOOP_VERSION_MAJOR << 16) | (GLOOP_VERSION_MINOR << 8) | GLOOP_VERSION_PATCH)

#endif

/* export.h - symbol visibility for libguestloop's public API. */
#ifndef GUESTLOOP_EXPORT_H
#define GUESTLOOP_EXPORT_H

#if defined(GLOOP_STATIC)
#define GLOOP_API
#elif defined(_WIN32)
#if defined(GLOOP_BUILDING)
#define GLOOP_API __declspec(dllexport)
#else
#define GLOOP_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define GLOOP_API __attribute__((visibility("default")))
#else
#define GLOOP_API
#endif

#endif

/* errors.c - the error table's strings, the version calls and the panic path. */
#include <stdarg.h>
#include <string.h>

#include "internal.h"

const char *gloop_strerror(int err) {
  switch (err) {
#define GLOOP__ERR_MSG(name, val, msg) \
  case GLOOP_##name:                   \
    return msg;
    GLOOP_ERRNO_MAP(GLOOP__ERR_MSG)
#undef GLOOP__ERR_MSG
    case 0:
      return "success";
    default:
      /* Other negated errno values from the I/O helpers. */
      if (err < 0 && err > -4000) return strerror(-err);
      return "unknown error";
  }
}

const char *gloop_err_name(int err) {
  switch (err) {
#define GLOOP__ERR_NAME(name, val, msg) \
  case GLOOP_##name:                    \
    return #name;
    GLOOP_ERRNO_MAP(GLOOP__ERR_NAME)
#undef GLOOP__ERR_NAME
    case 0:
      return "OK";
    default:
      return "UNKNOWN";
  }
}

unsigned gloop_version(void) { return GLOOP_VERSION_HEX; }
const char *gloop_version_string(void) { return GLOOP_VERSION_STRING; }

void gloop__panic(const char *file, int line, const char *what) {
  fprintf(stderr, "guestloop: internal invariant failed at %s:%d: %s\n", file, line, what);
  abort();
}

/* The last failure message is per thread: it is read by the task (or host
 * code) that just received the failing return value, on the same thread,
 * before anything else can overwrite it. */
static _Thread_local char last_message[256];

void gloop__set_last_message(const char *msg) {
  if (msg == NULL) msg = "";
  size_t n = strlen(msg);
  if (n >= sizeof last_message) n = sizeof last_message - 1;
  memcpy(last_message, msg, n);
  last_message[n] = '\0';
}

const char *gloop_last_message(void) { return last_message; }

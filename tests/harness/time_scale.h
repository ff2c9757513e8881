/* time_scale.h - the one factor every real-time limit of the test suites is multiplied by (C and C++). */
#ifndef GLOOP_TEST_TIME_SCALE_H
#define GLOOP_TEST_TIME_SCALE_H

#include <stdlib.h>

/* The build's default, set by tests/CMakeLists.txt from the sanitizers in
 * use (1 for a plain build); GLOOP_TEST_TIME_SCALE in the environment takes
 * precedence when it holds a number from 1 to 1000. */
#ifndef GLOOP_TEST_TIME_SCALE_DEFAULT
#define GLOOP_TEST_TIME_SCALE_DEFAULT 1
#endif

/* Reads the environment on every call: a harness calls it once at start-up
 * (before starting threads) and keeps the value. */
static inline double gloop_test_time_scale_read(void) {
  const char *env = getenv("GLOOP_TEST_TIME_SCALE");
  char *end = NULL;
  double v = env != NULL ? strtod(env, &end) : 0.0;
  if (env != NULL && end != env && *end == '\0' && v >= 1.0 && v <= 1000.0) return v;
  return (double)GLOOP_TEST_TIME_SCALE_DEFAULT;
}

#endif

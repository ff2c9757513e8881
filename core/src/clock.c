/* clock.c - time conversion, the system monotonic clock and the mock clock. */
#include <math.h>
#include <time.h>

#include "internal.h"

gloop__ns gloop__sec_to_ns(double s) {
  if (s >= 9.2e9) return GLOOP__NS_INF;
  if (s <= -9.2e9) return -GLOOP__NS_INF;
  double ns = s * 1e9;
  return (gloop__ns)(ns >= 0 ? ns + 0.5 : ns - 0.5);
}

double gloop__ns_to_sec(gloop__ns ns) {
  if (ns == GLOOP__NS_INF) return INFINITY;
  if (ns == -GLOOP__NS_INF) return -INFINITY;
  return (double)ns / 1e9;
}

int gloop__mono_deadline_ts(double seconds, struct timespec *ts) {
  gloop__ns at = gloop__ns_add(gloop__mono_ns(), gloop__sec_to_ns(seconds > 0 ? seconds : 0));
  if (at == GLOOP__NS_INF) return 1;
  ts->tv_sec = (time_t)(at / 1000000000);
  ts->tv_nsec = (long)(at % 1000000000);
  return 0;
}

gloop__ns gloop__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (gloop__ns)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

gloop__ns gloop__clock_now(const gloop_clock *c) {
  if (c == NULL || !c->mock) return gloop__mono_ns();
  return atomic_load(&c->now);
}

static int valid_threshold(double t) { return !isnan(t) && t >= 0; }

/* A mock clock reads times strictly inside (-GLOOP_CLOCK_MAX, GLOOP_CLOCK_MAX):
 * the ends are the infinities of internal time, which a clock never shows. */
static int in_clock_range(double s) { return s > -GLOOP_CLOCK_MAX && s < GLOOP_CLOCK_MAX; }

int gloop_mock_clock_new(double start, double autojump_threshold, gloop_clock **out) {
  if (out == NULL || !in_clock_range(start) || !valid_threshold(autojump_threshold))
    return GLOOP_EINVAL;
  gloop_clock *c = gloop__calloc(&gloop__default_alloc, sizeof *c);
  if (c == NULL) return GLOOP_ENOMEM;
  c->mock = 1;
  atomic_store(&c->now, gloop__sec_to_ns(start));
  c->autojump = autojump_threshold;
  atomic_store(&c->user, NULL);
  *out = c;
  return 0;
}

/* A jump or a new threshold changes when the run's next deadline is due, so
 * a run waiting in its helper thread is woken to look again. */
static int poke_user(gloop_clock *c) {
  gloop__run *run = atomic_load(&c->user);
  if (run == NULL) return 0;
  int rc = gloop__run_check(run, run->token);
  if (rc) return rc;
  gloop__run_poke(run);
  return 0;
}

int gloop_mock_clock_jump(gloop_clock *c, double seconds) {
  if (c == NULL || !c->mock || isnan(seconds) || seconds < 0) return GLOOP_EINVAL;
  gloop__run *run = atomic_load(&c->user);
  if (run && run != gloop__run_current()) return GLOOP_EWRONGTHREAD;
  /* Only the owning thread moves the clock, so reading and then storing is
   * not a race; the sum saturates instead of wrapping, and a jump past the
   * clock's range is refused with the clock unchanged. */
  gloop__ns now = atomic_load(&c->now);
  gloop__ns to = gloop__ns_add(now, gloop__sec_to_ns(seconds));
  if (!in_clock_range(gloop__ns_to_sec(to))) return GLOOP_EINVAL;
  atomic_store(&c->now, to);
  return poke_user(c);
}

int gloop_mock_clock_set_autojump(gloop_clock *c, double threshold) {
  if (c == NULL || !c->mock || !valid_threshold(threshold)) return GLOOP_EINVAL;
  gloop__run *run = atomic_load(&c->user);
  if (run && run != gloop__run_current()) return GLOOP_EWRONGTHREAD;
  c->autojump = threshold;
  return poke_user(c);
}

double gloop_clock_now(const gloop_clock *c) { return gloop__ns_to_sec(gloop__clock_now(c)); }

int gloop_clock_free(gloop_clock *c) {
  if (c == NULL) return 0;
  if (atomic_load(&c->user) != NULL) return GLOOP_EBUSY;
  gloop__free(&gloop__default_alloc, c);
  return 0;
}

/* timer.c - public one-shot timers whose callbacks run on the host thread during a tick. */
#include <math.h>

#include "internal.h"

struct gloop_timer {
  gloop__timer t;
  gloop__bound b;      /* the run it was last started in */
  gloop_callback_fn cb;
  void *data;
};

static void fired(gloop__timer *tm) {
  gloop_timer *timer = gloop__container_of(tm, gloop_timer, t);
  timer->cb(timer->data);
}

int gloop_timer_new(gloop_timer **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop_timer *timer = gloop__calloc(&gloop__default_alloc, sizeof *timer);
  if (timer == NULL) return GLOOP_ENOMEM;
  timer->t.index = GLOOP__NOT_ARMED;
  timer->t.fire = fired;
  *out = timer;
  return 0;
}

/* A timer armed in a run that has since ended is simply no longer armed:
 * that run's heap is gone with it. */
static int armed_here(gloop_timer *timer) {
  if (timer->t.index == GLOOP__NOT_ARMED) return 0;
  if (gloop__bound_check(&timer->b) != 0) {
    timer->t.index = GLOOP__NOT_ARMED;
    return 0;
  }
  return 1;
}

int gloop_timer_stop(gloop_timer *timer) {
  if (timer == NULL) return GLOOP_EINVAL;
  if (timer->t.index == GLOOP__NOT_ARMED) return 0;
  int rc = gloop__bound_check(&timer->b);
  if (rc == GLOOP_EWRONGTHREAD) return rc;
  if (rc == 0)
    gloop__timer_disarm(timer->b.run, &timer->t);
  else
    timer->t.index = GLOOP__NOT_ARMED; /* its run ended */
  return 0;
}

void gloop_timer_free(gloop_timer *timer) {
  if (timer == NULL) return;
  if (gloop_timer_stop(timer) != 0) {
    fprintf(stderr, "guestloop: timer freed from a thread that does not own its run; "
                    "leaking it instead\n");
    return;
  }
  gloop__free(&gloop__default_alloc, timer);
}

int gloop_timer_start(gloop_timer *timer, double delay, gloop_callback_fn cb, void *data) {
  if (timer == NULL || cb == NULL || isnan(delay) || delay < 0) return GLOOP_EINVAL;
  int rc = gloop_timer_stop(timer);
  if (rc) return rc;
  rc = gloop__bind(&timer->b);
  if (rc) return rc;
  gloop__run *run = timer->b.run;
  timer->cb = cb;
  timer->data = data;
  return gloop__timer_arm(run, &timer->t, gloop__ns_add(gloop__run_now(run), gloop__sec_to_ns(delay)));
}

int gloop_timer_active(const gloop_timer *timer) {
  return timer ? armed_here((gloop_timer *)timer) : 0;
}

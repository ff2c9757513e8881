/* bench_uv.c - the peer timer benchmark: libuv timers with the same 1-50 ms workload as guestloop's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <uv.h>

#include "bench.h"

static void count_fire(uv_timer_t *t) {
  size_t *fired = t->data;
  (*fired)++;
}

static void closed(uv_handle_t *h) { (void)h; }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* One pass of the three phases on a fresh loop:
 *   start: uv_timer_start for every timer, all pending at once;
 *   stop:  uv_timer_stop for every timer, in the load's random order;
 *   fire:  start them all again, sleep until every deadline has passed, then
 *          time the one loop iteration that runs all n callbacks.
 * The loop's cached time is refreshed before each phase, as a libuv program
 * would have it refreshed by its loop, so starts do not read the clock. */
int gloop__bench_uv_timers(const gloop__bench_timer_load *load, double *start_ns,
                           double *stop_ns, double *fire_ns) {
  size_t n = load->n;
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) {
    fprintf(stderr, "gloop_bench: uv_loop_init: %s\n", uv_strerror(rc));
    return -1;
  }
  uv_timer_t *timers = calloc(n, sizeof *timers);
  if (timers == NULL) {
    fprintf(stderr, "gloop_bench: out of memory for %zu libuv timers\n", n);
    uv_loop_close(&loop);
    return -1;
  }
  size_t fired = 0;
  for (size_t i = 0; i < n; i++) {
    uv_timer_init(&loop, &timers[i]);
    timers[i].data = &fired;
  }

  int ok = 1;
  uv_update_time(&loop);
  double t0 = gloop__bench_now_ns();
  for (size_t i = 0; i < n; i++)
    if (uv_timer_start(&timers[i], count_fire, load->delay_ms[i], 0) != 0) ok = 0;
  double t1 = gloop__bench_now_ns();
  for (size_t i = 0; i < n; i++) uv_timer_stop(&timers[load->stop_order[i]]);
  double t2 = gloop__bench_now_ns();
  for (size_t i = 0; i < n; i++)
    if (uv_is_active((uv_handle_t *)&timers[i])) ok = 0;

  uv_update_time(&loop);
  for (size_t i = 0; i < n; i++)
    if (uv_timer_start(&timers[i], count_fire, load->delay_ms[i], 0) != 0) ok = 0;
  sleep_ms(60); /* every delay is at most 50 ms */
  double t3 = gloop__bench_now_ns();
  uv_run(&loop, UV_RUN_NOWAIT);
  double t4 = gloop__bench_now_ns();
  if (fired != n) {
    fprintf(stderr, "gloop_bench: libuv fired %zu of %zu due timers in one iteration\n", fired,
            n);
    ok = 0;
  }

  for (size_t i = 0; i < n; i++) uv_close((uv_handle_t *)&timers[i], closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&loop);
  free(timers);
  if (rc != 0) {
    fprintf(stderr, "gloop_bench: uv_loop_close: %s\n", uv_strerror(rc));
    ok = 0;
  }
  if (!ok) {
    fprintf(stderr, "gloop_bench: the libuv timer pass did not behave as expected\n");
    return -1;
  }
  *start_ns = (t1 - t0) / (double)n;
  *stop_ns = (t2 - t1) / (double)n;
  *fire_ns = (t4 - t3) / (double)n;
  return 0;
}

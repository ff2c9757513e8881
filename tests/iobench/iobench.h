/* iobench.h - declarations shared by the files of the gloop_iobench program: the clock, the echo and post workloads, and the libuv peer. */
#ifndef GLOOP_IOBENCH_H
#define GLOOP_IOBENCH_H

#include <stddef.h>
#include <time.h>

/* Bytes per echo message, in both directions. */
#define IOB_MSG 64

/* Every measurement reads CLOCK_MONOTONIC, so guestloop and libuv are timed
 * with the same clock. */
static inline double iob_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The result of one idle-post round: posting-side cost of the first post of
 * a burst (the one that must wake the loop), the mean over the whole burst,
 * and the latency from that first post to its callback. All in ns, medians
 * over the bursts of the round. */
typedef struct iob_idle_result {
  double first_ns;
  double burst_ns;
  double wake_ns;
} iob_idle_result;

#if defined(GLOOP_IOBENCH_HAVE_UV)
/* libuv: `trips` echo round trips over a fresh socketpair with uv_pipe_t,
 * uv_read_start and uv_write; stores ns per round trip. 0, or -1 after
 * printing what went wrong. */
int iob_uv_echo(long trips, double *ns_per_trip);
/* libuv: uv_async_send from a producer thread `posts` times while the loop
 * spins on an idle handle; stores ns per call on the posting side. */
int iob_uv_post_awake(long posts, double *ns_per_post);
/* libuv: `bursts` bursts of `per_burst` uv_async_send calls, each while the
 * loop sleeps in its poll. */
int iob_uv_post_idle(int bursts, int per_burst, iob_idle_result *out);
#endif

/* Median of n doubles (sorts a copy); NAN for n == 0. */
double iob_median(const double *v, size_t n);

#endif

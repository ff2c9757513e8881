/* bench.h - declarations shared by the files of the gloop_bench program: timing helpers and the peer entry points. */
#ifndef GLOOP_BENCH_H
#define GLOOP_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Every measurement reads CLOCK_MONOTONIC, as the method asks: one clock for
 * all variants, so ratios between them compare like with like. */
static inline double gloop__bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A small, fixed-seed generator (xorshift64*), so that guestloop and its
 * peers see exactly the same "random" deadlines and orders in a round. */
static inline uint64_t gloop__bench_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* The workload of one round of the timer benchmarks, shared by guestloop and
 * libuv: n timers with whole-millisecond delays in [1, 50] and a random
 * permutation of 0..n-1 that gives the order in which they are stopped. */
typedef struct gloop__bench_timer_load {
  size_t n;
  unsigned *delay_ms;
  size_t *stop_order;
} gloop__bench_timer_load;

/* Raw context switches through the core's own backends, compiled into the
 * benchmark under private symbol names (bench_ctx.c). Each runs `round_trips`
 * main -> coroutine -> main round trips and stores ns per one-way switch.
 * Return 0, or a negative GLOOP_E* code if the context could not be made. */
int gloop__bench_ctx_switch_ucontext(long round_trips, double *ns_per_switch);
#if defined(GLOOP_BENCH_HAVE_ASM_CTX)
int gloop__bench_ctx_switch_asm(long round_trips, double *ns_per_switch);
#endif

/* The same ping-pong on boost.context's jump_fcontext (bench_fcontext.cpp). */
#if defined(GLOOP_BENCH_HAVE_FCONTEXT)
int gloop__bench_fcontext_switch(long round_trips, double *ns_per_switch);
/* The floor under a scheduler step: `tasks` fcontext coroutines on separate
 * stack mappings of `stack_size` bytes, resumed round-robin `per_task` times
 * each by a bare loop; stores ns per resume-and-return (two switches). */
int gloop__bench_fcontext_steps(size_t tasks, long per_task, size_t stack_size,
                                double *ns_per_step);
#endif

/* libuv timers with the same workload (bench_uv.c): ns per start, per stop
 * while all are pending (random order), and per fire once all are due.
 * Return 0, or -1 after printing what went wrong. */
#if defined(GLOOP_BENCH_HAVE_UV)
int gloop__bench_uv_timers(const gloop__bench_timer_load *load, double *start_ns,
                           double *stop_ns, double *fire_ns);
#endif

/* sizeof the core's task record, read from the core's internal header
 * (bench_record.c) because the public API deliberately hides it. */
size_t gloop__bench_task_record_size(void);

#endif

/* bench_ctx.c - the raw context-switch ping-pong on one of the core's switch backends, built once per backend. */

/* This file is compiled together with one backend of the core (ctx_ucontext.c,
 * or ctx_asm.c plus the assembly file) into an object library of its own.
 * CMake renames the backend's gloop__ctx_* symbols for each copy, so the two
 * copies and the library's own backend never collide, and it names the one
 * function this file exports through GLOOP_BENCH_CTX_FN. That is the only
 * way to time a bare switch: the public API always goes through the
 * scheduler. */
#include <stdlib.h>
#include <sys/mman.h>

#include "bench.h"
#include "ctx.h"
#include "guestloop/guestloop.h"

#if !defined(GLOOP_BENCH_CTX_FN)
#error "GLOOP_BENCH_CTX_FN must name the function this copy exports"
#endif

/* 64 KiB, the stack size the reference measurements used. */
#define BENCH_CTX_STACK ((size_t)64 * 1024)

static gloop__ctx main_ctx;
static gloop__ctx co_ctx;

/* The coroutine side of the ping-pong: every resume switches straight back.
 * It never returns, as the backends require. */
static void co_entry(void *arg) {
  (void)arg;
  for (;;) gloop__ctx_switch(&co_ctx, &main_ctx);
}

int GLOOP_BENCH_CTX_FN(long round_trips, double *ns_per_switch) {
  if (round_trips <= 0 || ns_per_switch == NULL) return GLOOP_EINVAL;
  void *stack = mmap(NULL, BENCH_CTX_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return GLOOP_ENOMEM;
  gloop__ctx_init_main(&main_ctx);
  int rc = gloop__ctx_make(&co_ctx, stack, BENCH_CTX_STACK, co_entry, NULL);
  if (rc != 0) {
    munmap(stack, BENCH_CTX_STACK);
    return rc;
  }
  /* The first switch starts the coroutine; a tenth of the count more warms
   * the branch predictors and caches before the clock starts. */
  gloop__ctx_switch(&main_ctx, &co_ctx);
  for (long i = 0; i < round_trips / 10; i++) gloop__ctx_switch(&main_ctx, &co_ctx);
  double t0 = gloop__bench_now_ns();
  for (long i = 0; i < round_trips; i++) gloop__ctx_switch(&main_ctx, &co_ctx);
  double t1 = gloop__bench_now_ns();
  /* The coroutine is suspended inside its loop and owns nothing but its
   * stack, so unmapping the stack is all the clean-up it needs. */
  munmap(stack, BENCH_CTX_STACK);
  *ns_per_switch = (t1 - t0) / (2.0 * (double)round_trips);
  return 0;
}

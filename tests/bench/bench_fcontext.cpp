// bench_fcontext.cpp - the peer context switch: the same ping-pong on boost.context's jump_fcontext.
#include <cstdlib>
#include <vector>

#include <sys/mman.h>

#include <boost/context/detail/fcontext.hpp>

#include "guestloop/guestloop.h"

extern "C" {
#include "bench.h"
}

namespace fctx = boost::context::detail;

namespace {

// 64 KiB, the same stack size as the guestloop ping-pong.
const std::size_t kStackSize = 64 * 1024;

// The coroutine side: every resume jumps straight back to whoever resumed
// it. It never returns, because an fcontext entry has nowhere to return to.
void co_entry(fctx::transfer_t t) {
  for (;;) t = fctx::jump_fcontext(t.fctx, nullptr);
}

}  // namespace

// Boost's own performance test counts a resume plus the jump back as two
// switches; so does this function, so the figures compare directly.
extern "C" int gloop__bench_fcontext_switch(long round_trips, double *ns_per_switch) {
  if (round_trips <= 0 || ns_per_switch == nullptr) return GLOOP_EINVAL;
  void *stack = std::malloc(kStackSize);
  if (stack == nullptr) return GLOOP_ENOMEM;
  // make_fcontext takes the top of the stack: it grows downwards.
  fctx::fcontext_t co = fctx::make_fcontext(static_cast<char *>(stack) + kStackSize, kStackSize,
                                            co_entry);
  fctx::transfer_t t = fctx::jump_fcontext(co, nullptr);
  for (long i = 0; i < round_trips / 10; i++) t = fctx::jump_fcontext(t.fctx, nullptr);
  double t0 = gloop__bench_now_ns();
  for (long i = 0; i < round_trips; i++) t = fctx::jump_fcontext(t.fctx, nullptr);
  double t1 = gloop__bench_now_ns();
  // The coroutine stays suspended inside its loop with nothing to destroy on
  // its stack, so freeing the stack is all the clean-up it needs.
  std::free(stack);
  *ns_per_switch = (t1 - t0) / (2.0 * static_cast<double>(round_trips));
  return 0;
}

// The floor under guestloop's scheduler step: `tasks` coroutines resumed in
// a fixed round-robin by a loop with no queue, no cancel checks and no
// bookkeeping, each jumping straight back. Stacks are separate anonymous
// mappings of `stack_size` bytes, as guestloop's are, so that the memory
// footprint (pages, TLB reach, page tables) of many tasks matches too. One
// step is one resume plus the jump back: two one-way switches.
extern "C" int gloop__bench_fcontext_steps(size_t tasks, long per_task, size_t stack_size,
                                           double *ns_per_step) {
  if (tasks == 0 || per_task <= 0 || stack_size < 4096 || ns_per_step == nullptr)
    return GLOOP_EINVAL;
  std::vector<void *> stacks;
  std::vector<fctx::fcontext_t> ctxs;
  int rc = 0;
  try {
    stacks.reserve(tasks);
    ctxs.reserve(tasks);
  } catch (...) {
    return GLOOP_ENOMEM;
  }
  for (size_t i = 0; i < tasks; i++) {
    void *p = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
      rc = GLOOP_ENOMEM;
      break;
    }
    stacks.push_back(p);
    ctxs.push_back(fctx::make_fcontext(static_cast<char *>(p) + stack_size, stack_size,
                                       co_entry));
  }
  if (rc == 0) {
    // One untimed pass starts every coroutine and touches every stack.
    for (size_t i = 0; i < tasks; i++) ctxs[i] = fctx::jump_fcontext(ctxs[i], nullptr).fctx;
    double t0 = gloop__bench_now_ns();
    for (long r = 0; r < per_task; r++)
      for (size_t i = 0; i < tasks; i++) ctxs[i] = fctx::jump_fcontext(ctxs[i], nullptr).fctx;
    double t1 = gloop__bench_now_ns();
    *ns_per_step = (t1 - t0) / (static_cast<double>(tasks) * static_cast<double>(per_task));
  }
  for (void *p : stacks) munmap(p, stack_size);
  return rc;
}

/* ctx_asm.c - the C half of the assembly context backends: initial frames and the first-run entry. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestloop/guestloop.h"
#include "ctx.h"

#if !defined(GLOOP_CTX_ASM)
#error "ctx_asm.c is only built with the assembly backend (GLOOP_CTX_ASM)"
#endif

/* Both symbols below are called only from the assembly files and never leave
 * the library, whatever the build's default visibility. */
#define GLOOP__CTX_HIDDEN __attribute__((visibility("hidden")))

/* The assembly trampoline a fresh context first "returns" into. Declared as a
 * function only so that its address can be taken; it is never called from
 * C. */
GLOOP__CTX_HIDDEN void gloop__ctx_trampoline(void);

/* Runs entry(arg) on a fresh context. The trampoline calls it with the
 * values the initial frame carried. entry must switch away for the last time
 * instead of returning, because there is no caller frame to return to on a
 * coroutine stack; a return is a bug in the core, so it stops the process
 * with a message rather than running off the top of the stack. */
GLOOP__CTX_HIDDEN _Noreturn void gloop__ctx_start(void (*entry)(void *arg), void *arg);

_Noreturn void gloop__ctx_start(void (*entry)(void *arg), void *arg) {
  entry(arg);
  fputs("guestloop: a task's entry function returned on its own stack; aborting\n", stderr);
  abort();
}

/* Returns the usable top of the stack: one past its highest byte, rounded
 * down to 16 bytes, or 0 if [stack, stack + size) wraps around the address
 * space. */
static uintptr_t ctx_stack_top(void *stack, size_t size) {
  uintptr_t lo = (uintptr_t)stack;
  if (size > UINTPTR_MAX - lo) return 0;
  return (lo + size) & ~(uintptr_t)15;
}

#if defined(__x86_64__) && defined(__LP64__)

/* Must match the frame that ctx_x86_64.S pushes and pops, in 8-byte slots
 * from the saved stack pointer upwards: the FP control slot, r15, r14, r13,
 * r12, rbx, rbp, return address. */
enum {
  CTX_SLOT_FPCTL = 0,
  CTX_SLOT_R15,
  CTX_SLOT_R14,
  CTX_SLOT_R13,
  CTX_SLOT_R12,
  CTX_SLOT_RBX,
  CTX_SLOT_RBP,
  CTX_SLOT_RET,
  CTX_SLOTS
};

/* Above the trampoline's stack pointer we keep one zeroed 16-byte cell: an
 * outer "return address" of 0 for anything that scans the stack by hand,
 * and headroom so that nothing the trampoline does touches the byte one past
 * the stack. */
#define CTX_TOP_RESERVE 16

int gloop__ctx_make(gloop__ctx *ctx, void *stack, size_t size,
                    void (*entry)(void *arg), void *arg) {
  if (ctx == NULL || stack == NULL || entry == NULL) return GLOOP_EINVAL;
  uintptr_t top = ctx_stack_top(stack, size);
  if (top == 0) return GLOOP_EINVAL;
  const size_t need = CTX_TOP_RESERVE + CTX_SLOTS * sizeof(uint64_t);
  if (top - (uintptr_t)stack < need) return GLOOP_ESTACKSIZE;

  /* The trampoline starts with rsp == top - CTX_TOP_RESERVE, a multiple of
   * 16, so its call into gloop__ctx_start leaves rsp + 8 aligned at the
   * callee's entry, which is what the ABI guarantees to every function. */
  uint64_t *frame = (uint64_t *)(top - need);
  memset(frame, 0, need);

  /* A new task starts with the floating-point control state of the code
   * that created it, the same rule POSIX gives new threads: one MXCSR word
   * and then the x87 control word, as the switch stores them. */
  uint32_t mxcsr;
  uint16_t fcw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fcw));
  memcpy((char *)&frame[CTX_SLOT_FPCTL], &mxcsr, sizeof mxcsr);
  memcpy((char *)&frame[CTX_SLOT_FPCTL] + 4, &fcw, sizeof fcw);

  frame[CTX_SLOT_R12] = (uint64_t)(uintptr_t)entry;
  frame[CTX_SLOT_R13] = (uint64_t)(uintptr_t)arg;
  /* rbp = 0 ends frame-pointer chains at the coroutine's first frame. */
  frame[CTX_SLOT_RBP] = 0;
  frame[CTX_SLOT_RET] = (uint64_t)(uintptr_t)&gloop__ctx_trampoline;

  ctx->sp = frame;
  return 0;
}

#elif defined(__aarch64__) && defined(__LP64__)

/* Must match the 176-byte frame that ctx_aarch64.S stores and loads, in
 * 8-byte slots from the saved stack pointer upwards: x19..x28, x29 (frame
 * pointer), x30 (link register), d8..d15, FPCR, one unused slot that keeps
 * the frame a multiple of 16 bytes. */
enum {
  CTX_SLOT_X19 = 0,
  CTX_SLOT_X20,
  CTX_SLOT_X29 = 10,
  CTX_SLOT_X30 = 11,
  CTX_SLOT_FPCR = 20,
  CTX_SLOTS = 22
};

/* One zeroed 16-byte cell above the trampoline's stack pointer: a null outer
 * frame record for anything that walks frame pointers by hand. */
#define CTX_TOP_RESERVE 16

int gloop__ctx_make(gloop__ctx *ctx, void *stack, size_t size,
                    void (*entry)(void *arg), void *arg) {
  if (ctx == NULL || stack == NULL || entry == NULL) return GLOOP_EINVAL;
  uintptr_t top = ctx_stack_top(stack, size);
  if (top == 0) return GLOOP_EINVAL;
  const size_t need = CTX_TOP_RESERVE + CTX_SLOTS * sizeof(uint64_t);
  if (top - (uintptr_t)stack < need) return GLOOP_ESTACKSIZE;

  /* AArch64 requires sp to be 16-byte aligned whenever it is used; top is,
   * and so are the frame size and the reserve, so the switch and the
   * trampoline both run with an aligned sp. */
  uint64_t *frame = (uint64_t *)(top - need);
  memset(frame, 0, need);

  /* A new task starts with the rounding mode and trap enables of the code
   * that created it, the same rule POSIX gives new threads. */
  uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  frame[CTX_SLOT_FPCR] = fpcr;

  frame[CTX_SLOT_X19] = (uint64_t)(uintptr_t)entry;
  frame[CTX_SLOT_X20] = (uint64_t)(uintptr_t)arg;
  /* A zero frame pointer ends frame-record chains at the first frame. */
  frame[CTX_SLOT_X29] = 0;
  frame[CTX_SLOT_X30] = (uint64_t)(uintptr_t)&gloop__ctx_trampoline;

  ctx->sp = frame;
  return 0;
}

#else
#error "GLOOP_CTX_ASM is defined but there is no assembly backend for this architecture and data model (64-bit pointers are required)"
#endif

/* The scheduler's context runs on the host thread's own stack, which already
 * exists: nothing has to be built, and the first switch away from it fills in
 * sp. Clearing sp makes a switch *to* a never-saved main context fail loudly
 * (a null stack) instead of resuming stale memory. */
void gloop__ctx_init_main(gloop__ctx *ctx) {
  if (ctx != NULL) ctx->sp = NULL;
}

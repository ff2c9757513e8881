/* ctx.h - the one internal interface to the machine context switch.
 *
 * Exactly one backend file implements it: ctx_ucontext.c (portable) or an
 * assembly backend (ctx_x86_64.S, ctx_aarch64.S) chosen at configure time
 * with GUESTLOOP_CONTEXT=ucontext|asm. Nothing outside the backend and this
 * header knows how a switch is done.
 */
#ifndef GLOOP_CTX_H
#define GLOOP_CTX_H

#include <stddef.h>

#if defined(GLOOP_CTX_ASM)
/* The asm backends keep only the saved stack pointer: everything else the
 * ABI requires is pushed on the suspended stack itself. */
typedef struct gloop__ctx {
  void *sp;
} gloop__ctx;
#else
#include <ucontext.h>
typedef struct gloop__ctx {
  ucontext_t uc;
} gloop__ctx;
#endif

/* Prepares `ctx` so that the first switch to it calls entry(arg) on the given
 * stack (lowest address `stack`, `size` bytes). entry must never return: a
 * finishing task switches away for the last time instead. Returns 0 or a
 * negative GLOOP_E* code. */
int gloop__ctx_make(gloop__ctx *ctx, void *stack, size_t size,
                    void (*entry)(void *arg), void *arg);

/* Saves the current context into `from` and resumes `to`. Returns when
 * something later switches back to `from`. */
void gloop__ctx_switch(gloop__ctx *from, gloop__ctx *to);

/* The same switch, for a task handing over directly to the next task. A
 * backend may leave it differently for the sake of branch prediction (the
 * x86-64 one does); the others use gloop__ctx_switch itself. */
#if defined(GLOOP_CTX_ASM) && defined(__x86_64__)
void gloop__ctx_handoff(gloop__ctx *from, gloop__ctx *to);
#else
static inline void gloop__ctx_handoff(gloop__ctx *from, gloop__ctx *to) {
  gloop__ctx_switch(from, to);
}
#endif

/* Prepares the scheduler's own context (the host thread's stack). */
void gloop__ctx_init_main(gloop__ctx *ctx);

#endif

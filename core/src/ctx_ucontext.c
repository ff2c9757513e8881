/* ctx_ucontext.c - the portable context-switch backend on makecontext/swapcontext. */
#include <stdint.h>
#include <stdlib.h>

#include "ctx.h"
#include "guestloop/guestloop.h"

/* makecontext passes int arguments only, so the entry and its argument
 * travel as 32-bit halves (the high halves are 0 where pointers have 32
 * bits). Shifting in two steps of 16 keeps each shift narrower than
 * uintptr_t on every word size. */
static uintptr_t join_halves(unsigned hi, unsigned lo) {
  return (((uintptr_t)hi << 16) << 16) | lo;
}
static unsigned high_half(uintptr_t v) { return (unsigned)((v >> 16) >> 16); }

static void trampoline(unsigned eh, unsigned el, unsigned ah, unsigned al) {
  void (*entry)(void *) = (void (*)(void *))join_halves(eh, el);
  entry((void *)join_halves(ah, al));
  abort(); /* entry switches away for the last time instead of returning */
}

int gloop__ctx_make(gloop__ctx *ctx, void *stack, size_t size, void (*entry)(void *),
                    void *arg) {
  if (getcontext(&ctx->uc) != 0) return GLOOP_EINTERNAL;
  ctx->uc.uc_stack.ss_sp = stack;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = NULL;
  uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
  makecontext(&ctx->uc, (void (*)(void))trampoline, 4, high_half(e),
              (unsigned)(e & 0xffffffffu), high_half(a), (unsigned)(a & 0xffffffffu));
  return 0;
}

void gloop__ctx_switch(gloop__ctx *from, gloop__ctx *to) { swapcontext(&from->uc, &to->uc); }

void gloop__ctx_init_main(gloop__ctx *ctx) { (void)ctx; }

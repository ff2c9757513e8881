/* ctx_ucontext.c - the portable context-switch backend on makecontext/swapcontext. */
#include <stdint.h>
#include <stdlib.h>

#include "ctx.h"
#include "guestloop/guestloop.h"

/* makecontext passes int arguments only, so the entry and its argument
 * travel as pointer halves. */
static void trampoline(unsigned eh, unsigned el, unsigned ah, unsigned al) {
  uintptr_t e = ((uintptr_t)eh << 32) | el;
  uintptr_t a = ((uintptr_t)ah << 32) | al;
  void (*entry)(void *) = (void (*)(void *))e;
  entry((void *)a);
  abort(); /* entry switches away for the last time instead of returning */
}

int gloop__ctx_make(gloop__ctx *ctx, void *stack, size_t size, void (*entry)(void *),
                    void *arg) {
  if (getcontext(&ctx->uc) != 0) return GLOOP_EINTERNAL;
  ctx->uc.uc_stack.ss_sp = stack;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = NULL;
  uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
  makecontext(&ctx->uc, (void (*)(void))trampoline, 4, (unsigned)(e >> 32),
              (unsigned)(e & 0xffffffffu), (unsigned)(a >> 32), (unsigned)(a & 0xffffffffu));
  return 0;
}

void gloop__ctx_switch(gloop__ctx *from, gloop__ctx *to) { swapcontext(&from->uc, &to->uc); }

void gloop__ctx_init_main(gloop__ctx *ctx) { (void)ctx; }

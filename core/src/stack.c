/* stack.c - task stacks: mmap with an optional guard gap, a bounded reuse pool, and the overflow report. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

#include "asan_hooks.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GLOOP_HAVE_VALGRIND 1
#endif
#endif

size_t gloop__page_size(void) {
  /* Runs on several threads may ask at once; the value is the same for all. */
  static _Atomic size_t page;
  size_t p = atomic_load_explicit(&page, memory_order_relaxed);
  if (p == 0) {
    p = (size_t)sysconf(_SC_PAGESIZE);
    atomic_store_explicit(&page, p, memory_order_relaxed);
  }
  return p;
}

/* The guard gap below each stack: PROT_NONE address space, which costs no
 * memory. A function whose frame is larger than the gap can move the stack
 * pointer past it without touching it, and its first write then lands in
 * whatever lies below: in a slab, the neighbouring task's stack. 64 KiB plus
 * a page covers any frame of up to 64 KiB (code built with
 * -fstack-clash-protection probes larger frames page by page, so it always
 * hits the gap; the library itself is built that way where the compiler
 * can). */
#define GUARD_COVERS_FRAMES ((size_t)64 * 1024)

static size_t guard_bytes(const gloop__run *run) {
  return run->stacks.guard ? GUARD_COVERS_FRAMES + gloop__page_size() : 0;
}

/* Stacks of the run's default size are carved from slabs: one mapping holds
 * SLAB_STACKS stacks, each with its guard gap at the bottom:
 *
 *   slab: [gap|stack 0][gap|stack 1] ... [gap|stack 63]   (addresses grow ->)
 *
 * Stacks grow down, towards their own gap. A slab is
 * mapped with MAP_NORESERVE and nothing in it is touched by us, so only the
 * pages a task actually uses become resident: a task that sleeps with a
 * shallow stack costs one or two pages whatever its stack size.
 *
 * Why slabs: once a process has a second thread (the helper), every munmap,
 * and every mprotect of a mapped range, must shoot down TLB entries on the
 * other CPUs, which in a virtual machine costs tens of microseconds. A
 * stack per mapping paid that for each task and again at the end of the
 * run; a slab pays one mmap per SLAB_STACKS tasks, one mprotect per slot in
 * its lifetime, and one munmap when the run ends.
 *
 * A finished task's stack goes onto the run's free list (a LIFO, so the
 * next task gets the most recently used, cache-warm stack) without any
 * system call. When the run goes idle, free stacks beyond the `pool_cap`
 * bound give their pages back with MADV_DONTNEED, a few per idle period so
 * the host never stalls on it; they stay on the list. The list keeps the
 * given-back stacks as a prefix: pool[0 .. pool_trimmed) have no pages,
 * the rest are resident. Stacks of other sizes get a mapping of their own
 * and are unmapped when their task ends. */

#define SLAB_STACKS 64

static void register_stack(gloop__stack *st) {
#ifdef GLOOP_HAVE_VALGRIND
  st->vg_id = VALGRIND_STACK_REGISTER((char *)st->base + st->guard,
                                      (char *)st->base + st->map_size);
#else
  st->vg_id = 0;
#endif
}

static void deregister_stack(const gloop__stack *st) {
#ifdef GLOOP_HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(st->vg_id);
#else
  (void)st;
#endif
}

static int protect_guard(void *p, size_t guard) {
  if (guard == 0 || mprotect(p, guard, PROT_NONE) == 0) return 0;
  if (errno == ENOMEM) {
    /* Splitting the mapping hit vm.max_map_count: each guarded stack costs
     * two mappings. Say which limit and which option. */
    gloop__set_last_message(
        "guestloop: cannot protect another stack guard page: the process reached "
        "its memory-mapping limit (vm.max_map_count, two mappings per guarded "
        "stack); set gloop_options.guard_pages = 0 or raise the limit");
  }
  return GLOOP_ENOMEM;
}

static void *map_region(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* A stack of a size other than the run's default: a mapping of its own. */
static int map_single(gloop__run *run, size_t size, gloop__stack *out) {
  size_t guard = guard_bytes(run);
  void *p = map_region(size + guard);
  if (p == NULL) return GLOOP_ENOMEM;
  if (protect_guard(p, guard) != 0) {
    munmap(p, size + guard);
    return GLOOP_ENOMEM;
  }
  out->base = p;
  out->map_size = size + guard;
  out->guard = guard;
  out->in_slab = 0;
  register_stack(out);
  return 0;
}

/* Hands out the next never-used slot of the newest slab, mapping a new slab
 * when the last one is used up. */
static int carve_slot(gloop__run *run, gloop__stack *out) {
  size_t guard = guard_bytes(run);
  size_t slot = run->stacks.size + guard;
  if (run->stacks.slab_left == 0) {
    if (run->stacks.nslabs == run->stacks.slabs_alloc) {
      size_t n = run->stacks.slabs_alloc ? run->stacks.slabs_alloc * 2 : 16;
      void **slabs = gloop__fault(GLOOP_FAULT_MEMORY)
                         ? NULL
                         : run->alloc.fn(run->alloc.ud, run->stacks.slabs, n * sizeof *slabs);
      if (slabs == NULL) return GLOOP_ENOMEM;
      run->stacks.slabs = slabs;
      uint64_t *held = gloop__fault(GLOOP_FAULT_MEMORY)
                           ? NULL
                           : run->alloc.fn(run->alloc.ud, run->stacks.slab_held, n * sizeof *held);
      if (held == NULL) return GLOOP_ENOMEM;
      run->stacks.slab_held = held;
      run->stacks.slabs_alloc = n;
    }
    void *p = map_region(slot * SLAB_STACKS);
    if (p == NULL) return GLOOP_ENOMEM;
    run->stacks.slab_held[run->stacks.nslabs] = 0;
    run->stacks.slabs[run->stacks.nslabs++] = p;
    run->stacks.slab_cursor = p;
    run->stacks.slab_left = SLAB_STACKS;
  }
  int rc = protect_guard(run->stacks.slab_cursor, guard);
  if (rc) return rc;
  out->base = run->stacks.slab_cursor;
  out->map_size = slot;
  out->guard = guard;
  out->in_slab = 1;
  register_stack(out);
  run->stacks.slab_cursor += slot;
  run->stacks.slab_left--;
  return 0;
}

int gloop__stack_alloc(gloop__run *run, size_t size, gloop__stack *out) {
  if (size == run->stacks.size && run->stacks.pool_len > 0) {
    *out = run->stacks.pool[--run->stacks.pool_len];
    if (run->stacks.pool_trimmed > run->stacks.pool_len) run->stacks.pool_trimmed = run->stacks.pool_len;
    return 0;
  }
  if (gloop__fault(GLOOP_FAULT_STACK)) return GLOOP_ENOMEM;
  if (size == run->stacks.size) return carve_slot(run, out);
  return map_single(run, size, out);
}

/* Frames of a task that never returned (an abandoned run) stay poisoned in
 * AddressSanitizer's shadow memory; a stack handed out again, or memory
 * mapped later at the same address, would then look corrupt. */
static void unpoison(const gloop__stack *s) {
  gloop__asan_unpoison((char *)s->base + s->guard, s->map_size - s->guard);
}

void gloop__stack_release(gloop__run *run, gloop__stack *s) {
  if (s->base == NULL) return;
  unpoison(s);
  if (!s->in_slab) {
    deregister_stack(s);
    munmap(s->base, s->map_size);
    s->base = NULL;
    return;
  }
  if (run->stacks.pool_len == run->stacks.pool_alloc) {
    size_t n = run->stacks.pool_alloc ? run->stacks.pool_alloc * 2 : 64;
    gloop__stack *pool = gloop__fault(GLOOP_FAULT_MEMORY)
                             ? NULL
                             : run->alloc.fn(run->alloc.ud, run->stacks.pool, n * sizeof *pool);
    if (pool == NULL) {
      /* No room to remember the slot: give its pages back; the slot itself
       * stays unused until the slab is unmapped with the run. */
      madvise((char *)s->base + s->guard, s->map_size - s->guard, MADV_DONTNEED);
      deregister_stack(s);
      s->base = NULL;
      return;
    }
    run->stacks.pool = pool;
    run->stacks.pool_alloc = n;
  }
  run->stacks.pool[run->stacks.pool_len++] = *s;
  s->base = NULL;
}

void gloop__stack_trim(gloop__run *run, size_t max_calls) {
  while (max_calls-- > 0 && run->stacks.pool_len - run->stacks.pool_trimmed > run->stacks.pool_cap) {
    gloop__stack *s = &run->stacks.pool[run->stacks.pool_trimmed++];
    madvise((char *)s->base + s->guard, s->map_size - s->guard, MADV_DONTNEED);
  }
}

/* Unmaps a slab except the slots handed over to worker jobs: each maximal
 * run of slots that stay with the run is one munmap. */
static void unmap_slab(char *slab, size_t slot, uint64_t held) {
  size_t i = 0;
  while (i < SLAB_STACKS) {
    if (held >> i & 1) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < SLAB_STACKS && !(held >> j & 1)) j++;
    munmap(slab + i * slot, (j - i) * slot);
    i = j;
  }
}

void gloop__stack_pool_drain(gloop__run *run) {
  while (run->stacks.pool_len > 0) deregister_stack(&run->stacks.pool[--run->stacks.pool_len]);
  run->stacks.pool_trimmed = 0;
  size_t slot = run->stacks.size + guard_bytes(run);
  for (size_t i = 0; i < run->stacks.nslabs; i++) unmap_slab(run->stacks.slabs[i], slot, run->stacks.slab_held[i]);
  gloop__free(&run->alloc, run->stacks.slabs);
  gloop__free(&run->alloc, run->stacks.slab_held);
  gloop__free(&run->alloc, run->stacks.pool);
  run->stacks.slabs = NULL;
  run->stacks.slab_held = NULL;
  run->stacks.pool = NULL;
  run->stacks.nslabs = run->stacks.slabs_alloc = run->stacks.pool_alloc = 0;
  run->stacks.slab_left = 0;
}

/* The slab and slot of a slab stack, found by address (a run has few slabs
 * and this runs only at an abandon). */
static uint64_t *held_bit(gloop__run *run, const gloop__stack *s, uint64_t *bit) {
  size_t slot = run->stacks.size + guard_bytes(run);
  for (size_t i = 0; i < run->stacks.nslabs; i++) {
    const char *lo = run->stacks.slabs[i];
    const char *a = s->base;
    if (a >= lo && a < lo + slot * SLAB_STACKS) {
      *bit = (uint64_t)1 << ((size_t)(a - lo) / slot);
      return &run->stacks.slab_held[i];
    }
  }
  gloop__assert(!"a slab stack outside every slab");
  return NULL;
}

void gloop__stack_hand_over(gloop__run *run, gloop__stack *from, gloop__stack *to) {
  *to = *from;
  from->base = NULL;
  if (to->base == NULL || !to->in_slab) return;
  uint64_t bit, *held = held_bit(run, to, &bit);
  *held |= bit;
}

void gloop__stack_take_back(gloop__run *run, gloop__stack *from, gloop__stack *to) {
  if (from->base != NULL && from->in_slab) {
    uint64_t bit, *held = held_bit(run, from, &bit);
    *held &= ~bit;
  }
  *to = *from;
  from->base = NULL;
}

void gloop__stack_unmap(gloop__stack *s) {
  if (s->base == NULL) return;
  unpoison(s);
  deregister_stack(s);
  munmap(s->base, s->map_size);
  s->base = NULL;
}

/* Whether a fault at addr, taken while task t runs, is a stack overflow: it
 * hit t's own guard gap, or the gap of any slot in the run's slabs (a frame
 * larger than the gap jumped it and ran through a neighbour's stack into
 * the neighbour's gap). Called from the signal handler: reads only. */
static int overflow_hit(const gloop__run *run, const gloop_task *t, const void *addr) {
  const char *a = addr;
  const gloop__stack *s = &t->stack;
  if (s->base != NULL && s->guard != 0 && a >= (const char *)s->base &&
      a < (const char *)s->base + s->guard)
    return 1;
  size_t guard = guard_bytes(run);
  size_t slot = run->stacks.size + guard;
  for (size_t i = 0; guard != 0 && i < run->stacks.nslabs; i++) {
    const char *lo = run->stacks.slabs[i];
    if (a >= lo && a < lo + slot * SLAB_STACKS && (size_t)(a - lo) % slot < guard) return 1;
  }
  return 0;
}

/* ---- The overflow report ------------------------------------------------ */

/* The disposition that was in place before ours: faults that are not
 * overflows go on to it. */
static struct sigaction previous_segv;

static void write_str(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Runs on the alternate signal stack. Only async-signal-safe calls: if the
 * fault is an overflow of the running task, name the task and abort. Any
 * other fault is the program's: it goes to the handler that was installed
 * before ours, called directly, so that ours stays installed whatever that
 * handler does (returns after mending the fault, or jumps out of it). With
 * no such handler, the default action is restored and the faulting
 * instruction runs again under it: the process dies of SIGSEGV as it would
 * without the library. */
static void on_segv(int sig, siginfo_t *info, void *uctx) {
  gloop__run *run = gloop__run_current();
  gloop_task *t = run ? run->current : NULL;
  if (t && overflow_hit(run, t, info->si_addr)) {
    write_str("guestloop: task '");
    write_str(t->name);
    write_str("' overflowed its stack (hit the guard gap); aborting\n");
    signal(SIGABRT, SIG_DFL);
    abort();
  }
  const struct sigaction *prev = &previous_segv;
  if (prev->sa_flags & SA_SIGINFO) {
    prev->sa_sigaction(sig, info, uctx);
  } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
  } else {
    /* (An ignored SIGSEGV cannot be ignored for a real fault: the kernel
     * kills the process either way.) */
    signal(sig, SIG_DFL);
  }
}

/* Installs the report once per process, at the first run with guard gaps;
 * whatever handler was there before becomes the one other faults go to. A
 * handler the program installs later replaces ours; the guide says so. */
int gloop__overflow_handler_install(void) {
  static atomic_int installed;
  if (atomic_exchange(&installed, 1)) return 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  /* No signal is blocked while the program's handler runs, as if it had
   * been installed alone, so a handler that leaves by longjmp leaves
   * SIGSEGV unblocked. */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &previous_segv) != 0) {
    atomic_store(&installed, 0);
    return GLOOP_EINTERNAL;
  }
  return 0;
}

/* A fault on an overflowed task stack cannot run its handler on that same
 * stack, so the host thread gets an alternate signal stack while a run with
 * guard pages is live, unless it already has one. */
void gloop__altstack_enter(gloop__run *run) {
  stack_t cur;
  if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;
  size_t size = 64 * 1024;
  void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    munmap(mem, size);
    return;
  }
  run->stacks.altstack = mem;
}

void gloop__altstack_leave(gloop__run *run) {
  if (run->stacks.altstack == NULL) return;
  stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  munmap(run->stacks.altstack, 64 * 1024);
  run->stacks.altstack = NULL;
}

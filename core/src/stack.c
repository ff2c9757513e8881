/* stack.c - task stacks: mmap with an optional guard page, a bounded reuse pool, and the overflow report. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GLOOP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define GLOOP_ASAN 1
#endif
#ifdef GLOOP_ASAN
#include <sanitizer/asan_interface.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GLOOP_HAVE_VALGRIND 1
#endif
#endif

size_t gloop__page_size(void) {
  static size_t page;
  if (page == 0) page = (size_t)sysconf(_SC_PAGESIZE);
  return page;
}

/* Stacks are mapped with MAP_NORESERVE and never touched by us, so only the
 * pages a task actually uses become resident: a task that sleeps with a
 * shallow stack costs one or two pages of RSS whatever its stack size. */
static int map_stack(gloop__run *run, size_t size, gloop__stack *out) {
  size_t guard = run->guard ? gloop__page_size() : 0;
  size_t total = size + guard;
  if (gloop__fault(GLOOP_FAULT_STACK)) return GLOOP_ENOMEM;
  void *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) return GLOOP_ENOMEM;
  if (guard && mprotect(p, guard, PROT_NONE) != 0) {
    int e = errno;
    munmap(p, total);
    if (e == ENOMEM) {
      /* The mapping split in two hit vm.max_map_count: each guarded stack
       * costs two mappings. Say which limit and which option. */
      gloop__set_last_message(
          "guestloop: cannot protect another stack guard page: the process reached "
          "its memory-mapping limit (vm.max_map_count, two mappings per guarded "
          "stack); set gloop_options.guard_pages = 0 or raise the limit");
    }
    return GLOOP_ENOMEM;
  }
  out->base = p;
  out->map_size = total;
  out->guard = guard;
#ifdef GLOOP_HAVE_VALGRIND
  out->vg_id = VALGRIND_STACK_REGISTER((char *)p + guard, (char *)p + total);
#else
  out->vg_id = 0;
#endif
  return 0;
}

/* Frames of a task that never returned (an abandoned run) stay poisoned in
 * AddressSanitizer's shadow memory; a stack handed out again, or memory
 * mapped later at the same address, would then look corrupt. */
static void unpoison(const gloop__stack *s) {
#ifdef GLOOP_ASAN
  __asan_unpoison_memory_region((char *)s->base + s->guard, s->map_size - s->guard);
#else
  (void)s;
#endif
}

static void unmap_stack(gloop__stack *s) {
  unpoison(s);
#ifdef GLOOP_HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
  munmap(s->base, s->map_size);
  s->base = NULL;
}

int gloop__stack_alloc(gloop__run *run, size_t size, gloop__stack *out) {
  if (size == run->stack_size && run->pool_len > 0) {
    *out = run->pool[--run->pool_len];
    return 0;
  }
  return map_stack(run, size, out);
}

/* Stacks of the run's default size go back to the pool while it has room;
 * others are unmapped. A pooled stack keeps its resident pages, which is the
 * point: the next task reuses them without page faults. */
void gloop__stack_release(gloop__run *run, gloop__stack *s) {
  if (s->base == NULL) return;
  size_t usable = s->map_size - s->guard;
  unpoison(s);
  if (usable == run->stack_size && run->pool_len < run->pool_cap) {
    run->pool[run->pool_len++] = *s;
    s->base = NULL;
    return;
  }
  unmap_stack(s);
}

void gloop__stack_pool_drain(gloop__run *run) {
  while (run->pool_len > 0) unmap_stack(&run->pool[--run->pool_len]);
}

int gloop__stack_guard_hit(const gloop__stack *s, const void *addr) {
  if (s->base == NULL || s->guard == 0) return 0;
  const char *a = addr, *lo = s->base;
  /* A frame can skip past the guard page by up to a few KiB; count faults
   * just below the mapping as overflow too. */
  return a >= lo - 64 * 1024 && a < lo + s->guard;
}

/* ---- The overflow report ------------------------------------------------ */

static struct sigaction previous_segv;
static atomic_int handler_installed;

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
 * fault hit the current task's guard page, name the task and abort; else
 * restore the previous disposition and return, so the faulting instruction
 * runs again under it. */
static void on_segv(int sig, siginfo_t *info, void *uctx) {
  (void)uctx;
  gloop__run *run = gloop__run_current();
  gloop_task *t = run ? run->current : NULL;
  if (t && gloop__stack_guard_hit(&t->stack, info->si_addr)) {
    write_str("guestloop: task '");
    write_str(t->name);
    write_str("' overflowed its stack (hit the guard page); aborting\n");
    signal(SIGABRT, SIG_DFL);
    abort();
  }
  sigaction(sig, &previous_segv, NULL);
}

int gloop__overflow_handler_install(void) {
  if (atomic_exchange(&handler_installed, 1)) return 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &previous_segv) != 0) {
    atomic_store(&handler_installed, 0);
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
  run->altstack = mem;
}

void gloop__altstack_leave(gloop__run *run) {
  if (run->altstack == NULL) return;
  stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  munmap(run->altstack, 64 * 1024);
  run->altstack = NULL;
}

/* stack.c - task stacks: slabs with guard gaps, each run's bounded reuse pool, the process-wide slab cache, and the overflow report. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

#include "asan_hooks.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/memcheck.h>
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

/* The guard gap below each stack: address space that faults when touched,
 * which costs no memory. A function whose frame is larger than the gap can
 * move the stack pointer past it without touching it, and its first write
 * then lands in whatever lies below: in a slab, the neighbouring task's
 * stack. 64 KiB plus a page covers any frame of up to 64 KiB (code built
 * with -fstack-clash-protection probes larger frames page by page, so it
 * always hits the gap; the library itself is built that way where the
 * compiler can). */
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

/* ---- The process-wide stack cache ------------------------------------------
 *
 * A run's slabs outlive it: at the run's end each slab whose slots are all
 * free goes to a cache shared by every run of the process, and the next run
 * that needs a slab of the same class (stack size and guard setting) takes
 * it from there instead of mapping a new one. A slab in the cache keeps its
 * guard gaps, so a slot gets its gap once in the slab's life, and keeps the
 * top pages of each used slot resident, so a task starting on it takes no
 * page fault: a fresh run starts as warm as the last one ended.
 *
 * The cache holds at most `cache_limit` stacks, counted in whole slabs of
 * SLAB_STACKS (gloop_stack_cache_limit(); 0 turns it off); a slab that does
 * not fit is unmapped as before. On entry every used slot gives back its
 * pages except the top CACHE_KEEP bytes (one madvise per slot, at the run's
 * end), so the cache's resident memory is at most limit x CACHE_KEEP
 * whatever the tasks did. Slabs with a slot handed over to a worker job
 * never enter it (the job unmaps that slot when it is freed).
 *
 * The cache is a LIFO list linked through a header written at the bottom of
 * slot 0's stack area (far from the top, where tasks run), so it needs no
 * heap memory. One mutex guards it; runs touch it once per slab, never per
 * task. Its mappings go with the process at exit; gloop_stack_cache_release()
 * unmaps them earlier, and the reliability sweeps call it before they look
 * for leaked mappings. */

#define CACHE_KEEP ((size_t)8192)

typedef struct cached_slab {
  struct cached_slab *next;
  size_t size, guard;  /* the class: stack size and guard-gap bytes */
  size_t carved;       /* slots 0 .. carved-1 have their gap and were used */
} cached_slab;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_slab *cache_head;
static size_t cache_stacks;   /* stacks in cached slabs and slabs about to enter */
static size_t cache_limit = GLOOP_DEFAULT_STACK_CACHE_LIMIT;
static unsigned long long cache_handed; /* used stacks runs got from the cache */

/* A child of fork() must not inherit the lock held by another thread. */
static void cache_lock_prepare(void) { pthread_mutex_lock(&cache_lock); }
static void cache_lock_release(void) { pthread_mutex_unlock(&cache_lock); }
static void cache_lock_init_once(void) {
  pthread_atfork(cache_lock_prepare, cache_lock_release, cache_lock_release);
}

static void cache_lock_take(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, cache_lock_init_once);
  pthread_mutex_lock(&cache_lock);
}

static size_t slab_bytes(size_t size, size_t guard) { return (size + guard) * SLAB_STACKS; }

static cached_slab *header_of(void *slab, size_t guard) {
  return (cached_slab *)(void *)((char *)slab + guard);
}

static void *slab_of(cached_slab *h) { return (char *)h - h->guard; }

/* Unmaps a list of slabs taken off the cache (outside the lock). */
static void unmap_list(cached_slab *h) {
  while (h != NULL) {
    cached_slab *next = h->next;
    munmap(slab_of(h), slab_bytes(h->size, h->guard));
    h = next;
  }
}

/* Takes slabs off the cache until it holds at most `keep` stacks; returns
 * them as a list for the caller to unmap. Lock held. */
static cached_slab *cache_shrink_locked(size_t keep) {
  cached_slab *out = NULL;
  cached_slab **pp = &cache_head;
  /* The oldest slabs (the list's tail) go first: walk to the kept prefix. */
  size_t kept = 0;
  while (*pp != NULL && kept + SLAB_STACKS <= keep) {
    kept += SLAB_STACKS;
    pp = &(*pp)->next;
  }
  out = *pp;
  *pp = NULL;
  for (cached_slab *h = out; h != NULL; h = h->next) cache_stacks -= SLAB_STACKS;
  return out;
}

/* A cached slab of the class, or NULL; *carved says how many of its slots
 * are ready (guarded and used before). */
static void *cache_take(size_t size, size_t guard, size_t *carved) {
  cache_lock_take();
  cached_slab **pp = &cache_head;
  while (*pp != NULL && ((*pp)->size != size || (*pp)->guard != guard)) pp = &(*pp)->next;
  cached_slab *h = *pp;
  if (h != NULL) {
    *pp = h->next;
    cache_stacks -= SLAB_STACKS;
    cache_handed += h->carved;
  }
  pthread_mutex_unlock(&cache_lock);
  if (h == NULL) return NULL;
  *carved = h->carved;
  return slab_of(h);
}

/* Offers a slab whose slots are all free to the cache; 0 if it took it. */
static int cache_put(char *slab, size_t size, size_t guard, size_t carved) {
  cache_lock_take();
  int room = cache_stacks + SLAB_STACKS <= cache_limit;
  if (room) cache_stacks += SLAB_STACKS; /* reserved while the pages go back */
  pthread_mutex_unlock(&cache_lock);
  if (!room) return -1;
  size_t slot = size + guard;
  for (size_t i = 0; i < carved; i++) {
    char *lo = slab + i * slot + guard;
    madvise(lo, size - CACHE_KEEP, MADV_DONTNEED);
  }
  cached_slab *h = header_of(slab, guard);
  h->size = size;
  h->guard = guard;
  h->carved = carved;
  cache_lock_take();
  /* The bound may have been lowered meanwhile: it holds for every slab
   * that enters after the change. */
  room = cache_stacks <= cache_limit;
  if (room) {
    h->next = cache_head;
    cache_head = h;
  } else {
    cache_stacks -= SLAB_STACKS;
  }
  pthread_mutex_unlock(&cache_lock);
  return room ? 0 : -1;
}

int gloop_stack_cache_limit(size_t max_stacks) {
  cache_lock_take();
  cache_limit = max_stacks;
  cached_slab *drop = cache_shrink_locked(max_stacks);
  pthread_mutex_unlock(&cache_lock);
  unmap_list(drop);
  return 0;
}

int gloop_stack_cache_release(void) {
  cache_lock_take();
  cached_slab *drop = cache_shrink_locked(0);
  pthread_mutex_unlock(&cache_lock);
  unmap_list(drop);
  return 0;
}

int gloop_stack_cache_get_info(gloop_stack_cache_info *out) {
  if (out == NULL) return GLOOP_EINVAL;
  cache_lock_take();
  size_t n = 0;
  for (cached_slab *h = cache_head; h != NULL; h = h->next) n += SLAB_STACKS;
  out->stacks = n;
  out->limit = cache_limit;
  out->reused = cache_handed;
  pthread_mutex_unlock(&cache_lock);
  return 0;
}

static void register_stack(gloop__stack *st) {
#ifdef GLOOP_HAVE_VALGRIND
  st->vg_id = VALGRIND_STACK_REGISTER((char *)st->base + st->guard,
                                      (char *)st->base + st->map_size);
#else
  st->vg_id = 0;
#endif
}

/* A slot carved from a slab, which a former run (on any thread) may have
 * used: valgrind may have marked parts of it inaccessible (frames it saw
 * die, or a stack switch it took for a stack pointer moving within one
 * stack); to the new task the whole stack is merely uninitialised. */
static void reuse_stack(const gloop__stack *st) {
#ifdef GLOOP_HAVE_VALGRIND
  VALGRIND_MAKE_MEM_UNDEFINED((char *)st->base + st->guard, st->map_size - st->guard);
#else
  (void)st;
#endif
}

static void deregister_stack(const gloop__stack *st) {
#ifdef GLOOP_HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(st->vg_id);
#else
  (void)st;
#endif
}

/* Since Linux 6.13 a guard gap can be a range of guard markers in the
 * stack's own mapping (madvise MADV_GUARD_INSTALL): touching it faults like
 * PROT_NONE, but it does not split the mapping. An mprotect'ed gap makes two
 * mappings of every guarded stack, which costs the kernel a mapping
 * structure and a tree update per stack, and lets vm.max_map_count (65 530
 * by default) stop a process at about 32 000 guarded tasks; with markers a
 * slab of 64 stacks stays one mapping, and making a stack's gap splits
 * nothing (the fresh-spawn row of docs/performance.md measures it).
 *
 * Whether markers work is decided once per process, by a probe rather than
 * by madvise's return value: an emulator may accept the advice and ignore
 * it (qemu-user does), which would leave the gaps unguarded. The probe
 * installs a marker on a scratch page and asks the kernel to read it
 * through a pipe: a guarded page fails the write with EFAULT. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* 1 if markers guard here, 0 if not, -1 if the probe could not tell (no
 * memory or no file descriptor for it: asked again next time). */
static int probe_guard_markers(void) {
  size_t pg = gloop__page_size();
  char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -1;
  int verdict = 0;
  if (madvise(p, pg, MADV_GUARD_INSTALL) == 0) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      verdict = -1;
    } else {
      /* The page after the marker is an ordinary one: the same write from
       * it must succeed, or the pipe, not the marker, refused. */
      verdict = write(fds[1], p, 1) < 0 && errno == EFAULT && write(fds[1], p + pg, 1) == 1;
      close(fds[0]);
      close(fds[1]);
    }
  }
  munmap(p, 2 * pg);
  return verdict;
}

static int guard_markers_usable(void) {
  static atomic_int known; /* 0: not yet, 1: usable, 2: not */
  int k = atomic_load_explicit(&known, memory_order_relaxed);
  if (k == 0) {
    int v = probe_guard_markers();
    if (v < 0) return 0;
    k = v ? 1 : 2;
    atomic_store_explicit(&known, k, memory_order_relaxed);
  }
  return k == 1;
}

static int protect_guard(void *p, size_t guard) {
  if (guard == 0) return 0;
  if (guard_markers_usable() && madvise(p, guard, MADV_GUARD_INSTALL) == 0) return 0;
  if (mprotect(p, guard, PROT_NONE) == 0) return 0;
  /* The cached slabs' gaps count against the same limit: give them back
   * and try once more before failing. */
  if (errno == ENOMEM) {
    gloop_stack_cache_release();
    if (mprotect(p, guard, PROT_NONE) == 0) return 0;
  }
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
    size_t carved = 0;
    char *p = cache_take(run->stacks.size, guard, &carved);
    if (p == NULL) p = map_region(slot * SLAB_STACKS);
    if (p == NULL) return GLOOP_ENOMEM;
    run->stacks.slab_held[run->stacks.nslabs] = 0;
    run->stacks.slabs[run->stacks.nslabs++] = p;
    run->stacks.slab_cursor = p;
    run->stacks.slab_guarded = p + carved * slot;
    run->stacks.slab_left = SLAB_STACKS;
  }
  /* A slot a former run used has its gap already. */
  int reused = run->stacks.slab_cursor < run->stacks.slab_guarded;
  if (!reused) {
    int rc = protect_guard(run->stacks.slab_cursor, guard);
    if (rc) return rc;
  }
  out->base = run->stacks.slab_cursor;
  out->map_size = slot;
  out->guard = guard;
  out->in_slab = 1;
  register_stack(out);
  reuse_stack(out);
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
  size_t guard = guard_bytes(run);
  size_t slot = run->stacks.size + guard;
  for (size_t i = 0; i < run->stacks.nslabs; i++) {
    /* Only the newest slab may have slots that never got their gap: those
     * beyond both what this run carved and what it took ready from the
     * cache. */
    size_t carved = SLAB_STACKS;
    if (i + 1 == run->stacks.nslabs) {
      size_t ready = (size_t)(run->stacks.slab_guarded - (char *)run->stacks.slabs[i]) / slot;
      carved = SLAB_STACKS - run->stacks.slab_left;
      if (ready > carved) carved = ready;
    }
    if (run->stacks.slab_held[i] != 0 ||
        cache_put(run->stacks.slabs[i], run->stacks.size, guard, carved) != 0)
      unmap_slab(run->stacks.slabs[i], slot, run->stacks.slab_held[i]);
  }
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

/* test_stack_cache.c - cases for the process-wide stack cache: reuse across runs, size classes, the bound, concurrent runs on two threads; and what guard gaps cost in mappings. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

/* Stacks are mapped and cached in slabs of this many (stack.c). */
#define SLAB 64

static gloop_stack_cache_info cache_info(void) {
  gloop_stack_cache_info info;
  memset(&info, 0xff, sizeof info);
  if (gloop_stack_cache_get_info(&info) != 0) memset(&info, 0, sizeof info);
  return info;
}

/* A run whose main task starts `tasks` children that all live at once (each
 * waits at a checkpoint), and notes where its own stack is. */
typedef struct many_arg {
  int tasks;
  uintptr_t main_sp;
} many_arg;

static int child(void *arg) {
  (void)arg;
  return gloop_checkpoint();
}

static int many_main(void *arg) {
  many_arg *m = arg;
  volatile char here = 0;
  m->main_sp = (uintptr_t)&here;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc) return rc;
  for (int i = 0; i < m->tasks && rc == 0; i++) rc = gloop_nursery_start(n, child, NULL, NULL, NULL);
  int close_rc = gloop_nursery_close(n);
  return rc ? rc : close_rc;
}

static int run_many(int tasks, size_t stack_size, uintptr_t *main_sp) {
  gloop_options o;
  gloop_options_init(&o);
  o.stack_size = stack_size;
  many_arg m = {tasks, 0};
  int rc = gloop_run(many_main, &m, &o, NULL, NULL);
  if (main_sp) *main_sp = m.main_sp;
  return rc;
}

TEST_CASE(stack_cache_reuse) {
  ASSERT_OK(gloop_stack_cache_limit(GLOOP_DEFAULT_STACK_CACHE_LIMIT));
  ASSERT_OK(gloop_stack_cache_release());
  gloop_stack_cache_info a = cache_info();
  ASSERT_EQ_UINT(a.stacks, 0);
  ASSERT_EQ_UINT(a.limit, GLOOP_DEFAULT_STACK_CACHE_LIMIT);

  /* The first run maps a slab; at its end the slab stays in the cache. */
  uintptr_t sp1 = 0, sp2 = 0;
  ASSERT_OK(run_many(10, 0, &sp1));
  gloop_stack_cache_info b = cache_info();
  ASSERT_EQ_UINT(b.stacks, SLAB);
  ASSERT_EQ_UINT(b.reused, a.reused);

  /* The second run takes it back: the stacks the first run used (its main
   * task and ten children) are counted as reused, and its main task runs
   * in the same slab as the first's. */
  ASSERT_OK(run_many(10, 0, &sp2));
  gloop_stack_cache_info c = cache_info();
  ASSERT_EQ_UINT(c.stacks, SLAB);
  ASSERT_GE_UINT(c.reused - b.reused, 11);
  size_t slot = GLOOP_DEFAULT_STACK_SIZE + 64 * 1024 + (size_t)sysconf(_SC_PAGESIZE);
  ASSERT_TRUE(sp2 + SLAB * slot > sp1 && sp1 + SLAB * slot > sp2);

  /* A run that uses fewer of them leaves the others ready all the same. */
  ASSERT_OK(run_many(2, 0, NULL));
  ASSERT_OK(run_many(0, 0, NULL));
  gloop_stack_cache_info c2 = cache_info();
  ASSERT_EQ_UINT(c2.reused - c.reused, 2 * 11);

  /* Another size class does not take it; it is cached beside it. */
  ASSERT_OK(run_many(10, 64 * 1024, NULL));
  gloop_stack_cache_info d = cache_info();
  ASSERT_EQ_UINT(d.reused, c2.reused);
  ASSERT_EQ_UINT(d.stacks, 2 * SLAB);
  /* Neither does a run of the same size without guard gaps. */
  gloop_options o;
  gloop_options_init(&o);
  o.guard_pages = 0;
  many_arg m = {10, 0};
  ASSERT_OK(gloop_run(many_main, &m, &o, NULL, NULL));
  gloop_stack_cache_info e = cache_info();
  ASSERT_EQ_UINT(e.reused, c2.reused);
  ASSERT_EQ_UINT(e.stacks, 3 * SLAB);

  ASSERT_OK(gloop_stack_cache_release());
  ASSERT_EQ_UINT(cache_info().stacks, 0);
  ASSERT_ERR(gloop_stack_cache_get_info(NULL), GLOOP_EINVAL);
  return 0;
}

TEST_CASE(stack_cache_bound) {
  ASSERT_OK(gloop_stack_cache_release());
  /* 200 stacks at once take four slabs; a bound of 100 keeps one. */
  ASSERT_OK(gloop_stack_cache_limit(100));
  ASSERT_OK(run_many(200, 0, NULL));
  ASSERT_EQ_UINT(cache_info().stacks, SLAB);
  ASSERT_EQ_UINT(cache_info().limit, 100);
  /* A bound below one slab keeps none. */
  ASSERT_OK(gloop_stack_cache_limit(SLAB - 1));
  ASSERT_EQ_UINT(cache_info().stacks, 0);
  ASSERT_OK(run_many(200, 0, NULL));
  ASSERT_EQ_UINT(cache_info().stacks, 0);
  /* Lowering the bound gives back what is beyond it at once. */
  ASSERT_OK(gloop_stack_cache_limit(SIZE_MAX));
  ASSERT_OK(run_many(200, 0, NULL));
  ASSERT_EQ_UINT(cache_info().stacks, 4 * SLAB);
  ASSERT_OK(gloop_stack_cache_limit(2 * SLAB));
  ASSERT_EQ_UINT(cache_info().stacks, 2 * SLAB);
  /* 0 turns it off. */
  ASSERT_OK(gloop_stack_cache_limit(0));
  ASSERT_EQ_UINT(cache_info().stacks, 0);
  unsigned long long reused = cache_info().reused;
  ASSERT_OK(run_many(10, 0, NULL));
  ASSERT_OK(run_many(10, 0, NULL));
  ASSERT_EQ_UINT(cache_info().stacks, 0);
  ASSERT_EQ_UINT(cache_info().reused, reused);
  ASSERT_OK(gloop_stack_cache_limit(GLOOP_DEFAULT_STACK_CACHE_LIMIT));
  return 0;
}

/* Runs on two threads at once, each taking stacks from and giving them back
 * to the one cache, while a third thread changes the bound and empties the
 * cache. Run under ThreadSanitizer this is the cache's race check. */
#define CC_RUNS 30

typedef struct cc_arg {
  int failed;
} cc_arg;

static _Atomic int cc_running;

static void *cc_thread(void *p) {
  cc_arg *a = p;
  for (int i = 0; i < CC_RUNS && !a->failed; i++)
    if (run_many(70 + i % 3 * 30, 0, NULL) != 0) a->failed = 1;
  atomic_fetch_sub(&cc_running, 1);
  return NULL;
}

TEST_CASE(stack_cache_two_threads) {
  ASSERT_OK(gloop_stack_cache_release());
  ASSERT_OK(gloop_stack_cache_limit(8 * SLAB));
  unsigned long long reused = cache_info().reused;
  cc_arg args[2] = {{0}, {0}};
  pthread_t th[2];
  atomic_store(&cc_running, 2);
  for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_create(&th[i], NULL, cc_thread, &args[i]), 0);
  /* Meanwhile: bound changes and releases from a third thread. */
  for (int i = 0; atomic_load(&cc_running) > 0; i++) {
    if (i % 3 == 0) ASSERT_OK(gloop_stack_cache_release());
    ASSERT_OK(gloop_stack_cache_limit((size_t)(i % 4 + 2) * SLAB));
    ASSERT_LE_UINT(cache_info().stacks, 8 * SLAB);
    test_real_sleep(0.0005);
  }
  for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_join(th[i], NULL), 0);
  ASSERT_FALSE(args[0].failed);
  ASSERT_FALSE(args[1].failed);
  ASSERT_TRUE(cache_info().reused > reused);
  ASSERT_LE_UINT(cache_info().stacks, 5 * SLAB);
  ASSERT_OK(gloop_stack_cache_limit(GLOOP_DEFAULT_STACK_CACHE_LIMIT));
  ASSERT_OK(gloop_stack_cache_release());
  return 0;
}

/* Whether guard markers (madvise MADV_GUARD_INSTALL) guard here, found out
 * the way the library does it but independently of it: a marked page must
 * make the kernel's read of it for a pipe write fail with EFAULT. */
static int markers_guard(void) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) TEST_FAIL("mmap: %s", strerror(errno));
  int fds[2], guarded = 0;
  if (madvise(p, pg, 102 /* MADV_GUARD_INSTALL */) == 0) {
    ASSERT_EQ_INT(pipe(fds), 0);
    guarded = write(fds[1], p, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
  }
  munmap(p, pg);
  return guarded;
}

enum { GM_TASKS = 10 * SLAB };

/* Where each guarded task's stack is: the address of a local of each. */
static uintptr_t gm_where[GM_TASKS];

/* How many mappings of /proc/self/maps hold at least one of the stacks:
 * other mappings (a sanitizer's own, the allocator's) do not count. */
static long mappings_holding_stacks(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL) return -1;
  char line[512];
  long n = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) != 2) continue;
    for (int i = 0; i < GM_TASKS; i++)
      if (gm_where[i] >= lo && gm_where[i] < hi) {
        n++;
        break;
      }
  }
  fclose(f);
  return n;
}

static int gm_child(void *arg) {
  volatile char here = 0;
  gm_where[(intptr_t)arg] = (uintptr_t)&here;
  return gloop_sleep_forever() == GLOOP_ECANCELED ? 0 : 1;
}

static int gm_main(void *arg) {
  long *held = arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  for (intptr_t i = 0; i < GM_TASKS; i++)
    ASSERT_OK(gloop_nursery_start(n, gm_child, (void *)i, NULL, NULL));
  ASSERT_OK(gloop_checkpoint()); /* every child has started and waits */
  *held = mappings_holding_stacks();
  ASSERT_OK(gloop_nursery_cancel(n));
  return gloop_nursery_close(n);
}

/* Where the kernel has guard markers, a guarded stack costs no mapping of
 * its own: the stacks of ten slabs of guarded tasks lie in at most eleven
 * mappings (the main task's stack takes a slot of the first slab) (fewer where the kernel merges neighbours), not in one mapping
 * each between mprotect'ed gaps, which is what lets vm.max_map_count stop
 * a process at about 32 000 guarded tasks. Where it has not (an older
 * kernel, an emulator that ignores the advice), the gaps are mprotect'ed
 * and every stack is a mapping of its own. */
TEST_CASE(stack_guard_mappings) {
  long held = 0;
  ASSERT_OK(gloop_stack_cache_release());
  memset(gm_where, 0, sizeof gm_where);
  ASSERT_OK(gloop_run(gm_main, &held, NULL, NULL, NULL));
  if (held < 0) TEST_SKIP("no /proc/self/maps");
  int markers = markers_guard();
  printf("# guard markers %s; the stacks of %d guarded tasks lie in %ld mappings\n",
         markers ? "guard here" : "do not guard here", GM_TASKS, held);
  if (markers)
    ASSERT_LE_INT(held, GM_TASKS / SLAB + 1); /* the main task's stack comes first */
  else
    ASSERT_EQ_INT(held, GM_TASKS);
  ASSERT_OK(gloop_stack_cache_release());
  return 0;
}

/* bench.c - gloop_bench: times guestloop's core (switches, scheduler steps, spawns, timers, memory per task) beside its peers and prints the table. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "guestloop/guestloop.h"

/* ---- Method ------------------------------------------------------------------
 *
 * A "probe" is one measurement that yields one or more numbers (a probe of
 * the timers yields start, stop and fire costs). A "row" of the table picks
 * one number of one probe for guestloop and, where there is one, the same
 * number of a peer probe. Every round runs every needed probe once, in a
 * fixed round-robin order, so drift in the machine (frequency, neighbours)
 * spreads over all variants alike. Each cell is the median [min-max] over the
 * rounds; a ratio is taken inside each round first and then summarised the
 * same way, so a slow round slows both sides of its own ratio.
 *
 * Probes that measure memory run in a fresh process: the benchmark executes
 * itself again with the hidden option --child. A plain fork would not do:
 * the child would inherit the parent's heap, and the task records freed by
 * earlier probes would be reused without adding to the RSS being measured,
 * which hides hundreds of bytes per task. */

#define MAX_ROUNDS 100
#define MAX_VALS 5
#define MAX_ONLY 16

typedef struct config {
  int quick;
  int million;
  int rounds;
  const char *only[MAX_ONLY];
  int nonly;
  const char *csv_path;
  int child_probe;           /* --child: run this probe only, in this process */
  int child_fd;              /* --child: where to write its numbers */
  int lib_asm;               /* the library itself was built on the asm backend */
  long trips_fast;           /* round trips for the asm and fcontext switches */
  long trips_slow;           /* round trips for the ucontext switch */
  long step_total;           /* scheduler steps per configuration */
  size_t step_many;          /* tasks in the many-task configuration */
  size_t step_huge;          /* tasks in the very-many-task configuration */
  size_t spawn_batch;        /* tasks per nursery in the pooled spawn test */
  size_t spawn_batches;      /* timed nurseries in the pooled spawn test */
  size_t spawn_fresh;        /* tasks started at once on fresh stacks */
  size_t timers;             /* timers pending at once */
  size_t idle_tasks;         /* sleeping tasks in the memory test */
  size_t million_tasks;      /* sleeping tasks in --million */
} config;

/* ---- Small helpers -------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void fail_msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("gloop_bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Reports a failed guestloop call with its name and message and returns
 * the code, so probes can write `return call_failed("x", rc);`. */
static int call_failed(const char *what, int rc) {
  fail_msg("%s failed: %s (%s)", what, gloop_err_name(rc), gloop_strerror(rc));
  return rc ? rc : GLOOP_EINTERNAL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct summary {
  double median, min, max;
  int n;
} summary;

static summary summarise(const double *v, int n) {
  summary s = {NAN, NAN, NAN, n};
  if (n <= 0) return s;
  double tmp[MAX_ROUNDS];
  memcpy(tmp, v, (size_t)n * sizeof *tmp);
  qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
  s.min = tmp[0];
  s.max = tmp[n - 1];
  s.median = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
  return s;
}

/* Resident set and page-table bytes of this process, from procfs. Page
 * tables are not part of the resident set but are memory a task costs all
 * the same, so they are reported beside it. */
static int read_memory(double *rss, double *pte) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return -1;
  long size = 0, resident = 0;
  int got = fscanf(f, "%ld %ld", &size, &resident);
  fclose(f);
  if (got != 2) return -1;
  *rss = (double)resident * (double)sysconf(_SC_PAGESIZE);
  *pte = 0;
  f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    long kb;
    if (sscanf(line, "VmPTE: %ld kB", &kb) == 1) *pte = (double)kb * 1024.0;
  }
  fclose(f);
  return 0;
}

/* ---- Probe: the machine's own costs ------------------------------------------- *
 *
 * Not guestloop at all: the price of a system call, of a clock read and of
 * a fresh page on this machine. Virtual machines differ by an order of
 * magnitude here, and every syscall-bound row of the table (the ucontext
 * backend's signal-mask call on each switch, stack mappings on fresh spawns)
 * scales with these, so they are measured in the same rounds. */

static int probe_reference(const config *c, double *vals) {
  long n = c->quick ? 2000 : 200000;
  double t0 = gloop__bench_now_ns();
  for (long i = 0; i < n; i++) syscall(SYS_getppid); /* a raw syscall: glibc caches nothing here */
  double t1 = gloop__bench_now_ns();
  struct timespec ts;
  for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
  double t2 = gloop__bench_now_ns();
  long m = c->quick ? 200 : 20000;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  for (long i = 0; i < m; i++) {
    volatile char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      fail_msg("mmap: %s", strerror(errno));
      return GLOOP_ENOMEM;
    }
    p[0] = 1; /* the first touch: a page fault that allocates a zeroed page */
    munmap((void *)p, page);
  }
  double t3 = gloop__bench_now_ns();
  vals[0] = (t1 - t0) / (double)n;
  vals[1] = (t2 - t1) / (double)n;
  vals[2] = (t3 - t2) / (double)m;
  return 0;
}

/* ---- Probe: raw context switches ------------------------------------------------ */

static int probe_switch_ucontext(const config *c, double *vals) {
  int rc = gloop__bench_ctx_switch_ucontext(c->trips_slow, &vals[0]);
  return rc ? call_failed("ucontext ping-pong", rc) : 0;
}

#if defined(GLOOP_BENCH_HAVE_ASM_CTX)
static int probe_switch_asm(const config *c, double *vals) {
  int rc = gloop__bench_ctx_switch_asm(c->trips_fast, &vals[0]);
  return rc ? call_failed("asm ping-pong", rc) : 0;
}
#endif

#if defined(GLOOP_BENCH_HAVE_FCONTEXT)
static int probe_switch_fcontext(const config *c, double *vals) {
  int rc = gloop__bench_fcontext_switch(c->trips_fast, &vals[0]);
  return rc ? call_failed("fcontext ping-pong", rc) : 0;
}
#endif

/* ---- Probe: scheduler steps ----------------------------------------------------- *
 *
 * A step is what one gloop_checkpoint() costs when other tasks are ready:
 * the task queues itself, switches to the scheduler, and the scheduler takes
 * the next ready task and switches into it; two one-way switches plus the
 * queue work and the per-batch bookkeeping of the tick. K workers each pass
 * one warm-up checkpoint (so every stack is touched and every task has run),
 * then M timed checkpoints; the clock starts when the first worker leaves its
 * warm-up and stops when the last worker finishes its loop, which spans
 * exactly K * M resumes because the ready queue is FIFO. A worker that is
 * done waits on an event until the last one is, instead of ending at once:
 * the exits of the others would otherwise fall inside the timed window, and
 * an exit can cost far more than a step (a stack beyond the pool's capacity
 * is unmapped, a system call that costs microseconds). */

typedef struct step_job {
  long per_task;
  size_t tasks;
  size_t started;
  size_t finished;
  gloop_event *all_done;
  double t0, t1;
} step_job;

static int step_worker(void *arg) {
  step_job *j = arg;
  int rc = gloop_checkpoint();
  if (rc) return rc;
  if (j->started++ == 0) j->t0 = gloop__bench_now_ns();
  for (long i = 0; i < j->per_task; i++) {
    rc = gloop_checkpoint();
    if (rc) return rc;
  }
  j->t1 = gloop__bench_now_ns();
  if (++j->finished == j->tasks) return gloop_event_set(j->all_done);
  return gloop_event_wait(j->all_done);
}

typedef struct spawn_req {
  gloop_task_fn fn;
  void *arg;
  size_t count;
  size_t *created;   /* NULL: every start must succeed */
  int stop_on_enomem;
  int start_rc;
} spawn_req;

/* Opens a nursery and starts req->count tasks in it, then closes it, or,
 * with `keep`, hands it to the caller still open. With stop_on_enomem, a
 * start that fails with GLOOP_ENOMEM ends the starting without failing (on a
 * kernel without guard markers the guard-page test runs into the mapping
 * limit on purpose); req->created
 * tells how many tasks were started. Any other failed start cancels and
 * closes the nursery and is returned. */
static int nursery_of(spawn_req *req, gloop_nursery **keep) {
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc) return call_failed("gloop_nursery_open", rc);
  size_t i;
  for (i = 0; i < req->count; i++) {
    rc = gloop_nursery_start(n, req->fn, req->arg, "bench", NULL);
    if (rc) break;
  }
  if (req->created) *req->created = i;
  req->start_rc = rc;
  if (rc && !(rc == GLOOP_ENOMEM && req->stop_on_enomem)) {
    call_failed("gloop_nursery_start", rc);
    gloop_nursery_cancel(n);
    gloop_nursery_close(n);
    return rc;
  }
  if (keep) {
    *keep = n;
    return 0;
  }
  rc = gloop_nursery_close(n);
  return rc ? call_failed("gloop_nursery_close", rc) : 0;
}

typedef struct step_run {
  step_job job;
  size_t tasks;
} step_run;

static int step_main(void *arg) {
  step_run *s = arg;
  int rc = gloop_event_new(&s->job.all_done);
  if (rc) return call_failed("gloop_event_new", rc);
  spawn_req req = {step_worker, &s->job, s->tasks, NULL, 0, 0};
  rc = nursery_of(&req, NULL);
  gloop_event_free(s->job.all_done);
  return rc;
}

/* guard: the guard_pages option; -1 keeps the default. */
static int step_once(size_t tasks, long per_task, double budget, int guard, double *ns) {
  step_run s;
  memset(&s, 0, sizeof s);
  s.tasks = tasks;
  s.job.tasks = tasks;
  s.job.per_task = per_task;
  gloop_options o;
  gloop_options_init(&o);
  if (!isnan(budget)) o.tick_budget = budget;
  if (guard >= 0) o.guard_pages = guard;
  int rc = gloop_run(step_main, &s, &o, NULL, NULL);
  if (rc) return call_failed("gloop_run (scheduler steps)", rc);
  if (s.job.finished != tasks) {
    fail_msg("scheduler steps: %zu of %zu workers finished", s.job.finished, tasks);
    return GLOOP_EINTERNAL;
  }
  *ns = (s.job.t1 - s.job.t0) / ((double)tasks * (double)per_task);
  return 0;
}

#if defined(GLOOP_BENCH_HAVE_FCONTEXT)
/* Steps per task when `tasks` tasks share the configuration's step total. */
static long steps_each(const config *c, size_t tasks) {
  long each = c->step_total / (long)tasks;
  return each < 1 ? 1 : each;
}

/* The same task counts and step counts as probe_steps(), on the same stack
 * size (guestloop's default), with a bare round-robin loop. */
static int probe_fcontext_steps(const config *c, double *vals) {
  const size_t tasks[4] = {1, 2, c->step_many, c->step_huge};
  int rc = 0;
  for (int i = 0; i < 4 && rc == 0; i++)
    rc = gloop__bench_fcontext_steps(tasks[i], steps_each(c, tasks[i]), GLOOP_DEFAULT_STACK_SIZE,
                                     &vals[i]);
  return rc ? call_failed("fcontext round-robin", rc) : 0;
}
#endif

/* vals: 1, 2 and step_many tasks, 1 task with one batch per tick, and
 * step_huge tasks. The last runs without guard pages, as the fcontext peer
 * does; on a kernel without guard markers two mappings per guarded stack
 * would also pass the default mapping limit (65 530) long before 100 000
 * tasks. */
static int probe_steps(const config *c, double *vals) {
  int rc;
  if ((rc = step_once(1, steps_each(c, 1), NAN, -1, &vals[0])) != 0) return rc;
  if ((rc = step_once(2, steps_each(c, 2), NAN, -1, &vals[1])) != 0) return rc;
  if ((rc = step_once(c->step_many, steps_each(c, c->step_many), NAN, -1, &vals[2])) != 0)
    return rc;
  if ((rc = step_once(1, steps_each(c, 1), 0.0, -1, &vals[3])) != 0) return rc;
  return step_once(c->step_huge, steps_each(c, c->step_huge), NAN, 0, &vals[4]);
}

/* ---- Probe: spawn, run and exit -------------------------------------------------- *
 *
 * Pooled: nurseries of spawn_batch trivial tasks, opened and closed one after
 * another, after one untimed nursery that fills the run's stack pool; every
 * later task takes a cached stack. Fresh: spawn_fresh tasks at once in a run
 * of their own, after the process-wide stack cache is emptied, so every
 * stack is carved from a new slab, gets its guard gap and is faulted in,
 * and the slabs beyond the cache's bound are unmapped when the run ends. */

typedef struct spawn_job {
  const config *c;
  size_t ran;
  double pooled_ns;
} spawn_job;

static int trivial_task(void *arg) {
  size_t *ran = arg;
  (*ran)++;
  return 0;
}

static int spawn_pooled_main(void *arg) {
  spawn_job *j = arg;
  spawn_req req = {trivial_task, &j->ran, j->c->spawn_batch, NULL, 0, 0};
  int rc = nursery_of(&req, NULL);
  if (rc) return rc;
  double t0 = gloop__bench_now_ns();
  for (size_t b = 0; b < j->c->spawn_batches; b++)
    if ((rc = nursery_of(&req, NULL)) != 0) return rc;
  double t1 = gloop__bench_now_ns();
  j->pooled_ns = (t1 - t0) / ((double)j->c->spawn_batch * (double)j->c->spawn_batches);
  return 0;
}

static int spawn_fresh_main(void *arg) {
  spawn_job *j = arg;
  spawn_req req = {trivial_task, &j->ran, j->c->spawn_fresh, NULL, 0, 0};
  return nursery_of(&req, NULL);
}

static int probe_spawn(const config *c, double *vals) {
  spawn_job j = {c, 0, 0};
  int rc = gloop_run(spawn_pooled_main, &j, NULL, NULL, NULL);
  if (rc) return call_failed("gloop_run (pooled spawn)", rc);
  size_t want = c->spawn_batch * (c->spawn_batches + 1);
  if (j.ran != want) {
    fail_msg("pooled spawn: %zu of %zu tasks ran", j.ran, want);
    return GLOOP_EINTERNAL;
  }
  vals[0] = j.pooled_ns;

  j.ran = 0;
  /* Fresh means fresh: not the stacks the pooled run left in the
   * process-wide cache. */
  gloop_stack_cache_release();
  double t0 = gloop__bench_now_ns();
  rc = gloop_run(spawn_fresh_main, &j, NULL, NULL, NULL);
  double t1 = gloop__bench_now_ns();
  if (rc) return call_failed("gloop_run (fresh spawn)", rc);
  if (j.ran != c->spawn_fresh) {
    fail_msg("fresh spawn: %zu of %zu tasks ran", j.ran, c->spawn_fresh);
    return GLOOP_EINTERNAL;
  }
  /* The whole run is timed, set-up and tear-down included: with thousands
   * of fresh stacks the run's own fixed cost is below the noise. */
  vals[1] = (t1 - t0) / (double)c->spawn_fresh;
  return 0;
}

/* ---- Probe: timers ---------------------------------------------------------------- *
 *
 * The public gloop_timer_* API with `timers` timers pending at once, random
 * 1-50 ms delays and a random stop order (the same load libuv gets in the
 * same round). Start and stop are timed in a run on the system clock, as an
 * application would see them. Firing is timed on a mock clock: after all
 * timers are started, the clock jumps past the last deadline and the main
 * task waits on an event that the last callback sets. With no task ready,
 * the tick fires the due timers at once, so the time until the main task is
 * back is the time to fire them all. (A checkpoint would not do: the tick
 * looks at timers only every few dozen task steps while tasks are ready.) */

static gloop__bench_timer_load timer_load;

typedef struct timer_job {
  gloop_timer **timers;
  gloop_clock *clock;
  gloop_event *all_fired; /* set by the n-th callback, in the fire run only */
  size_t fired;
  double start_ns, stop_ns, fire_ns;
} timer_job;

static void timer_fired(void *data) {
  timer_job *j = data;
  if (++j->fired == timer_load.n && j->all_fired) gloop_event_set(j->all_fired);
}

static int start_all(timer_job *j) {
  for (size_t i = 0; i < timer_load.n; i++) {
    int rc = gloop_timer_start(j->timers[i], timer_load.delay_ms[i] / 1000.0, timer_fired, j);
    if (rc) return call_failed("gloop_timer_start", rc);
  }
  return 0;
}

static int timer_system_main(void *arg) {
  timer_job *j = arg;
  size_t n = timer_load.n;
  double t0 = gloop__bench_now_ns();
  int rc = start_all(j);
  double t1 = gloop__bench_now_ns();
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    rc = gloop_timer_stop(j->timers[timer_load.stop_order[i]]);
    if (rc) return call_failed("gloop_timer_stop", rc);
  }
  double t2 = gloop__bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    if (gloop_timer_active(j->timers[i])) {
      fail_msg("timer %zu is still active after gloop_timer_stop", i);
      return GLOOP_EINTERNAL;
    }
  }
  if (j->fired != 0) {
    fail_msg("%zu timers fired although the task never yielded", j->fired);
    return GLOOP_EINTERNAL;
  }
  j->start_ns = (t1 - t0) / (double)n;
  j->stop_ns = (t2 - t1) / (double)n;
  return 0;
}

static int timer_mock_main(void *arg) {
  timer_job *j = arg;
  int rc = gloop_event_new(&j->all_fired);
  if (rc) return call_failed("gloop_event_new", rc);
  rc = start_all(j);
  if (rc) goto out;
  double t0 = gloop__bench_now_ns();
  rc = gloop_mock_clock_jump(j->clock, 0.060); /* every delay is at most 50 ms */
  if (rc) {
    call_failed("gloop_mock_clock_jump", rc);
    goto out;
  }
  rc = gloop_event_wait(j->all_fired);
  double t1 = gloop__bench_now_ns();
  if (rc) {
    call_failed("gloop_event_wait", rc);
    goto out;
  }
  j->fire_ns = (t1 - t0) / (double)timer_load.n;
out:
  gloop_event_free(j->all_fired);
  j->all_fired = NULL;
  return rc;
}

static int check_fired(const timer_job *j) {
  if (j->fired != timer_load.n) {
    fail_msg("%zu of %zu due timers fired in the fire run", j->fired,
             timer_load.n);
    return GLOOP_EINTERNAL;
  }
  return 0;
}

static int probe_timers(const config *c, double *vals) {
  (void)c;
  size_t n = timer_load.n;
  timer_job j;
  memset(&j, 0, sizeof j);
  j.timers = calloc(n, sizeof *j.timers);
  if (j.timers == NULL) return call_failed("calloc (timers)", GLOOP_ENOMEM);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) rc = gloop_timer_new(&j.timers[i]);
  if (rc) {
    call_failed("gloop_timer_new", rc);
    goto out;
  }
  rc = gloop_run(timer_system_main, &j, NULL, NULL, NULL);
  if (rc) {
    call_failed("gloop_run (timer start/stop)", rc);
    goto out;
  }
  rc = gloop_mock_clock_new(0.0, INFINITY, &j.clock);
  if (rc) {
    call_failed("gloop_mock_clock_new", rc);
    goto out;
  }
  gloop_options o;
  gloop_options_init(&o);
  o.clock = j.clock;
  rc = gloop_run(timer_mock_main, &j, &o, NULL, NULL);
  if (rc) {
    call_failed("gloop_run (timer fire)", rc);
    goto out;
  }
  if ((rc = check_fired(&j)) != 0) goto out;
  vals[0] = j.start_ns;
  vals[1] = j.stop_ns;
  vals[2] = j.fire_ns;
out:
  for (size_t i = 0; i < n; i++) gloop_timer_free(j.timers[i]);
  free(j.timers);
  if (j.clock) gloop_clock_free(j.clock);
  return rc;
}

#if defined(GLOOP_BENCH_HAVE_UV)
static int probe_uv_timers(const config *c, double *vals) {
  (void)c;
  return gloop__bench_uv_timers(&timer_load, &vals[0], &vals[1], &vals[2]) ? GLOOP_EINTERNAL
                                                                            : 0;
}
#endif

/* Fills the shared timer load for one round; the seed depends only on the
 * round, so every build and every peer sees the same sequence. */
static int make_timer_load(size_t n, int round) {
  free(timer_load.delay_ms);
  free(timer_load.stop_order);
  timer_load.n = n;
  timer_load.delay_ms = malloc(n * sizeof *timer_load.delay_ms);
  timer_load.stop_order = malloc(n * sizeof *timer_load.stop_order);
  if (timer_load.delay_ms == NULL || timer_load.stop_order == NULL) return GLOOP_ENOMEM;
  uint64_t s = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(round + 1) * 0xD1B54A32D192ED03ULL;
  for (size_t i = 0; i < n; i++) {
    timer_load.delay_ms[i] = 1 + (unsigned)(gloop__bench_rand(&s) % 50);
    timer_load.stop_order[i] = i;
  }
  for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
    size_t k = (size_t)(gloop__bench_rand(&s) % i);
    size_t t = timer_load.stop_order[i - 1];
    timer_load.stop_order[i - 1] = timer_load.stop_order[k];
    timer_load.stop_order[k] = t;
  }
  return 0;
}

/* ---- Probe: memory of sleeping tasks ------------------------------------------ *
 *
 * `want` tasks are started in one nursery; each marks itself and then waits
 * until it is cancelled, as an idle connection handler waits for input. Once
 * every started task waits, the growth of RSS and page tables since before
 * the first start, divided by the number of tasks, is the memory of one idle
 * task: its stack pages, its record and the allocator's overhead. The
 * nursery is then cancelled, which every task must report as
 * GLOOP_ECANCELED.
 *
 * The tasks wait with gloop_sleep_forever() rather than a long timed sleep
 * on purpose. With guard pages on a kernel without guard markers the test
 * runs the process into its memory-mapping limit, and after that every new
 * mapping fails, including
 * the one the timer heap's array needs when it grows past the allocator's
 * mmap threshold: timed sleeps of tasks already started would then fail
 * with GLOOP_ENOMEM. A timed sleep adds one heap slot (8 bytes, up to 16
 * while the array doubles) to the figures below. */

typedef struct idle_job {
  size_t want, created, sleeping, cancelled;
  int guard;
  int start_rc;
  double rss0, pte0, rss1, pte1, t0, t1;
} idle_job;

static int idle_task(void *arg) {
  idle_job *j = arg;
  j->sleeping++;
  int rc = gloop_sleep_forever();
  if (rc == GLOOP_ECANCELED) j->cancelled++;
  return rc;
}

static int idle_main(void *arg) {
  idle_job *j = arg;
  if (read_memory(&j->rss0, &j->pte0) != 0) {
    fail_msg("cannot read /proc/self/statm or /proc/self/status");
    return GLOOP_EINTERNAL;
  }
  gloop_nursery *n;
  spawn_req req = {idle_task, j, j->want, &j->created, j->guard, 0};
  j->t0 = gloop__bench_now_ns();
  int rc = nursery_of(&req, &n);
  if (rc) return rc;
  j->start_rc = req.start_rc;
  if (req.start_rc == GLOOP_ENOMEM && strstr(gloop_last_message(), "max_map_count") == NULL)
    fail_msg("warning: GLOOP_ENOMEM from gloop_nursery_start without the documented "
             "message naming vm.max_map_count (got \"%s\")", gloop_last_message());
  /* New tasks run in the batch after this one; the main task is queued
   * behind them, so usually one checkpoint sees them all asleep. */
  while (j->sleeping < j->created) {
    rc = gloop_checkpoint();
    if (rc) return call_failed("gloop_checkpoint", rc);
  }
  j->t1 = gloop__bench_now_ns();
  if (read_memory(&j->rss1, &j->pte1) != 0) return GLOOP_EINTERNAL;
  rc = gloop_nursery_cancel(n);
  if (rc) return call_failed("gloop_nursery_cancel", rc);
  rc = gloop_nursery_close(n);
  if (rc) return call_failed("gloop_nursery_close (cancelled sleepers)", rc);
  if (j->cancelled != j->created) {
    fail_msg("%zu of %zu sleeping tasks saw GLOOP_ECANCELED", j->cancelled, j->created);
    return GLOOP_EINTERNAL;
  }
  return 0;
}

/* vals: RSS bytes per task, page-table bytes per task, RSS growth in bytes,
 * ns per task from the first start until all sleep, tasks created. */
static int idle_probe(size_t want, int guard, size_t stack_size, double *vals) {
  idle_job j;
  memset(&j, 0, sizeof j);
  j.want = want;
  j.guard = guard;
  gloop_options o;
  gloop_options_init(&o);
  o.guard_pages = guard;
  o.stack_size = stack_size;
  int rc = gloop_run(idle_main, &j, &o, NULL, NULL);
  if (rc) return call_failed("gloop_run (sleeping tasks)", rc);
  if (j.created == 0) {
    fail_msg("no sleeping task could be started");
    return GLOOP_EINTERNAL;
  }
  double n = (double)j.created;
  vals[0] = (j.rss1 - j.rss0) / n;
  vals[1] = (j.pte1 - j.pte0) / n;
  vals[2] = j.rss1 - j.rss0;
  vals[3] = (j.t1 - j.t0) / n;
  vals[4] = n;
  return 0;
}

static int probe_idle(const config *c, double *vals) {
  return idle_probe(c->idle_tasks, 0, 0, vals);
}

static int probe_idle_guard(const config *c, double *vals) {
  return idle_probe(c->idle_tasks, 1, 0, vals);
}

static int probe_million(const config *c, double *vals) {
  return idle_probe(c->million_tasks, 0, GLOOP_MIN_STACK_SIZE, vals);
}

static int probe_record(const config *c, double *vals) {
  (void)c;
  vals[0] = (double)gloop__bench_task_record_size();
  return 0;
}

/* ---- The probe table -------------------------------------------------------- */

typedef int (*probe_fn)(const config *c, double *vals);

enum {
  P_REF,
  P_SW_UC,
  P_SW_FCTX,
  P_SW_ASM,
  P_STEP,
  P_STEP_FCTX,
  P_SPAWN,
  P_TIMER,
  P_TIMER_UV,
  P_RECORD,
  P_IDLE,
  P_IDLE_GUARD,
  P_MILLION,
  P_COUNT
};

typedef struct probe {
  const char *name;
  probe_fn fn;     /* NULL: not built on this machine */
  int forked;      /* measure in a child process (memory probes) */
} probe;

static const probe probes[P_COUNT] = {
    [P_REF] = {"machine costs", probe_reference, 0},
    [P_SW_UC] = {"ucontext switch", probe_switch_ucontext, 0},
#if defined(GLOOP_BENCH_HAVE_FCONTEXT)
    [P_SW_FCTX] = {"fcontext switch", probe_switch_fcontext, 0},
#else
    [P_SW_FCTX] = {"fcontext switch", NULL, 0},
#endif
#if defined(GLOOP_BENCH_HAVE_ASM_CTX)
    [P_SW_ASM] = {"asm switch", probe_switch_asm, 0},
#else
    [P_SW_ASM] = {"asm switch", NULL, 0},
#endif
    [P_STEP] = {"scheduler steps", probe_steps, 0},
#if defined(GLOOP_BENCH_HAVE_FCONTEXT)
    [P_STEP_FCTX] = {"fcontext round-robin", probe_fcontext_steps, 0},
#else
    [P_STEP_FCTX] = {"fcontext round-robin", NULL, 0},
#endif
    [P_SPAWN] = {"spawn", probe_spawn, 0},
    [P_TIMER] = {"timers", probe_timers, 0},
#if defined(GLOOP_BENCH_HAVE_UV)
    [P_TIMER_UV] = {"libuv timers", probe_uv_timers, 0},
#else
    [P_TIMER_UV] = {"libuv timers", NULL, 0},
#endif
    [P_RECORD] = {"task record", probe_record, 0},
    [P_IDLE] = {"sleeping tasks", probe_idle, 1},
    [P_IDLE_GUARD] = {"sleeping tasks, guard pages", probe_idle_guard, 1},
    [P_MILLION] = {"one million sleeping tasks", probe_million, 1},
};

/* Runs a probe in a fresh copy of this program and reads its numbers back
 * through a pipe. The child is started with fork + exec so that it owns
 * nothing of this process's heap. */
static int run_forked(int p, const config *c, double *vals) {
  int fds[2];
  if (pipe(fds) != 0) {
    fail_msg("pipe: %s", strerror(errno));
    return GLOOP_EINTERNAL;
  }
  char pbuf[16], fbuf[16];
  snprintf(pbuf, sizeof pbuf, "%d", p);
  snprintf(fbuf, sizeof fbuf, "%d", fds[1]);
  char *args[] = {"gloop_bench", "--child", pbuf, fbuf, c->quick ? "--quick" : NULL, NULL};
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fail_msg("fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return GLOOP_EINTERNAL;
  }
  if (pid == 0) {
    close(fds[0]);
    execv("/proc/self/exe", args);
    fail_msg("cannot execute the benchmark again: %s", strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  size_t got = 0;
  while (got < sizeof(double) * MAX_VALS) {
    ssize_t r = read(fds[0], (char *)vals + got, sizeof(double) * MAX_VALS - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != sizeof(double) * MAX_VALS) {
    if (WIFSIGNALED(status))
      fail_msg("%s: the measuring child died of signal %d", probes[p].name, WTERMSIG(status));
    else
      fail_msg("%s: the measuring child failed", probes[p].name);
    return GLOOP_EINTERNAL;
  }
  return 0;
}

/* ---- Rows -------------------------------------------------------------------------- */

/* A target is met when the median is at most the *_abs bound (if finite) and
 * the median guestloop/peer ratio is at most the *_ratio bound (if finite). The
 * strict pair holds the performance issue's targets, the loose pair the
 * core issue's, which are easier; a row that meets only the loose pair is
 * reported as "core met". */
typedef struct row {
  const char *id;
  char label[96];
  const char *unit;
  double scale;        /* displayed value = measured value * scale */
  int gp, gi;          /* guestloop probe and value index */
  int pp, pi;          /* peer probe and value index, pp < 0: no peer */
  const char *peer;
  const char *target;  /* the targets in words */
  double strict_abs, strict_ratio, loose_abs, loose_ratio;
  int million;         /* only with --million */
  int selected;
} row;

#define NONE NAN
#define ROW_MAX 32
static row rows[ROW_MAX];
static int nrows;

static row *add_row(const char *id, const char *unit, int gp, int gi, int pp, int pi,
                    const char *peer, const char *target, double sa, double sr, double la,
                    double lr, const char *label_fmt, ...) {
  row *r = &rows[nrows++];
  memset(r, 0, sizeof *r);
  r->id = id;
  r->unit = unit;
  r->scale = 1.0;
  r->gp = gp;
  r->gi = gi;
  r->pp = pp;
  r->pi = pi;
  r->peer = peer;
  r->target = target;
  r->strict_abs = sa;
  r->strict_ratio = sr;
  r->loose_abs = la;
  r->loose_ratio = lr;
  va_list ap;
  va_start(ap, label_fmt);
  vsnprintf(r->label, sizeof r->label, label_fmt, ap);
  va_end(ap);
  return r;
}

static void define_rows(const config *c) {
  add_row("ref.syscall", "ns", P_REF, 0, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "reference: one system call (getppid)");
  add_row("ref.clock", "ns", P_REF, 1, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "reference: clock_gettime(CLOCK_MONOTONIC)");
  add_row("ref.page", "ns", P_REF, 2, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "reference: mmap + first touch + munmap of one page");
  add_row("switch.ucontext", "ns/switch", P_SW_UC, 0, P_SW_FCTX, 0, "boost fcontext", "-", NONE,
          NONE, NONE, NONE, "raw switch, ucontext backend (2 contexts ping-pong)");
  add_row("switch.asm", "ns/switch", P_SW_ASM, 0, P_SW_FCTX, 0, "boost fcontext", "<= 6 ns", 6,
          NONE, NONE, NONE, "raw switch, asm backend (2 contexts ping-pong)");
  add_row("step.1", "ns/step", P_STEP, 0, P_STEP_FCTX, 0, "fcontext loop", "-", NONE, NONE,
          NONE, NONE, "scheduler step, 1 task");
  add_row("step.1.budget0", "ns/step", P_STEP, 3, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "scheduler step, 1 task, one batch per tick (tick_budget = 0)");
  add_row("step.2", "ns/step", P_STEP, 1, P_STEP_FCTX, 1, "fcontext loop", "-", NONE, NONE,
          NONE, NONE, "scheduler step, 2 tasks");
  add_row("step.many", "ns/step", P_STEP, 2, P_STEP_FCTX, 2, "fcontext loop",
          "<= 2x fcontext loop", NONE, 2, NONE, NONE, "scheduler step, %zu tasks",
          c->step_many);
  add_row("step.huge", "ns/step", P_STEP, 4, P_STEP_FCTX, 3, "fcontext loop",
          "<= 2.5x fcontext loop", NONE, 2.5, NONE, NONE,
          "scheduler step, %zu tasks, no guard pages", c->step_huge);
  add_row("spawn.pooled", "ns/task", P_SPAWN, 0, -1, 0, NULL, "<= 150 ns; core <= 2 us", 150,
          NONE, 2000, NONE, "spawn+run+exit, pooled stacks, %zu per nursery",
          c->spawn_batch);
  add_row("spawn.fresh", "ns/task", P_SPAWN, 1, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "spawn+run+exit, %zu at once, fresh guarded stacks", c->spawn_fresh);
  add_row("timer.start", "ns/timer", P_TIMER, 0, P_TIMER_UV, 0, "libuv",
          "<= libuv; core <= 2x libuv", NONE, 1, NONE, 2,
          "timer start, %zu pending, random 1-50 ms", c->timers);
  add_row("timer.cancel", "ns/timer", P_TIMER, 1, P_TIMER_UV, 1, "libuv",
          "<= libuv; core <= 2x libuv", NONE, 1, NONE, 2,
          "timer cancel, %zu pending, random order", c->timers);
  add_row("timer.fire", "ns/timer", P_TIMER, 2, P_TIMER_UV, 2, "libuv",
          "<= 250 ns and <= libuv; core <= 2x libuv", 250, 1, NONE, 2,
          "timer fire, %zu due, random deadlines", c->timers);
  add_row("idle.rss", "B/task", P_IDLE, 0, -1, 0, NULL, "<= 4.4 KiB; core <= 8 KiB", 4505.6, NONE,
          8192, NONE, "RSS per sleeping task, %zu tasks, no guard page", c->idle_tasks);
  add_row("idle.pte", "B/task", P_IDLE, 1, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "page tables per sleeping task, %zu tasks", c->idle_tasks);
  add_row("idle.spawn", "ns/task", P_IDLE, 3, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "start until asleep, %zu fresh unguarded stacks", c->idle_tasks);
  add_row("idle.record", "B", P_RECORD, 0, -1, 0, NULL, "<= 256 B", 256, NONE, NONE, NONE,
          "task record, sizeof(struct gloop_task)");
  add_row("guard.created", "tasks", P_IDLE_GUARD, 4, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
          "sleeping tasks started with guard pages (of %zu asked)", c->idle_tasks);
  add_row("guard.rss", "B/task", P_IDLE_GUARD, 0, -1, 0, NULL, "<= 4.4 KiB; core <= 8 KiB", 4505.6,
          NONE, 8192, NONE, "RSS per sleeping task, guard pages on");
  row *r = add_row("million.rss", "GiB", P_MILLION, 2, -1, 0, NULL, "<= 6 GiB", 6, NONE, NONE,
                   NONE, "RSS growth, %zu sleeping tasks, 16 KiB stacks", c->million_tasks);
  r->scale = 1.0 / (1024.0 * 1024.0 * 1024.0);
  r->million = 1;
  r = add_row("million.idle", "B/task", P_MILLION, 0, -1, 0, NULL, "<= 4.4 KiB; core <= 8 KiB",
              4505.6, NONE, 8192, NONE, "RSS per task, %zu sleeping tasks", c->million_tasks);
  r->million = 1;
  r = add_row("million.pte", "B/task", P_MILLION, 1, -1, 0, NULL, "-", NONE, NONE, NONE, NONE,
              "page tables per task, %zu sleeping tasks", c->million_tasks);
  r->million = 1;
  r = add_row("million.spawn", "ns/task", P_MILLION, 3, -1, 0, NULL, "-", NONE, NONE, NONE,
              NONE, "start until asleep, %zu tasks", c->million_tasks);
  r->million = 1;
}

static int row_matches(const config *c, const row *r) {
  if (r->million && !c->million) return 0;
  if (c->nonly == 0) return 1;
  for (int i = 0; i < c->nonly; i++)
    if (strstr(r->id, c->only[i]) != NULL) return 1;
  return 0;
}

/* ---- Results ----------------------------------------------------------------------- */

static double results[P_COUNT][MAX_VALS][MAX_ROUNDS];
static int result_ok[P_COUNT][MAX_ROUNDS];

typedef struct row_stats {
  summary gl, peer, ratio;
  int gl_built, peer_built;
  const char *status;
} row_stats;

static int pass(double median, double ratio, double abs_max, double ratio_max) {
  if (!isnan(abs_max) && !(median <= abs_max)) return 0;
  if (!isnan(ratio_max) && !(ratio <= ratio_max)) return 0;
  return 1;
}

static row_stats stats_for(const config *c, const row *r) {
  row_stats s;
  memset(&s, 0, sizeof s);
  double g[MAX_ROUNDS], p[MAX_ROUNDS], q[MAX_ROUNDS];
  int ng = 0, np = 0, nq = 0;
  s.gl_built = probes[r->gp].fn != NULL;
  s.peer_built = r->pp >= 0 && probes[r->pp].fn != NULL;
  for (int k = 0; k < c->rounds; k++) {
    int gok = s.gl_built && result_ok[r->gp][k];
    int pok = s.peer_built && result_ok[r->pp][k];
    if (gok) g[ng++] = results[r->gp][r->gi][k] * r->scale;
    if (pok) p[np++] = results[r->pp][r->pi][k] * r->scale;
    if (gok && pok && results[r->pp][r->pi][k] > 0)
      q[nq++] = results[r->gp][r->gi][k] / results[r->pp][r->pi][k];
  }
  s.gl = summarise(g, ng);
  s.peer = summarise(p, np);
  s.ratio = summarise(q, nq);
  int has_strict = !isnan(r->strict_abs) || !isnan(r->strict_ratio);
  int has_loose = !isnan(r->loose_abs) || !isnan(r->loose_ratio);
  if (ng == 0 || (!has_strict && !has_loose)) {
    s.status = "-";
  } else if ((!isnan(r->strict_ratio) || !isnan(r->loose_ratio)) && nq == 0 &&
             isnan(r->strict_abs)) {
    s.status = "no peer"; /* a relative target cannot be judged without the peer */
  } else {
    double rq = nq ? s.ratio.median : NAN;
    double sr = nq ? r->strict_ratio : NAN, lr = nq ? r->loose_ratio : NAN;
    if (has_strict && pass(s.gl.median, rq, r->strict_abs, sr))
      s.status = "met";
    else if (has_loose && pass(s.gl.median, rq, r->loose_abs, lr))
      s.status = "core met";
    else
      s.status = "MISSED";
  }
  return s;
}

/* Three significant figures or whole numbers, whichever is shorter to read. */
static void fmt_num(char *buf, size_t len, double v) {
  if (isnan(v))
    snprintf(buf, len, "?");
  else if (fabs(v) >= 100)
    snprintf(buf, len, "%.0f", v);
  else if (fabs(v) >= 10)
    snprintf(buf, len, "%.1f", v);
  else
    snprintf(buf, len, "%.2f", v);
}

static void fmt_summary(char *buf, size_t len, summary s) {
  char a[32], b[32], m[32];
  fmt_num(m, sizeof m, s.median);
  if (s.n <= 1) {
    snprintf(buf, len, "%s", m);
    return;
  }
  fmt_num(a, sizeof a, s.min);
  fmt_num(b, sizeof b, s.max);
  snprintf(buf, len, "%s [%s-%s]", m, a, b);
}

#define NCOLS 6

static void print_table(const config *c) {
  static const char *heads[NCOLS] = {"metric", "guestloop", "peer", "guestloop/peer", "target",
                                     "status"};
  char cells[ROW_MAX][NCOLS][160];
  int width[NCOLS];
  for (int k = 0; k < NCOLS; k++) width[k] = (int)strlen(heads[k]);
  int n = 0;
  for (int i = 0; i < nrows; i++) {
    row *r = &rows[i];
    if (!r->selected) continue;
    row_stats s = stats_for(c, r);
    char g[96], p[96];
    snprintf(cells[n][0], sizeof cells[n][0], "%s, %s", r->label, r->unit);
    if (!s.gl_built)
      snprintf(cells[n][1], sizeof cells[n][1], "not built");
    else if (s.gl.n == 0)
      snprintf(cells[n][1], sizeof cells[n][1], "failed");
    else
      fmt_summary(cells[n][1], sizeof cells[n][1], s.gl);
    if (r->pp < 0) {
      snprintf(cells[n][2], sizeof cells[n][2], "-");
      snprintf(cells[n][3], sizeof cells[n][3], "-");
    } else if (!s.peer_built) {
      snprintf(cells[n][2], sizeof cells[n][2], "%s: not built", r->peer);
      snprintf(cells[n][3], sizeof cells[n][3], "-");
    } else {
      fmt_summary(p, sizeof p, s.peer);
      snprintf(cells[n][2], sizeof cells[n][2], "%s %s", r->peer, s.peer.n ? p : "failed");
      if (s.ratio.n) {
        fmt_summary(g, sizeof g, s.ratio);
        snprintf(cells[n][3], sizeof cells[n][3], "%s", g);
      } else {
        snprintf(cells[n][3], sizeof cells[n][3], "-");
      }
    }
    snprintf(cells[n][4], sizeof cells[n][4], "%s", r->target);
    snprintf(cells[n][5], sizeof cells[n][5], "%s", s.status);
    for (int k = 0; k < NCOLS; k++) {
      int w = (int)strlen(cells[n][k]);
      if (w > width[k]) width[k] = w;
    }
    n++;
  }
  for (int k = 0; k < NCOLS; k++) printf("%-*s%s", width[k], heads[k], k + 1 < NCOLS ? " | " : "\n");
  for (int k = 0; k < NCOLS; k++) {
    for (int w = 0; w < width[k]; w++) putchar('-');
    printf("%s", k + 1 < NCOLS ? "-|-" : "\n");
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < NCOLS; k++)
      printf("%-*s%s", width[k], cells[i][k], k + 1 < NCOLS ? " | " : "\n");
}

static void csv_field(FILE *f, const char *s) {
  if (strpbrk(s, ",\"\n") == NULL) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void csv_num(FILE *f, double v) {
  if (isnan(v))
    fputs("", f);
  else
    fprintf(f, "%.6g", v);
}

static void csv_line(FILE *f, const char *backend, const row *r, const char *role,
                     const char *name, summary s, const char *status) {
  csv_field(f, backend);
  fputc(',', f);
  csv_field(f, r->id);
  fputc(',', f);
  csv_field(f, r->label);
  fputc(',', f);
  csv_field(f, strcmp(role, "ratio") == 0 ? "x" : r->unit);
  fputc(',', f);
  csv_field(f, role);
  fputc(',', f);
  csv_field(f, name);
  fputc(',', f);
  csv_num(f, s.median);
  fputc(',', f);
  csv_num(f, s.min);
  fputc(',', f);
  csv_num(f, s.max);
  fprintf(f, ",%d,", s.n);
  csv_field(f, r->target);
  fputc(',', f);
  csv_num(f, r->strict_abs);
  fputc(',', f);
  csv_num(f, r->strict_ratio);
  fputc(',', f);
  csv_num(f, r->loose_abs);
  fputc(',', f);
  csv_num(f, r->loose_ratio);
  fputc(',', f);
  csv_field(f, status);
  fputc('\n', f);
}

/* Writes the summary to `f`, which main() opened before the first round so
 * that a bad path fails at once rather than after minutes of measuring. */
static int write_csv(const config *c, FILE *f) {
  const char *backend = c->lib_asm ? "asm" : "ucontext";
  fputs("backend,id,label,unit,role,name,median,min,max,n,target,strict_abs,strict_ratio,"
        "loose_abs,loose_ratio,status\n",
        f);
  for (int i = 0; i < nrows; i++) {
    row *r = &rows[i];
    if (!r->selected) continue;
    row_stats s = stats_for(c, r);
    if (s.gl_built && s.gl.n) csv_line(f, backend, r, "guestloop", "guestloop", s.gl, s.status);
    if (s.peer_built && s.peer.n) csv_line(f, backend, r, "peer", r->peer, s.peer, s.status);
    if (s.ratio.n) csv_line(f, backend, r, "ratio", r->peer, s.ratio, s.status);
  }
  int bad = ferror(f);
  if (f != stdout) bad |= fclose(f) != 0;
  if (bad) {
    fail_msg("error writing %s", c->csv_path);
    return -1;
  }
  return 0;
}

/* ---- Header ---------------------------------------------------------------------- */

static void cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL) return;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) == 0 && colon) {
      char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = 0;
      snprintf(buf, len, "%s", v);
      break;
    }
  }
  fclose(f);
}

static void print_header(const config *c) {
  char cpu[128];
  cpu_model(cpu, sizeof cpu);
  struct utsname u;
  if (uname(&u) != 0) snprintf(u.release, sizeof u.release, "?");
  printf("gloop_bench: guestloop %s, context backend %s, build type %s\n",
         gloop_version_string(), c->lib_asm ? "asm" : "ucontext", GLOOP_BENCH_BUILD_TYPE);
  printf("machine: %s, %ld CPUs online, kernel %s, compiler %s\n", cpu,
         sysconf(_SC_NPROCESSORS_ONLN), u.release, __VERSION__);
#if defined(GLOOP_BENCH_HAVE_UV)
  printf("peers: libuv %s", GLOOP_BENCH_UV_VERSION);
#else
  printf("peers: libuv not built");
#endif
#if defined(GLOOP_BENCH_HAVE_FCONTEXT)
  printf(", boost.context fcontext\n");
#else
  printf(", boost.context not built\n");
#endif
  printf("method: CLOCK_MONOTONIC; %d round%s, every probe once per round, round-robin; "
         "cells are median [min-max] over rounds; guestloop/peer is taken within each "
         "round%s\n\n",
         c->rounds, c->rounds == 1 ? "" : "s", c->quick ? "; --quick counts" : "");
}

/* ---- Main ------------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fputs("usage: gloop_bench [--quick] [--million] [--rounds N] [--only NAME]... [--csv FILE]\n"
        "  --quick      tiny counts (a smoke test: seconds, not meaningful numbers)\n"
        "  --million    also start one million sleeping tasks (needs about 6 GiB of RAM)\n"
        "  --rounds N   rounds of every probe, 1-100 (default 5, 2 with --quick)\n"
        "  --only NAME  only rows whose id contains NAME (repeatable); ids: ref.syscall,\n"
        "               ref.clock, ref.page, switch.ucontext,\n"
        "               switch.asm, step.1, step.1.budget0, step.2, step.many, step.huge,\n"
        "               spawn.pooled, spawn.fresh, timer.start, timer.cancel, timer.fire, idle.rss,\n"
        "               idle.pte, idle.spawn, idle.record, guard.created, guard.rss,\n"
        "               million.rss, million.idle, million.pte, million.spawn\n"
        "  --csv FILE   also write the summary as CSV to FILE ('-' for stdout)\n",
        f);
}

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, config *c) {
  int rounds = 0;
  c->child_probe = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    long v, fd;
    if (strcmp(a, "--child") == 0 && i + 2 < argc) {
      /* Internal: how run_forked() starts a memory probe; not in usage(). */
      if (parse_int(argv[i + 1], 0, P_COUNT - 1, &v) || parse_int(argv[i + 2], 0, 1 << 20, &fd)) {
        fail_msg("bad --child arguments");
        return -1;
      }
      c->child_probe = (int)v;
      c->child_fd = (int)fd;
      i += 2;
    } else if (strcmp(a, "--quick") == 0) {
      c->quick = 1;
    } else if (strcmp(a, "--million") == 0) {
      c->million = 1;
    } else if (strcmp(a, "--rounds") == 0 && i + 1 < argc) {
      if (parse_int(argv[++i], 1, MAX_ROUNDS, &v)) {
        fail_msg("--rounds wants a number from 1 to %d, not '%s'", MAX_ROUNDS, argv[i]);
        return -1;
      }
      rounds = (int)v;
    } else if (strcmp(a, "--only") == 0 && i + 1 < argc) {
      if (c->nonly == MAX_ONLY) {
        fail_msg("at most %d --only options", MAX_ONLY);
        return -1;
      }
      c->only[c->nonly++] = argv[++i];
    } else if (strcmp(a, "--csv") == 0 && i + 1 < argc) {
      c->csv_path = argv[++i];
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else {
      fail_msg("unknown or incomplete option '%s'", a);
      usage(stderr);
      return -1;
    }
  }
  c->rounds = rounds ? rounds : (c->quick ? 2 : 5);
  return 0;
}

static void set_counts(config *c) {
  c->lib_asm = strcmp(GLOOP_BENCH_LIB_CTX, "asm") == 0;
  if (c->quick) {
    c->trips_fast = 20000;
    c->trips_slow = 5000;
    c->step_total = 20000;
    c->step_many = 1000;
    c->step_huge = 5000;
    c->spawn_batch = 100;
    c->spawn_batches = 5;
    c->spawn_fresh = 1000;
    c->timers = 2000;
    c->idle_tasks = 2000;
    c->million_tasks = 20000;
    return;
  }
  /* Sized so that every probe of a round takes tens of milliseconds: long
   * enough that clock reads and set-up vanish, short enough for several
   * rounds. The ucontext backend is about 30 times slower per switch, so
   * it gets fewer iterations. */
  c->trips_fast = 2000000;
  c->trips_slow = 200000;
  c->step_total = c->lib_asm ? 2000000 : 300000;
  c->step_many = 10000;
  c->step_huge = 100000;
  c->spawn_batch = 1000;
  c->spawn_batches = c->lib_asm ? 100 : 20;
  c->spawn_fresh = 10000;
  c->timers = 100000;
  c->idle_tasks = 100000;
  c->million_tasks = 1000000;
}

/* The child side of run_forked(): one probe, its numbers to the pipe. */
static int run_child(const config *c) {
  const probe *p = &probes[c->child_probe];
  if (p->fn == NULL) {
    fail_msg("probe '%s' is not built", p->name);
    return 1;
  }
  double v[MAX_VALS] = {0};
  int rc = p->fn(c, v);
  if (rc == 0) {
    ssize_t w = write(c->child_fd, v, sizeof v);
    if (w != (ssize_t)sizeof v) rc = GLOOP_EINTERNAL;
  }
  return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  config c;
  memset(&c, 0, sizeof c);
  if (parse_args(argc, argv, &c) != 0) return 2;
  set_counts(&c);
  if (c.child_probe >= 0) return run_child(&c);
  define_rows(&c);

  int need[P_COUNT] = {0};
  int any = 0;
  for (int i = 0; i < nrows; i++) {
    rows[i].selected = row_matches(&c, &rows[i]);
    if (!rows[i].selected) continue;
    any = 1;
    need[rows[i].gp] = 1;
    if (rows[i].pp >= 0) need[rows[i].pp] = 1;
  }
  if (!any) {
    fail_msg("no row matches the --only names given (million rows also need --million)");
    return 2;
  }

  FILE *csv = NULL;
  if (c.csv_path) {
    csv = strcmp(c.csv_path, "-") == 0 ? stdout : fopen(c.csv_path, "w");
    if (csv == NULL) {
      fail_msg("cannot write %s: %s", c.csv_path, strerror(errno));
      return 2;
    }
  }

  print_header(&c);
  fflush(stdout);
  int failures = 0;
  for (int k = 0; k < c.rounds; k++) {
    if (need[P_TIMER] || need[P_TIMER_UV]) {
      if (make_timer_load(c.timers, k) != 0) {
        fail_msg("out of memory for the timer load");
        return 1;
      }
    }
    fprintf(stderr, "round %d/%d:", k + 1, c.rounds);
    for (int p = 0; p < P_COUNT; p++) {
      if (!need[p] || probes[p].fn == NULL) continue;
      fprintf(stderr, " %s", probes[p].name);
      double v[MAX_VALS] = {0};
      int rc = probes[p].forked ? run_forked(p, &c, v) : probes[p].fn(&c, v);
      if (rc == 0) {
        for (int i = 0; i < MAX_VALS; i++) {
          if (!isfinite(v[i]) || v[i] < 0) {
            fail_msg("%s produced an impossible value %g", probes[p].name, v[i]);
            rc = GLOOP_EINTERNAL;
          }
          results[p][i][k] = v[i];
        }
      }
      if (rc == 0) {
        result_ok[p][k] = 1;
      } else {
        fprintf(stderr, "\n");
        fail_msg("probe '%s' failed in round %d", probes[p].name, k + 1);
        failures++;
      }
    }
    fprintf(stderr, "\n");
  }
  free(timer_load.delay_ms);
  free(timer_load.stop_order);

  print_table(&c);
  int csv_bad = csv != NULL && write_csv(&c, csv) != 0;
  if (failures)
    fail_msg("%d probe run%s failed; see the messages above", failures,
             failures == 1 ? "" : "s");
  return failures || csv_bad ? 1 : 0;
}

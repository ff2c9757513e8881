/* run.c - runs: start, the tick, guest mode's posts, the standalone run, finish and abandon. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

/* ---- Run tokens ------------------------------------------------------------
 *
 * Ticks are posted to the host as fn(arg) with arg = the run's token, not a
 * pointer: a host may run a tick long after the run was abandoned and freed,
 * and the token lets the tick recognise that and do nothing. The token is
 * (generation << 10) | slot; a slot's generation grows each time it is
 * reused, so a stale token never matches a newer run. Objects created in a
 * run keep the token too, which is how calls after the run ended get
 * GLOOP_ENORUN instead of touching freed memory. */

#define SLOT_BITS 10
#define SLOT_COUNT (1u << SLOT_BITS)

static _Atomic uint32_t slot_token[SLOT_COUNT];
static uint32_t slot_gen[SLOT_COUNT];
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;

GLOOP__TLS gloop__run *gloop__tls_run;
#define tls_run gloop__tls_run

static int slot_acquire(uint32_t *token) {
  pthread_mutex_lock(&slot_mu);
  for (uint32_t i = 0; i < SLOT_COUNT; i++) {
    if (atomic_load(&slot_token[i]) != 0) continue;
    uint32_t gen = (slot_gen[i] + 1) & ((1u << (32 - SLOT_BITS)) - 1);
    if (gen == 0) gen = 1;
    slot_gen[i] = gen;
    *token = (gen << SLOT_BITS) | i;
    atomic_store(&slot_token[i], *token);
    pthread_mutex_unlock(&slot_mu);
    return 0;
  }
  pthread_mutex_unlock(&slot_mu);
  return GLOOP_ENOMEM;
}

/* Idempotent: a slot already taken again by a newer run keeps its token. */
static void slot_release(uint32_t token) {
  uint32_t expected = token;
  atomic_compare_exchange_strong(&slot_token[token & (SLOT_COUNT - 1)], &expected, 0);
}


int gloop__run_check(const gloop__run *run, uint32_t token) {
  gloop__run *cur = tls_run;
  if (cur != NULL && cur == run && cur->token == token && cur->phase == GLOOP__RUN_LIVE) return 0;
  if (token != 0 && atomic_load(&slot_token[token & (SLOT_COUNT - 1)]) == token)
    return GLOOP_EWRONGTHREAD;
  return GLOOP_ENORUN;
}

int gloop__bind(gloop__bound *b) {
  gloop__run *run = tls_run;
  if (run == NULL || run->phase != GLOOP__RUN_LIVE) return GLOOP_ENORUN;
  b->run = run;
  b->token = run->token;
  b->alloc = run->alloc;
  return 0;
}

int gloop__bound_check(const gloop__bound *b) { return gloop__run_check(b->run, b->token); }

gloop__ns gloop__run_now(gloop__run *run) { return gloop__clock_now(run->clock); }

int gloop_in_run(void) { return tls_run != NULL; }

double gloop_now(void) {
  gloop__run *run = tls_run;
  if (run == NULL) return NAN;
  return gloop__ns_to_sec(gloop__run_now(run));
}

void gloop_options_init(gloop_options *o) {
  if (o == NULL) return;
  memset(o, 0, sizeof *o);
  o->guard_pages = 1;
  o->tick_budget = GLOOP_DEFAULT_TICK_BUDGET;
  o->timer_spin = GLOOP_DEFAULT_TIMER_SPIN;
}

/* ---- Timers on the heap ----------------------------------------------------- */

static gloop__ns earliest(const gloop__run *run) {
  gloop__timer *t = gloop__heap_top(&run->timers);
  return t ? t->deadline : GLOOP__NS_INF;
}

int gloop__timer_arm(gloop__run *run, gloop__timer *t, gloop__ns deadline) {
  gloop__ns before = earliest(run);
  if (t->index != GLOOP__NOT_ARMED) gloop__heap_remove(&run->timers, t);
  t->deadline = deadline;
  t->seq = run->timer_seq++;
  int rc = gloop__heap_push(&run->timers, &run->alloc, t);
  if (rc) return rc;
  if (earliest(run) != before) gloop__run_poke(run);
  return 0;
}

void gloop__timer_disarm(gloop__run *run, gloop__timer *t) {
  if (t->index == GLOOP__NOT_ARMED) return;
  gloop__ns before = earliest(run);
  gloop__heap_remove(&run->timers, t);
  if (earliest(run) != before) gloop__run_poke(run);
}

/* Fires the timers due now. Timers armed while firing carry a newer sequence
 * number and wait for the next pass, so a callback that re-arms itself for
 * "now" cannot keep a tick busy forever. */
static void expire_timers(gloop__run *run) {
  if (run->timers.len == 0) return;
  gloop__ns now = gloop__run_now(run);
  uint64_t limit = run->timer_seq;
  gloop__timer *t;
  while ((t = gloop__heap_top(&run->timers)) != NULL && t->deadline <= now && t->seq < limit) {
    gloop__heap_remove(&run->timers, t);
    t->fire(t);
  }
}

/* ---- Waking the wait ---------------------------------------------------------- */

/* Host-side code (between ticks, on the host thread) made a task ready or
 * moved the earliest deadline. If no tick is on its way, the helper thread
 * is blocked in its wait with a stale view: wake it, once, and remember that
 * a tick is now coming. Inside a tick nothing is needed: the tick decides
 * what comes next when it ends. */
void gloop__run_poke(gloop__run *run) {
  if (run->in_tick || run->tick_scheduled) return;
  run->tick_scheduled = 1;
  gloop__wake_signal(run->wake);
}

/* ---- Deadlines closer than a wake-up ------------------------------------------ *
 *
 * In guest mode a due deadline reaches its task through two thread hops:
 * the helper's timed wait ends (kernel timer, then the helper is
 * scheduled), the helper posts to the host, and the host thread wakes and
 * runs a pass of its loop before the tick. The run learns how long that
 * takes, from the end of a timed wait to the tick it led to (wake_lead, a
 * running average over timed waits not cut short by a wake-up, each sample
 * capped at spin_max), and ends the helper's timed waits that much early.
 * A tick that then finds that same deadline still ahead, or any deadline
 * closer than the lead (a round trip through the helper would take
 * longer), with nothing else to do, waits the rest on the host thread,
 * polling the clock, if the rest is no longer than spin_max
 * (gloop_options.timer_spin); then the next tick runs the timer.
 * A timer still fires only once the clock has reached its deadline: the
 * early wake moves the wait, never the timer. A post to the run ends the
 * polling at once; a ready fd is seen when the deadline's tick runs. Off
 * for mock clocks and in gloop_run(), where the waiting thread runs the
 * tick itself. */

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Whether the tick waited for deadline `next`, `d` ns away, on the host
 * thread (then it is due, or a post arrived, and the run is busy). */
static int spin_for(gloop__run *run, gloop__ns next, gloop__ns d) {
  if (!run->guest || run->mock || d > run->spin_max) return 0;
  if (next != run->early_for && d > run->wake_lead) return 0;
  run->spins++;
  while (gloop__mono_ns() < next && !gloop__entryq_pending(run->eq)) cpu_relax();
  return 1;
}

/* A tick that a timed wait's end led to: learn how late it came. */
static void learn_wake_lead(gloop__run *run, int woken) {
  gloop__ns target = run->wake_target;
  run->wake_target = -1;
  if (target < 0 || woken || run->wait.nev > 0) return;
  gloop__ns late = gloop__ns_sub(gloop__mono_ns(), target);
  if (late < 0) late = 0;
  if (late > run->spin_max) late = run->spin_max;
  run->wake_lead += (late - run->wake_lead) / 8;
}

/* The end of the helper's next wait: `wait` ns from now, less the learned
 * lead for a timed wait on the real clock. */
static gloop__ns wait_until(gloop__run *run, gloop__ns wait) {
  run->early_for = -1;
  if (wait < 0) return -1;
  gloop__ns now = gloop__mono_ns();
  if (run->mock || run->spin_max == 0) return gloop__ns_add(now, wait);
  gloop__ns lead = run->wake_lead < wait ? run->wake_lead : wait;
  if (lead > 0) run->early_for = run->idle_next;
  run->wake_target = gloop__ns_add(now, wait - lead);
  return run->wake_target;
}

int gloop_timer_spin_info(double *wake_lead, unsigned long *spins) {
  gloop__run *run = tls_run;
  if (run == NULL) return GLOOP_ENORUN;
  if (wake_lead) *wake_lead = (double)run->wake_lead / 1e9;
  if (spins) *spins = run->spins;
  return 0;
}

int gloop_sched_info(unsigned long *steps, unsigned long *handoffs,
                     unsigned long *cancel_walks) {
  gloop__run *run = tls_run;
  if (run == NULL) return GLOOP_ENORUN;
  if (steps) *steps = run->steps;
  if (handoffs) *handoffs = run->steps - run->sched_resumes;
  if (cancel_walks) *cancel_walks = run->cancel_walks;
  return 0;
}

int gloop_timer_spin_set_lead(double wake_lead) {
  gloop__run *run = tls_run;
  if (run == NULL) return GLOOP_ENORUN;
  if (isnan(wake_lead) || wake_lead < 0) return GLOOP_EINVAL;
  run->wake_lead = gloop__sec_to_ns(wake_lead);
  return 0;
}

/* ---- The tick ------------------------------------------------------------------ */

enum tick_result { TICK_BUSY, TICK_IDLE, TICK_DONE };

/* One tick: expire due timers, then run batches of ready tasks while work
 * remains and the budget lasts, then say what should happen next. A batch is
 * exactly the ready queue as it stood when the batch began; tasks woken
 * during a batch run in a later batch. */
static enum tick_result tick(gloop__run *run, int woken) {
  run->in_tick = 1;
  run->ticks++;
  /* The wake-up is consumed here, by the tick it led to, not by the thread
   * that waited: until this tick drains the queue, further posts find it
   * still signalled and write nothing, so a burst of posts into an idle run
   * costs one wake-up however long the host takes to run this tick. */
  if (woken) gloop__wake_consume(run->wake);
  if (run->autojump_due && !woken && gloop__queue_empty(&run->runq)) {
    gloop__ns next = earliest(run);
    gloop__ns now = gloop__clock_now(run->mock);
    if (next != GLOOP__NS_INF && next > now) atomic_store(&run->mock->now, next);
  }
  run->autojump_due = 0;
  if (!run->io_failed && atomic_load(&run->io_errno) != 0) {
    /* As Trio's TrioInternalError: the loop itself broke, so the run is
     * cancelled and ends with GLOOP_EINTERNAL, naming the call and errno. */
    run->io_failed = 1;
    gloop__scope_cancel(&run->root);
  }
  if (atomic_load_explicit(&gloop__sigint_pending, memory_order_relaxed))
    gloop__sigint_deliver(run);
  /* Ready fds from the wait that led here; a busy run that never waits
   * polls without blocking instead, so I/O is never starved by busy tasks. */
  if (run->wait.nev > 0) {
    gloop__io_process(run, run->wait.ev, run->wait.nev);
    run->wait.nev = 0;
  } else if (run->io.waiters > 0) {
    int n = epoll_wait(run->io.epfd, run->wait.ev, GLOOP__MAX_EVENTS, 0);
    if (n > 0) gloop__io_process(run, run->wait.ev, n);
    if (n < 0 && errno != EINTR && atomic_load(&run->io_errno) == 0)
      atomic_store(&run->io_errno, errno);
  }
  gloop__entryq_drain(run->eq, run);
  expire_timers(run);
  if (!gloop__queue_empty(&run->runq)) {
    /* Reading the clock costs about as much as two task switches, so with
     * small batches the budget, the timers and the entry queue are looked
     * at again only every CHECK_EVERY task steps, not after every batch. */
    enum { CHECK_EVERY = 64 };
    gloop__ns start = run->budget > 0 ? gloop__mono_ns() : 0;
    size_t steps = 0;
    for (;;) {
      steps += gloop__run_batch(run);
      if (run->ntasks == 0 || run->budget == 0) break;
      if (steps >= CHECK_EVERY) {
        if (gloop__ns_sub(gloop__mono_ns(), start) >= run->budget) break;
        steps = 0;
        gloop__entryq_drain(run->eq, run);
        expire_timers(run);
      }
      if (gloop__queue_empty(&run->runq)) {
        /* Timers that fell due during the batches still belong to this tick. */
        gloop__entryq_drain(run->eq, run);
        expire_timers(run);
        if (gloop__queue_empty(&run->runq)) break;
      }
    }
  }
  /* The end sequence, step 1: the last task has exited. Step 2: the entry
   * queue closes and what it accepted runs, still inside this tick of the
   * live run; a start among it makes the run go on until that task exits,
   * and this point is reached again with nothing left to drain. Step 3 (the
   * done callback) and step 4 (teardown) are in finish(). */
  if (run->ntasks == 0) gloop__entryq_close(run->eq, run);
  run->in_tick = 0;
  if (run->ntasks == 0) return TICK_DONE;
  if (!gloop__queue_empty(&run->runq) || gloop__entryq_pending(run->eq)) return TICK_BUSY;
  gloop__ns next = earliest(run);
  if (next == GLOOP__NS_INF) {
    run->idle_wait = -1;
  } else if (run->mock) {
    /* Mock time does not pass by itself: wait for wake-ups, and with
     * autojump, jump once the run has been idle for the threshold. */
    if (isinf(run->mock->autojump)) {
      run->idle_wait = -1;
    } else {
      run->idle_wait = gloop__sec_to_ns(run->mock->autojump);
      run->autojump_due = 1;
      if (next <= gloop__clock_now(run->mock)) run->idle_wait = 0;
    }
  } else {
    gloop__ns d = gloop__ns_sub(next, gloop__run_now(run));
    if (d <= 0) return TICK_BUSY;
    if (spin_for(run, next, d)) return TICK_BUSY;
    run->idle_wait = d;
    run->idle_next = next;
  }
  if (run->idle_wait == 0) return TICK_BUSY;
  /* Before handing the wait to another thread, look once without blocking:
   * an fd that is already ready (the peer of a task that just wrote) then
   * costs one more busy tick instead of a round trip through the helper
   * thread and the threadsafe post. Trio's guest mode does the same. */
  if (run->io.waiters > 0) {
    /* A wake-up seen here is consumed now; the next tick drains what it
     * announced. */
    if (gloop__wait_events(run, 0)) gloop__wake_consume(run->wake);
    if (run->wait.nev > 0) return TICK_BUSY;
  }
  /* Going idle: a good moment for bounded upkeep that costs system calls. */
  gloop__stack_trim(run, 16);
  return TICK_IDLE;
}

/* ---- Creating and destroying runs ---------------------------------------------- */

static void free_scope_tree(gloop__run *run, struct gloop_scope *s) {
  gloop__queue *q;
  while ((q = gloop__queue_pop(&s->children)) != NULL) {
    struct gloop_scope *c = gloop__container_of(q, struct gloop_scope, sibling);
    free_scope_tree(run, c);
    if (c == &run->sys.scope) {
      gloop__free(&run->alloc, run->sys.message); /* embedded in the run */
    } else if (c->is_nursery) {
      gloop_nursery *n = gloop__container_of(c, gloop_nursery, scope);
      gloop__free(&run->alloc, n->message);
      gloop__free(&run->alloc, n);
    } else {
      gloop__free(&run->alloc, c);
    }
  }
}

/* Frees everything the run owns. Tasks still alive (abandon) are detached
 * from whatever they wait on first, so user objects such as events never
 * keep pointers to freed tasks. */
static void destroy_run(gloop__run *run) {
  gloop__sigint_release(run);
  gloop__helper_stop(run);
  /* Blocked tasks let go of what they wait on first: a worker job must be
   * marked abandoned before the entry queue (which may hold its completion)
   * is closed. */
  gloop__queue *q;
  for (q = run->all_tasks.next; q != &run->all_tasks; q = q->next) {
    gloop_task *t = gloop__container_of(q, gloop_task, all_node);
    if (t->state == GLOOP__TASK_BLOCKED && t->unwait) t->unwait(t);
  }
  if (run->eq != NULL) {
    /* Only an abandoned run gets here with entries left (a finished run
     * ran them while live, in the end sequence): each learns that the run
     * is gone (posts still run, a waiting call returns GLOOP_EABANDONED). */
    gloop__entryq_close(run->eq, NULL);
    gloop__entryq_unref(run->eq);
    run->eq = NULL;
  }
  gloop__pool_close(run->tpool);
  run->tpool = NULL;
  while ((q = gloop__queue_pop(&run->all_tasks)) != NULL) {
    gloop_task *t = gloop__container_of(q, gloop_task, all_node);
    gloop__queue_init(&t->all_node);
    gloop__task_free(t);
  }
  gloop__task_records_drain(run);
  free_scope_tree(run, &run->root);
  gloop__handles_free(run);
  gloop__heap_free(&run->timers, &run->alloc);
  gloop__io_free(run);
  gloop__stack_pool_drain(run);
  if (run->stacks.guard) gloop__altstack_leave(run);
  if (run->io.epfd >= 0) close(run->io.epfd);
  gloop__wake_unref(run->wake);
  gloop__wait_fini(run);
  if (run->mock) atomic_store(&run->mock->user, NULL);
  slot_release(run->token);
  if (tls_run == run) tls_run = NULL;
  gloop__alloc a = run->alloc;
  gloop__free(&a, run);
}

static int create_run(gloop_task_fn entry, void *arg, const gloop_options *user_opts,
                      gloop__run **out) {
  gloop_options opts;
  if (user_opts)
    opts = *user_opts;
  else
    gloop_options_init(&opts);
  if (entry == NULL) return GLOOP_EINVAL;
  if (tls_run != NULL) return GLOOP_ERUNNING;
  if (isnan(opts.tick_budget) || opts.tick_budget < 0) return GLOOP_EINVAL;
  if (isnan(opts.thread_idle_timeout) || opts.thread_idle_timeout < 0) return GLOOP_EINVAL;
  if (isnan(opts.timer_spin) || opts.timer_spin < 0) return GLOOP_EINVAL;
  size_t stack = opts.stack_size ? opts.stack_size : GLOOP_DEFAULT_STACK_SIZE;
  if (stack < GLOOP_MIN_STACK_SIZE || stack > GLOOP_MAX_STACK_SIZE) return GLOOP_ESTACKSIZE;
  size_t page = gloop__page_size();
  stack = (stack + page - 1) / page * page;
  if (opts.clock && opts.clock->mock && atomic_load(&opts.clock->user) != NULL)
    return GLOOP_EBUSY;

  gloop__alloc alloc = {opts.realloc_fn ? opts.realloc_fn : gloop__default_alloc.fn,
                        opts.realloc_fn ? opts.realloc_ud : NULL};
  gloop__run *run = gloop__calloc(&alloc, sizeof *run);
  if (run == NULL) return GLOOP_ENOMEM;
  run->alloc = alloc;
  run->thread = pthread_self();
  run->io.epfd = -1;
  gloop__wait_init(run);
  gloop__queue_init(&run->runq);
  gloop__queue_init(&run->all_tasks);
  run->cancel_gen = 1;
  run->stacks.size = stack;
  run->stacks.guard = opts.guard_pages != 0;
  run->stacks.pool_cap = opts.stack_cache ? opts.stack_cache : 1024;
  run->budget = gloop__sec_to_ns(opts.tick_budget);
  run->spin_max = gloop__sec_to_ns(opts.timer_spin);
  run->wake_target = -1;
  run->early_for = -1;
  run->clock = opts.clock;
  run->max_threads = opts.max_threads ? opts.max_threads : 16;
  run->thread_idle = opts.thread_idle_timeout > 0 ? opts.thread_idle_timeout : 10.0;
  run->mock = (opts.clock && opts.clock->mock) ? opts.clock : NULL;
  int rc = slot_acquire(&run->token);
  if (rc) {
    gloop__wait_fini(run);
    gloop__free(&alloc, run);
    return rc;
  }
  tls_run = run;
  if (run->mock) atomic_store(&run->mock->user, run);
  gloop__scope_init(run, &run->root, NULL, NULL);
  /* System tasks hang below the root beside the main task. */
  gloop__scope_init(run, &run->sys.scope, &run->root, NULL);
  run->sys.scope.is_nursery = 1;

  if ((rc = gloop__wake_new(&run->wake)) != 0) goto fail;
  rc = GLOOP_ENOMEM;
  if (gloop__fault(GLOOP_FAULT_FD)) goto fail;
  run->io.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (run->io.epfd < 0) {
    rc = (errno == EMFILE || errno == ENFILE) ? GLOOP_EMFILE : GLOOP_ENOMEM;
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (epoll_ctl(run->io.epfd, EPOLL_CTL_ADD, gloop__wake_fd(run->wake), &ev) != 0) goto fail;
  if ((rc = gloop__entryq_new(run->wake, &run->eq)) != 0) goto fail;
  if (run->stacks.guard) {
    gloop__overflow_handler_install();
    gloop__altstack_enter(run);
  }
  /* The first tick is posted by the caller, so nothing done during set-up
   * may wake the (not yet waiting) helper. */
  run->tick_scheduled = 1;
  gloop_task *main_task;
  rc = gloop__task_spawn(run, NULL, entry, arg, opts.main_name ? opts.main_name : "main", 0,
                         &main_task);
  if (rc) goto fail;
  run->main_task = main_task;
  gloop__scope_attach(&run->root, main_task);
  *out = run;
  return 0;
fail:
  destroy_run(run);
  return rc;
}

/* ---- Guest mode ------------------------------------------------------------------ */

static void guest_tick(void *arg);

static void post_busy(gloop__run *run) {
  run->tick_scheduled = 1;
  void *token = (void *)(uintptr_t)run->token;
  if (run->post_nts)
    run->post_nts(guest_tick, token, run->host_data);
  else
    run->post_ts(guest_tick, token, run->host_data);
}

/* Ends the run and returns its final status (also given to done_cb). */
static int finish(gloop__run *run) {
  run->phase = GLOOP__RUN_FINISHED;
  if (run->interrupted && run->status == GLOOP_ECANCELED)
    snprintf(run->message, sizeof run->message, "%s", "cancelled by SIGINT (Ctrl-C)");
  /* A failing system task is the outcome when the main task succeeded, or
   * was only cancelled because of that failure. */
  if (run->sys.status != 0 &&
      (run->status == 0 || (run->status == GLOOP_ECANCELED && run->sys_failed))) {
    run->status = run->sys.status;
    snprintf(run->message, sizeof run->message, "%s",
             run->sys.message ? run->sys.message : gloop_strerror(run->sys.status));
  }
  if (run->io_failed) {
    int e = atomic_load(&run->io_errno);
    run->status = GLOOP_EINTERNAL;
    snprintf(run->message, sizeof run->message,
             "internal error: the run's epoll wait failed: %s (errno %d); the run was cancelled",
             strerror(e), e);
  }
  /* A Ctrl-C that came after the run had already failed (while cleanup kept
   * it alive) is not lost: the error stays the outcome, and its message
   * says that the interrupt came too, as Trio chains KeyboardInterrupt to
   * the earlier error. */
  if (run->interrupted && run->status != 0 && run->status != GLOOP_ECANCELED) {
    static const char also[] = "; then interrupted by SIGINT (Ctrl-C)";
    size_t len = strlen(run->message);
    if (len + sizeof also > sizeof run->message) len = sizeof run->message - sizeof also;
    memcpy(run->message + len, also, sizeof also);
  }
  gloop_outcome outcome;
  char message[sizeof run->message];
  memcpy(message, run->message, sizeof message);
  outcome.status = run->status;
  outcome.message = message;
  gloop_done_fn done = run->done_cb;
  void *host_data = run->host_data;
  destroy_run(run);
  /* The run is gone before done_cb runs, so done_cb may start a new one. */
  if (done) done(&outcome, host_data);
  return outcome.status;
}

static void guest_tick(void *arg) {
  uint32_t token = (uint32_t)(uintptr_t)arg;
  gloop__run *run = tls_run;
  if (run == NULL || run->token != token) return; /* a tick of an abandoned run */
  if (run->in_tick) {
    /* A nested host loop inside a task delivered a tick. Running it would
     * re-enter the scheduler; the tick in progress decides what comes next
     * when it ends, so this one is simply dropped. */
    run->reentered++;
    return;
  }
  int woken = gloop__helper_take_woken(run);
  learn_wake_lead(run, woken);
  run->tick_scheduled = 1;
  switch (tick(run, woken)) {
    case TICK_DONE:
      finish(run);
      break;
    case TICK_BUSY:
      post_busy(run);
      break;
    case TICK_IDLE:
      run->tick_scheduled = 0;
      gloop__helper_hand(run, wait_until(run, run->idle_wait));
      break;
  }
}

int gloop_start_guest_run_ex(gloop_task_fn entry, void *arg, gloop_post_fn post_ts,
                             gloop_done_fn done_cb, void *host_data, const gloop_options *opts) {
  if (entry == NULL || post_ts == NULL || done_cb == NULL) return GLOOP_EINVAL;
  gloop__run *run;
  int rc = create_run(entry, arg, opts, &run);
  if (rc) return rc;
  run->guest = 1;
  run->post_ts = post_ts;
  run->post_nts = opts ? opts->run_sync_soon_not_threadsafe : NULL;
  run->done_cb = done_cb;
  run->host_data = host_data;
  if ((rc = gloop__helper_start(run, guest_tick)) != 0) {
    destroy_run(run);
    return rc;
  }
  post_busy(run);
  return 0;
}

int gloop_start_guest_run(gloop_task_fn entry, void *arg, gloop_post_fn post_ts,
                          gloop_done_fn done_cb, void *host_data) {
  return gloop_start_guest_run_ex(entry, arg, post_ts, done_cb, host_data, NULL);
}

int gloop_abandon_run(void) {
  gloop__run *run = tls_run;
  if (run == NULL) return GLOOP_ENORUN;
  if (run->in_tick || run->current) return GLOOP_EBUSY;
  /* The run stops being live before anything of it is torn down: posts that
   * the teardown still runs, and any code they call, find no run here. */
  run->phase = GLOOP__RUN_ABANDONED;
  tls_run = NULL;
  slot_release(run->token);
  destroy_run(run);
  return 0;
}

/* ---- Standalone run -------------------------------------------------------------- */

int gloop_run(gloop_task_fn entry, void *arg, const gloop_options *opts, gloop_done_fn done_cb,
              void *host_data) {
  gloop__run *run;
  int rc = create_run(entry, arg, opts, &run);
  if (rc) return rc;
  run->done_cb = done_cb;
  run->host_data = host_data;
  int woken = 0;
  for (;;) {
    enum tick_result r = tick(run, woken);
    woken = 0;
    if (r == TICK_DONE) break;
    if (r == TICK_IDLE) woken = gloop__wait_events(run, run->idle_wait);
  }
  return finish(run);
}

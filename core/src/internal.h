/* internal.h - the structures shared by the core's files, and their invariants. */
#ifndef GLOOP_INTERNAL_H
#define GLOOP_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "guestloop/guestloop.h"
#include "ctx.h"

/* ---- Assertions --------------------------------------------------------- */

/* Always on: an internal invariant that does not hold means memory is
 * already inconsistent, and continuing would turn a clear message into a
 * corrupted application. */
#define gloop__assert(cond)                                                   \
  do {                                                                        \
    if (!(cond)) gloop__panic(__FILE__, __LINE__, #cond);                     \
  } while (0)
void gloop__panic(const char *file, int line, const char *what);

/* Sanitizers that must be told about task switches (task.c, stack.c). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GLOOP_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define GLOOP_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define GLOOP_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define GLOOP_TSAN 1
#endif

#define gloop__container_of(ptr, type, member)                                \
  ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- Intrusive circular doubly-linked list ------------------------------ */

typedef struct gloop__queue {
  struct gloop__queue *next;
  struct gloop__queue *prev;
} gloop__queue;

static inline void gloop__queue_init(gloop__queue *q) { q->next = q->prev = q; }
static inline int gloop__queue_empty(const gloop__queue *q) { return q->next == q; }
static inline void gloop__queue_push(gloop__queue *q, gloop__queue *n) {
  n->prev = q->prev;
  n->next = q;
  q->prev->next = n;
  q->prev = n;
}
/* Unlinks n and leaves it self-linked, so unlinking twice is harmless and
 * "is linked" can be asked with gloop__queue_linked(). */
static inline void gloop__queue_remove(gloop__queue *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}
static inline int gloop__queue_linked(const gloop__queue *n) { return n->next != n; }
static inline gloop__queue *gloop__queue_pop(gloop__queue *q) {
  gloop__queue *n = q->next;
  if (n == q) return NULL;
  gloop__queue_remove(n);
  return n;
}

/* ---- Time --------------------------------------------------------------- */

/* Internal time is signed 64-bit nanoseconds on the run's clock, within
 * [-GLOOP__NS_INF, GLOOP__NS_INF]; the two ends stand for -inf and +inf (about
 * ±292 years). Every sum or difference of times goes through the saturating
 * helpers below, so an infinity stays infinite and nothing wraps around. */
typedef int64_t gloop__ns;
#define GLOOP__NS_INF INT64_MAX

gloop__ns gloop__sec_to_ns(double s); /* saturating; s must not be NaN */
double gloop__ns_to_sec(gloop__ns ns); /* ±GLOOP__NS_INF -> ±INFINITY */
gloop__ns gloop__mono_ns(void);       /* CLOCK_MONOTONIC */

/* a + b, saturated to [-GLOOP__NS_INF, GLOOP__NS_INF]; an infinite operand
 * wins over a finite one (and +inf + -inf gives +inf, which no caller asks). */
static inline gloop__ns gloop__ns_add(gloop__ns a, gloop__ns b) {
  gloop__ns r;
  if (a == GLOOP__NS_INF || b == GLOOP__NS_INF) return GLOOP__NS_INF;
  if (a == -GLOOP__NS_INF || b == -GLOOP__NS_INF) return -GLOOP__NS_INF;
  if (__builtin_add_overflow(a, b, &r)) return a > 0 ? GLOOP__NS_INF : -GLOOP__NS_INF;
  return r < -GLOOP__NS_INF ? -GLOOP__NS_INF : r;
}
/* a - b, saturated the same way. */
static inline gloop__ns gloop__ns_sub(gloop__ns a, gloop__ns b) {
  return gloop__ns_add(a, b == -GLOOP__NS_INF ? GLOOP__NS_INF : -b);
}
/* An absolute CLOCK_MONOTONIC time `seconds` from now for timed waits on
 * condition variables. Returns 0 and fills *ts, or 1 if the wait has no
 * end (infinite, or beyond what a timespec holds): wait without a timeout. */
int gloop__mono_deadline_ts(double seconds, struct timespec *ts);

struct gloop_clock {
  int mock;                     /* 0: the system monotonic clock */
  _Atomic gloop__ns now;        /* mock time */
  double autojump;              /* seconds of real idle time before a jump; INFINITY = never */
  struct gloop__run *_Atomic user; /* run using this clock, or NULL */
};
gloop__ns gloop__clock_now(const gloop_clock *c);

/* ---- Memory ------------------------------------------------------------- */

/* Fault injection (fault.c): nonzero if this acquisition of `kind`
 * (a GLOOP_FAULT_* bit) must fail. Costs one relaxed load when off. */
int gloop__fault(int kind);
/* malloc/calloc for memory that is not the run's (tokens, entries, jobs,
 * pools), with fault injection. */
void *gloop__sys_malloc(size_t size);
void *gloop__sys_calloc(size_t size);
void *gloop__sys_calloc_aligned(size_t align, size_t size); /* free() it */

typedef struct gloop__alloc {
  gloop_realloc_fn fn;
  void *ud;
} gloop__alloc;

void *gloop__malloc(const gloop__alloc *a, size_t size);
void *gloop__calloc(const gloop__alloc *a, size_t size);
void gloop__free(const gloop__alloc *a, void *p);
/* The default allocator, for objects made outside a run. */
extern const gloop__alloc gloop__default_alloc;

/* ---- Timer heap --------------------------------------------------------- */

/* A timer lives in the run's min-heap keyed by (deadline, seq); seq is taken
 * from a per-run counter at insertion, which gives equal deadlines FIFO order.
 * index is the heap position, or GLOOP__NOT_ARMED. */
#define GLOOP__NOT_ARMED SIZE_MAX
typedef struct gloop__timer {
  gloop__ns deadline;
  uint64_t seq;
  size_t index;
  void (*fire)(struct gloop__timer *t);
} gloop__timer;

typedef struct gloop__heap {
  gloop__timer **items;
  size_t len;
  size_t cap;
} gloop__heap;

int gloop__heap_push(gloop__heap *h, const gloop__alloc *a, gloop__timer *t);
void gloop__heap_remove(gloop__heap *h, gloop__timer *t);
gloop__timer *gloop__heap_top(const gloop__heap *h);
gloop__timer *gloop__heap_pop(gloop__heap *h);
void gloop__heap_free(gloop__heap *h, const gloop__alloc *a);

#include "stack.h"

/* ---- Tasks, scopes, nurseries ------------------------------------------- */

/* What a cancellation does to a blocked task's wait. */
enum gloop__wait_kind {
  GLOOP__WAIT_FIRM,             /* nothing: the wait ends by itself (nursery close) */
  GLOOP__WAIT_CANCELLABLE,      /* the wait ends with GLOOP_ECANCELED (unwait is called) */
  GLOOP__WAIT_TELLS_JOB         /* a worker job without abandon-on-cancel: the task waits on,
                                 * the job is told (gloop__job_cancel_requested) */
};

enum gloop__task_state {
  GLOOP__TASK_NEW,      /* created, on the ready queue for its first run */
  GLOOP__TASK_READY,    /* on the ready queue */
  GLOOP__TASK_RUNNING,  /* the current task */
  GLOOP__TASK_BLOCKED,  /* suspended in gloop__block() */
  GLOOP__TASK_DONE      /* returned; stack waits to be released */
};

struct gloop_scope {
  struct gloop_scope *parent;   /* enclosing scope, NULL for the root */
  gloop__queue children;        /* child scopes (their `sibling` nodes) */
  gloop__queue sibling;
  gloop__queue tasks;           /* tasks whose innermost scope is this one */
  struct gloop__run *run;
  uint32_t token;               /* run->token when opened */
  struct gloop_task *owner;     /* task that opened it; NULL for the run's root */
  gloop__timer timer;           /* deadline timer, armed when deadline is finite */
  gloop__ns deadline;
  unsigned cancelled : 1;       /* cancel() called or deadline passed */
  unsigned shield : 1;
  unsigned fail : 1;            /* GLOOP_SCOPE_FAIL */
  unsigned caught : 1;          /* a blocking call returned ECANCELED due to this scope */
  unsigned deadline_fired : 1;
  unsigned is_nursery : 1;
  uint32_t ref;                 /* handle slot + 1 (handles.c), 0 = none given out */
};

struct gloop_nursery {
  struct gloop_scope scope;     /* covers the children and the owner's body */
  struct gloop_task *owner;
  size_t nchildren;             /* live child tasks */
  int status;                   /* first failure, 0 if none */
  char *message;                /* its message (allocated), or NULL */
  unsigned closing : 1;
  unsigned owner_waiting : 1;
};

struct gloop_task {
  /* The first 64 bytes hold every field a scheduler step reads or writes
   * (gloop_checkpoint, the cancellation test, the queue push, the switch and
   * the resume): one or two cache lines of the record, as malloc places it,
   * against three to four when these fields were spread over its first 131
   * bytes. The static assertions below the struct keep the order. */
  gloop__queue node;            /* ready queue, or a wait queue while blocked */
  struct gloop__run *run;
  struct gloop_scope *scope;    /* innermost cancel scope */
  void *asan_fake_stack;
  unsigned char state;          /* enum gloop__task_state */
  unsigned char cancellable;    /* enum gloop__wait_kind: what a cancellation does to the current wait */
  unsigned char cancel_called;  /* gloop_task_ref_cancel(): see gloop__task_check_cancel */
  uint32_t ref;                 /* cold: handle slot + 1 (handles.c), 0 = none given out */
  /* run->cancel_gen when the task's scope chain was last walked and found
   * uncancelled, or 0 if it must be walked; see gloop__task_check_cancel. */
  uint64_t cancel_clear;
  gloop__ctx ctx;               /* last: with ucontext it spans many lines */
  /* Cold: spawn, exit, waits other than checkpoints, sanitizer builds. */
  gloop__stack stack;
  gloop__queue scope_node;      /* in scope->tasks */
  gloop__queue all_node;        /* in run->all_tasks, so an abandon can free every task */
  /* The function is read once, as the task starts; per-wait data is only
   * set by the task itself before it blocks, so the two never live at once
   * and share their bytes (which keeps the record at 256 bytes). */
  union {
    gloop_task_fn fn;
    void *wait_data;            /* per-wait data (a channel element, ...) */
  };
  void *arg;
  struct gloop_nursery *parent; /* NULL only for the main task */
  int result;                   /* what gloop__block() returns */
  int status;                   /* return value of fn */
  /* Unique within the run: records are recycled, so identity checks that
   * must outlive a task (a lock's owner) compare the serial too. */
  uint64_t serial;
  char *message;                /* from gloop_fail(), allocated */
  /* While BLOCKED: detaches the task from what it waits on; NULL if the wait
   * cannot be interrupted (nursery close). */
  void (*unwait)(struct gloop_task *t);
  void *wait_obj;               /* what it waits on, for unwait */
  gloop__timer sleep;           /* used by gloop_sleep_until */
#ifdef GLOOP_TSAN
  void *tsan_fiber;
#endif
  char name[32];
};

#define GLOOP__TASK_HOT(f) (offsetof(struct gloop_task, f) + sizeof(((struct gloop_task *)0)->f) <= 64)
_Static_assert(GLOOP__TASK_HOT(node) && GLOOP__TASK_HOT(run) && GLOOP__TASK_HOT(scope) &&
                   GLOOP__TASK_HOT(asan_fake_stack) && GLOOP__TASK_HOT(state) &&
                   GLOOP__TASK_HOT(cancel_called) && GLOOP__TASK_HOT(cancel_clear),
               "the fields of a scheduler step lie in the task record's first 64 bytes");
#if defined(GLOOP_CTX_ASM)
_Static_assert(GLOOP__TASK_HOT(ctx), "the saved stack pointer lies in the task record's first 64 bytes");
#if !defined(GLOOP_TSAN)
/* With the ucontext backend the record holds a whole ucontext_t. */
_Static_assert(sizeof(struct gloop_task) <= 256, "a task record stays at 256 bytes or less");
#endif
#endif

/* ---- I/O, entry queue, thread pool --------------------------------------- */

#include <sys/epoll.h>

/* One entry per fd number that a task has waited on in this run. */
typedef struct gloop__fdent {
  struct gloop_task *reader;
  struct gloop_task *writer;
  uint32_t registered;          /* events currently registered with epoll */
  unsigned nonblock_set : 1;    /* the helpers made it non-blocking */
  unsigned not_socket : 1;      /* send() said ENOTSOCK: use write() */
} gloop__fdent;

#define GLOOP__MAX_EVENTS 64

/* The run's I/O state (io.c): the epoll set, which also holds the wake-up
 * fd (with data 0), and what tasks wait for, per fd number. */
typedef struct gloop__io {
  int epfd;
  gloop__fdent *fds;
  size_t nfds;
  size_t waiters;               /* tasks blocked in fd waits */
} gloop__io;

/* The run's wake-up (wake.c): an eventfd and its "already signalled" flag.
 * Reference counted: the run and its entry queue hold it. signal() may be
 * called from any thread and from a signal handler. */
typedef struct gloop__wake gloop__wake;
int gloop__wake_new(gloop__wake **out);
void gloop__wake_ref(gloop__wake *w);
void gloop__wake_unref(gloop__wake *w);
int gloop__wake_fd(const gloop__wake *w);
void gloop__wake_signal(gloop__wake *w);
void gloop__wake_consume(gloop__wake *w); /* host thread, before looking at the work */

/* An entry of the entry queue (entry.c): an intrusive node carrying its own
 * callback, so the queue knows none of its users (tokens, worker jobs).
 * The callback runs on the host thread with the live run, or with NULL when
 * the host abandoned the run; it may free or reuse the entry. */
typedef struct gloop__entry {
  struct gloop__entry *_Atomic next;
  void (*fn)(struct gloop__entry *e, struct gloop__run *run);
} gloop__entry;

/* The entry queue: lock-free, any thread pushes, the host thread drains.
 * Reference counted because tokens and worker jobs may outlive the run. */
typedef struct gloop__entryq gloop__entryq;
int gloop__entryq_new(gloop__wake *wake, gloop__entryq **out);
void gloop__entryq_ref(gloop__entryq *q);
void gloop__entryq_unref(gloop__entryq *q);
/* Any thread: queues e and wakes the run; GLOOP_ENORUN once closed (e is
 * then still the caller's). After 0, e's callback runs exactly once. */
int gloop__entryq_push(gloop__entryq *q, gloop__entry *e);
int gloop__entryq_closed(const gloop__entryq *q);
/* Host thread: anything queued, or being queued right now. */
int gloop__entryq_pending(const gloop__entryq *q);
/* Host thread: runs the entries queued so far. */
void gloop__entryq_drain(gloop__entryq *q, struct gloop__run *run);
/* Spare entry nodes of the queue's users, kept with the queue and freed
 * with it: blocks from gloop__sys_malloc() whose first word is a pointer
 * the stack links through. Only the host thread gives; take_spare (any
 * thread) takes the whole stack, or NULL. */
void gloop__entryq_give_spare(gloop__entryq *q, void *block);
void *gloop__entryq_take_spare(gloop__entryq *q);
/* Host thread: refuses every later push, then runs every entry accepted
 * before, with `run` (NULL after an abandon). Idempotent. */
void gloop__entryq_close(gloop__entryq *q, struct gloop__run *run);

/* A gloop_to_thread job; see pool.c for its states. */
enum gloop__job_state { GLOOP__JOB_PENDING, GLOOP__JOB_DONE, GLOOP__JOB_ABANDONED };
typedef struct gloop__job {
  gloop__queue node;            /* in the pool's job list */
  gloop__entry done;            /* its completion, queued by the worker */
  gloop_work_fn fn;
  void *arg;
  void *result;
  _Atomic int state;            /* enum gloop__job_state */
  int detached;                 /* host only: the task no longer waits */
  struct gloop_task *task;
  gloop__entryq *eq;
  gloop__stack stack;           /* the task's stack, if the run was abandoned under the job */
  _Atomic int cancel_requested; /* the waiting task was cancelled, or the run abandoned */
  _Atomic int cancel_fd;        /* eventfd made on request (gloop_thread_cancel_fd), or -1 */
} gloop__job;
struct gloop__pool;
void gloop__pool_close(struct gloop__pool *pool);
/* Host thread: the task waiting for `job` was cancelled; tell the job. */
void gloop__job_cancel_requested(gloop__job *job);

/* ---- Handles ------------------------------------------------------------- */

/* The run's table of generation-checked handles (handles.c): a slot names
 * one live object of `kind`; when the object ends, the slot's generation
 * moves on, so a handle given out earlier resolves to nothing instead of to
 * freed memory. Slots are made only when a handle is asked for. */
enum { GLOOP__REF_SCOPE = 1, GLOOP__REF_TASK, GLOOP__REF_EVENT };
typedef struct gloop__hslot {
  void *obj;                    /* NULL while free */
  uint32_t gen;                 /* never 0 for a slot in use */
  uint32_t kind;
  uint32_t next_free;           /* free-list link: index + 1, 0 = end */
} gloop__hslot;
typedef struct gloop__handles {
  gloop__hslot *slots;
  uint32_t len, cap;
  uint32_t free_head;           /* index + 1 of the first free slot, 0 = none */
} gloop__handles;

/* ---- The wait (wait.c) -------------------------------------------------- */

/* The blocking wait of an idle run, and guest mode's helper thread that
 * does it so the host thread never blocks. The fields marked "under mu"
 * are shared by the host and the helper. */
enum gloop__helper_cmd { GLOOP__HELPER_IDLE, GLOOP__HELPER_WAIT, GLOOP__HELPER_EXIT };
typedef struct gloop__waiter {
  int started;                  /* the helper thread exists */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  enum gloop__helper_cmd cmd;   /* under mu */
  gloop__ns until;              /* under mu: end of the wait on the monotonic clock, -1 = never */
  int woken;                    /* under mu: the wake-up fired in the last wait */
  gloop_callback_fn tick;       /* what the helper posts when its wait ends */
  struct epoll_event ev[GLOOP__MAX_EVENTS]; /* ready fds of the last wait */
  int nev;
} gloop__waiter;

struct gloop__run;
void gloop__wait_init(struct gloop__run *run);
void gloop__wait_fini(struct gloop__run *run);
/* Blocks in epoll for at most `timeout` ns (-1 = forever), leaves the ready
 * fds in run->wait.ev and returns whether the wake-up fired. The helper
 * thread in guest mode, the calling thread in a standalone run. */
int gloop__wait_events(struct gloop__run *run, gloop__ns timeout);
/* Guest mode: start the helper; hand it the next wait, ending at `until`
 * on the monotonic clock, -1 = never (host thread, after an idle tick);
 * take (and clear) whether its last wait saw the wake-up; stop it (joins). */
int gloop__helper_start(struct gloop__run *run, gloop_callback_fn tick);
void gloop__helper_hand(struct gloop__run *run, gloop__ns until);
int gloop__helper_take_woken(struct gloop__run *run);
void gloop__helper_stop(struct gloop__run *run);

/* ---- The run ------------------------------------------------------------ */

/* Live until the end sequence's teardown (finish()) or an abandon; the
 * run's objects and tokens check for LIVE. */
enum gloop__run_phase { GLOOP__RUN_LIVE, GLOOP__RUN_FINISHED, GLOOP__RUN_ABANDONED };

/* A run is one execution of a main task with everything below it. It is
 * owned by one host thread (`thread`); every field except those marked
 * "helper" and "any thread" is touched only on that thread. */
typedef struct gloop__run {
  pthread_t thread;
  uint32_t token;               /* (generation << 10) | slot; see run.c */
  gloop__alloc alloc;
  gloop_clock *clock;           /* NULL = system monotonic */
  gloop_clock *mock;            /* = clock if it is a mock clock */

  gloop__heap timers;
  uint64_t timer_seq;
  gloop__queue runq;
  gloop__queue all_tasks;
  size_t ntasks;
  /* Starts at 1 and grows by one at every change that can make a
   * cancellation reach a task that it did not reach before: a scope
   * cancelled, a task cancelled, a shield dropped. A task whose
   * cancel_clear equals it has an uncancelled chain (gloop__task_check_cancel);
   * 64 bits so that it never wraps back onto a cached value. */
  uint64_t cancel_gen;
  gloop_task *main_task;
  struct gloop_scope root;      /* the main task's outermost scope */
  gloop_task *current;          /* the running task, or NULL in the scheduler */
  /* The batch being run (gloop__run_batch) is the front of the ready queue
   * up to this node, its last task when the batch began; NULL once it is
   * used up. Tasks made ready meanwhile queue behind it. A task that
   * suspends hands over to the batch's next task directly. */
  gloop__queue *batch_last;
  unsigned long steps;          /* task resumes in this run (gloop_sched_info) */
  unsigned long sched_resumes;  /* of those, by the scheduler rather than a hand-over */
  unsigned long cancel_walks;   /* scope-chain walks of gloop__task_check_cancel */
  gloop__ctx sched_ctx;
  void *sched_fake_stack;       /* ASan bookkeeping for the scheduler stack */
  const void *sched_stack_bottom;
  size_t sched_stack_size;
  int asan_from_sched;          /* ASan only: the last switch left the scheduler */
  gloop_task *dead;             /* finished task whose stack is freed after switching away */
  uint64_t next_serial;
#ifdef GLOOP_TSAN
  void *tsan_sched_fiber;       /* ThreadSanitizer's fiber for the scheduler */
#endif

  gloop__stacks stacks;         /* stack.c */
  struct gloop_task *free_tasks; /* recycled task records (linked through `arg`) */
  size_t nfree_tasks;
  /* Host side. */
  int guest;                    /* 1: guest mode, 0: gloop_run() */
  gloop_post_fn post_ts, post_nts;
  gloop_done_fn done_cb;
  void *host_data;
  gloop__ns budget;             /* tick budget */
  int in_tick;                  /* a tick is executing */
  int tick_scheduled;           /* a tick is posted or the helper was woken */
  enum gloop__run_phase phase;
  int autojump_due;             /* the last idle wait was an autojump wait */
  gloop__ns idle_wait;          /* set by the tick when idle: real ns to wait, -1 forever */
  /* Deadlines closer than a wake-up (guest mode, real clock; run.c). */
  gloop__ns spin_max;           /* gloop_options.timer_spin in ns, 0 = off */
  gloop__ns wake_lead;          /* learned: from a timed wait's end to its tick */
  gloop__ns wake_target;        /* end of the helper's current timed wait, -1 none */
  gloop__ns idle_next;          /* set with idle_wait: the deadline waited for */
  gloop__ns early_for;          /* the deadline the helper's last wait ended early for, -1 none */
  unsigned long spins;          /* ticks that waited for a deadline on the host thread */
  uint64_t ticks;
  uint64_t reentered;           /* ticks that arrived while a tick was running */

  /* The wake-up and the wait. */
  gloop__wake *wake;            /* host-side, cross-thread and Ctrl-C wake-ups */
  gloop__waiter wait;           /* wait.c */

  /* I/O and threads. */
  gloop__io io;
  gloop__entryq *eq;
  struct gloop__pool *tpool;
  unsigned max_threads;
  double thread_idle;
  struct gloop_nursery sys;     /* system tasks (gloop_token_start) */
  gloop__handles handles;       /* handles given to host code (handles.c) */

  int interrupted;              /* SIGINT cancelled the run */
  int sys_failed;               /* a system task failed and cancelled the run */
  /* errno of a failed epoll wait (0: none), set by whichever thread waited;
   * the next tick turns it into GLOOP_EINTERNAL and cancels the run once
   * (io_failed), and from then on waits use poll() on the wake-up fd. */
  _Atomic int io_errno;
  int io_failed;

  /* Outcome. */
  int status;
  char message[256];
} gloop__run;

/* The run live on this thread, or NULL. Every task-context call reads it,
 * so it is inline, and initial-exec: the general-dynamic TLS model would
 * cost a __tls_get_addr call each time. */
#if defined(__GNUC__)
#define GLOOP__TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define GLOOP__TLS _Thread_local
#endif
extern GLOOP__TLS gloop__run *gloop__tls_run;
static inline gloop__run *gloop__run_current(void) { return gloop__tls_run; }
/* 0 if `run` with `token` is live and owned by the calling thread, else
 * GLOOP_ENORUN or GLOOP_EWRONGTHREAD. */
int gloop__run_check(const gloop__run *run, uint32_t token);
gloop__ns gloop__run_now(gloop__run *run);
/* Called after host-side changes: the ready queue became non-empty or the
 * earliest deadline moved. Wakes the helper at most once per idle period. */
void gloop__run_poke(gloop__run *run);

/* Timers on the run's heap; arming may move the earliest deadline and poke. */
int gloop__timer_arm(gloop__run *run, gloop__timer *t, gloop__ns deadline);
void gloop__timer_disarm(gloop__run *run, gloop__timer *t);

/* Tasks (task.c). */
int gloop__task_spawn(gloop__run *run, struct gloop_nursery *parent, gloop_task_fn fn,
                      void *arg, const char *name, size_t stack_size, gloop_task **out);
/* Makes a BLOCKED or NEW task ready with `result` (the caller has detached it
 * from what it waited on). */
void gloop__task_wake(gloop_task *t, int result);
/* FIFO wait queues of tasks (through the blocked task's `node`), shared by
 * the sync objects and channels: the unwait that takes a task off whichever
 * queue holds it, and popping the first waiter. */
static inline void gloop__unwait_queue(gloop_task *t) { gloop__queue_remove(&t->node); }
static inline gloop_task *gloop__pop_waiter(gloop__queue *q) {
  gloop__queue *n = gloop__queue_pop(q);
  return n ? gloop__container_of(n, gloop_task, node) : NULL;
}
/* Suspends the current task until woken. With GLOOP__WAIT_CANCELLABLE, if
 * the task is (or becomes) cancelled, unwait(t) is called and ECANCELED
 * returned; see enum gloop__wait_kind for the others. */
int gloop__block(gloop_task *t, void (*unwait)(gloop_task *), void *obj, enum gloop__wait_kind kind);
/* gloop__task_check_cancel's walk of the scope chain, for when the cached
 * answer is not known to hold. */
int gloop__task_check_cancel_walk(gloop_task *t);
/* 1 if a cancellation reaches code of task t that runs in scope `from`:
 * a cancelled scope on the way out (marked caught if mark_caught), or a
 * cancelled task (t, or the owner of a nursery passed), up to a shield. */
int gloop__cancel_reaches(const gloop_task *t, struct gloop_scope *from, int mark_caught);
/* The current task, or NULL; also sets *err to GLOOP_ENOTTASK when NULL. */
gloop_task *gloop__task_current(int *err);
void gloop__task_free(gloop_task *t);
void gloop__task_records_drain(gloop__run *run);
/* Runs one batch: the ready queue as it stood on entry; returns its size. */
size_t gloop__run_batch(gloop__run *run);

/* Scopes (cancel.c). */
void gloop__scope_init(gloop__run *run, struct gloop_scope *s, struct gloop_scope *parent,
                       gloop_task *owner);
void gloop__scope_fini(struct gloop_scope *s);
void gloop__scope_cancel(struct gloop_scope *s);
void gloop__scope_attach(struct gloop_scope *s, gloop_task *t);
void gloop__scope_detach(gloop_task *t);

/* Cancels one task as if by a scope just outside its own scopes: the task
 * and everything below it see GLOOP_ECANCELED, up to shields (cancel.c). */
void gloop__task_cancel(gloop_task *t);

/* Handles (handles.c). make: the handle of obj, stored in *slot (index + 1)
 * on first use; fills run token and id. drop: obj has ended; its handles
 * now resolve to GLOOP_ENOTFOUND. resolve: the object of that kind in the
 * run live on this thread, else NULL with *err set. */
int gloop__ref_make(gloop__run *run, uint32_t *slot, int kind, void *obj, uint64_t *run_out,
                    uint64_t *id_out);
void gloop__ref_drop(gloop__run *run, uint32_t *slot);
void *gloop__ref_resolve(uint64_t run, uint64_t id, int kind, int *err);
void gloop__handles_free(gloop__run *run);

/* Nurseries (nursery.c): a child ended. */
void gloop__nursery_child_done(struct gloop_nursery *n, gloop_task *t);
/* Closes the task's open nurseries and scopes when it returned without. */
void gloop__task_close_leftovers(gloop_task *t);

/* I/O (io.c): process ready events from epoll; forget everything. */
void gloop__io_process(gloop__run *run, const struct epoll_event *ev, int n);
void gloop__io_free(gloop__run *run);
/* A system task could not start (or failed): record it, cancel the run. */
void gloop__system_task_failed(gloop__run *run, int rc, const char *name);
/* Starts a system task (entry.c helper for gloop_token_start). */
int gloop__start_system_task(gloop__run *run, gloop_task_fn fn, void *arg, const char *name);

/* Ctrl-C (sigint.c). */
extern _Atomic int gloop__sigint_pending;
void gloop__sigint_deliver(gloop__run *run);
void gloop__sigint_release(gloop__run *run);

/* The cancel check of every blocking call: GLOOP_ECANCELED if a scope above
 * the task (up to the first shield) is cancelled, also marking it caught.
 * Walking the scope chain at every checkpoint is work in proportion to the
 * nesting on the scheduler's hottest path, so a walk that finds nothing is
 * remembered against the run's cancel_gen: until something is cancelled, a shield is dropped or the
 * task's own chain changes (gloop__scope_attach/detach clear the mark), the
 * answer stays "not cancelled" and the check is one comparison. */
static inline int gloop__task_check_cancel(gloop_task *t) {
  /* A Ctrl-C noticed here reaches the task at this very checkpoint, even in
   * the middle of a tick. */
  if (atomic_load_explicit(&gloop__sigint_pending, memory_order_relaxed))
    gloop__sigint_deliver(t->run);
  if (t->cancel_clear == t->run->cancel_gen) return 0;
  return gloop__task_check_cancel_walk(t);
}

/* Thread-local last message (gloop_last_message). */
void gloop__set_last_message(const char *msg);

/* Objects bound to a run: run pointer plus token, checked on each use. */
typedef struct gloop__bound {
  gloop__run *run;
  uint32_t token;
  gloop__alloc alloc;
} gloop__bound;
int gloop__bind(gloop__bound *b);
int gloop__bound_check(const gloop__bound *b);

#endif

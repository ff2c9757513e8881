/* guestloop.h - the public C API of libguestloop.
 *
 * libguestloop is an event loop of stackful coroutines ("tasks") that runs as a
 * guest inside another program's event loop (the "host"), with the semantics of
 * Trio's guest mode, or standalone on the calling thread.
 *
 * Conventions used throughout this header:
 *  - A NULL handle or NULL output pointer gives GLOOP_EINVAL wherever a
 *    function returns int (query functions return 0, NaN or "" instead).
 *  - Functions returning int return 0 on success or a negative GLOOP_E* code.
 *    A call that fails never invokes the callback it was given.
 *  - "Task context" means code running inside a task of a live run. "Host
 *    context" means code running on the run's host thread outside any task
 *    (a Qt slot, a host callback). "Any thread" means exactly that.
 *  - Calls that need a task return GLOOP_ENOTTASK elsewhere; calls that touch a
 *    run from a thread other than its host thread return GLOOP_EWRONGTHREAD;
 *    calls on objects whose run has ended return GLOOP_ENORUN.
 *  - Times and durations are in seconds, as double, on the run's clock.
 *  - Every gloop_X_free(NULL) is a no-op.
 */
#ifndef GUESTLOOP_H
#define GUESTLOOP_H

#include <stddef.h>
#include <stdint.h>

#include "guestloop/export.h"
#include "guestloop/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** The one error table: name, value, message. OS-level conditions use the
 * negated errno value, so GLOOP_EBADF == -EBADF on Linux; library conditions
 * use values below -4000. gloop_strerror() and gloop_err_name() are generated
 * from this table, and so is docs/errors.md. */
#define GLOOP_ERRNO_MAP(XX)                                                      \
  XX(EINVAL, -22, "invalid argument")                                            \
  XX(ENOMEM, -12, "out of memory")                                               \
  XX(ECANCELED, -125, "operation canceled")                                      \
  XX(ETIMEDOUT, -110, "deadline expired")                                        \
  XX(EBADF, -9, "bad file descriptor")                                           \
  XX(EMFILE, -24, "too many open files")                                         \
  XX(EAGAIN, -11, "resource temporarily unavailable")                            \
  XX(EPIPE, -32, "broken pipe")                                                  \
  XX(ECONNRESET, -104, "connection reset by peer")                               \
  XX(ECONNREFUSED, -111, "connection refused")                                   \
  XX(EBUSY, -16, "resource busy")                                                \
  XX(EPERM, -1, "operation not permitted")                                       \
  XX(EOVERFLOW, -75, "value too large for its type")                             \
  XX(ENOTTASK, -4001, "call requires task context")                             \
  XX(EWRONGTHREAD, -4002, "call made from a thread that does not own the run")   \
  XX(ERUNNING, -4003, "a run is already live on this thread")                   \
  XX(ENORUN, -4004, "no live run (never started, or already ended)")            \
  XX(ECLOSED, -4005, "object is closed")                                         \
  XX(EENDOFCHANNEL, -4006, "end of channel: closed and drained")               \
  XX(EABANDONED, -4007, "run was abandoned by its host")                         \
  XX(ECLOSING, -4008, "resource was closed while waiting on it")               \
  XX(EDESTROYED, -4009, "object was destroyed while waiting on it")            \
  XX(EBUSYWAIT, -4010, "another task already waits on this")                    \
  XX(ESTACKSIZE, -4011, "requested stack size is out of range")                 \
  XX(EINTERNAL, -4012, "internal error")                                        \
  XX(ENOTFOUND, -4013, "handle names no live object (it has ended)")

enum {
#define GLOOP__ERR_ENUM(name, val, msg) GLOOP_##name = (val),
  GLOOP_ERRNO_MAP(GLOOP__ERR_ENUM)
#undef GLOOP__ERR_ENUM
  GLOOP__ERR_END = 0
};

/** A short English message for an error code; never NULL. 0 gives "success",
 * other negated errno values the C library's message, anything else
 * "unknown error". Any thread. */
GLOOP_API const char *gloop_strerror(int err);
/** The code's name without the GLOOP_ prefix ("ECANCELED"); "OK" for 0 and
 * "UNKNOWN" for other codes outside the table. Any thread. */
GLOOP_API const char *gloop_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Guest runs                                                               */
/* ------------------------------------------------------------------------ */

typedef int (*gloop_task_fn)(void *arg); /**< 0 = success, <0 = GLOOP_E* or user error */
typedef void (*gloop_callback_fn)(void *arg);
typedef void (*gloop_post_fn)(gloop_callback_fn fn, void *fn_arg, void *host_data);
typedef struct gloop_outcome {
  int status;          /**< the main task's return value, or the error that ended the run */
  const char *message; /**< never NULL; valid only during the done callback */
} gloop_outcome;
typedef void (*gloop_done_fn)(const gloop_outcome *outcome, void *host_data);

/** Lua-style allocator: realloc(ptr, size); size 0 frees and returns NULL. */
typedef void *(*gloop_realloc_fn)(void *ud, void *ptr, size_t size);

typedef struct gloop_clock gloop_clock;

/** Options for gloop_start_guest_run_ex() and gloop_run(). Always fill with
 * gloop_options_init() first: fields added later get their defaults there. */
typedef struct gloop_options {
  /** Optional cheaper post used only from the host thread, for busy ticks.
   * When given, run_sync_soon_threadsafe is called only from the helper
   * thread. NULL: the threadsafe post is used for everything. */
  gloop_post_fn run_sync_soon_not_threadsafe;
  /** The clock; NULL = the system monotonic clock. A mock clock may serve one
   * live run at a time. The clock must outlive the run. */
  gloop_clock *clock;
  /** Default task stack size in bytes, rounded up to whole pages; 0 = the
   * default, GLOOP_DEFAULT_STACK_SIZE. Accepted range is
   * [GLOOP_MIN_STACK_SIZE, GLOOP_MAX_STACK_SIZE], else GLOOP_ESTACKSIZE. */
  size_t stack_size;
  /** 1 (default): a PROT_NONE guard gap of 64 KiB plus a page below each
   * stack (address space only, no memory); an overflow with frames of up to
   * 64 KiB (or any size, in code built with -fstack-clash-protection) prints
   * the task's name and aborts. 0: no guard gap (lets a process hold far more
   * tasks, but an overflow corrupts memory silently). */
  int guard_pages;
  /** Allocator for all loop memory except stacks; NULL = realloc/free. */
  gloop_realloc_fn realloc_fn;
  void *realloc_ud;
  /** How many stacks of finished tasks keep their memory for reuse within
   * the run (reuse costs no system call and no page fault); stacks freed
   * beyond this bound give their pages back to the system while the run is
   * idle. 0 = default (1024). The same bound applies to recycled task
   * records. At the run's end its stacks go to the process-wide stack cache
   * (gloop_stack_cache_limit()). */
  size_t stack_cache;
  /** Seconds a tick may keep running batches while work remains before it
   * hands control back to the host. 0 = exactly one batch per tick. Default
   * GLOOP_DEFAULT_TICK_BUDGET (0.1 ms: a host timer that falls due during a
   * tick waits at most that long, while the host's pass, about a microsecond
   * in Qt, stays about 1 % of a busy tick). */
  double tick_budget;
  /** Name of the main task; NULL = "main". Copied. */
  const char *main_name;
  /** Worker threads for gloop_to_thread(); 0 = default (16). */
  unsigned max_threads;
  /** Seconds an idle worker waits for a job before it exits; 0 = default (10),
   * INFINITY (or anything beyond GLOOP_CLOCK_MAX) = idle workers never exit
   * before the run ends. */
  double thread_idle_timeout;
  /** Guest mode, real clock: the longest the host thread may wait for a
   * deadline inside a tick. A due deadline reaches its task through the
   * helper thread and a post to the host, which takes time (tens of
   * microseconds, more under load); the run learns how long and ends the
   * helper's waits that much early, and a tick that then finds the
   * earliest deadline closer than that, with nothing else to do, waits the
   * rest polling the clock instead of returning to the host, for at most
   * this long. Timers never fire before their deadline. 0 = off (every
   * deadline goes through the helper and the host). +inf = no bound.
   * Default GLOOP_DEFAULT_TIMER_SPIN. Negative or NaN: GLOOP_EINVAL. */
  double timer_spin;
} gloop_options;

#define GLOOP_DEFAULT_STACK_SIZE ((size_t)256 * 1024)
#define GLOOP_MIN_STACK_SIZE ((size_t)16 * 1024)
#define GLOOP_MAX_STACK_SIZE ((size_t)1024 * 1024 * 1024)
#define GLOOP_DEFAULT_TICK_BUDGET 0.0001
#define GLOOP_DEFAULT_TIMER_SPIN 0.0002
/** Clock readings lie strictly between -GLOOP_CLOCK_MAX and GLOOP_CLOCK_MAX
 * seconds (about 292 years; time is kept in 64-bit nanoseconds). Durations
 * and deadlines beyond it are accepted and mean "never" (or "at once" for a
 * deadline below it). */
#define GLOOP_CLOCK_MAX 9.2e9

/** Fills *opts with defaults. Any thread. */
GLOOP_API void gloop_options_init(gloop_options *opts);

/** Starts a guest run of entry(arg) as the main task on the calling (host)
 * thread and returns after synchronous set-up: the run is live at once
 * (gloop_now(), host-side spawning), the main task has not run yet, and the
 * first tick has been posted. Later, done_cb(outcome, host_data) runs exactly
 * once on the host thread after every task has ended.
 * The host must run each posted fn(fn_arg) soon, on the host thread.
 * Errors: GLOOP_EINVAL (NULL entry, post or done_cb; a NaN or negative
 * tick_budget or thread_idle_timeout), GLOOP_ERUNNING (a run is live on this
 * thread), GLOOP_EBUSY (the mock clock serves another live run),
 * GLOOP_ENOMEM, GLOOP_EMFILE, GLOOP_ESTACKSIZE. On error nothing was
 * posted and done_cb will not be called.
 * Context: host thread, outside any task. */
GLOOP_API int gloop_start_guest_run(gloop_task_fn entry, void *arg,
                                    gloop_post_fn run_sync_soon_threadsafe,
                                    gloop_done_fn done_cb, void *host_data);

/** As gloop_start_guest_run() with options (NULL = defaults). */
GLOOP_API int gloop_start_guest_run_ex(gloop_task_fn entry, void *arg,
                                       gloop_post_fn run_sync_soon_threadsafe,
                                       gloop_done_fn done_cb, void *host_data,
                                       const gloop_options *opts);

/** Runs entry(arg) as the main task on the calling thread until every task has
 * ended (like trio.run) and returns the main task's status, or a negative
 * code if the run could not start (the errors of gloop_start_guest_run()). done_cb, if not NULL, receives the outcome (with its
 * message) just before return, as in guest mode. Context: any thread with no
 * live run, outside any task. */
GLOOP_API int gloop_run(gloop_task_fn entry, void *arg, const gloop_options *opts,
                        gloop_done_fn done_cb, void *host_data);

/** Abandons the live run on this thread at once, as a host that goes away
 * early must: tasks do not resume, their cleanup code does not run, all their
 * stacks and loop memory are freed (stacks go to the process-wide stack
 * cache, see gloop_stack_cache_limit()), the helper thread is joined, done_cb is
 * not called, and ticks already posted become no-ops. Work accepted through
 * tokens and not yet run: posts run now, in host context with no run live;
 * a thread waiting in gloop_token_call() returns GLOOP_EABANDONED; system
 * task starts cannot start (there is no run) and each is named on stderr. A
 * worker still running a gloop_to_thread() function keeps the waiting task's
 * stack until the function returns. Objects
 * (events, channels, ...) created by the user stay valid to free; other
 * calls on them return GLOOP_ENORUN. Errors: GLOOP_ENORUN (no live run on
 * this thread), GLOOP_EBUSY (called from inside a task or a tick, including a
 * post that runs as the run ends). Context: host thread. */
GLOOP_API int gloop_abandon_run(void);

/** Cancels the main task's outermost cancel scope, so the main task and every
 * task below it see GLOOP_ECANCELED at their next unshielded checkpoint and
 * the run winds down. Idempotent. Errors: GLOOP_ENORUN. Context: host thread
 * or task context. */
GLOOP_API int gloop_cancel_run(void);

/** Opt-in Ctrl-C handling: installs a SIGINT handler for the life of the live
 * run that turns the first SIGINT into gloop_cancel_run(), delivered at the
 * main task's next checkpoint, so the program can shut down cleanly; the
 * outcome's message then says so ("cancelled by SIGINT (Ctrl-C)"). If the
 * run had already failed when the SIGINT came (cleanup kept it alive), the
 * failure stays the outcome and its message ends with "; then interrupted by
 * SIGINT (Ctrl-C)". A second SIGINT before the run ends gets
 * the previous disposition (by default: the process dies). The previous
 * handler is restored when the run ends. The library installs no SIGINT
 * handler unless asked. Errors: GLOOP_ENORUN, GLOOP_EBUSY (another live run
 * in this process has it), GLOOP_EINTERNAL (sigaction failed). Context: host
 * or task context of the run. */
GLOOP_API int gloop_cancel_on_sigint(void);

/** 1 if a run is live on the calling thread, else 0. Any thread. */
GLOOP_API int gloop_in_run(void);

/** Current time of the live run's clock, in seconds. NaN if no run is live on
 * this thread. Context: task or host context. */
GLOOP_API double gloop_now(void);

/* ------------------------------------------------------------------------ */
/* The process-wide stack cache                                             */
/* ------------------------------------------------------------------------ */

/** Default bound of the process-wide stack cache, in stacks. */
#define GLOOP_DEFAULT_STACK_CACHE_LIMIT ((size_t)4096)

/** Task stacks of the runs' default size are mapped 64 at a time ("slabs").
 * When a run ends (or is abandoned), each slab whose stacks are all free
 * goes to a cache shared by all runs of the process, up to a bound, and a
 * later run with the same stack size and guard_pages setting, on any
 * thread, takes its stacks from there: no mapping, no guard-gap system call
 * and no page fault for a stack an earlier run used. A cached stack keeps
 * at most its top 8 KiB resident (the rest goes back to the system as it
 * enters), so the cache holds at most limit x 8 KiB of memory, plus
 * address space (NORESERVE) and, with guard pages, two memory mappings per
 * stack. Stacks of other sizes (gloop_nursery_start_ex()) are never cached.
 * The cache's mappings go with the process; gloop_stack_cache_release()
 * gives them back earlier.
 *
 * Sets the bound to max_stacks (counted in whole slabs of 64: a slab enters
 * only if the cache then holds at most max_stacks stacks) and unmaps the
 * cached slabs beyond it now. 0 turns the cache off (every run then unmaps
 * its stacks at its end, as without a cache); SIZE_MAX removes the bound.
 * Default GLOOP_DEFAULT_STACK_CACHE_LIMIT. Stacks in use by live runs are
 * not affected. Returns 0 (it cannot fail). Context: any thread, any time,
 * also during a run; not from a signal handler. */
GLOOP_API int gloop_stack_cache_limit(size_t max_stacks);

/** Unmaps every stack in the process-wide cache now (the bound stays).
 * Useful before measuring a process's mappings or memory, or when a
 * program that ran many tasks is done with them for good. Returns 0 (it
 * cannot fail). Context: any thread, any time; not from a signal handler. */
GLOOP_API int gloop_stack_cache_release(void);

/** What the process-wide stack cache holds. */
typedef struct gloop_stack_cache_info {
  size_t stacks;             /**< stacks in the cache now */
  size_t limit;              /**< its bound (gloop_stack_cache_limit()) */
  unsigned long long reused; /**< stacks that runs took from the cache, used by an
                                  earlier run, since the process started */
} gloop_stack_cache_info;

/** Fills *out. Errors: GLOOP_EINVAL (out is NULL). Context: any thread, any
 * time; not from a signal handler. */
GLOOP_API int gloop_stack_cache_get_info(gloop_stack_cache_info *out);

/* ------------------------------------------------------------------------ */
/* Clocks                                                                   */
/* ------------------------------------------------------------------------ */

/** A mock clock starting at `start` seconds that only moves when told to or by
 * autojump: with autojump_threshold >= 0, when every task has been blocked
 * for that many real seconds, the clock jumps to the next deadline (0 = jump
 * as soon as the run is idle; this makes a 120 s sleep instant). Use
 * INFINITY to disable autojump. Errors: GLOOP_EINVAL (NaN or negative
 * threshold, start NaN or not strictly inside ±GLOOP_CLOCK_MAX),
 * GLOOP_ENOMEM. Any thread. */
GLOOP_API int gloop_mock_clock_new(double start, double autojump_threshold,
                                   gloop_clock **out);
/** Moves a mock clock forward by `seconds` (>= 0) and wakes its run so due
 * timers fire. Errors: GLOOP_EINVAL (negative/NaN, not a mock clock, or a
 * jump that would take the clock to GLOOP_CLOCK_MAX or beyond; the clock is
 * then unchanged). A mock clock never runs backwards.
 * Context: the host thread of the run using it, or any thread if unused. */
GLOOP_API int gloop_mock_clock_jump(gloop_clock *clock, double seconds);
/** Changes the autojump threshold; wakes the run using the clock. */
GLOOP_API int gloop_mock_clock_set_autojump(gloop_clock *clock, double threshold);
/** Reads a clock (mock or system). */
GLOOP_API double gloop_clock_now(const gloop_clock *clock);
/** Frees a clock not in use by a live run (GLOOP_EBUSY otherwise). */
GLOOP_API int gloop_clock_free(gloop_clock *clock);

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct gloop_task gloop_task;

/** Sleeps for `seconds` (>= 0; 0 is a checkpoint). Returns 0, or
 * GLOOP_ECANCELED if an enclosing scope is cancelled, or GLOOP_EINVAL for a
 * negative or NaN duration. Context: task. */
GLOOP_API int gloop_sleep(double seconds);
/** Sleeps until the clock reads `deadline` (a past deadline is a checkpoint).
 * Errors as gloop_sleep(). Context: task. */
GLOOP_API int gloop_sleep_until(double deadline);
/** Sleeps until cancelled; always returns GLOOP_ECANCELED (or ENOTTASK). */
GLOOP_API int gloop_sleep_forever(void);
/** A checkpoint: yields to the other ready tasks, then returns 0, or
 * GLOOP_ECANCELED if an enclosing scope is cancelled. Context: task. */
GLOOP_API int gloop_checkpoint(void);
/** The running task, or NULL outside task context. */
GLOOP_API gloop_task *gloop_current_task(void);
/** A task's name (never NULL). The handle is valid until the task ends. */
GLOOP_API const char *gloop_task_name(const gloop_task *task);
/** Records a message for the error this task is about to return, and returns
 * `err` so a task can write `return gloop_fail(GLOOP_EINVAL, "bad %s", x);`.
 * The message is shown by the nursery/outcome that reports the failure.
 * Context: task (elsewhere it only returns err). */
GLOOP_API int gloop_fail(int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ------------------------------------------------------------------------ */
/* Nurseries                                                                */
/* ------------------------------------------------------------------------ */

typedef struct gloop_nursery gloop_nursery;

/** Opens a nursery owned by the current task. The nursery has its own cancel
 * scope that also covers the owner's code until close. A task that returns
 * with nurseries or scopes still open has them cancelled and closed before it
 * ends (its children finish first), and then ends with GLOOP_EINVAL and a
 * message saying so, unless it had already failed. Errors: GLOOP_ENOTTASK,
 * GLOOP_ENOMEM, GLOOP_EINVAL (out NULL). Context: task. */
GLOOP_API int gloop_nursery_open(gloop_nursery **out);
/** Starts fn(arg) as a child task of the nursery. name may be NULL (then
 * "task-N"); it is copied (first 31 bytes). If out is not NULL it receives
 * the task handle, valid until the task ends. The child runs in a later
 * batch. A closing nursery (its owner waits in gloop_nursery_close()) still
 * accepts children while one of its children lives, as in Trio.
 * Errors: GLOOP_EINVAL (NULL nursery/fn), GLOOP_ESTACKSIZE (stack_size out
 * of range), GLOOP_ECLOSED (the nursery is closing and its last child has
 * already ended), GLOOP_ENOMEM (also when guard pages
 * have used up the process's memory-mapping limit, vm.max_map_count, which
 * only kernels without guard markers (Linux before 6.13) can reach: the
 * message from gloop_last_message() then names the limit and the
 * guard_pages option), GLOOP_ENORUN, GLOOP_EWRONGTHREAD. Context: task, or host context (wakes the guest). */
GLOOP_API int gloop_nursery_start(gloop_nursery *nursery, gloop_task_fn fn, void *arg,
                                  const char *name, gloop_task **out);
/** As gloop_nursery_start() with an explicit stack size (0 = run default). */
GLOOP_API int gloop_nursery_start_ex(gloop_nursery *nursery, gloop_task_fn fn, void *arg,
                                     const char *name, size_t stack_size,
                                     gloop_task **out);
/** The ref of the nursery's cancel scope (see "Host-safe handles" below):
 * gloop_scope_ref_cancel() on it is gloop_nursery_cancel(), and it returns
 * GLOOP_ENOTFOUND once the nursery has closed. Errors: GLOOP_EINVAL (NULL
 * nursery or out), GLOOP_ENORUN, GLOOP_EWRONGTHREAD, GLOOP_ENOMEM.
 * Context: task or host context of the nursery's run. */
struct gloop_scope_ref;
GLOOP_API int gloop_nursery_get_ref(gloop_nursery *nursery, struct gloop_scope_ref *out);
/** Cancels every task in the nursery (and the owner's code inside it). */
GLOOP_API int gloop_nursery_cancel(gloop_nursery *nursery);
/** Waits for every child to end, then frees the nursery. Returns 0, or the
 * status of the first child that failed (its siblings were cancelled when it
 * failed; its message is available from gloop_last_message()). Not itself cancellable: when the enclosing scope is
 * cancelled, the children are cancelled and close still waits for them.
 * Errors: GLOOP_EINVAL (NULL, or not the owning task). Context: the owner task. */
GLOOP_API int gloop_nursery_close(gloop_nursery *nursery);
/** The message that goes with the last failure the calling thread received
 * from gloop_nursery_close(), gloop_nursery_start() or gloop_scope_close();
 * "" if none. Any thread; valid until the next such call on this thread. */
GLOOP_API const char *gloop_last_message(void);

/* ------------------------------------------------------------------------ */
/* Cancel scopes                                                            */
/* ------------------------------------------------------------------------ */

typedef struct gloop_scope gloop_scope;

enum {
  GLOOP_SCOPE_SHIELD = 1,    /**< cancellation from outside does not reach inside */
  GLOOP_SCOPE_FAIL = 2       /* close returns GLOOP_ETIMEDOUT if the deadline fired */
};

/** Opens a cancel scope in the current task with an absolute deadline
 * (INFINITY = none) and GLOOP_SCOPE_* flags; a deadline at or before now
 * (-INFINITY included) cancels the scope as it opens, as in Trio. Scopes nest
 * and close in reverse order. Errors: GLOOP_ENOTTASK, GLOOP_EINVAL (NaN deadline, bad flags, NULL
 * out), GLOOP_ENOMEM. Context: task. */
GLOOP_API int gloop_scope_open(double deadline, int flags, gloop_scope **out);
/** Trio's move_on_after / fail_after: a scope with deadline now + seconds. */
GLOOP_API int gloop_move_on_after(double seconds, gloop_scope **out);
GLOOP_API int gloop_fail_after(double seconds, gloop_scope **out);
/** Closes and frees the innermost scope of the current task. Returns 0, or
 * GLOOP_ETIMEDOUT for a GLOOP_SCOPE_FAIL scope whose deadline fired.
 * Errors: GLOOP_EINVAL (not the innermost open scope of this task). */
GLOOP_API int gloop_scope_close(gloop_scope *scope);
/** Cancels the scope: blocked calls inside return GLOOP_ECANCELED now, later
 * ones at once, until the scope closes. Context: task or host. */
GLOOP_API int gloop_scope_cancel(gloop_scope *scope);
/** Moves the deadline (earlier or later; INFINITY = none; at or before now:
 * cancels at once). Context: task or host. */
GLOOP_API int gloop_scope_set_deadline(gloop_scope *scope, double deadline);
GLOOP_API double gloop_scope_deadline(const gloop_scope *scope);
/** Turns the shield on or off. Context: task or host. */
GLOOP_API int gloop_scope_set_shield(gloop_scope *scope, int shield);
/** 1 if the scope has been cancelled (by call or deadline). */
GLOOP_API int gloop_scope_cancel_called(const gloop_scope *scope);
/** 1 if a blocking call inside the scope returned GLOOP_ECANCELED because of
 * this scope (Trio's cancelled_caught). */
GLOOP_API int gloop_scope_cancelled_caught(const gloop_scope *scope);

/* ------------------------------------------------------------------------ */
/* Host-safe handles                                                        */
/* ------------------------------------------------------------------------ */
/* A gloop_scope, gloop_task or gloop_event pointer dies with its object; a
 * *ref* does not. A ref is a small value (copy it freely, store it in a
 * widget's data) resolved through a per-run table with generation counters:
 * once the scope closes, the task ends or the event is freed, every call
 * through the ref returns GLOOP_ENOTFOUND, and once the run has ended,
 * GLOOP_ENORUN; it never touches freed memory. A run makes table entries
 * only for objects whose ref is asked for. Refs name objects of the run
 * live on the calling thread; from another thread use the gloop_token_*
 * calls below. A zero-initialised ref ({0}) is the null ref: GLOOP_EINVAL.
 * The fields are opaque. */

/** A host-safe handle to a cancel scope. */
typedef struct gloop_scope_ref {
  uint64_t run_, id_;
} gloop_scope_ref;
/** A host-safe handle to a task. */
typedef struct gloop_task_ref {
  uint64_t run_, id_;
} gloop_task_ref;
/** A host-safe handle to an event. */
typedef struct gloop_event_ref {
  uint64_t run_, id_;
} gloop_event_ref;

/** The ref of an open scope (the same value on every call for that scope).
 * Errors: GLOOP_EINVAL (NULL scope or out), GLOOP_ENORUN, GLOOP_EWRONGTHREAD,
 * GLOOP_ENOMEM (the first ref of a scope takes a table entry).
 * Context: task or host context of the scope's run. */
GLOOP_API int gloop_scope_get_ref(gloop_scope *scope, gloop_scope_ref *out);
/** Cancels the scope the ref names, as gloop_scope_cancel(). Idempotent.
 * Errors: GLOOP_EINVAL (null ref), GLOOP_ENOTFOUND (the scope has closed),
 * GLOOP_ENORUN (its run has ended, or none is live here),
 * GLOOP_EWRONGTHREAD (its run lives on another thread: use
 * gloop_token_cancel_scope()). Context: task or host context of the run,
 * the done callback included (there: GLOOP_ENORUN). */
GLOOP_API int gloop_scope_ref_cancel(gloop_scope_ref ref);

/** The ref of a task that has not ended (the same value on every call).
 * Errors: GLOOP_EINVAL (NULL task or out), GLOOP_ENOTFOUND (the main task
 * after it returned; other task handles are invalid once the task ends),
 * GLOOP_ENORUN, GLOOP_EWRONGTHREAD, GLOOP_ENOMEM. Context: task or host
 * context of the task's run. */
GLOOP_API int gloop_task_get_ref(gloop_task *task, gloop_task_ref *out);
/** Cancels the task: it behaves as if wrapped in one more cancel scope just
 * outside its own scopes and nurseries, and that scope were cancelled. The
 * task, and every child of its nurseries, see GLOOP_ECANCELED at their next
 * checkpoint (a blocked one wakes now), except behind a shield the task
 * opened; other tasks of the same nursery are not affected, and the
 * nursery does not count the task's GLOOP_ECANCELED as a failure.
 * Idempotent. Errors: GLOOP_EINVAL (null ref), GLOOP_ENOTFOUND (the task
 * has ended), GLOOP_ENORUN, GLOOP_EWRONGTHREAD (use
 * gloop_token_cancel_task()). Context: task or host context of the run. */
GLOOP_API int gloop_task_ref_cancel(gloop_task_ref ref);

/* ------------------------------------------------------------------------ */
/* Events, semaphores, locks, channels                                      */
/* ------------------------------------------------------------------------ */
/* These objects belong to the run live on the creating thread and are
 * created from task or host context of that run. They can be freed at any
 * time from that thread, also after the run ended; freeing one that tasks
 * still wait on wakes them with GLOOP_EDESTROYED, and freeing an event
 * makes its ref (gloop_event_get_ref()) return GLOOP_ENOTFOUND. Freed from
 * another thread while its run lives, an object that tasks wait on (or an
 * event that has a ref) is leaked with a message on stderr instead. */

typedef struct gloop_event gloop_event;
GLOOP_API int gloop_event_new(gloop_event **out);
GLOOP_API void gloop_event_free(gloop_event *ev);
/** Sets the event and wakes every waiter. Idempotent. Task or host context. */
GLOOP_API int gloop_event_set(gloop_event *ev);
GLOOP_API int gloop_event_is_set(const gloop_event *ev);
/** Waits until set: 0, GLOOP_ECANCELED, GLOOP_EDESTROYED. Task context. */
GLOOP_API int gloop_event_wait(gloop_event *ev);
/** Clears a set event, so that it can be set again and later waits block
 * until then: a reusable wake-up. Waiters woken by the last set still
 * return 0 (they were released when it was set). Clearing a clear event is
 * a no-op. Errors: GLOOP_EINVAL (NULL), GLOOP_ENORUN (the event's run has
 * ended), GLOOP_EWRONGTHREAD. Task or host context. */
GLOOP_API int gloop_event_clear(gloop_event *ev);
/** The ref of an event (the same value on every call); it stops resolving
 * when the event is freed. Errors: GLOOP_EINVAL, GLOOP_ENORUN,
 * GLOOP_EWRONGTHREAD, GLOOP_ENOMEM. Task or host context of its run. */
GLOOP_API int gloop_event_get_ref(gloop_event *ev, gloop_event_ref *out);
/** Sets the event the ref names, as gloop_event_set(). Errors: GLOOP_EINVAL
 * (null ref), GLOOP_ENOTFOUND (the event was freed), GLOOP_ENORUN,
 * GLOOP_EWRONGTHREAD (use gloop_token_set_event()). Task or host context. */
GLOOP_API int gloop_event_ref_set(gloop_event_ref ref);

typedef struct gloop_semaphore gloop_semaphore;
/** initial >= 0; max_value 0 = unbounded, else releasing past it gives GLOOP_EBUSY. */
GLOOP_API int gloop_semaphore_new(unsigned initial, unsigned max_value, gloop_semaphore **out);
GLOOP_API void gloop_semaphore_free(gloop_semaphore *sem);
/** Takes one unit, waiting FIFO if none: 0, GLOOP_ECANCELED, GLOOP_EDESTROYED. Task. */
GLOOP_API int gloop_semaphore_acquire(gloop_semaphore *sem);
/** Gives one unit back (wakes the first waiter). Errors: GLOOP_EBUSY (at
 * max_value), GLOOP_EOVERFLOW (unbounded and already at UINT_MAX); the value
 * is then unchanged. Task or host context. */
GLOOP_API int gloop_semaphore_release(gloop_semaphore *sem);
GLOOP_API unsigned gloop_semaphore_value(const gloop_semaphore *sem);

typedef struct gloop_lock gloop_lock;
GLOOP_API int gloop_lock_new(gloop_lock **out);
GLOOP_API void gloop_lock_free(gloop_lock *lock);
/** FIFO fair: 0, GLOOP_ECANCELED, GLOOP_EDESTROYED, GLOOP_EBUSY if the
 * calling task already holds it. Task context. */
GLOOP_API int gloop_lock_acquire(gloop_lock *lock);
/** Hands the lock to the first waiter. GLOOP_EPERM unless the calling task
 * holds it; GLOOP_ENOTTASK outside a task. Task context. */
GLOOP_API int gloop_lock_release(gloop_lock *lock);

typedef struct gloop_channel gloop_channel;
/** A bounded FIFO of elements of elem_size bytes (> 0), copied in and out.
 * capacity 0 makes every send wait for a receiver (rendezvous). */
GLOOP_API int gloop_channel_new(size_t capacity, size_t elem_size, gloop_channel **out);
GLOOP_API void gloop_channel_free(gloop_channel *ch);
/** Sends a copy of *elem, waiting while full: 0, GLOOP_ECLOSED (closed, also
 * while waiting), GLOOP_ECANCELED, GLOOP_EDESTROYED. Task context. */
GLOOP_API int gloop_channel_send(gloop_channel *ch, const void *elem);
/** Non-blocking send: GLOOP_EAGAIN when full. Task or host context. */
GLOOP_API int gloop_channel_try_send(gloop_channel *ch, const void *elem);
/** Receives into *elem, waiting while empty: 0, GLOOP_EENDOFCHANNEL (closed
 * and drained), GLOOP_ECANCELED, GLOOP_EDESTROYED. Task context. */
GLOOP_API int gloop_channel_receive(gloop_channel *ch, void *elem);
/** Non-blocking receive: GLOOP_EAGAIN when empty. Task or host context. */
GLOOP_API int gloop_channel_try_receive(gloop_channel *ch, void *elem);
/** Closes the channel: waiting senders get GLOOP_ECLOSED; receivers drain what
 * is buffered, then get GLOOP_EENDOFCHANNEL. A second close gives
 * GLOOP_ECLOSED. Task or host context. */
GLOOP_API int gloop_channel_close(gloop_channel *ch);
GLOOP_API size_t gloop_channel_size(const gloop_channel *ch);

/* ------------------------------------------------------------------------ */
/* Timers (callbacks on the host thread, outside tasks)                    */
/* ------------------------------------------------------------------------ */

/** A timer belongs to no run until it is started; each start binds it to the
 * run live on the calling thread. Errors of every timer call on NULL:
 * GLOOP_EINVAL. */
typedef struct gloop_timer gloop_timer;
/** Any thread, with or without a run. */
GLOOP_API int gloop_timer_new(gloop_timer **out);
/** Stops and frees. */
GLOOP_API void gloop_timer_free(gloop_timer *timer);
/** (Re)arms the timer to call cb(data) once, `delay` seconds from now, during
 * a tick, on the host thread, outside any task. Timers with equal deadlines
 * fire in the order they were started. Errors: GLOOP_EINVAL (NULL, negative or
 * NaN delay), GLOOP_ENORUN. Task or host context. */
GLOOP_API int gloop_timer_start(gloop_timer *timer, double delay,
                                gloop_callback_fn cb, void *data);
/** Stops the timer if armed; 0 either way. */
GLOOP_API int gloop_timer_stop(gloop_timer *timer);
GLOOP_API int gloop_timer_active(const gloop_timer *timer);

/* ------------------------------------------------------------------------ */
/* File descriptors and I/O                                                 */
/* ------------------------------------------------------------------------ */
/* A task waits for readiness without blocking the host: in guest mode the
 * helper thread's epoll watches the fd and the wake-up comes with the next
 * tick; in a standalone run the calling thread waits directly. Deadlines
 * come from cancel scopes. At most one task may wait for each direction of
 * an fd. Before closing an fd that tasks may be waiting on, call
 * gloop_notify_closing(). */

/** Waits until fd is readable / writable (or has an error or hang-up
 * pending). Returns 0, GLOOP_ECANCELED, GLOOP_EBADF (not an open fd),
 * GLOOP_EPERM (an fd epoll cannot watch, such as a regular file),
 * GLOOP_EBUSYWAIT (another task already waits for that direction),
 * GLOOP_ECLOSING (gloop_notify_closing() was called meanwhile),
 * GLOOP_EINVAL (negative fd), GLOOP_ENOMEM. Context: task. */
GLOOP_API int gloop_wait_readable(int fd);
GLOOP_API int gloop_wait_writable(int fd);
/** Wakes the tasks waiting on fd with GLOOP_ECLOSING and forgets the fd, so
 * it can be closed safely. 0 even if nobody waits. Errors: GLOOP_EINVAL
 * (negative fd), GLOOP_ENORUN, GLOOP_EWRONGTHREAD. Context: task or host. */
GLOOP_API int gloop_notify_closing(int fd);

/* The helpers below put fd into non-blocking mode on first use (as libuv
 * does), retry on EINTR, wait on EAGAIN, and never block the host thread.
 * OS errors come back as negated errno values (GLOOP_EBADF, GLOOP_EPIPE,
 * GLOOP_ECONNRESET, ...), plus GLOOP_ECANCELED and the wait errors above.
 * Context: task. */

/** Reads at most len bytes: returns the count, 0 at end of file, or < 0. */
GLOOP_API long gloop_read_some(int fd, void *buf, size_t len);
/** Writes all len bytes, across short writes: 0 or < 0. *written (if not
 * NULL) receives the bytes written even on error. Never raises SIGPIPE on
 * sockets (a closed peer gives GLOOP_EPIPE). */
GLOOP_API int gloop_write_all(int fd, const void *buf, size_t len, size_t *written);
/** Accepts a connection: returns the new fd (non-blocking, close-on-exec),
 * or < 0 (GLOOP_EMFILE when out of fds: the listener stays usable). */
struct sockaddr;
GLOOP_API int gloop_accept(int listen_fd, struct sockaddr *addr, unsigned *addrlen);
/** Connects fd: 0 or < 0 (GLOOP_ECONNREFUSED, ...); a timeout is a cancel
 * scope around the call. */
GLOOP_API int gloop_connect(int fd, const struct sockaddr *addr, unsigned addrlen);

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

/** A token lets any thread reach a live run. It stays valid to use (and must
 * be freed) after the run ends; calls then return GLOOP_ENORUN. Several
 * threads may use one token at once: they take turns (each call holds it for
 * a few dozen instructions, never while user code runs), and each thread's
 * posts, starts and calls run in the order that thread made them. */
typedef struct gloop_token gloop_token;
typedef void *(*gloop_work_fn)(void *arg);

/** A new token for the run live on this thread. Errors: GLOOP_EINVAL,
 * GLOOP_ENORUN, GLOOP_ENOMEM. Context: task or host. */
GLOOP_API int gloop_token_new(gloop_token **out);
/** Any thread. */
GLOOP_API void gloop_token_free(gloop_token *token);
/** Schedules fn(data) to run on the host thread, between batches, in host
 * context. Posts are never lost: once this returns 0, fn runs exactly once,
 * in the live run, before its done callback (or, if the host abandons the
 * run first, during gloop_abandon_run()). Posts from one thread run in the
 * order they were made; a burst wakes an idle run once. The run's end: once
 * its last task has exited, the token closes (later posts, starts and calls
 * get GLOOP_ENORUN) and what it accepted runs, still in the live run. Errors:
 * GLOOP_EINVAL, GLOOP_ENORUN (the run has ended: fn is not called),
 * GLOOP_ENOMEM. Any thread. */
GLOOP_API int gloop_token_post(gloop_token *token, gloop_callback_fn fn, void *data);
/** Starts fn(arg) as a system task of the run, from any thread: system tasks
 * live beside the main task, are cancelled when the main task ends, and a
 * failing one cancels the main task and becomes the run's outcome (if the
 * main task succeeded). Once this returns 0 the task runs, even if the main
 * task has ended meanwhile (it then sees GLOOP_ECANCELED at its first
 * checkpoint, and the run waits for it). Only an abandon can keep it from
 * starting (there is no run left); gloop_abandon_run() then names it on
 * stderr. Errors: as gloop_token_post. Any thread. */
GLOOP_API int gloop_token_start(gloop_token *token, gloop_task_fn fn, void *arg,
                                const char *name);
/** Runs fn(arg) on the host thread (as gloop_token_post) and waits for it to
 * return; *result (if not NULL) receives its value. Trio's
 * from_thread.run_sync. Needs no allocation: the request lives on the
 * caller's stack while it waits. Errors: GLOOP_EINVAL, GLOOP_ENORUN, GLOOP_EBUSY
 * (called on the run's own host thread, where it would deadlock),
 * GLOOP_EABANDONED (the host abandoned the run before fn ran; fn does not
 * run and *result is set to NULL). Any thread other than the host thread. */
GLOOP_API int gloop_token_call(gloop_token *token, gloop_work_fn fn, void *arg, void **result);

/** From any thread: asks the token's run to cancel the scope that the ref
 * names (the two calls below do the same for a task and for an event). The
 * request travels as a gloop_token_post() and is carried out on the host
 * thread, in order with the calling thread's other posts; if the object has
 * ended by then (or the ref belongs to another run), nothing happens. The
 * outcome is not reported: to learn it, call gloop_scope_ref_cancel()
 * inside a gloop_token_call() function instead. A request accepted before
 * the host abandons the run does nothing and frees itself. Errors: GLOOP_EINVAL (NULL token,
 * null ref), GLOOP_ENORUN (the token's run has ended), GLOOP_ENOMEM. Any
 * thread, the host thread included. */
GLOOP_API int gloop_token_cancel_scope(gloop_token *token, gloop_scope_ref ref);
/** As gloop_token_cancel_scope(), for a task: on the host thread it does
 * gloop_task_ref_cancel(ref). Errors and context the same. */
GLOOP_API int gloop_token_cancel_task(gloop_token *token, gloop_task_ref ref);
/** As gloop_token_cancel_scope(), for an event: on the host thread it does
 * gloop_event_ref_set(ref). Errors and context the same. */
GLOOP_API int gloop_token_set_event(gloop_token *token, gloop_event_ref ref);

enum {
  /** On cancellation the task stops waiting at once with GLOOP_ECANCELED; the
   * function keeps running on its worker and its result is discarded. */
  GLOOP_THREAD_ABANDON_ON_CANCEL = 1
};
/** Runs fn(arg) on a worker of the run's thread pool and waits for its
 * return value (*result, if not NULL). Without
 * GLOOP_THREAD_ABANDON_ON_CANCEL, the task keeps waiting when cancelled
 * until fn returns (the result is then still stored, and GLOOP_ECANCELED
 * returned); fn learns of the cancellation through
 * gloop_thread_check_cancelled() or gloop_thread_cancel_fd() and may return
 * early.
 * The pool holds at most gloop_options.max_threads workers; jobs beyond
 * that queue FIFO. Idle workers exit after thread_idle_timeout seconds. At
 * the end of the run idle workers exit; a worker still running an abandoned
 * function finishes it on its own, then exits. If the host abandons the run
 * while fn runs, the waiting task's stack stays mapped until fn returns, so
 * an arg on that stack stays valid. Errors: GLOOP_EINVAL,
 * GLOOP_ECANCELED, GLOOP_ENOMEM (no worker could be created). Context: task. */
GLOOP_API int gloop_to_thread(gloop_work_fn fn, void *arg, int flags, void **result);
/** Inside a gloop_to_thread() job, on its worker thread: 0 while the task
 * waiting for the job still wants its result; GLOOP_ECANCELED once a scope
 * around that task has been cancelled (a deadline, a Cancel button, the run
 * being cancelled or abandoned, Ctrl-C), so a long job can stop early and
 * return what it has: the task then returns GLOOP_ECANCELED (its *result
 * still gets fn's return value). Also GLOOP_ECANCELED for a job abandoned
 * by GLOOP_THREAD_ABANDON_ON_CANCEL. Stays GLOOP_ECANCELED once returned.
 * Cheap (one atomic load): call it as often as needed. Trio's
 * from_thread.check_cancelled(). Errors: GLOOP_EWRONGTHREAD (not called
 * from inside a job's fn). Context: worker thread, inside fn. */
GLOOP_API int gloop_thread_check_cancelled(void);
/** Inside a gloop_to_thread() job: a file descriptor that becomes readable
 * when gloop_thread_check_cancelled() turns to GLOOP_ECANCELED, for a job
 * that blocks in poll(), select() or epoll and wants to be woken instead of
 * polling. Made on the first call in a job (the same fd on later calls),
 * owned by the library: do not read, write or close it; it is valid until
 * fn returns. Returns the fd (>= 0), or GLOOP_EWRONGTHREAD (not inside a
 * job's fn), GLOOP_EMFILE, GLOOP_ENOMEM. Context: worker thread, inside fn. */
GLOOP_API int gloop_thread_cancel_fd(void);

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

/** GLOOP_VERSION_HEX of the library actually loaded. Any thread. */
GLOOP_API unsigned gloop_version(void);
GLOOP_API const char *gloop_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* GUESTLOOP_H */

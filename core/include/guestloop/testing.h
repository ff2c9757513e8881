/* testing.h - fault injection for testing code built on libguestloop.
 *
 * Not for production use: these calls let a test make the library's own
 * resource acquisitions fail, one at a time, to prove that every failure
 * surfaces as an error code (GLOOP_ENOMEM or the documented code) and leaks
 * nothing. They are process-wide and thread-safe.
 */
#ifndef GUESTLOOP_TESTING_H
#define GUESTLOOP_TESTING_H

#include "guestloop/guestloop.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  GLOOP_FAULT_MEMORY = 1, /**< heap allocations (also through a custom allocator) */
  GLOOP_FAULT_STACK = 2,  /**< task stack mappings */
  GLOOP_FAULT_THREAD = 4, /**< helper and worker thread creation */
  GLOOP_FAULT_FD = 8,     /**< eventfd / epoll creation */
  GLOOP_FAULT_ALL = 15
};

/** From now on, counts the acquisitions of the given kinds, and makes the one
 * numbered `n` (0 = the next) fail; with `persistent`, every later one fails
 * too. n < 0 turns injection off. Any thread. */
GLOOP_API void gloop_fault_inject(long n, int kinds, int persistent);
/** How many acquisitions of the armed kinds were counted since the last
 * gloop_fault_inject() call: run a scenario once with n = LONG_MAX to learn
 * how many N values to try. Any thread. */
GLOOP_API long gloop_fault_count(void);

/** How many times the token has been put on its run's entry queue since it
 * was created: once per burst of posts (a post that finds it queued already
 * queues nothing), plus once more whenever the host stops draining it at its
 * per-drain limit. For tests of that coalescing; 0 for NULL. Any thread. */
GLOOP_API unsigned long gloop_token_times_queued(const gloop_token *token);
/** Test hook: how the live guest run on this thread meets deadlines
 * (gloop_options.timer_spin): the wake-up lead it has learned, in seconds,
 * and how many ticks waited for a deadline on the host thread. Either
 * pointer may be NULL. Errors: GLOOP_ENORUN. Context: task or host context
 * of the run. */
GLOOP_API int gloop_timer_spin_info(double *wake_lead, unsigned long *spins);
/** Test hook: sets the live run's learned wake-up lead (seconds; the run
 * goes on learning from there), so a test can make the helper thread's
 * waits end well before their deadlines. Errors: GLOOP_EINVAL (NaN or
 * negative), GLOOP_ENORUN. Context: task or host context of the run. */
GLOOP_API int gloop_timer_spin_set_lead(double wake_lead);
/** Test hook: counters of the live run on this thread (gloop_run() or a
 * guest run), for tests of the scheduler's fast paths. `steps`: how many
 * times a task was resumed. `handoffs`: how many of those resumes were a
 * suspending task handing over directly to the next task of its batch
 * rather than a switch through the scheduler. `cancel_walks`: how many
 * times a cancellation check walked the task's scope chain instead of
 * answering from what it found last time. Any pointer may be NULL. Errors:
 * GLOOP_ENORUN. Context: task or host context of the run. */
GLOOP_API int gloop_sched_info(unsigned long *steps, unsigned long *handoffs,
                               unsigned long *cancel_walks);

#ifdef __cplusplus
}
#endif

#endif

/* host_toy.h - the smallest possible C host loop, for driving guest runs in tests. */
#ifndef GLOOP_HOST_TOY_H
#define GLOOP_HOST_TOY_H

#include "guestloop/guestloop.h"

/* The toy host is one process-wide FIFO of (fn, arg) callbacks, protected by
 * a mutex and a condition variable, plus a short list of host-side calls the
 * test schedules "between ticks". The thread that calls host_toy_init() is
 * the host thread; every host_toy_* function except the two posts must be
 * called on it.
 *
 * It polices the guest-mode contract as it goes and fails the test at once
 * when the guest breaks it:
 *  - the threadsafe post is called from the host thread while the run was
 *    given a not-threadsafe post (the header promises it is then used only
 *    from the helper thread);
 *  - the not-threadsafe post is called from any other thread;
 *  - a post arrives after host_toy_fini(). */

typedef struct host_toy_stats {
  unsigned long threadsafe_posts;        /* every call of the threadsafe post */
  unsigned long threadsafe_on_host;      /* ... of which made on the host thread */
  unsigned long not_threadsafe_posts;    /* every call of the not-threadsafe post */
  unsigned long callbacks_run;           /* guest callbacks the host has run */
  unsigned long posts_after_done;        /* posts of either kind after done_cb */
  int done_calls;                        /* times done_cb ran */
  int done_off_host;                     /* ... of which not on the host thread */
  int done_in_task;                      /* ... of which with a current task */
  int done_status;                       /* outcome->status of the last done_cb */
  int done_message_null;                 /* 1 if outcome->message was NULL */
  char done_message[512];                /* a copy of outcome->message */
  void *done_host_data;                  /* host_data given to done_cb */
  void *post_host_data;                  /* host_data given to the last post */
} host_toy_stats;

/* The host_data that host_toy_start() gives the run. */
#define HOST_TOY_DATA ((void *)host_toy_post_threadsafe)

/* Resets the toy (counters, queue, scheduled calls) and makes the calling
 * thread the host thread. The queue must be empty. */
void host_toy_init(void);
/* Checks that no callback is left queued (fails the test otherwise), and
 * forgets everything scheduled. */
void host_toy_fini(void);

/* Starts a guest run hosted by the toy, with the toy's posts and done
 * callback and HOST_TOY_DATA. opts may be NULL. With use_not_threadsafe the
 * run also gets the toy's not-threadsafe post. Returns what
 * gloop_start_guest_run_ex() returned. */
int host_toy_start(gloop_task_fn entry, void *arg, const gloop_options *opts,
                   int use_not_threadsafe);

/* The toy's hooks, for tests that call gloop_start_guest_run*() themselves.
 * Such a run counts as having no not-threadsafe post unless
 * host_toy_expect_not_threadsafe(1) is called first. */
void host_toy_post_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data);
void host_toy_post_not_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data);
void host_toy_done(const gloop_outcome *outcome, void *host_data);
void host_toy_expect_not_threadsafe(int given);

/* Schedules fn(arg) to run on the host thread, outside any guest callback,
 * `delay` real seconds from now (host_toy_call_later) or as soon as
 * `count` more guest callbacks have run (host_toy_call_after). Host-side
 * calls do not count as guest callbacks. At most 32 may be pending. */
void host_toy_call_later(double delay, gloop_callback_fn fn, void *arg);
void host_toy_call_after(unsigned long count, gloop_callback_fn fn, void *arg);

/* Runs queued guest callbacks and due host-side calls until pred(arg) is
 * true. Fails the test if that takes more than test_limit(timeout) real
 * seconds. */
void host_toy_run_until(int (*pred)(void *arg), void *arg, double timeout);
/* Runs until done_cb has fired (10 s real-time safety limit, or `timeout`
 * plain-build seconds scaled by test_limit()), then drains whatever is
 * still queued. Fails the test when the limit passes first. */
void host_toy_run_until_done(void);
void host_toy_run_until_done_within(double timeout);
/* Runs one queued guest callback, waiting up to `wait` real seconds for one
 * to arrive (not scaled: a poll interval, not a limit). Returns 1 if one
 * ran. Host-side calls are not run. */
int host_toy_step(double wait);
/* fn(arg) runs on the host thread after every guest callback, until
 * host_toy_init() or a call with NULL: the place for host-side calls that
 * must land between two particular ticks. */
void host_toy_set_between(void (*fn)(void *arg), void *arg);
/* Guest callbacks queued right now. Any thread. */
unsigned long host_toy_queued(void);
/* Keeps the host loop running for `seconds` of real time. */
void host_toy_run_for(double seconds);
/* Runs every callback queued right now and any it queues in turn, without
 * waiting; returns how many ran. */
unsigned long host_toy_drain(void);

/* The number of guest callbacks started so far. Inside a guest callback (a
 * tick) it is that callback's 1-based index, so tasks can tell which tick
 * they run in. Any thread. */
unsigned long host_toy_seq(void);
/* How guest callback number `seq` (1-based, as host_toy_seq()) was posted:
 * 1 threadsafe, 0 not-threadsafe, -1 not run yet or too far back to know. */
int host_toy_callback_kind(unsigned long seq);
/* 1 when called on the host thread. */
int host_toy_on_host_thread(void);
/* A consistent copy of the counters. */
host_toy_stats host_toy_get_stats(void);

#endif

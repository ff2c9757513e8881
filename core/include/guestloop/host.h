/* host.h - the host policy: what every adapter of a host event loop needs, written once.
 *
 * A guest run inside an application's event loop needs more than the posts
 * of gloop_start_guest_run(): the application must not quit under a live
 * run, a request to quit should cancel the run and let its cleanup finish,
 * and the quit should then go ahead. This header is that policy, in C, with
 * the host reduced to a handful of operations (gloop_host_ops). An adapter
 * for a new host (GLib, SDL, libuv, a game loop) fills the operations, calls
 * gloop_host_start() instead of gloop_start_guest_run(), and reports two
 * moments of its loop: "the application was asked to quit"
 * (gloop_host_request_quit()) and "the loop has ended" (gloop_host_ending()).
 *
 * The life cycle, per host thread:
 *  1. gloop_host_start() calls ops->hold_quit(), then starts the guest run
 *     with both posts. At most one policy run is live per thread.
 *  2. While it is live, the adapter passes every quit request of its
 *     application to gloop_host_request_quit(). The first one cancels the
 *     run (gloop_cancel_run()); every one returns 1, meaning "hold the quit
 *     back". Tasks see GLOOP_ECANCELED and run their (shielded) cleanup.
 *  3. When the run ends, the policy calls ops->release_quit(), then the
 *     caller's done callback, then, if a quit was held back, ops->quit() to
 *     issue it again.
 *  4. If the loop ends while the run is still live (a way of quitting the
 *     adapter could not hold), gloop_host_ending() abandons the run with a
 *     warning on stderr: tasks do not resume, the done callback is not
 *     called, ops->release_quit() is.
 *
 * The operations are called on the host thread only, except
 * post_threadsafe, which the core's helper thread calls.
 */
#ifndef GUESTLOOP_HOST_H
#define GUESTLOOP_HOST_H

#include "guestloop/guestloop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a host provides. Every function receives the `host_data` given to
 * gloop_host_start(). */
typedef struct gloop_host_ops {
  /** Required. Runs fn(fn_arg) soon on the host thread, in host context;
   * called from any thread (in practice the core's helper thread). As the
   * run_sync_soon_threadsafe of gloop_start_guest_run(). */
  gloop_post_fn post_threadsafe;
  /** Optional (NULL: post_threadsafe serves for everything). A cheaper post
   * that the core calls only on the host thread, for busy ticks; when given,
   * post_threadsafe is called only from the helper thread. */
  gloop_post_fn post_host;
  /** Optional; with release_quit, or both NULL. Called on the host thread
   * as a run starts: from then on the host must route its application's
   * quit requests through gloop_host_request_quit() and hold them back
   * when it returns 1 (Qt: an event filter on the Quit event). Returns 0,
   * or a negative GLOOP_E* code, which makes gloop_host_start() fail with
   * that code before the run starts. */
  int (*hold_quit)(void *host_data);
  /** Undoes hold_quit. Called exactly once for each successful hold_quit:
   * when the run ends (before the done callback) or is abandoned. */
  void (*release_quit)(void *host_data);
  /** Optional. Issues the application's quit again after a run that a quit
   * request cancelled has ended; called on the host thread at the end of the
   * run's done sequence (after the done callback). Host context, with no run
   * live; the host may defer the actual quit to a later pass of its loop. */
  void (*quit)(void *host_data);
} gloop_host_ops;

/** Starts a guest run of entry(arg) on the calling (host) thread under the
 * policy. ops is copied. The run's posts are ops->post_threadsafe and
 * ops->post_host, both with host_data. done_cb(outcome, done_data) runs once
 * on the host thread when the run ends (not if it is abandoned); NULL means
 * the policy's default: a failure is reported on stderr, except the
 * GLOOP_ECANCELED of a run cancelled by a quit request. done_cb may start
 * the next run. opts (NULL = defaults) as for gloop_start_guest_run_ex();
 * its run_sync_soon_not_threadsafe must be NULL or equal to ops->post_host
 * (the host's post comes from ops, never from two places).
 * Errors: GLOOP_EINVAL (NULL ops, entry or post_threadsafe; only one of
 * hold_quit/release_quit; opts->run_sync_soon_not_threadsafe differs from
 * ops->post_host; the option errors of gloop_start_guest_run_ex()),
 * GLOOP_ERUNNING (a run, policy or not, is live on this thread; also from a
 * task or a posted callback of it), any code hold_quit returns, and the
 * other errors of gloop_start_guest_run_ex(). On error nothing was posted,
 * no callback will be called, and a quit that hold_quit held is released.
 * Context: any thread that runs a host loop, outside any task. */
GLOOP_API int gloop_host_start(const gloop_host_ops *ops, void *host_data, gloop_task_fn entry,
                               void *arg, gloop_done_fn done_cb, void *done_data,
                               const gloop_options *opts);

/** The host's application was asked to quit. Returns 1 when a policy run is
 * live on this thread: the host must hold the quit back; the first request
 * cancels the run (later ones only return 1), and the quit is issued again
 * through ops->quit once the run has ended. Returns GLOOP_ENORUN when no
 * policy run is live on any thread (also during the done callback and
 * after an abandon): let the quit go ahead. Errors: GLOOP_EWRONGTHREAD (no
 * policy run on this thread, but one is live on another: a quit request
 * belongs to the host thread; nothing is cancelled). Anything but 1 means
 * "not held": an adapter that has checked its own thread lets the quit go
 * ahead (a program may run several host threads, each with its own run).
 * Context: host thread, in host context or in a task of the run. */
GLOOP_API int gloop_host_request_quit(void);

/** The host's loop has ended, or its application is going away. If a
 * policy run is still live on this thread it can no longer finish: it is
 * abandoned (gloop_abandon_run()) with a warning on stderr, ops->release_quit
 * is called, the done callback is not, and 0 is returned. Errors:
 * GLOOP_ENORUN (no policy run live on any thread; nothing done, so the
 * call is idempotent), GLOOP_EWRONGTHREAD (the live policy run belongs to
 * another thread), GLOOP_EBUSY (called from a task or a tick of the run,
 * which cannot be torn down from under its own stack; the run stays live).
 * Context: host thread, host context. */
GLOOP_API int gloop_host_ending(void);

/** 1 if a policy run is live on the calling thread, else 0. Any thread. */
GLOOP_API int gloop_host_live(void);

/** 1 if a quit request has cancelled the policy run live on this thread (its
 * quit is held back and will be issued again), else 0. Any thread. */
GLOOP_API int gloop_host_quit_pending(void);

#ifdef __cplusplus
}
#endif

#endif /* GUESTLOOP_HOST_H */

/* host.c - the host policy: one policy run per host thread, held quits, cancel on quit, quit again when done, abandon when the host ends first. */
#include "guestloop/host.h"

#include <stdatomic.h>
#include <stdio.h>

#include "internal.h"

/* The policy's record of the run it started on this thread. Everything in
 * it is touched only on that thread; the one cross-thread fact, "some thread
 * has a policy run", is the counter below, used only to tell a wrong-thread
 * call (GLOOP_EWRONGTHREAD) from a call with no run anywhere
 * (GLOOP_ENORUN). */
typedef struct host_state {
  int live;
  /* A quit request cancelled the run: ops.quit is due after the done
   * callback, and the default report keeps quiet about the cancellation. */
  int quit_pending;
  int held; /* hold_quit succeeded and release_quit has not run yet */
  gloop_host_ops ops;
  void *host_data;
  gloop_done_fn done;
  void *done_data;
} host_state;

static GLOOP__TLS host_state host;
static atomic_int live_hosts;

/* Ends the record: the run is gone (finished or abandoned). Clears it
 * before any callback runs, so a callback may start the next run. */
static host_state host_take(void) {
  host_state s = host;
  host = (host_state){0};
  if (s.live) atomic_fetch_sub(&live_hosts, 1);
  if (s.held && s.ops.release_quit != NULL) s.ops.release_quit(s.host_data);
  return s;
}

/* A policy run whose core run has gone without the policy seeing it (the
 * adapter called gloop_abandon_run() itself) is ended here, so its hold is
 * released and the thread can start again. */
static void host_reconcile(void) {
  if (host.live && !gloop_in_run()) host_take();
}

static int no_run_here(void) {
  return atomic_load(&live_hosts) > 0 ? GLOOP_EWRONGTHREAD : GLOOP_ENORUN;
}

static void report_failure(const gloop_outcome *o) {
  const char *msg = o->message[0] != '\0' ? o->message : gloop_strerror(o->status);
  fprintf(stderr, "guestloop: main task failed: %s (%s)\n", msg, gloop_err_name(o->status));
}

static void host_done(const gloop_outcome *o, void *unused) {
  (void)unused;
  host_state s = host_take();
  if (s.done != NULL)
    s.done(o, s.done_data);
  else if (o->status < 0 && !(s.quit_pending && o->status == GLOOP_ECANCELED))
    report_failure(o);
  if (s.quit_pending && s.ops.quit != NULL) s.ops.quit(s.host_data);
}

int gloop_host_start(const gloop_host_ops *ops, void *host_data, gloop_task_fn entry, void *arg,
                     gloop_done_fn done_cb, void *done_data, const gloop_options *opts) {
  if (ops == NULL || entry == NULL || ops->post_threadsafe == NULL) return GLOOP_EINVAL;
  if ((ops->hold_quit == NULL) != (ops->release_quit == NULL)) return GLOOP_EINVAL;
  gloop_options o;
  if (opts != NULL)
    o = *opts;
  else
    gloop_options_init(&o);
  if (o.run_sync_soon_not_threadsafe != NULL && o.run_sync_soon_not_threadsafe != ops->post_host)
    return GLOOP_EINVAL;
  o.run_sync_soon_not_threadsafe = ops->post_host;
  host_reconcile();
  if (host.live || gloop_in_run()) return GLOOP_ERUNNING;
  host_state s = {0};
  s.ops = *ops;
  s.host_data = host_data;
  s.done = done_cb;
  s.done_data = done_data;
  /* The quit is held before the run starts, so that nothing can fail after
   * the core has accepted the run. */
  if (s.ops.hold_quit != NULL) {
    int rc = s.ops.hold_quit(host_data);
    if (rc < 0) return rc;
    s.held = 1;
  }
  int rc = gloop_start_guest_run_ex(entry, arg, ops->post_threadsafe, host_done, host_data, &o);
  if (rc < 0) {
    if (s.held) s.ops.release_quit(host_data);
    return rc;
  }
  s.live = 1;
  host = s;
  atomic_fetch_add(&live_hosts, 1);
  return 0;
}

int gloop_host_request_quit(void) {
  host_reconcile();
  if (!host.live) return no_run_here();
  if (!host.quit_pending) {
    host.quit_pending = 1;
    int rc = gloop_cancel_run();
    if (rc < 0)
      fprintf(stderr, "guestloop: cannot cancel the guest run on quit: %s (%s)\n",
              gloop_strerror(rc), gloop_err_name(rc));
  }
  return 1;
}

int gloop_host_ending(void) {
  host_reconcile();
  if (!host.live) return no_run_here();
  int rc = gloop_abandon_run();
  /* GLOOP_ENORUN cannot happen after host_reconcile(); GLOOP_EBUSY means
   * the call came from inside the run, which stays live. */
  if (rc == GLOOP_EBUSY) return rc;
  fprintf(stderr, "guestloop: the host loop ended before the guest run finished; run abandoned\n");
  host_take();
  return 0;
}

int gloop_host_live(void) {
  host_reconcile();
  return host.live;
}

int gloop_host_quit_pending(void) {
  host_reconcile();
  return host.live && host.quit_pending;
}

/* glib-host.h - a GLib host adapter for libguestloop on the host policy (guestloop/host.h): the interface of examples/glib-host.c. */
#ifndef GUESTLOOP_EXAMPLE_GLIB_HOST_H
#define GUESTLOOP_EXAMPLE_GLIB_HOST_H

#include <glib.h>
#include <guestloop/guestloop.h>
#include <guestloop/host.h>

/* One adapter per host thread: it owns a GMainContext and a GMainLoop on
 * it, and runs guest runs inside that loop through the host policy.
 * Every function except the two posts is called on the thread that created
 * the adapter. */
typedef struct glib_host glib_host;

/* Counters, for tests and the curious. */
typedef struct glib_host_stats {
  unsigned long threadsafe_posts; /* idle sources attached by the threadsafe post */
  unsigned long threadsafe_on_host; /* ... of which from the host thread */
  unsigned long host_posts;       /* callbacks queued by the host-thread post */
  unsigned long dispatches;       /* batches the host-thread source ran */
  unsigned long host_posts_off_host; /* host-thread posts made elsewhere (sent the threadsafe way) */
} glib_host_stats;

/* A new adapter on a new GMainContext; the calling thread becomes the host
 * thread. With sigint non-zero, the first Ctrl-C is a quit request (the run
 * is cancelled and cleans up); a second one kills the process as usual.
 * NULL when out of memory. Any thread. */
glib_host *glib_host_new(int sigint);
/* Ends a run still live (abandoned, with a warning: the loop is gone) and
 * frees the adapter, its loop and its context. NULL is a no-op. Refused,
 * with a message on stderr and nothing freed, off the host thread, while
 * glib_host_run() runs, or from inside the run (a task or a guest
 * callback): the context is still in use there. */
void glib_host_free(glib_host *h);
/* Starts a guest run in the adapter's loop (gloop_host_start()). done_cb
 * may be NULL (failures are then reported on stderr). Errors: GLOOP_EINVAL
 * (NULL h), GLOOP_EWRONGTHREAD (not the host thread), and those of
 * gloop_host_start(). Host thread. */
int glib_host_start(glib_host *h, gloop_task_fn entry, void *arg, gloop_done_fn done_cb,
                    void *data, const gloop_options *opts);
/* Runs the loop until it is quit: by glib_host_quit() with no run live, or
 * after the run that a quit request cancelled has ended. Errors:
 * GLOOP_EINVAL (NULL h), GLOOP_EWRONGTHREAD (not the host thread),
 * GLOOP_EBUSY (from a task or a guest callback: no nested host loops; or
 * while glib_host_run() already runs).
 * Host thread, outside the run. */
int glib_host_run(glib_host *h);
/* Asks the program to quit: with a run live, the run is cancelled and the
 * loop quits after its done callback; otherwise the loop quits now.
 * Errors: GLOOP_EINVAL (NULL h), GLOOP_EWRONGTHREAD (not the host thread;
 * nothing happens). Host thread, in host or task context. */
int glib_host_quit(glib_host *h);
/* The adapter's context (NULL for NULL h). Any thread. */
GMainContext *glib_host_context(glib_host *h);
/* A copy of the counters (zeros for NULL h). Any thread. */
glib_host_stats glib_host_get_stats(glib_host *h);

#endif

/* glib-host.c - libguestloop tasks inside a GLib GMainLoop: the adapter (posts, quit, Ctrl-C) on the host policy, and a small program using it. */

/*
 * What this example shows
 * -----------------------
 * The same guest run that the Qt shim hosts, hosted by GLib's main loop
 * instead, with nothing Qt-specific in sight. The adapter is the first half
 * of this file; it gives the host policy (guestloop/host.h) four things:
 *
 *   - a threadsafe post: an idle source attached to the loop's context from
 *     whatever thread calls it (the core's helper thread, after an idle
 *     wait); attaching from another thread wakes the context;
 *   - a cheap host-thread post, for busy ticks: a queue plus one custom
 *     source that is ready while the queue is non-empty. No system call, no
 *     allocation in the steady state, and nothing at all while idle: an idle
 *     run costs the process no CPU (the core's helper thread sleeps in
 *     epoll, GLib sleeps in poll);
 *   - a quit: g_main_loop_quit();
 *   - no hold/release: GLib has no application-wide quit event to hold
 *     back, so every way of quitting goes through glib_host_quit(), which
 *     asks the policy first. Ctrl-C arrives through g_unix_signal_add() and
 *     becomes exactly such a quit request: the run is cancelled, its
 *     cleanup runs, and the loop ends after the done callback.
 *
 * The program (second half) runs a main task with a ticker that prints a
 * line every --interval seconds, and a worker thread job; it ends after
 * --seconds, or on Ctrl-C, cleaning up either way.
 */

#include "glib-host.h"

#include <glib-unix.h>
#include <math.h>
#include <stdint.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The adapter ------------------------------------------------------------ */

typedef struct pending_call {
  gloop_callback_fn fn;
  void *arg;
} pending_call;

/* The host-thread post's source: a GSource with a queue behind it. */
typedef struct local_source {
  GSource base;
  pending_call *calls;
  size_t len, cap;
} local_source;

struct glib_host {
  GMainContext *ctx;
  GMainLoop *loop;
  local_source *local;
  GSource *sigint; /* held until the adapter is freed; destroyed after the first Ctrl-C */
  GThread *thread;
  atomic_ulong threadsafe_posts, threadsafe_on_host, host_posts_off_host;
  unsigned long host_posts, dispatches;
  int in_callback; /* guest callbacks running on the host thread right now */
  int running;     /* inside glib_host_run() */
};

/* Ready exactly while calls are queued; never asks for a timeout, so an
 * empty queue costs GLib's poll nothing. */
static gboolean local_prepare(GSource *s, gint *timeout)
{
  *timeout = -1;
  return ((local_source *)s)->len > 0;
}

static gboolean local_check(GSource *s) { return ((local_source *)s)->len > 0; }

/* Runs the batch queued so far; calls queued meanwhile wait for the next
 * pass of the loop, so GLib's other sources run between two batches. */
static gboolean local_dispatch(GSource *s, GSourceFunc unused, gpointer data)
{
  local_source *ls = (local_source *)s;
  glib_host *h = data;
  size_t n = ls->len;
  (void)unused;
  h->dispatches++;
  h->in_callback++;
  for (size_t i = 0; i < n; i++) ls->calls[i].fn(ls->calls[i].arg);
  h->in_callback--;
  memmove(ls->calls, ls->calls + n, (ls->len - n) * sizeof *ls->calls);
  ls->len -= n;
  return G_SOURCE_CONTINUE;
}

static void local_finalize(GSource *s) { free(((local_source *)s)->calls); }

static GSourceFuncs local_funcs = {local_prepare, local_check, local_dispatch, local_finalize,
                                   NULL, NULL};

static void post_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data);

static int on_host_thread(const glib_host *h) { return g_thread_self() == h->thread; }

static void post_host(gloop_callback_fn fn, void *fn_arg, void *host_data)
{
  glib_host *h = host_data;
  local_source *ls = h->local;
  if (!on_host_thread(h)) {
    /* The core never does this; if anything else does, the queue is not
     * its to touch, and the threadsafe post is always right. */
    atomic_fetch_add(&h->host_posts_off_host, 1);
    post_threadsafe(fn, fn_arg, host_data);
    return;
  }
  if (ls->len == ls->cap) {
    size_t cap = ls->cap ? 2 * ls->cap : 64;
    pending_call *calls = realloc(ls->calls, cap * sizeof *calls);
    if (calls == NULL) {
      /* A post must not be dropped. The threadsafe path is always right
       * and allocates less at a time (GLib aborts if even that fails). */
      post_threadsafe(fn, fn_arg, host_data);
      return;
    }
    ls->calls = calls;
    ls->cap = cap;
  }
  ls->calls[ls->len++] = (pending_call){fn, fn_arg};
  h->host_posts++;
}

/* One threadsafe post: the call and the adapter it belongs to. */
typedef struct posted_call {
  pending_call call;
  glib_host *host;
} posted_call;

static gboolean run_posted(gpointer data)
{
  posted_call *c = data;
  c->host->in_callback++;
  c->call.fn(c->call.arg);
  c->host->in_callback--;
  return G_SOURCE_REMOVE;
}

static void post_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data)
{
  glib_host *h = host_data;
  posted_call *c = g_new(posted_call, 1);
  c->call = (pending_call){fn, fn_arg};
  c->host = h;
  GSource *s = g_idle_source_new();
  g_source_set_priority(s, G_PRIORITY_DEFAULT);
  /* g_free runs when the source is destroyed, dispatched or not. */
  g_source_set_callback(s, run_posted, c, g_free);
  g_source_attach(s, h->ctx);
  g_source_unref(s);
  atomic_fetch_add(&h->threadsafe_posts, 1);
  if (g_thread_self() == h->thread) atomic_fetch_add(&h->threadsafe_on_host, 1);
}

static void quit_loop(void *host_data) { g_main_loop_quit(((glib_host *)host_data)->loop); }

static const gloop_host_ops glib_ops = {
    .post_threadsafe = post_threadsafe,
    .post_host = post_host,
    .quit = quit_loop,
};

int glib_host_quit(glib_host *h)
{
  if (h == NULL) return GLOOP_EINVAL;
  if (!on_host_thread(h)) return GLOOP_EWRONGTHREAD;
  /* 1: a run is live and now cancelled; the policy quits the loop after
   * the run's done callback. Anything else (no run on this thread):
   * nothing to wait for. */
  if (gloop_host_request_quit() != 1) g_main_loop_quit(h->loop);
  return 0;
}

static gboolean on_sigint(gpointer data)
{
  glib_host *h = data;
  glib_host_quit(h);
  /* Removing the last SIGINT source gives SIGINT back its default action,
   * so a second Ctrl-C ends a program whose cleanup hangs. */
  return G_SOURCE_REMOVE;
}

glib_host *glib_host_new(int sigint)
{
  glib_host *h = calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->thread = g_thread_self();
  h->ctx = g_main_context_new();
  h->loop = g_main_loop_new(h->ctx, FALSE);
  h->local = (local_source *)g_source_new(&local_funcs, sizeof(local_source));
  g_source_set_callback(&h->local->base, NULL, h, NULL);
  /* The same priority as GLib's own default sources, so that neither a busy
   * run nor a busy host starves the other. */
  g_source_set_priority(&h->local->base, G_PRIORITY_DEFAULT);
  g_source_attach(&h->local->base, h->ctx);
  if (sigint) {
    h->sigint = g_unix_signal_source_new(SIGINT);
    g_source_set_callback(h->sigint, on_sigint, h, NULL);
    g_source_attach(h->sigint, h->ctx);
  }
  return h;
}

void glib_host_free(glib_host *h)
{
  if (h == NULL) return;
  if (!on_host_thread(h)) {
    fprintf(stderr, "glib-host: glib_host_free called off the host thread; ignored\n");
    return;
  }
  /* The loop, or a guest callback, is still on the stack. */
  if (h->running || h->in_callback > 0) {
    fprintf(stderr, "glib-host: glib_host_free called while its loop runs; ignored\n");
    return;
  }
  /* GLOOP_ENORUN (nothing live) is the normal answer here; GLOOP_EBUSY
   * means the call came from inside the run, whose ticks still use the
   * context. */
  if (gloop_host_ending() == GLOOP_EBUSY) {
    fprintf(stderr, "glib-host: glib_host_free called from inside the guest run; ignored\n");
    return;
  }
  if (h->sigint != NULL) {
    g_source_destroy(h->sigint);
    g_source_unref(h->sigint);
  }
  g_source_destroy(&h->local->base);
  g_source_unref(&h->local->base);
  g_main_loop_unref(h->loop);
  /* Destroys the idle sources of posts never dispatched, and frees them. */
  g_main_context_unref(h->ctx);
  free(h);
}

int glib_host_start(glib_host *h, gloop_task_fn entry, void *arg, gloop_done_fn done_cb,
                    void *data, const gloop_options *opts)
{
  if (h == NULL) return GLOOP_EINVAL;
  if (!on_host_thread(h)) return GLOOP_EWRONGTHREAD;
  return gloop_host_start(&glib_ops, h, entry, arg, done_cb, data, opts);
}

int glib_host_run(glib_host *h)
{
  if (h == NULL) return GLOOP_EINVAL;
  if (!on_host_thread(h)) return GLOOP_EWRONGTHREAD;
  /* A task's stack is small, and a nested loop would deliver the next
   * tick inside the current one. */
  if (gloop_current_task() != NULL || h->in_callback > 0) return GLOOP_EBUSY;
  if (h->running) return GLOOP_EBUSY;
  h->running = 1;
  g_main_context_push_thread_default(h->ctx);
  g_main_loop_run(h->loop);
  g_main_context_pop_thread_default(h->ctx);
  h->running = 0;
  return 0;
}

GMainContext *glib_host_context(glib_host *h) { return h != NULL ? h->ctx : NULL; }

glib_host_stats glib_host_get_stats(glib_host *h)
{
  glib_host_stats s = {0, 0, 0, 0, 0};
  if (h == NULL) return s;
  s.threadsafe_posts = atomic_load(&h->threadsafe_posts);
  s.threadsafe_on_host = atomic_load(&h->threadsafe_on_host);
  s.host_posts = h->host_posts;
  s.host_posts_off_host = atomic_load(&h->host_posts_off_host);
  s.dispatches = h->dispatches;
  return s;
}

/* ---- The program ------------------------------------------------------------- */

struct program {
  glib_host *host;
  double seconds;  /* 0: until Ctrl-C */
  double interval;
  double start;
  int ticks;
  int status;
};

static int ticker(void *arg)
{
  struct program *p = arg;
  for (;;) {
    int rc = gloop_sleep(p->interval);
    if (rc < 0) return rc;
    printf("tick %d at %.2f s\n", ++p->ticks, gloop_now() - p->start);
    fflush(stdout);
  }
}

static void *slow_sum(void *arg)
{
  unsigned long n = (unsigned long)(uintptr_t)arg, sum = 0;
  for (unsigned long i = 1; i <= n; i++) sum += i;
  return (void *)(uintptr_t)sum;
}

static int main_task(void *arg)
{
  struct program *p = arg;
  gloop_nursery *n;
  p->start = gloop_now();
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  rc = gloop_nursery_start(n, ticker, p, "ticker", NULL);
  if (rc == 0) {
    void *sum;
    /* A job on a worker thread; its result comes back through the
     * threadsafe post while the loop goes on. */
    rc = gloop_to_thread(slow_sum, (void *)(uintptr_t)1000000, 0, &sum);
    if (rc == 0) printf("worker: 1 + ... + 1000000 = %lu\n", (unsigned long)(uintptr_t)sum);
  }
  if (rc == 0) rc = p->seconds > 0 ? gloop_sleep(p->seconds) : gloop_sleep_forever();
  gloop_nursery_cancel(n);
  int close_rc = gloop_nursery_close(n);
  /* Cleanup that needs the loop still gets it: shielded from the
   * cancellation that brought us here. */
  gloop_scope *shield;
  if (gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield) == 0) {
    gloop_sleep(0.01);
    gloop_scope_close(shield);
  }
  printf("cleaned up after %d ticks\n", p->ticks);
  fflush(stdout);
  return rc < 0 ? rc : close_rc;
}

/* Called once on the host thread when the run has ended. After Ctrl-C the
 * policy quits the loop after this; a run that ended by itself (--seconds)
 * quits it here, since nobody else will. */
static void on_done(const gloop_outcome *o, void *data)
{
  struct program *p = data;
  p->status = o->status;
  if (o->status == GLOOP_ECANCELED)
    printf("stopped: the run was cancelled\n");
  else if (o->status < 0)
    fprintf(stderr, "glib-host: the run failed: %s (%s)\n", o->message, gloop_err_name(o->status));
  fflush(stdout);
  glib_host_quit(p->host);
}

static int parse_seconds(const char *s, double *out)
{
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0.0 && v <= 1e6)) return -1;
  *out = v;
  return 0;
}

/* --help anywhere wins, as in the other examples. */
static int wants_help(int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return 1;
  return 0;
}

int main(int argc, char **argv)
{
  static struct program p = {NULL, 0.0, 0.5, 0.0, 0, 0};
  if (wants_help(argc, argv)) {
    printf("usage: glib-host [--seconds S] [--interval S]\n"
           "\n"
           "Runs libguestloop tasks inside a GLib main loop: a ticker prints a line\n"
           "every interval, a worker thread sums some numbers. Ctrl-C cancels the\n"
           "run, which cleans up and exits with status 0.\n"
           "\n"
           "  --seconds S   end by itself after S seconds (default: run until Ctrl-C)\n"
           "  --interval S  seconds between two ticks (default 0.5)\n"
           "  --help        show this help and exit\n");
    return 0;
  }
  /* Every option takes a value: the arguments go in pairs. */
  for (int i = 1; i < argc; i += 2) {
    double *target = strcmp(argv[i], "--seconds") == 0    ? &p.seconds
                     : strcmp(argv[i], "--interval") == 0 ? &p.interval
                                                          : NULL;
    if (target == NULL) {
      fprintf(stderr, "glib-host: unknown argument '%s' (try --help)\n", argv[i]);
      return 2;
    }
    if (i + 1 >= argc || parse_seconds(argv[i + 1], target) < 0 ||
        (target == &p.interval && p.interval <= 0.0)) {
      fprintf(stderr, "glib-host: %s needs a number of seconds (try --help)\n", argv[i]);
      return 2;
    }
  }

  glib_host *h = p.host = glib_host_new(1);
  if (h == NULL) {
    fprintf(stderr, "glib-host: out of memory\n");
    return 1;
  }
  int rc = glib_host_start(h, main_task, &p, on_done, &p, NULL);
  if (rc < 0) {
    fprintf(stderr, "glib-host: cannot start the guest run: %s\n", gloop_strerror(rc));
    glib_host_free(h);
    return 1;
  }
  glib_host_run(h); /* cannot fail here: this is the host thread, outside any run */
  glib_host_free(h);
  return p.status == 0 || p.status == GLOOP_ECANCELED ? 0 : 1;
}

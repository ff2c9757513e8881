/* test_handles.c - host-safe handles: scope, task and event refs from host code and other threads, stale refs after their object ended, and the resettable event. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "guestloop/testing.h"
#include "host_toy.h"
#include "test.h"

/* A timer that calls fn(data) in host context, between ticks of the run. */
static gloop_timer *host_call(gloop_callback_fn fn, void *data) {
  gloop_timer *t;
  ASSERT_OK(gloop_timer_new(&t));
  ASSERT_OK(gloop_timer_start(t, 0.0, fn, data));
  return t;
}

/* ---- A scope ref: cancelled from host code, stale after close ----------------- */

static struct {
  gloop_scope_ref ref, ref_again, later_ref;
  int host_rc, stale_rc, stale_host_rc, sleep_rc, later_cancelled;
  int host_in_task;
} sc;

static void sc_host_cancel(void *arg) {
  (void)arg;
  sc.host_in_task = gloop_current_task() != NULL;
  sc.host_rc = gloop_scope_ref_cancel(sc.ref);
}

static void sc_host_stale(void *arg) {
  (void)arg;
  sc.stale_host_rc = gloop_scope_ref_cancel(sc.ref);
}

static int sc_main(void *arg) {
  (void)arg;
  gloop_scope *s;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_OK(gloop_scope_get_ref(s, &sc.ref));
  ASSERT_OK(gloop_scope_get_ref(s, &sc.ref_again));
  ASSERT_EQ_INT(memcmp(&sc.ref, &sc.ref_again, sizeof sc.ref), 0);
  gloop_timer *t = host_call(sc_host_cancel, NULL);
  sc.sleep_rc = gloop_sleep(1000.0);
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 1);
  ASSERT_OK(gloop_scope_close(s));
  /* The scope's memory is gone; the ref now names nothing. */
  sc.stale_rc = gloop_scope_ref_cancel(sc.ref);
  /* A new scope may take the same table slot: the old ref must not reach it. */
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_OK(gloop_scope_get_ref(s, &sc.later_ref));
  ASSERT_TRUE(memcmp(&sc.ref, &sc.later_ref, sizeof sc.ref) != 0);
  ASSERT_OK(gloop_timer_start(t, 0.0, sc_host_stale, NULL));
  ASSERT_OK(gloop_sleep(0.01));
  sc.later_cancelled = gloop_scope_cancel_called(s);
  ASSERT_OK(gloop_scope_ref_cancel(sc.later_ref));
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 1);
  ASSERT_OK(gloop_scope_close(s));
  gloop_timer_free(t);
  return 0;
}

static int scenario_scope_ref(int guest) {
  memset(&sc, 0, sizeof sc);
  ASSERT_OK(test_run_mode(guest, sc_main, NULL, NULL));
  ASSERT_EQ_INT(sc.host_in_task, 0);
  ASSERT_OK(sc.host_rc);
  ASSERT_ERR(sc.sleep_rc, GLOOP_ECANCELED);
  ASSERT_ERR(sc.stale_rc, GLOOP_ENOTFOUND);
  ASSERT_ERR(sc.stale_host_rc, GLOOP_ENOTFOUND);
  ASSERT_EQ_INT(sc.later_cancelled, 0);
  /* After the run: no run to look the ref up in. */
  ASSERT_ERR(gloop_scope_ref_cancel(sc.ref), GLOOP_ENORUN);
  ASSERT_ERR(gloop_scope_ref_cancel(sc.later_ref), GLOOP_ENORUN);
  return 0;
}
BOTH_MODES(handles_scope_ref, scenario_scope_ref)

/* ---- A task ref: cancels that task and its children, not its siblings ----------- */

static struct {
  gloop_task_ref victim, sibling_ref;
  gloop_event *go;
  int victim_rc, grandchild_rc, sibling_rc, shielded_rc, after_shield_rc;
  int host_rc, again_rc, stale_rc, close_rc;
  int victim_blocked, victim_done;
} tk;

static int tk_grandchild(void *arg) {
  (void)arg;
  tk.grandchild_rc = gloop_sleep_forever();
  return tk.grandchild_rc;
}

static int tk_victim(void *arg) {
  (void)arg;
  gloop_nursery *n;
  gloop_scope *shield;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, tk_grandchild, NULL, "grandchild", NULL));
  /* Behind a shield the task's own cancellation does not arrive... */
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  tk.victim_blocked = 1;
  tk.shielded_rc = gloop_event_wait(tk.go);
  ASSERT_OK(gloop_scope_close(shield));
  /* ... and outside it, it does. */
  tk.after_shield_rc = gloop_checkpoint();
  tk.victim_rc = gloop_sleep_forever();
  ASSERT_OK(gloop_nursery_close(n));
  tk.victim_done = 1;
  return tk.victim_rc;
}

static int tk_sibling(void *arg) {
  (void)arg;
  tk.sibling_rc = gloop_event_wait(tk.go);
  if (tk.sibling_rc == 0) tk.sibling_rc = gloop_sleep(0.001);
  return tk.sibling_rc;
}

static void tk_host_cancel(void *arg) {
  (void)arg;
  tk.host_rc = gloop_task_ref_cancel(tk.victim);
  tk.again_rc = gloop_task_ref_cancel(tk.victim);
  /* The shield holds: both still wait; now let them go. */
  ASSERT_OK(gloop_event_set(tk.go));
}

static int tk_main(void *arg) {
  (void)arg;
  gloop_nursery *n;
  gloop_task *victim, *sibling;
  ASSERT_OK(gloop_event_new(&tk.go));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, tk_victim, NULL, "victim", &victim));
  ASSERT_OK(gloop_nursery_start(n, tk_sibling, NULL, "sibling", &sibling));
  ASSERT_OK(gloop_task_get_ref(victim, &tk.victim));
  ASSERT_OK(gloop_task_get_ref(sibling, &tk.sibling_ref));
  while (!tk.victim_blocked) ASSERT_OK(gloop_checkpoint());
  gloop_timer *t = host_call(tk_host_cancel, NULL);
  /* The cancelled task's GLOOP_ECANCELED is not a failure of the nursery. */
  tk.close_rc = gloop_nursery_close(n);
  tk.stale_rc = gloop_task_ref_cancel(tk.victim);
  ASSERT_ERR(gloop_task_ref_cancel(tk.sibling_ref), GLOOP_ENOTFOUND);
  gloop_timer_free(t);
  gloop_event_free(tk.go);
  return 0;
}

static int scenario_task_ref(int guest) {
  memset(&tk, 0, sizeof tk);
  ASSERT_OK(test_run_mode(guest, tk_main, NULL, NULL));
  ASSERT_OK(tk.host_rc);
  ASSERT_OK(tk.again_rc);
  ASSERT_OK(tk.shielded_rc);
  ASSERT_ERR(tk.after_shield_rc, GLOOP_ECANCELED);
  ASSERT_ERR(tk.victim_rc, GLOOP_ECANCELED);
  ASSERT_ERR(tk.grandchild_rc, GLOOP_ECANCELED);
  ASSERT_EQ_INT(tk.victim_done, 1);
  ASSERT_OK(tk.sibling_rc);
  ASSERT_OK(tk.close_rc);
  ASSERT_ERR(tk.stale_rc, GLOOP_ENOTFOUND);
  ASSERT_ERR(gloop_task_ref_cancel(tk.victim), GLOOP_ENORUN);
  return 0;
}
BOTH_MODES(handles_task_ref, scenario_task_ref)

/* The main task's ref: cancelling it ends the run with GLOOP_ECANCELED, as
 * gloop_cancel_run() would; once it returned, the ref is stale. */
static gloop_task_ref main_ref;
static int main_ref_rc;

static int mr_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_task_get_ref(gloop_current_task(), &main_ref));
  ASSERT_OK(gloop_task_ref_cancel(main_ref));
  return gloop_sleep_forever();
}

static void mr_done(const gloop_outcome *o, void *data) {
  (void)data;
  main_ref_rc = o->status;
}

TEST_CASE(handles_task_ref_main) {
  ASSERT_ERR(gloop_run(mr_main, NULL, NULL, mr_done, NULL), GLOOP_ECANCELED);
  ASSERT_ERR(main_ref_rc, GLOOP_ECANCELED);
  ASSERT_ERR(gloop_task_ref_cancel(main_ref), GLOOP_ENORUN);
  return 0;
}

/* ---- A resettable event: set, clear, set again, from host code --------------- */

static struct {
  gloop_event *ev;
  gloop_event_ref ref;
  int woken, host_sets, clear_rc_after, set_rc_after;
  int ref_set_freed;
} ev;

static void ev_host_set(void *arg) {
  (void)arg;
  ev.host_sets++;
  ASSERT_OK(gloop_event_ref_set(ev.ref));
}

static int ev_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_new(&ev.ev));
  ASSERT_OK(gloop_event_get_ref(ev.ev, &ev.ref));
  /* Clearing a clear event is a no-op. */
  ASSERT_OK(gloop_event_clear(ev.ev));
  ASSERT_EQ_INT(gloop_event_is_set(ev.ev), 0);
  gloop_timer *t;
  ASSERT_OK(gloop_timer_new(&t));
  for (int i = 0; i < 5; i++) {
    ASSERT_OK(gloop_timer_start(t, 0.0, ev_host_set, NULL));
    ASSERT_OK(gloop_event_wait(ev.ev));
    ev.woken++;
    ASSERT_EQ_INT(gloop_event_is_set(ev.ev), 1);
    /* A set event lets every wait through until it is cleared. */
    ASSERT_OK(gloop_event_wait(ev.ev));
    ASSERT_OK(gloop_event_clear(ev.ev));
    ASSERT_EQ_INT(gloop_event_is_set(ev.ev), 0);
  }
  /* After the clear a wait blocks again: cancelled here by a deadline. */
  gloop_scope *s;
  ASSERT_OK(gloop_move_on_after(0.01, &s));
  ASSERT_ERR(gloop_event_wait(ev.ev), GLOOP_ECANCELED);
  ASSERT_OK(gloop_scope_close(s));
  gloop_timer_free(t);
  /* A freed event's ref names nothing, and a new event does not inherit it. */
  gloop_event *other;
  gloop_event_free(ev.ev);
  ASSERT_OK(gloop_event_new(&other));
  gloop_event_ref other_ref;
  ASSERT_OK(gloop_event_get_ref(other, &other_ref));
  ev.ref_set_freed = gloop_event_ref_set(ev.ref);
  ASSERT_EQ_INT(gloop_event_is_set(other), 0);
  ev.ev = other; /* kept past the run */
  return 0;
}

static int scenario_event_clear(int guest) {
  memset(&ev, 0, sizeof ev);
  ASSERT_OK(test_run_mode(guest, ev_main, NULL, NULL));
  ASSERT_EQ_INT(ev.woken, 5);
  ASSERT_EQ_INT(ev.host_sets, 5);
  ASSERT_ERR(ev.ref_set_freed, GLOOP_ENOTFOUND);
  /* After the run: the object stays valid to free; calls get ENORUN. */
  ASSERT_ERR(gloop_event_clear(ev.ev), GLOOP_ENORUN);
  ASSERT_ERR(gloop_event_ref_set(ev.ref), GLOOP_ENORUN);
  gloop_event_ref r;
  ASSERT_ERR(gloop_event_get_ref(ev.ev, &r), GLOOP_ENORUN);
  gloop_event_free(ev.ev);
  return 0;
}
BOTH_MODES(handles_event_clear, scenario_event_clear)

/* A clear between a set and the woken waiter's turn does not take the
 * wake-up back: the waiter was released by the set. */
static int cw_rc = 12345;
static gloop_event *cw_ev;

static int cw_waiter(void *arg) {
  (void)arg;
  cw_rc = gloop_event_wait(cw_ev);
  return 0;
}

static int cw_main(void *arg) {
  (void)arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_event_new(&cw_ev));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, cw_waiter, NULL, "waiter", NULL));
  ASSERT_OK(gloop_checkpoint()); /* the waiter blocks */
  ASSERT_OK(gloop_event_set(cw_ev));
  ASSERT_OK(gloop_event_clear(cw_ev));
  ASSERT_OK(gloop_nursery_close(n));
  gloop_event_free(cw_ev);
  return 0;
}

TEST_CASE(handles_event_clear_after_wake) {
  ASSERT_OK(gloop_run(cw_main, NULL, NULL, NULL, NULL));
  ASSERT_OK(cw_rc);
  return 0;
}

/* ---- From another thread, through the run's token ----------------------------- */

enum { THREAD_SETS = 20 };

static struct {
  gloop_token *token;
  gloop_scope_ref scope_ref;
  gloop_task_ref task_ref;
  gloop_event_ref ev_ref;
  gloop_event *ev;
  _Atomic int acked;        /* wake-ups the task has seen */
  _Atomic int ready;        /* refs are published */
  _Atomic int scope_closed;
  int cancel_rc, stale_post_rc, task_cancel_rc;
  int wait_rc, task_wait_rc;
  int thread_rcs[THREAD_SETS];
} th;

static void *th_thread(void *arg) {
  (void)arg;
  while (!atomic_load(&th.ready)) test_real_sleep(0.0005);
  /* A reusable wake-up: set, wait for the task to see it and clear, again. */
  for (int i = 0; i < THREAD_SETS; i++) {
    th.thread_rcs[i] = gloop_token_set_event(th.token, th.ev_ref);
    while (atomic_load(&th.acked) <= i) test_real_sleep(0.0002);
  }
  th.cancel_rc = gloop_token_cancel_scope(th.token, th.scope_ref);
  while (!atomic_load(&th.scope_closed)) test_real_sleep(0.0002);
  /* The scope has closed: the request is accepted and does nothing. */
  th.stale_post_rc = gloop_token_cancel_scope(th.token, th.scope_ref);
  th.task_cancel_rc = gloop_token_cancel_task(th.token, th.task_ref);
  return NULL;
}

static int th_worker_task(void *arg) {
  (void)arg;
  th.task_wait_rc = gloop_sleep_forever();
  return th.task_wait_rc;
}

static int th_main(void *arg) {
  (void)arg;
  gloop_scope *s;
  gloop_nursery *n;
  gloop_task *worker;
  pthread_t thread;
  ASSERT_OK(gloop_token_new(&th.token));
  ASSERT_OK(gloop_event_new(&th.ev));
  ASSERT_OK(gloop_event_get_ref(th.ev, &th.ev_ref));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, th_worker_task, NULL, "worker", &worker));
  ASSERT_OK(gloop_task_get_ref(worker, &th.task_ref));
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_OK(gloop_scope_get_ref(s, &th.scope_ref));
  ASSERT_EQ_INT(pthread_create(&thread, NULL, th_thread, NULL), 0);
  atomic_store(&th.ready, 1);
  for (int i = 0; i < THREAD_SETS; i++) {
    ASSERT_OK(gloop_event_wait(th.ev));
    ASSERT_OK(gloop_event_clear(th.ev));
    atomic_store(&th.acked, i + 1);
  }
  th.wait_rc = gloop_sleep_forever();
  ASSERT_OK(gloop_scope_close(s));
  atomic_store(&th.scope_closed, 1);
  /* The worker ends when the thread's task cancellation arrives. */
  ASSERT_OK(gloop_nursery_close(n));
  pthread_join(thread, NULL);
  gloop_event_free(th.ev);
  return 0;
}

static int scenario_token_refs(int guest) {
  memset(&th, 0, sizeof th);
  ASSERT_OK(test_run_mode(guest, th_main, NULL, NULL));
  for (int i = 0; i < THREAD_SETS; i++) ASSERT_OK(th.thread_rcs[i]);
  ASSERT_OK(th.cancel_rc);
  ASSERT_ERR(th.wait_rc, GLOOP_ECANCELED);
  ASSERT_OK(th.stale_post_rc);
  ASSERT_OK(th.task_cancel_rc);
  ASSERT_ERR(th.task_wait_rc, GLOOP_ECANCELED);
  /* The token outlives the run: requests are refused. */
  ASSERT_ERR(gloop_token_cancel_scope(th.token, th.scope_ref), GLOOP_ENORUN);
  ASSERT_ERR(gloop_token_cancel_task(th.token, th.task_ref), GLOOP_ENORUN);
  ASSERT_ERR(gloop_token_set_event(th.token, th.ev_ref), GLOOP_ENORUN);
  gloop_token_free(th.token);
  return 0;
}
BOTH_MODES(handles_token_refs, scenario_token_refs)

/* A request accepted just before the host abandons the run runs during the
 * abandon with no run live: it finds nothing to cancel and frees itself
 * (the leak checkers of the sanitizer and valgrind builds watch that). */
static gloop_token *ab_token;
static gloop_scope_ref ab_ref;
static int ab_ready, ab_post_rc = 12345, ab_abandon_rc = 12345;

static int ab_main(void *arg) {
  (void)arg;
  gloop_scope *s;
  ASSERT_OK(gloop_token_new(&ab_token));
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_OK(gloop_scope_get_ref(s, &ab_ref));
  ab_ready = 1;
  return gloop_sleep_forever();
}

static void ab_host(void *arg) {
  (void)arg;
  ab_post_rc = gloop_token_cancel_scope(ab_token, ab_ref);
  ab_abandon_rc = gloop_abandon_run();
}

static int ab_ready_pred(void *arg) {
  (void)arg;
  return ab_ready;
}
static int ab_done_pred(void *arg) {
  (void)arg;
  return ab_abandon_rc != 12345;
}

TEST_CASE(handles_token_ref_abandon) {
  host_toy_init();
  ASSERT_OK(host_toy_start(ab_main, NULL, NULL, 0));
  host_toy_run_until(ab_ready_pred, NULL, 10.0);
  host_toy_call_later(0.0, ab_host, NULL);
  host_toy_run_until(ab_done_pred, NULL, 10.0);
  host_toy_drain();
  host_toy_fini();
  ASSERT_OK(ab_post_rc);
  ASSERT_OK(ab_abandon_rc);
  ASSERT_ERR(gloop_scope_ref_cancel(ab_ref), GLOOP_ENORUN);
  ASSERT_ERR(gloop_token_cancel_scope(ab_token, ab_ref), GLOOP_ENORUN);
  gloop_token_free(ab_token);
  return 0;
}

/* ---- Edges: null, forged and foreign refs; slot reuse ----------------------------- */

static struct {
  gloop_scope_ref scope_ref;
  gloop_task_ref main_ref;
  _Atomic int other_rc;
  int end_rc, end_get_rc, end_event_rc;
  gloop_task *main_task;
} ed;

static void *ed_other(void *arg) {
  (void)arg;
  atomic_store(&ed.other_rc, gloop_scope_ref_cancel(ed.scope_ref));
  return NULL;
}

static void ed_end_post(void *arg) {
  (void)arg;
  /* The end sequence: the main task has returned, the run is still live. */
  gloop_task_ref r;
  ed.end_rc = gloop_task_ref_cancel(ed.main_ref);
  ed.end_get_rc = gloop_task_get_ref(ed.main_task, &r);
  /* Events and their refs still work here, as every run object does. */
  gloop_event *ev = NULL;
  gloop_event_ref er;
  ed.end_event_rc = gloop_event_new(&ev);
  if (ed.end_event_rc == 0) ed.end_event_rc = gloop_event_get_ref(ev, &er);
  if (ed.end_event_rc == 0) ed.end_event_rc = gloop_event_ref_set(er);
  if (ed.end_event_rc == 0 && !gloop_event_is_set(ev)) ed.end_event_rc = -1;
  if (ed.end_event_rc == 0) ed.end_event_rc = gloop_event_clear(ev);
  if (ed.end_event_rc == 0 && gloop_event_is_set(ev)) ed.end_event_rc = -1;
  gloop_event_free(ev);
}

static int ed_main(void *arg) {
  (void)arg;
  gloop_scope *s;
  gloop_scope_ref zero_scope = {0, 0};
  gloop_task_ref zero_task = {0, 0};
  gloop_event_ref zero_event = {0, 0};
  ASSERT_ERR(gloop_scope_ref_cancel(zero_scope), GLOOP_EINVAL);
  ASSERT_ERR(gloop_task_ref_cancel(zero_task), GLOOP_EINVAL);
  ASSERT_ERR(gloop_event_ref_set(zero_event), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_get_ref(NULL, &ed.scope_ref), GLOOP_EINVAL);
  ASSERT_ERR(gloop_task_get_ref(NULL, &ed.main_ref), GLOOP_EINVAL);
  ASSERT_ERR(gloop_event_get_ref(NULL, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_event_clear(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_task_get_ref(gloop_current_task(), NULL), GLOOP_EINVAL);

  ed.main_task = gloop_current_task();
  ASSERT_OK(gloop_task_get_ref(ed.main_task, &ed.main_ref));
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_ERR(gloop_scope_get_ref(s, NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_scope_get_ref(s, &ed.scope_ref));
  /* A ref of one kind passed as another (possible only by copying fields). */
  gloop_task_ref as_task = {ed.scope_ref.run_, ed.scope_ref.id_};
  ASSERT_ERR(gloop_task_ref_cancel(as_task), GLOOP_EINVAL);
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 0);
  /* Garbage in every field. */
  gloop_scope_ref bad = {ed.scope_ref.run_, ed.scope_ref.id_ + 12345};
  ASSERT_ERR(gloop_scope_ref_cancel(bad), GLOOP_ENOTFOUND);
  bad.id_ = ed.scope_ref.id_ & 0xffffffffu; /* generation 0 */
  ASSERT_ERR(gloop_scope_ref_cancel(bad), GLOOP_ENOTFOUND);
  bad.id_ = UINT64_MAX;
  ASSERT_ERR(gloop_scope_ref_cancel(bad), GLOOP_ENOTFOUND);
  bad.run_ = UINT64_MAX;
  ASSERT_ERR(gloop_scope_ref_cancel(bad), GLOOP_EINVAL);
  bad.run_ = ed.scope_ref.run_ ^ 0x800; /* another generation of the run slot */
  bad.id_ = ed.scope_ref.id_;
  ASSERT_ERR(gloop_scope_ref_cancel(bad), GLOOP_ENORUN);
  /* From a thread that does not own the run. */
  pthread_t other;
  ASSERT_EQ_INT(pthread_create(&other, NULL, ed_other, NULL), 0);
  pthread_join(other, NULL);
  ASSERT_ERR(atomic_load(&ed.other_rc), GLOOP_EWRONGTHREAD);
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 0);
  ASSERT_OK(gloop_scope_close(s));

  /* Many scopes through few slots: every earlier ref stays stale, none
   * ever reaches a later scope. */
  enum { N = 2000 };
  static gloop_scope_ref old[N];
  for (int i = 0; i < N; i++) {
    ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
    ASSERT_OK(gloop_scope_get_ref(s, &old[i]));
    for (int j = i > 8 ? i - 8 : 0; j < i; j++)
      ASSERT_ERR(gloop_scope_ref_cancel(old[j]), GLOOP_ENOTFOUND);
    ASSERT_EQ_INT(gloop_scope_cancel_called(s), 0);
    ASSERT_OK(gloop_scope_close(s));
  }
  gloop_token *tk;
  ASSERT_OK(gloop_token_new(&tk));
  ASSERT_ERR(gloop_token_cancel_scope(NULL, ed.scope_ref), GLOOP_EINVAL);
  ASSERT_ERR(gloop_token_cancel_scope(tk, zero_scope), GLOOP_EINVAL);
  ASSERT_ERR(gloop_token_cancel_task(tk, zero_task), GLOOP_EINVAL);
  ASSERT_ERR(gloop_token_set_event(tk, zero_event), GLOOP_EINVAL);
  ASSERT_OK(gloop_token_post(tk, ed_end_post, NULL));
  gloop_token_free(tk);
  return 0;
}

TEST_CASE(handles_edges) {
  memset(&ed, 0, sizeof ed);
  ed.end_rc = ed.end_get_rc = ed.end_event_rc = 12345;
  /* Before any run. */
  ASSERT_ERR(gloop_scope_ref_cancel(ed.scope_ref), GLOOP_EINVAL);
  gloop_scope_ref never = {1025, 1};
  ASSERT_ERR(gloop_scope_ref_cancel(never), GLOOP_ENORUN);
  ASSERT_OK(gloop_run(ed_main, NULL, NULL, NULL, NULL));
  ASSERT_ERR(ed.end_rc, GLOOP_ENOTFOUND);
  ASSERT_ERR(ed.end_get_rc, GLOOP_ENOTFOUND);
  ASSERT_OK(ed.end_event_rc);
  return 0;
}

/* ---- A nursery's ref -------------------------------------------------------------- */

static struct {
  gloop_scope_ref ref;
  int host_rc, child_rc[3], close_rc;
} nr;

static int nr_child(void *arg) {
  int *rc = arg;
  *rc = gloop_sleep_forever();
  return *rc;
}

static void nr_host(void *arg) {
  (void)arg;
  nr.host_rc = gloop_scope_ref_cancel(nr.ref);
}

static int nr_main(void *arg) {
  (void)arg;
  gloop_nursery *n;
  ASSERT_ERR(gloop_nursery_get_ref(NULL, &nr.ref), GLOOP_EINVAL);
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_ERR(gloop_nursery_get_ref(n, NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_nursery_get_ref(n, &nr.ref));
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_nursery_start(n, nr_child, &nr.child_rc[i], NULL, NULL));
  gloop_timer *t = host_call(nr_host, NULL);
  nr.close_rc = gloop_nursery_close(n);
  ASSERT_ERR(gloop_scope_ref_cancel(nr.ref), GLOOP_ENOTFOUND);
  gloop_timer_free(t);
  return 0;
}

TEST_CASE(handles_nursery_ref) {
  memset(&nr, 0, sizeof nr);
  ASSERT_OK(test_guest_run(nr_main, NULL, NULL, 0));
  ASSERT_OK(nr.host_rc);
  for (int i = 0; i < 3; i++) ASSERT_ERR(nr.child_rc[i], GLOOP_ECANCELED);
  ASSERT_OK(nr.close_rc);
  return 0;
}

/* ---- Out of memory when the table grows ---------------------------------------------- */

/* The table starts with 16 entries: the 17th ref makes it grow, which is
 * where an allocation can fail. The failure leaves every earlier ref and
 * the object itself working; a retry succeeds. */
static int oom_main(void *arg) {
  (void)arg;
  enum { K = 17 };
  gloop_scope *s[K];
  gloop_scope_ref r[K];
  for (int i = 0; i < K - 1; i++) {
    ASSERT_OK(gloop_scope_open(INFINITY, 0, &s[i]));
    ASSERT_OK(gloop_scope_get_ref(s[i], &r[i]));
  }
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s[K - 1]));
  gloop_event *ev;
  gloop_event_ref er;
  gloop_task_ref tr;
  ASSERT_OK(gloop_event_new(&ev));
  gloop_fault_inject(0, GLOOP_FAULT_MEMORY, 1);
  int scope_rc = gloop_scope_get_ref(s[K - 1], &r[K - 1]);
  int event_rc = gloop_event_get_ref(ev, &er);
  int task_rc = gloop_task_get_ref(gloop_current_task(), &tr);
  gloop_fault_inject(-1, 0, 0);
  ASSERT_ERR(scope_rc, GLOOP_ENOMEM);
  ASSERT_ERR(event_rc, GLOOP_ENOMEM);
  ASSERT_ERR(task_rc, GLOOP_ENOMEM);
  ASSERT_OK(gloop_scope_ref_cancel(r[K - 2]));
  ASSERT_EQ_INT(gloop_scope_cancel_called(s[K - 2]), 1);
  ASSERT_OK(gloop_scope_get_ref(s[K - 1], &r[K - 1]));
  ASSERT_OK(gloop_event_get_ref(ev, &er));
  ASSERT_OK(gloop_event_ref_set(er));
  ASSERT_EQ_INT(gloop_event_is_set(ev), 1);
  gloop_event_free(ev);
  for (int i = K - 1; i >= 0; i--) ASSERT_OK(gloop_scope_close(s[i]));
  for (int i = 0; i < K; i++) ASSERT_ERR(gloop_scope_ref_cancel(r[i]), GLOOP_ENOTFOUND);
  return 0;
}

TEST_CASE(handles_out_of_memory) {
  ASSERT_OK(gloop_run(oom_main, NULL, NULL, NULL, NULL));
  return 0;
}

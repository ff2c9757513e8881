/* test_sync.c - cases for events, semaphores and locks, and for freeing objects that tasks wait on. */
#include <math.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* A tiny helper: run fns[i](args[i]) as children of one nursery in order. */
typedef struct child_spec {
  gloop_task_fn fn;
  void *arg;
} child_spec;

static int run_children(const child_spec *specs, int n) {
  gloop_nursery *nur;
  ASSERT_OK(gloop_nursery_open(&nur));
  for (int i = 0; i < n; i++) ASSERT_OK(gloop_nursery_start(nur, specs[i].fn, specs[i].arg, NULL, NULL));
  return gloop_nursery_close(nur);
}

static int ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};

/* ---- Events ------------------------------------------------------------- */

static gloop_event *ev;
static int ev_rc[3];
static int ev_woken;

static int ev_waiter(void *arg) {
  int i = *(int *)arg;
  ev_rc[i] = gloop_event_wait(ev);
  ev_woken++;
  return 0;
}

static int ev_setter(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_checkpoint());
  /* Nobody got through before the set. */
  ASSERT_EQ_INT(ev_woken, 0);
  ASSERT_EQ_INT(gloop_event_is_set(ev), 0);
  ASSERT_OK(gloop_event_set(ev));
  ASSERT_OK(gloop_event_set(ev));
  ASSERT_EQ_INT(gloop_event_is_set(ev), 1);
  return 0;
}

static int event_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_new(&ev));
  child_spec specs[] = {{ev_waiter, &ids[0]}, {ev_waiter, &ids[1]}, {ev_setter, NULL},
                        {ev_waiter, &ids[2]}};
  ASSERT_OK(run_children(specs, 4));
  ASSERT_EQ_INT(ev_woken, 3);
  /* Waiting on a set event returns at once. */
  ASSERT_OK(gloop_event_wait(ev));
  gloop_event_free(ev);
  return 0;
}

TEST_CASE(sync_event) {
  for (int i = 0; i < 3; i++) ev_rc[i] = 12345;
  ev_woken = 0;
  ASSERT_OK(test_guest_run(event_main, NULL, NULL, 1));
  for (int i = 0; i < 3; i++) ASSERT_OK(ev_rc[i]);
  return 0;
}

/* ---- Semaphores --------------------------------------------------------- */

static gloop_semaphore *sem;
static test_log sem_log;

static int sem_taker(void *arg) {
  int i = *(int *)arg;
  ASSERT_OK(gloop_semaphore_acquire(sem));
  test_log_add(&sem_log, i);
  return 0;
}

static int sem_giver(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_checkpoint());
  ASSERT_EQ_UINT(gloop_semaphore_value(sem), 0);
  ASSERT_EQ_INT(sem_log.len, 0);
  test_log_add(&sem_log, 100);
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_semaphore_release(sem));
  return 0;
}

static int sem_main(void *arg) {
  gloop_semaphore *bounded;
  (void)arg;
  /* Waiters are served first come, first served. */
  ASSERT_OK(gloop_semaphore_new(0, 0, &sem));
  child_spec specs[] = {{sem_taker, &ids[1]}, {sem_taker, &ids[2]}, {sem_taker, &ids[3]},
                        {sem_giver, NULL}};
  ASSERT_OK(run_children(specs, 4));
  ASSERT_EQ_UINT(gloop_semaphore_value(sem), 0);

  /* Units are counted; acquiring one that is there does not wait. */
  for (int i = 0; i < 5; i++) ASSERT_OK(gloop_semaphore_release(sem));
  ASSERT_EQ_UINT(gloop_semaphore_value(sem), 5);
  ASSERT_OK(gloop_semaphore_acquire(sem));
  ASSERT_EQ_UINT(gloop_semaphore_value(sem), 4);
  gloop_semaphore_free(sem);

  /* A bound refuses releases past it. */
  ASSERT_OK(gloop_semaphore_new(1, 2, &bounded));
  ASSERT_EQ_UINT(gloop_semaphore_value(bounded), 1);
  ASSERT_OK(gloop_semaphore_release(bounded));
  ASSERT_ERR(gloop_semaphore_release(bounded), GLOOP_EBUSY);
  ASSERT_EQ_UINT(gloop_semaphore_value(bounded), 2);
  ASSERT_OK(gloop_semaphore_acquire(bounded));
  ASSERT_OK(gloop_semaphore_acquire(bounded));
  ASSERT_EQ_UINT(gloop_semaphore_value(bounded), 0);
  gloop_semaphore_free(bounded);
  return 0;
}

TEST_CASE(sync_semaphore) {
  memset(&sem_log, 0, sizeof sem_log);
  ASSERT_OK(test_guest_run(sem_main, NULL, NULL, 1));
  ASSERT_LOG(&sem_log, 100, 1, 2, 3);
  return 0;
}

/* A release from host context wakes a waiting task. */
static int hostsem_rc = 12345;

static int hostsem_main(void *arg) {
  (void)arg;
  hostsem_rc = gloop_semaphore_acquire(sem);
  return 0;
}

static void hostsem_release(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_semaphore_release(sem));
}

TEST_CASE(sync_semaphore_host_release) {
  host_toy_init();
  ASSERT_OK(host_toy_start(hostsem_main, NULL, NULL, 1));
  ASSERT_OK(gloop_semaphore_new(0, 0, &sem));
  host_toy_call_later(0.010, hostsem_release, NULL);
  host_toy_run_until_done();
  ASSERT_OK(hostsem_rc);
  ASSERT_EQ_UINT(gloop_semaphore_value(sem), 0);
  gloop_semaphore_free(sem);
  host_toy_fini();
  return 0;
}

/* ---- Locks -------------------------------------------------------------- */

static gloop_lock *lk;
static test_log lock_log;
static int lock_holding; /* who holds it, by the tasks' own count */

static int lock_first(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_lock_acquire(lk));
  lock_holding = 1;
  ASSERT_ERR(gloop_lock_acquire(lk), GLOOP_EBUSY);
  /* Let the others queue up behind us. */
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_checkpoint());
  test_log_add(&lock_log, 1);
  lock_holding = 0;
  ASSERT_OK(gloop_lock_release(lk));
  /* Fair: our re-acquire waits behind the two queued tasks. */
  ASSERT_OK(gloop_lock_acquire(lk));
  test_log_add(&lock_log, 10);
  ASSERT_OK(gloop_lock_release(lk));
  ASSERT_ERR(gloop_lock_release(lk), GLOOP_EPERM);
  return 0;
}

static int lock_other(void *arg) {
  int i = *(int *)arg;
  /* Not ours to release. */
  ASSERT_ERR(gloop_lock_release(lk), GLOOP_EPERM);
  ASSERT_OK(gloop_lock_acquire(lk));
  ASSERT_EQ_INT(lock_holding, 0);
  lock_holding = i;
  test_log_add(&lock_log, i);
  ASSERT_OK(gloop_checkpoint());
  lock_holding = 0;
  ASSERT_OK(gloop_lock_release(lk));
  return 0;
}

static int lock_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_lock_new(&lk));
  ASSERT_ERR(gloop_lock_release(lk), GLOOP_EPERM);
  child_spec specs[] = {{lock_first, NULL}, {lock_other, &ids[2]}, {lock_other, &ids[3]}};
  ASSERT_OK(run_children(specs, 3));
  gloop_lock_free(lk);
  return 0;
}

TEST_CASE(sync_lock) {
  memset(&lock_log, 0, sizeof lock_log);
  lock_holding = 0;
  ASSERT_OK(test_guest_run(lock_main, NULL, NULL, 1));
  ASSERT_LOG(&lock_log, 1, 2, 3, 10);
  return 0;
}

/* ---- Freeing an object that tasks wait on -------------------------------- */

typedef struct destroy_state {
  gloop_event *ev;
  gloop_semaphore *sem;
  gloop_lock *lock;
  gloop_channel *rx_chan;  /* empty: a receiver waits */
  gloop_channel *tx_chan;  /* full: a sender waits */
  gloop_event *host_ev;    /* freed by the host */
  int rc[6];
  int blocked;
} destroy_state;

static destroy_state ds;

static int d_event(void *arg) {
  (void)arg;
  ds.blocked++;
  ds.rc[0] = gloop_event_wait(ds.ev);
  return 0;
}

static int d_sem(void *arg) {
  (void)arg;
  ds.blocked++;
  ds.rc[1] = gloop_semaphore_acquire(ds.sem);
  return 0;
}

static int d_lock(void *arg) {
  (void)arg;
  ds.blocked++;
  ds.rc[2] = gloop_lock_acquire(ds.lock);
  return 0;
}

static int d_recv(void *arg) {
  int v;
  (void)arg;
  ds.blocked++;
  ds.rc[3] = gloop_channel_receive(ds.rx_chan, &v);
  return 0;
}

static int d_send(void *arg) {
  int v = 2;
  (void)arg;
  ds.blocked++;
  ds.rc[4] = gloop_channel_send(ds.tx_chan, &v);
  return 0;
}

static int d_host_event(void *arg) {
  (void)arg;
  ds.blocked++;
  ds.rc[5] = gloop_event_wait(ds.host_ev);
  return 0;
}

static int d_destroyer(void *arg) {
  (void)arg;
  while (ds.blocked < 6) ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_checkpoint());
  gloop_event_free(ds.ev);
  gloop_semaphore_free(ds.sem);
  gloop_lock_free(ds.lock);
  gloop_channel_free(ds.rx_chan);
  gloop_channel_free(ds.tx_chan);
  return 0;
}

static int destroy_main(void *arg) {
  int one = 1;
  (void)arg;
  ASSERT_OK(gloop_event_new(&ds.ev));
  ASSERT_OK(gloop_event_new(&ds.host_ev));
  ASSERT_OK(gloop_semaphore_new(0, 0, &ds.sem));
  ASSERT_OK(gloop_lock_new(&ds.lock));
  /* The main task holds the lock so the waiter blocks, and never releases
   * it: it is freed under both of them. */
  ASSERT_OK(gloop_lock_acquire(ds.lock));
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &ds.rx_chan));
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &ds.tx_chan));
  ASSERT_OK(gloop_channel_try_send(ds.tx_chan, &one));
  child_spec specs[] = {{d_event, NULL}, {d_sem, NULL},  {d_lock, NULL},     {d_recv, NULL},
                        {d_send, NULL},  {d_host_event, NULL}, {d_destroyer, NULL}};
  return run_children(specs, 7);
}

static int destroy_ready(void *arg) {
  (void)arg;
  return ds.blocked == 6;
}

TEST_CASE(sync_free_with_waiters) {
  memset(&ds, 0, sizeof ds);
  for (int i = 0; i < 6; i++) ds.rc[i] = 12345;
  host_toy_init();
  ASSERT_OK(host_toy_start(destroy_main, NULL, NULL, 1));
  host_toy_run_until(destroy_ready, NULL, 5.0);
  /* Host context may free objects too. */
  gloop_event_free(ds.host_ev);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  for (int i = 0; i < 6; i++) ASSERT_ERR(ds.rc[i], GLOOP_EDESTROYED);
  host_toy_fini();
  return 0;
}

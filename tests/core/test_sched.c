/* test_sched.c - cases for batch scheduling: FIFO order within a batch, and wake-ups landing in a later batch. */
#include <stdint.h>
#include <string.h>

#include "guestloop/testing.h"
#include "host_toy.h"
#include "test.h"

/* With tick_budget = 0 each tick runs exactly one batch, and each tick is one
 * callback on the toy host, so host_toy_seq() read inside a task is the
 * number of the batch it runs in. */

#define ROUNDS 3
#define NCHILD 3

typedef struct order_state {
  test_log log;
  unsigned long tick[NCHILD][ROUNDS];
  unsigned long main_tick;
  int ids[NCHILD];
} order_state;

static order_state order;

static int order_child(void *arg) {
  int id = *(int *)arg;
  for (int r = 0; r < ROUNDS; r++) {
    test_log_add(&order.log, id * 10 + r + 1);
    order.tick[id - 1][r] = host_toy_seq();
    int rc = gloop_checkpoint();
    if (rc != 0) return rc;
  }
  return 0;
}

static int order_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  order.main_tick = host_toy_seq();
  for (int i = 0; i < NCHILD; i++) {
    order.ids[i] = i + 1;
    ASSERT_OK(gloop_nursery_start(n, order_child, &order.ids[i], NULL, NULL));
  }
  return gloop_nursery_close(n);
}

TEST_CASE(sched_batch_fifo) {
  gloop_options o;
  memset(&order, 0, sizeof order);
  gloop_options_init(&o);
  o.tick_budget = 0;
  ASSERT_OK(test_guest_run(order_main, NULL, &o, 1));

  /* Every round of every child runs in start order, and a task that yields
   * runs again only after the rest of its batch. */
  ASSERT_LOG(&order.log, 11, 21, 31, 12, 22, 32, 13, 23, 33);
  for (int r = 0; r < ROUNDS; r++) {
    /* One batch holds the whole round ... */
    ASSERT_EQ_UINT(order.tick[1][r], order.tick[0][r]);
    ASSERT_EQ_UINT(order.tick[2][r], order.tick[0][r]);
    /* ... and each round is a later batch, hence a later tick. */
    if (r > 0) ASSERT_GE_UINT(order.tick[0][r], order.tick[0][r - 1] + 1);
  }
  /* Children start in a batch after the one that spawned them. */
  ASSERT_GE_UINT(order.tick[0][0], order.main_tick + 1);
  host_toy_stats s = host_toy_get_stats();
  /* The busy ticks were posted with the cheap post: at least one per round. */
  ASSERT_GE_UINT(s.not_threadsafe_posts, ROUNDS + 1);
  return 0;
}

/* ---- A task woken during a batch runs in a later batch ------------------- */

typedef struct wake_state {
  test_log log;
  gloop_event *ev;
  unsigned long waiter_tick, setter_tick, bystander_tick;
  int wait_rc;
} wake_state;

static wake_state wk;

static int wake_waiter(void *arg) {
  (void)arg;
  wk.wait_rc = gloop_event_wait(wk.ev);
  wk.waiter_tick = host_toy_seq();
  test_log_add(&wk.log, 1);
  return 0;
}

static int wake_setter(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_set(wk.ev));
  /* Setting does not yield: the setter keeps running in this batch. */
  wk.setter_tick = host_toy_seq();
  test_log_add(&wk.log, 2);
  return 0;
}

static int wake_bystander(void *arg) {
  (void)arg;
  wk.bystander_tick = host_toy_seq();
  test_log_add(&wk.log, 3);
  return 0;
}

static int wake_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_event_new(&wk.ev));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, wake_waiter, NULL, "waiter", NULL));
  ASSERT_OK(gloop_nursery_start(n, wake_setter, NULL, "setter", NULL));
  ASSERT_OK(gloop_nursery_start(n, wake_bystander, NULL, "bystander", NULL));
  int rc = gloop_nursery_close(n);
  gloop_event_free(wk.ev);
  return rc;
}

TEST_CASE(sched_wake_later_batch) {
  gloop_options o;
  memset(&wk, 0, sizeof wk);
  gloop_options_init(&o);
  o.tick_budget = 0;
  ASSERT_OK(test_guest_run(wake_main, NULL, &o, 1));
  ASSERT_OK(wk.wait_rc);
  /* The waiter was woken in the setter's batch, but the bystander that was
   * already in that batch ran first, and the waiter only in the next one. */
  ASSERT_LOG(&wk.log, 2, 3, 1);
  ASSERT_EQ_UINT(wk.bystander_tick, wk.setter_tick);
  ASSERT_GE_UINT(wk.waiter_tick, wk.setter_tick + 1);
  return 0;
}

/* ---- With a budget, one tick may run several batches --------------------- */

static unsigned long budget_first_tick, budget_last_tick;

static int budget_main(void *arg) {
  (void)arg;
  budget_first_tick = host_toy_seq();
  for (int i = 0; i < 50; i++) {
    int rc = gloop_checkpoint();
    if (rc != 0) return rc;
  }
  budget_last_tick = host_toy_seq();
  return 0;
}

TEST_CASE(sched_tick_budget) {
  gloop_options o;
  /* Budget 0: every checkpoint ends the tick, so 50 checkpoints take 50
   * more ticks. */
  gloop_options_init(&o);
  o.tick_budget = 0;
  ASSERT_OK(test_guest_run(budget_main, NULL, &o, 1));
  ASSERT_EQ_UINT(budget_last_tick - budget_first_tick, 50);

  /* A generous budget lets one tick run batch after batch while work
   * remains, so the same 50 checkpoints need far fewer host callbacks. */
  gloop_options_init(&o);
  o.tick_budget = 5.0;
  ASSERT_OK(test_guest_run(budget_main, NULL, &o, 1));
  ASSERT_LT_INT(budget_last_tick - budget_first_tick, 10);
  return 0;
}

/* ---- A suspending task hands over to the next task of its batch ---------- *
 *
 * Every way a task leaves the processor within a batch (a checkpoint, a
 * blocking wait, its end) goes straight to the batch's next task, which may
 * be one that has never run; only the batch's last task switches back to the
 * scheduler. The order is the batch's either way. */

#define HANDOFF_ROUNDS 5

typedef struct handoff_state {
  test_log log;
  gloop_event *ev;
  unsigned long steps, handoffs;
  int wait_rc;
} handoff_state;

static handoff_state ho;

static int handoff_exits(void *arg) {
  (void)arg;
  test_log_add(&ho.log, 1); /* ends at once: hands over to a task never run */
  return 0;
}

static int handoff_waits(void *arg) {
  (void)arg;
  test_log_add(&ho.log, 2);
  ho.wait_rc = gloop_event_wait(ho.ev); /* blocks: hands over */
  test_log_add(&ho.log, 20);
  return 0;
}

static int handoff_loops(void *arg) {
  int id = *(int *)arg;
  for (int r = 0; r < HANDOFF_ROUNDS; r++) {
    test_log_add(&ho.log, id * 10 + r);
    if (r == 2 && id == 3) ASSERT_OK(gloop_event_set(ho.ev));
    ASSERT_OK(gloop_checkpoint());
  }
  return 0;
}

static void *handoff_worker(void *arg) {
  (void)arg;
  return (void *)(intptr_t)gloop_sched_info(NULL, NULL, NULL);
}

static int handoff_main(void *arg) {
  gloop_nursery *n;
  static int ids[2] = {3, 4};
  (void)arg;
  ASSERT_OK(gloop_event_new(&ho.ev));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, handoff_exits, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, handoff_waits, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, handoff_loops, &ids[0], NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, handoff_loops, &ids[1], NULL, NULL));
  int rc = gloop_nursery_close(n);
  gloop_event_free(ho.ev);
  ASSERT_OK(gloop_sched_info(&ho.steps, &ho.handoffs, NULL));
  /* A worker thread has no run of its own. */
  void *res = NULL;
  ASSERT_OK(gloop_to_thread(handoff_worker, NULL, 0, &res));
  ASSERT_EQ_INT((int)(intptr_t)res, GLOOP_ENORUN);
  return rc;
}

static int handoff_case(int guest) {
  gloop_options o;
  memset(&ho, 0, sizeof ho);
  gloop_options_init(&o);
  o.tick_budget = 0;
  ASSERT_ERR(gloop_sched_info(NULL, NULL, NULL), GLOOP_ENORUN); /* no run yet */
  ASSERT_OK(test_run_mode(guest, handoff_main, NULL, &o));
  ASSERT_ERR(gloop_sched_info(NULL, NULL, NULL), GLOOP_ENORUN); /* it has ended */
  ASSERT_OK(ho.wait_rc);
  /* Batch 1: the four starts. Then the two loopers alone, until looper 3's
   * set in its third round queues the waiter ahead of both loopers' next
   * checkpoints. */
  ASSERT_LOG(&ho.log, 1, 2, 30, 40, 31, 41, 32, 42, 20, 33, 43, 34, 44);
  /* Resumes: main twice (its start, the end of nursery_close), the quitter
   * once, the waiter twice, each looper six times. Hand-overs: three in the
   * batch of the four starts, one in each batch of the two loopers (the
   * last one ends both), two in the batch with the woken waiter. Main always
   * runs alone, so the scheduler resumes it. */
  ASSERT_EQ_UINT(ho.steps, 2 + 1 + 2 + 6 + 6);
  ASSERT_EQ_UINT(ho.handoffs, 3 + 1 + 1 + 2 + 1 + 1);
  return 0;
}

TEST_CASE(sched_handoff_guest) { return handoff_case(1); }

TEST_CASE(sched_handoff_standalone) { return handoff_case(0); }

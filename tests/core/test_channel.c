/* test_channel.c - cases for channels: buffered and rendezvous transfer, closing, non-blocking calls and cancellation. */
#include <math.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

typedef struct record {
  int id;
  double value;
  char tag[12];
} record;

/* ---- Buffered channels -------------------------------------------------- */

static gloop_channel *ch;
static test_log chan_log;
static size_t max_size_seen;

static int producer(void *arg) {
  (void)arg;
  for (int i = 1; i <= 6; i++) {
    record r;
    memset(&r, 0, sizeof r);
    r.id = i;
    r.value = i * 1.5;
    strcpy(r.tag, "rec");
    r.tag[3] = (char)('0' + i);
    ASSERT_OK(gloop_channel_send(ch, &r));
    if (gloop_channel_size(ch) > max_size_seen) max_size_seen = gloop_channel_size(ch);
  }
  ASSERT_OK(gloop_channel_close(ch));
  return 0;
}

static int consumer(void *arg) {
  record r;
  int rc;
  (void)arg;
  /* Start late so the producer runs into the full buffer. */
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_checkpoint());
  ASSERT_EQ_UINT(gloop_channel_size(ch), 2);
  while ((rc = gloop_channel_receive(ch, &r)) == 0) {
    char want[12] = "rec";
    want[3] = (char)('0' + r.id);
    ASSERT_NEAR(r.value, r.id * 1.5, 1e-12);
    ASSERT_EQ_STR(r.tag, want);
    test_log_add(&chan_log, r.id);
  }
  /* Closed and drained, and it stays that way. */
  ASSERT_ERR(rc, GLOOP_EENDOFCHANNEL);
  ASSERT_ERR(gloop_channel_receive(ch, &r), GLOOP_EENDOFCHANNEL);
  return 0;
}

static int buffered_main(void *arg) {
  gloop_nursery *n;
  record r, out;
  (void)arg;
  ASSERT_ERR(gloop_channel_new(2, 0, &ch), GLOOP_EINVAL);
  ASSERT_OK(gloop_channel_new(2, sizeof(record), &ch));
  ASSERT_EQ_UINT(gloop_channel_size(ch), 0);

  /* Non-blocking calls. */
  memset(&r, 0, sizeof r);
  r.id = 41;
  ASSERT_OK(gloop_channel_try_send(ch, &r));
  r.id = 42;
  ASSERT_OK(gloop_channel_try_send(ch, &r));
  r.id = 43;
  ASSERT_ERR(gloop_channel_try_send(ch, &r), GLOOP_EAGAIN);
  ASSERT_EQ_UINT(gloop_channel_size(ch), 2);
  ASSERT_OK(gloop_channel_try_receive(ch, &out));
  ASSERT_EQ_INT(out.id, 41);
  ASSERT_OK(gloop_channel_try_receive(ch, &out));
  ASSERT_EQ_INT(out.id, 42);
  ASSERT_ERR(gloop_channel_try_receive(ch, &out), GLOOP_EAGAIN);

  /* Blocking transfer through a buffer of two. */
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, producer, NULL, "producer", NULL));
  ASSERT_OK(gloop_nursery_start(n, consumer, NULL, "consumer", NULL));
  ASSERT_OK(gloop_nursery_close(n));

  /* Closed: senders are refused, a second close too. */
  ASSERT_ERR(gloop_channel_send(ch, &r), GLOOP_ECLOSED);
  ASSERT_ERR(gloop_channel_try_send(ch, &r), GLOOP_ECLOSED);
  ASSERT_ERR(gloop_channel_close(ch), GLOOP_ECLOSED);
  gloop_channel_free(ch);
  return 0;
}

TEST_CASE(chan_buffered) {
  memset(&chan_log, 0, sizeof chan_log);
  max_size_seen = 0;
  ASSERT_OK(test_guest_run(buffered_main, NULL, NULL, 1));
  ASSERT_LOG(&chan_log, 1, 2, 3, 4, 5, 6);
  ASSERT_LE_UINT(max_size_seen, 2);
  return 0;
}

/* ---- Close wakes waiters; receivers drain first -------------------------- */

typedef struct close_state {
  gloop_channel *full, *empty, *drain;
  int sender_rc, receiver_rc;
  int drained[3];
  int drain_end_rc;
  int blocked;
} close_state;

static close_state cst;

static int blocked_sender(void *arg) {
  int v = 99;
  (void)arg;
  cst.blocked++;
  cst.sender_rc = gloop_channel_send(cst.full, &v);
  return 0;
}

static int blocked_receiver(void *arg) {
  int v;
  (void)arg;
  cst.blocked++;
  cst.receiver_rc = gloop_channel_receive(cst.empty, &v);
  return 0;
}

static int closer(void *arg) {
  (void)arg;
  while (cst.blocked < 2) ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_channel_close(cst.full));
  ASSERT_OK(gloop_channel_close(cst.empty));
  return 0;
}

static int close_main(void *arg) {
  gloop_nursery *n;
  int v = 7;
  (void)arg;
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &cst.full));
  ASSERT_OK(gloop_channel_try_send(cst.full, &v));
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &cst.empty));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, blocked_sender, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, blocked_receiver, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, closer, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_close(n));
  /* What was buffered before the close can still be received. */
  ASSERT_EQ_UINT(gloop_channel_size(cst.full), 1);
  ASSERT_OK(gloop_channel_receive(cst.full, &v));
  ASSERT_EQ_INT(v, 7);
  ASSERT_ERR(gloop_channel_receive(cst.full, &v), GLOOP_EENDOFCHANNEL);
  gloop_channel_free(cst.full);
  gloop_channel_free(cst.empty);

  /* Host-closed channel, drained from a task. */
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_channel_receive(cst.drain, &cst.drained[i]));
  cst.drain_end_rc = gloop_channel_receive(cst.drain, &v);
  gloop_channel_free(cst.drain);
  return 0;
}

TEST_CASE(chan_close) {
  memset(&cst, 0, sizeof cst);
  cst.sender_rc = cst.receiver_rc = cst.drain_end_rc = 12345;
  host_toy_init();
  ASSERT_OK(host_toy_start(close_main, NULL, NULL, 1));
  /* Host context: fill and close a channel before the main task runs. */
  ASSERT_OK(gloop_channel_new(4, sizeof(int), &cst.drain));
  for (int i = 1; i <= 3; i++) ASSERT_OK(gloop_channel_try_send(cst.drain, &i));
  ASSERT_OK(gloop_channel_close(cst.drain));
  ASSERT_ERR(gloop_channel_close(cst.drain), GLOOP_ECLOSED);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  ASSERT_ERR(cst.sender_rc, GLOOP_ECLOSED);
  ASSERT_ERR(cst.receiver_rc, GLOOP_EENDOFCHANNEL);
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(cst.drained[i], i + 1);
  ASSERT_ERR(cst.drain_end_rc, GLOOP_EENDOFCHANNEL);
  host_toy_fini();
  return 0;
}

/* ---- Capacity 0: rendezvous --------------------------------------------- */

typedef struct rv_state {
  gloop_channel *ch;
  test_log log;
  int send_done[2];
  unsigned long send_tick[2];
  int cancelled_send_rc;
} rv_state;

static rv_state rv;

static int rv_sender(void *arg) {
  int i = *(int *)arg;
  int v = 100 + i;
  ASSERT_OK(gloop_channel_send(rv.ch, &v));
  rv.send_done[i] = 1;
  test_log_add(&rv.log, 10 + i);
  return 0;
}

static int rv_receiver(void *arg) {
  int v;
  (void)arg;
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_checkpoint());
  /* Both senders have been waiting all along: nothing was buffered. */
  ASSERT_EQ_INT(rv.send_done[0] + rv.send_done[1], 0);
  ASSERT_EQ_UINT(gloop_channel_size(rv.ch), 0);
  ASSERT_OK(gloop_channel_receive(rv.ch, &v));
  test_log_add(&rv.log, v);
  ASSERT_OK(gloop_channel_receive(rv.ch, &v));
  test_log_add(&rv.log, v);
  return 0;
}

static int rv_main(void *arg) {
  static int idx[2] = {0, 1};
  gloop_nursery *n;
  gloop_scope *s;
  int v = 5;
  (void)arg;
  ASSERT_OK(gloop_channel_new(0, sizeof(int), &rv.ch));
  /* With no receiver waiting, a non-blocking send cannot complete. */
  ASSERT_ERR(gloop_channel_try_send(rv.ch, &v), GLOOP_EAGAIN);
  ASSERT_ERR(gloop_channel_try_receive(rv.ch, &v), GLOOP_EAGAIN);

  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, rv_sender, &idx[0], NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, rv_sender, &idx[1], NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, rv_receiver, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_close(n));

  /* A send that times out delivers nothing. */
  ASSERT_OK(gloop_move_on_after(1.0, &s));
  rv.cancelled_send_rc = gloop_channel_send(rv.ch, &v);
  ASSERT_OK(gloop_scope_close(s));
  ASSERT_ERR(gloop_channel_try_receive(rv.ch, &v), GLOOP_EAGAIN);
  gloop_channel_free(rv.ch);
  return 0;
}

TEST_CASE(chan_rendezvous) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  memset(&rv, 0, sizeof rv);
  ASSERT_OK(test_guest_run(rv_main, NULL, &o, 1));
  /* The receiver took the values in send order. Each sender's send returned
   * only after its value was taken, so its log entry follows that value. */
  ASSERT_EQ_INT(rv.log.len, 4);
  int pos100 = -1, pos101 = -1, pos10 = -1, pos11 = -1;
  for (int i = 0; i < rv.log.len; i++) {
    if (rv.log.items[i] == 100) pos100 = i;
    if (rv.log.items[i] == 101) pos101 = i;
    if (rv.log.items[i] == 10) pos10 = i;
    if (rv.log.items[i] == 11) pos11 = i;
  }
  ASSERT_GE_INT(pos100, 0);
  ASSERT_GT_INT(pos101, pos100);
  ASSERT_GT_INT(pos10, pos100);
  ASSERT_GT_INT(pos11, pos101);
  ASSERT_ERR(rv.cancelled_send_rc, GLOOP_ECANCELED);
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* iobench_uv.c - the libuv peer of gloop_iobench: socketpair echo with uv_pipe_t and cross-thread uv_async_send. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "iobench.h"

/* ---- Echo ------------------------------------------------------------------- */

/* One side of the echo: its pipe handle, the message being assembled from
 * reads (a stream read may return part of one), and its write request. A
 * side writes only after a full message arrived, and the other side replies
 * only after that write is done, so one request per side suffices. */
typedef struct uv_side {
  uv_pipe_t pipe;
  uv_write_t req;
  unsigned char buf[IOB_MSG];
  unsigned char out[IOB_MSG];
  size_t have;
  int is_client;
} uv_side;

static struct {
  uv_side client, server;
  long trips, done;
  int err;
  double t0, t1;
} ue;

static void ue_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  uv_side *s = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)s->buf + s->have, (unsigned)(IOB_MSG - s->have));
}

static void ue_fail(int err) {
  if (ue.err == 0) ue.err = err;
  uv_read_stop((uv_stream_t *)&ue.client.pipe);
  uv_read_stop((uv_stream_t *)&ue.server.pipe);
}

static void ue_written(uv_write_t *req, int status) {
  (void)req;
  if (status < 0) ue_fail(status);
}

static void ue_send(uv_side *s, const unsigned char *msg) {
  memcpy(s->out, msg, IOB_MSG);
  uv_buf_t b = uv_buf_init((char *)s->out, IOB_MSG);
  int rc = uv_write(&s->req, (uv_stream_t *)&s->pipe, &b, 1, ue_written);
  if (rc < 0) ue_fail(rc);
}

static void ue_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  uv_side *s = stream->data;
  (void)buf;
  if (n < 0) {
    ue_fail((int)n);
    return;
  }
  s->have += (size_t)n;
  if (s->have < IOB_MSG) return;
  s->have = 0;
  if (!s->is_client) {
    ue_send(s, s->buf);
    return;
  }
  unsigned char want[IOB_MSG];
  memset(want, (int)(ue.done & 0xff), sizeof want);
  if (memcmp(s->buf, want, IOB_MSG) != 0) {
    ue_fail(UV_EINVAL);
    return;
  }
  if (++ue.done == ue.trips) {
    ue.t1 = iob_now_ns();
    uv_read_stop((uv_stream_t *)&ue.client.pipe);
    uv_read_stop((uv_stream_t *)&ue.server.pipe);
    return;
  }
  memset(want, (int)(ue.done & 0xff), sizeof want);
  ue_send(s, want);
}

static int ue_side(uv_loop_t *loop, uv_side *s, int fd, int is_client) {
  memset(s, 0, sizeof *s);
  s->is_client = is_client;
  int rc = uv_pipe_init(loop, &s->pipe, 0);
  if (rc == 0) rc = uv_pipe_open(&s->pipe, fd);
  s->pipe.data = s;
  if (rc == 0) rc = uv_read_start((uv_stream_t *)&s->pipe, ue_alloc, ue_read);
  return rc;
}

int iob_uv_echo(long trips, double *ns_per_trip) {
  uv_loop_t loop;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    fprintf(stderr, "iob_uv_echo: socketpair: %s\n", strerror(errno));
    return -1;
  }
  memset(&ue, 0, sizeof ue);
  ue.trips = trips;
  int rc = uv_loop_init(&loop);
  if (rc == 0) rc = ue_side(&loop, &ue.client, sv[0], 1);
  if (rc == 0) rc = ue_side(&loop, &ue.server, sv[1], 0);
  if (rc == 0) {
    unsigned char first[IOB_MSG];
    memset(first, 0, sizeof first);
    ue.t0 = iob_now_ns();
    ue_send(&ue.client, first);
    rc = uv_run(&loop, UV_RUN_DEFAULT);
  }
  /* Closing the handles closes both ends of the socketpair. */
  uv_close((uv_handle_t *)&ue.client.pipe, NULL);
  uv_close((uv_handle_t *)&ue.server.pipe, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (rc < 0 || ue.err != 0 || ue.done != trips) {
    fprintf(stderr, "iob_uv_echo: %s, %ld of %ld trips\n", uv_strerror(rc < 0 ? rc : ue.err), ue.done,
            trips);
    return -1;
  }
  *ns_per_trip = (ue.t1 - ue.t0) / (double)trips;
  return 0;
}

/* ---- uv_async_send to an awake loop ------------------------------------------ */

/* As in the guestloop probe, the producer's fields and the loop's counter
 * sit on separate cache lines. */
static struct {
  uv_async_t async;
  uv_idle_t spin;
  long posts;
  double ns;
  int errs;
  _Atomic int stop;
  _Alignas(64) _Atomic long fired;
} ua;

static void ua_async(uv_async_t *h) {
  (void)h;
  atomic_fetch_add(&ua.fired, 1);
  if (atomic_load(&ua.stop)) {
    uv_close((uv_handle_t *)&ua.async, NULL);
    uv_idle_stop(&ua.spin);
    uv_close((uv_handle_t *)&ua.spin, NULL);
  }
}

static void ua_spin(uv_idle_t *h) { (void)h; }

static void *ua_producer(void *arg) {
  (void)arg;
  long posts = ua.posts;
  int errs = 0;
  double t0 = iob_now_ns();
  for (long i = 0; i < posts; i++) errs += uv_async_send(&ua.async) != 0;
  ua.ns = (iob_now_ns() - t0) / (double)posts;
  ua.errs += errs;
  atomic_store(&ua.stop, 1);
  ua.errs += uv_async_send(&ua.async) != 0;
  return NULL;
}

int iob_uv_post_awake(long posts, double *ns_per_post) {
  uv_loop_t loop;
  pthread_t th;
  memset(&ua, 0, sizeof ua);
  ua.posts = posts;
  int rc = uv_loop_init(&loop);
  if (rc == 0) rc = uv_async_init(&loop, &ua.async, ua_async);
  if (rc == 0) rc = uv_idle_init(&loop, &ua.spin);
  /* An active idle handle makes every poll non-blocking: the loop spins. */
  if (rc == 0) rc = uv_idle_start(&ua.spin, ua_spin);
  if (rc != 0 || pthread_create(&th, NULL, ua_producer, NULL) != 0) {
    fprintf(stderr, "iob_uv_post_awake: set-up failed (%s)\n", uv_strerror(rc));
    return -1;
  }
  rc = uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  uv_loop_close(&loop);
  if (rc < 0 || ua.errs != 0 || atomic_load(&ua.fired) < 1) {
    fprintf(stderr, "iob_uv_post_awake: failed (%d errors)\n", ua.errs);
    return -1;
  }
  *ns_per_post = ua.ns;
  return 0;
}

/* ---- uv_async_send to a sleeping loop ---------------------------------------- */

static struct {
  uv_async_t async;
  int bursts, per_burst;
  _Atomic long fired;
  _Atomic long long fired_at;
  _Atomic int stop;
  double *first, *burst, *wake;
  int errs;
} ui;

static void ui_async(uv_async_t *h) {
  (void)h;
  atomic_store(&ui.fired_at, (long long)iob_now_ns());
  atomic_fetch_add(&ui.fired, 1);
  if (atomic_load(&ui.stop)) uv_close((uv_handle_t *)&ui.async, NULL);
}

static void ui_nap(long ns) {
  struct timespec ts = {0, ns};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void *ui_producer(void *arg) {
  (void)arg;
  for (int b = 0; b < ui.bursts; b++) {
    /* Same pacing as the guestloop probe: the loop is back in its poll. */
    ui_nap(300000);
    long before = atomic_load(&ui.fired);
    atomic_store(&ui.fired_at, 0);
    double t0 = iob_now_ns();
    ui.errs += uv_async_send(&ui.async) != 0;
    double t1 = iob_now_ns();
    for (int i = 1; i < ui.per_burst; i++) ui.errs += uv_async_send(&ui.async) != 0;
    double t2 = iob_now_ns();
    while (atomic_load(&ui.fired) == before && ui.errs == 0) ui_nap(10000);
    ui.first[b] = t1 - t0;
    ui.burst[b] = (t2 - t0) / ui.per_burst;
    ui.wake[b] = (double)atomic_load(&ui.fired_at) - t0;
    /* Coalesced sends may fire the callback once more; wait until quiet. */
    ui_nap(50000);
  }
  atomic_store(&ui.stop, 1);
  ui.errs += uv_async_send(&ui.async) != 0;
  return NULL;
}

int iob_uv_post_idle(int bursts, int per_burst, iob_idle_result *out) {
  uv_loop_t loop;
  pthread_t th;
  size_t nb = (size_t)bursts;
  memset(&ui, 0, sizeof ui);
  ui.bursts = bursts;
  ui.per_burst = per_burst;
  ui.first = calloc(nb, sizeof(double));
  ui.burst = calloc(nb, sizeof(double));
  ui.wake = calloc(nb, sizeof(double));
  int rc = ui.first && ui.burst && ui.wake ? uv_loop_init(&loop) : UV_ENOMEM;
  if (rc == 0) rc = uv_async_init(&loop, &ui.async, ui_async);
  if (rc == 0 && pthread_create(&th, NULL, ui_producer, NULL) == 0) {
    rc = uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    uv_loop_close(&loop);
  } else {
    fprintf(stderr, "iob_uv_post_idle: set-up failed (%s)\n", uv_strerror(rc ? rc : UV_EAGAIN));
    rc = -1;
  }
  if (rc == 0 && ui.errs == 0) {
    out->first_ns = iob_median(ui.first, nb);
    out->burst_ns = iob_median(ui.burst, nb);
    out->wake_ns = iob_median(ui.wake, nb);
  } else if (rc == 0) {
    fprintf(stderr, "iob_uv_post_idle: %d uv_async_send calls failed\n", ui.errs);
    rc = -1;
  }
  free(ui.first);
  free(ui.burst);
  free(ui.wake);
  return rc == 0 ? 0 : -1;
}

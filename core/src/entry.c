/* entry.c - the thread-safe entry queue, tokens, system tasks and calls into the run from other threads. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

enum entry_kind { ENTRY_POST, ENTRY_START, ENTRY_CALL, ENTRY_COMPLETE };

/* A waiting gloop_token_call(): the calling thread sleeps on cv until the
 * host has run the function. Lives on the caller's stack. */
typedef struct call_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int status; /* 0, or GLOOP_EABANDONED: the run was abandoned first */
  void *result;
} call_wait;

typedef struct entry {
  gloop__queue node;
  enum entry_kind kind;
  union {
    gloop_callback_fn post;
    gloop_task_fn task;
    gloop_work_fn work;
  } fn;
  void *arg;
  call_wait *call;
  gloop__job *job;
  char name[32];
} entry;

#define MAX_SPARE 1024

struct gloop_token {
  gloop__entryq *q;
};

gloop__entryq *gloop__entryq_new(int wakefd) {
  gloop__entryq *q = gloop__sys_calloc(sizeof *q);
  if (q == NULL) return NULL;
  pthread_mutex_init(&q->mu, NULL);
  gloop__queue_init(&q->items);
  gloop__queue_init(&q->spare);
  atomic_store(&q->refs, 1);
  q->wakefd = wakefd;
  q->host = pthread_self();
  return q;
}

void gloop__entryq_unref(gloop__entryq *q) {
  if (q == NULL || atomic_fetch_sub(&q->refs, 1) != 1) return;
  gloop__queue *n;
  while ((n = gloop__queue_pop(&q->spare)) != NULL) free(gloop__container_of(n, entry, node));
  pthread_mutex_destroy(&q->mu);
  free(q);
}

/* Entry nodes are recycled through `spare` under the queue's lock, so a
 * steady stream of posts allocates nothing. */
static entry *entry_get(gloop__entryq *q) {
  gloop__queue *n = gloop__queue_pop(&q->spare);
  if (n) {
    q->nspare--;
    return gloop__container_of(n, entry, node);
  }
  return gloop__sys_malloc(sizeof(entry));
}

static void entry_put(gloop__entryq *q, entry *e) {
  if (q->nspare < MAX_SPARE) {
    gloop__queue_push(&q->spare, &e->node);
    q->nspare++;
  } else {
    free(e);
  }
}

/* Appends under the lock; the first entry since the last drain writes the
 * eventfd, which wakes an idle run. The write happens under the lock so the
 * fd cannot be closed by the run's end between the check and the write.
 * `node` is a reserved entry to use, or NULL to take one now. */
static int push_into(gloop__entryq *q, const entry *proto, entry *node) {
  pthread_mutex_lock(&q->mu);
  if (q->closed) {
    pthread_mutex_unlock(&q->mu);
    return GLOOP_ENORUN;
  }
  entry *e = node ? node : entry_get(q);
  if (e == NULL) {
    pthread_mutex_unlock(&q->mu);
    return GLOOP_ENOMEM;
  }
  *e = *proto;
  gloop__queue_push(&q->items, &e->node);
  atomic_store_explicit(&q->pending, 1, memory_order_release);
  if (!q->signalled) {
    q->signalled = 1;
    uint64_t one = 1;
    ssize_t w;
    do w = write(q->wakefd, &one, sizeof one);
    while (w < 0 && errno == EINTR);
  }
  pthread_mutex_unlock(&q->mu);
  return 0;
}

static int push(gloop__entryq *q, const entry *proto) { return push_into(q, proto, NULL); }

static void finish_call(call_wait *c, void *result, int status) {
  pthread_mutex_lock(&c->mu);
  c->result = result;
  c->status = status;
  c->done = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void run_entry(gloop__run *run, entry *e, int live) {
  switch (e->kind) {
    case ENTRY_POST:
      e->fn.post(e->arg);
      break;
    case ENTRY_START:
      if (live) {
        int rc = gloop__start_system_task(run, e->fn.task, e->arg, e->name);
        /* The post was accepted, so the failure must not vanish: it counts
         * as a failing system task. */
        if (rc && rc != GLOOP_ENORUN) gloop__system_task_failed(run, rc, e->name);
      }
      break;
    case ENTRY_CALL:
      finish_call(e->call, e->fn.work(e->arg), 0);
      break;
    case ENTRY_COMPLETE:
      if (live)
        gloop__job_completed(e->job);
      else
        gloop__job_free(e->job);
      break;
  }
}

void gloop__entryq_drain(gloop__run *run) {
  gloop__entryq *q = run->eq;
  if (!atomic_load_explicit(&q->pending, memory_order_acquire)) return;
  gloop__queue batch;
  pthread_mutex_lock(&q->mu);
  gloop__queue_move(&q->items, &batch);
  atomic_store(&q->pending, 0);
  q->signalled = 0;
  pthread_mutex_unlock(&q->mu);
  gloop__queue *n;
  while ((n = gloop__queue_pop(&batch)) != NULL) {
    entry *e = gloop__container_of(n, entry, node);
    run_entry(run, e, 1);
    pthread_mutex_lock(&q->mu);
    entry_put(q, e);
    pthread_mutex_unlock(&q->mu);
  }
}

void gloop__entryq_close_drain(gloop__run *run) {
  gloop__entryq *q = run->eq;
  pthread_mutex_lock(&q->mu);
  q->closed = 1;
  pthread_mutex_unlock(&q->mu);
  /* Nothing can be added any more; what was accepted runs as in any tick. */
  atomic_store(&q->pending, 1);
  gloop__entryq_drain(run);
}

void gloop__entryq_close(gloop__run *run) {
  gloop__entryq *q = run->eq;
  if (q == NULL) return;
  gloop__queue batch;
  pthread_mutex_lock(&q->mu);
  q->closed = 1;
  gloop__queue_move(&q->items, &batch);
  atomic_store(&q->pending, 0);
  pthread_mutex_unlock(&q->mu);
  gloop__queue *n;
  while ((n = gloop__queue_pop(&batch)) != NULL) {
    entry *e = gloop__container_of(n, entry, node);
    /* Only an abandoned run gets here with entries left (a finished run
     * drained them while live). Posts still run, in host context with no
     * run live, so that accepted work is never lost silently; a waiting
     * caller learns that the run was abandoned; a start has no run to
     * start in and nobody to tell, and is dropped (documented). */
    if (e->kind == ENTRY_CALL)
      finish_call(e->call, NULL, GLOOP_EABANDONED);
    else if (e->kind != ENTRY_START)
      run_entry(run, e, 0);
    free(e);
  }
  run->eq = NULL;
  gloop__entryq_unref(q);
}

void *gloop__entryq_reserve(gloop__entryq *q) {
  pthread_mutex_lock(&q->mu);
  entry *e = entry_get(q);
  pthread_mutex_unlock(&q->mu);
  return e;
}

void gloop__entryq_unreserve(void *reserved) { free(reserved); }

int gloop__entryq_complete(gloop__entryq *q, gloop__job *job) {
  entry proto = {.kind = ENTRY_COMPLETE, .job = job};
  /* Once published, the host may wake the task and the task may free the
   * job at once, so the job is not touched after push_into succeeds. */
  entry *node = job->reserved;
  job->reserved = NULL;
  int rc = push_into(q, &proto, node);
  if (rc) job->reserved = node; /* the run ended: the job is still ours */
  return rc;
}

/* ---- Tokens ----------------------------------------------------------------------- */

int gloop_token_new(gloop_token **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->finished || run->eq == NULL) return GLOOP_ENORUN;
  gloop_token *t = gloop__sys_malloc(sizeof *t);
  if (t == NULL) return GLOOP_ENOMEM;
  t->q = run->eq;
  atomic_fetch_add(&t->q->refs, 1);
  *out = t;
  return 0;
}

void gloop_token_free(gloop_token *t) {
  if (t == NULL) return;
  gloop__entryq_unref(t->q);
  free(t);
}

int gloop_token_post(gloop_token *t, gloop_callback_fn fn, void *data) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  entry proto = {.kind = ENTRY_POST, .fn.post = fn, .arg = data};
  return push(t->q, &proto);
}

int gloop_token_start(gloop_token *t, gloop_task_fn fn, void *arg, const char *name) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  entry proto = {.kind = ENTRY_START, .fn.task = fn, .arg = arg};
  snprintf(proto.name, sizeof proto.name, "%s", name ? name : "system");
  return push(t->q, &proto);
}

int gloop_token_call(gloop_token *t, gloop_work_fn fn, void *arg, void **result) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  pthread_mutex_lock(&t->q->mu);
  int closed = t->q->closed;
  pthread_mutex_unlock(&t->q->mu);
  if (closed) return GLOOP_ENORUN;
  if (pthread_equal(pthread_self(), t->q->host)) return GLOOP_EBUSY;
  call_wait c;
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  c.done = 0;
  c.status = 0;
  c.result = NULL;
  entry proto = {.kind = ENTRY_CALL, .fn.work = fn, .arg = arg, .call = &c};
  int rc = push(t->q, &proto);
  if (rc == 0) {
    pthread_mutex_lock(&c.mu);
    while (!c.done) pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    rc = c.status;
    if (result) *result = c.result;
  }
  pthread_cond_destroy(&c.cv);
  pthread_mutex_destroy(&c.mu);
  return rc;
}

/* Starts an accepted system task. After the main task has exited the system
 * nursery is cancelled, so the task sees GLOOP_ECANCELED at its first
 * checkpoint, but it does run: an accepted start is never dropped while the
 * run is live. */
int gloop__start_system_task(gloop__run *run, gloop_task_fn fn, void *arg, const char *name) {
  if (run->finished) return GLOOP_ENORUN;
  return gloop_nursery_start(&run->sys, fn, arg, name, NULL);
}

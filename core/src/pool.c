/* pool.c - the worker-thread pool behind gloop_to_thread(), with abandon-on-cancel. */
#include <errno.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

/* A job goes: queued -> running -> done (the worker queues a completion on
 * the run's entry queue and the host wakes the task), or -> abandoned (the
 * task stopped waiting, or the run went away; whoever sees the job last
 * frees it). `state` is the only field both sides change, by atomic
 * exchange, so exactly one side owns the job at the end.
 *
 * The pool is reference counted by the run and by each worker, because a
 * worker running an abandoned function may outlive the run. */

struct gloop__pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  gloop__queue jobs;
  /* Workers that exist, that wait for a job, and jobs queued but not yet
   * taken. A signalled worker stays idle until it wakes and takes a job, so
   * submit() compares queued jobs with idle workers: each queued job has an
   * idle worker of its own, or a new one is started while under the bound. */
  unsigned nthreads, nidle, nqueued, max;
  double idle_timeout;
  int closing;
  int refs;
};

enum { JOB_PENDING = GLOOP__JOB_PENDING, JOB_DONE = GLOOP__JOB_DONE, JOB_ABANDONED = GLOOP__JOB_ABANDONED };

static void pool_unref_locked(struct gloop__pool *p) {
  if (--p->refs > 0) {
    pthread_mutex_unlock(&p->mu);
    return;
  }
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

/* The job running on this worker thread, for gloop_thread_check_cancelled(). */
static _Thread_local gloop__job *current_job;

/* Host thread: asks the job to stop early. The flag is set before the fd is
 * looked at, and the worker publishes the fd before it looks at the flag,
 * so a cancel fd made while the request arrives is written at least once. */
static void request_cancel(gloop__job *job) {
  if (atomic_exchange(&job->cancel_requested, 1)) return;
  int fd = atomic_load(&job->cancel_fd);
  if (fd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w;
  }
}

static void job_free(gloop__job *job) {
  int fd = atomic_load(&job->cancel_fd);
  if (fd >= 0) close(fd);
  gloop__stack_unmap(&job->stack);
  gloop__entryq_unref(job->eq);
  free(job);
}

/* Host thread: the job's completion arrived through the entry queue. The
 * task is woken, unless it stopped waiting meanwhile (then nobody wants the
 * result) or the run was abandoned (run is NULL). */
static void job_arrived(gloop__entry *e, gloop__run *run) {
  gloop__job *job = gloop__container_of(e, gloop__job, done);
  if (run == NULL || job->detached)
    job_free(job);
  else
    gloop__task_wake(job->task, 0);
}

/* Worker side. The completion is embedded in the job, so queueing it cannot
 * fail for lack of memory; it fails only when the run has ended, and the
 * job is then still the worker's. */
static void finish_job(gloop__job *job) {
  int expected = JOB_PENDING;
  if (atomic_compare_exchange_strong(&job->state, &expected, JOB_DONE)) {
    /* Once queued, the host may wake the task and the task may free the job
     * at once, so the job is not touched after a successful push. */
    if (gloop__entryq_push(job->eq, &job->done) != 0) job_free(job); /* run ended */
  } else {
    job_free(job); /* abandoned: nobody wants the result */
  }
}

static void *worker_main(void *arg) {
  struct gloop__pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    gloop__queue *n = gloop__queue_pop(&p->jobs);
    if (n == NULL) {
      if (p->closing) break;
      p->nidle++;
      struct timespec ts;
      int forever = gloop__mono_deadline_ts(p->idle_timeout, &ts);
      int rc = 0;
      while (gloop__queue_empty(&p->jobs) && !p->closing && rc != ETIMEDOUT)
        rc = forever ? pthread_cond_wait(&p->cv, &p->mu) : pthread_cond_timedwait(&p->cv, &p->mu, &ts);
      p->nidle--;
      if (gloop__queue_empty(&p->jobs) && (rc == ETIMEDOUT || p->closing)) break;
      continue;
    }
    p->nqueued--;
    gloop__job *job = gloop__container_of(n, gloop__job, node);
    pthread_mutex_unlock(&p->mu);
    if (atomic_load(&job->state) == JOB_ABANDONED) {
      job_free(job);
    } else {
      current_job = job;
      job->result = job->fn(job->arg);
      current_job = NULL;
      finish_job(job);
    }
    pthread_mutex_lock(&p->mu);
  }
  p->nthreads--;
  pool_unref_locked(p);
  return NULL;
}

static struct gloop__pool *pool_get(gloop__run *run) {
  if (run->tpool) return run->tpool;
  struct gloop__pool *p = gloop__sys_calloc(sizeof *p);
  if (p == NULL) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  gloop__queue_init(&p->jobs);
  p->max = run->max_threads;
  p->idle_timeout = run->thread_idle;
  p->refs = 1;
  run->tpool = p;
  return p;
}

/* Queues the job and makes sure a worker will take it: an idle one, or a
 * new one while under the bound. Fails only if no worker exists at all. */
static int submit(struct gloop__pool *p, gloop__job *job) {
  pthread_mutex_lock(&p->mu);
  if (p->nqueued + 1 > p->nidle && p->nthreads < p->max) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    if (!gloop__fault(GLOOP_FAULT_THREAD) && pthread_create(&th, &attr, worker_main, p) == 0) {
      p->nthreads++;
      p->refs++;
    } else if (p->nthreads == 0) {
      pthread_attr_destroy(&attr);
      pthread_mutex_unlock(&p->mu);
      return GLOOP_ENOMEM;
    }
    pthread_attr_destroy(&attr);
  }
  gloop__queue_push(&p->jobs, &job->node);
  p->nqueued++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

void gloop__pool_close(struct gloop__pool *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&p->mu);
  p->closing = 1;
  pthread_cond_broadcast(&p->cv);
  pool_unref_locked(p);
}

/* The task stopped waiting (cancelled with abandon-on-cancel, or the run is
 * being abandoned). If the worker has not finished, it will free the job;
 * if the completion is already queued, the host frees it on arrival. */
/* A scope around the waiting task was cancelled, but the task waits on
 * (no abandon-on-cancel): the job may notice and return early. */
static void job_notify_cancel(gloop_task *t) { request_cancel(t->wait_obj); }

static void job_unwait(gloop_task *t) {
  gloop__job *job = t->wait_obj;
  gloop__run *run = t->run;
  job->detached = 1;
  /* Nobody waits for the result any more: the job may as well stop. This
   * comes before the exchange below, after which the worker may free it. */
  request_cancel(job);
  /* When the run is being abandoned, the task's stack is about to be
   * unmapped while the job's function may still read it (through its
   * argument, a local of the task): the stack goes with the job, and
   * whoever frees the job unmaps it. It is handed over before the
   * exchange, because from the exchange on the worker may free the job. */
  int abandoning = run->phase == GLOOP__RUN_ABANDONED;
  if (abandoning) gloop__stack_hand_over(run, &t->stack, &job->stack);
  int expected = JOB_PENDING;
  if (!atomic_compare_exchange_strong(&job->state, &expected, JOB_ABANDONED) && abandoning)
    gloop__stack_take_back(run, &job->stack, &t->stack); /* done already: nothing reads it */
}

int gloop_to_thread(gloop_work_fn fn, void *arg, int flags, void **result) {
  int rc = 0;
  gloop_task *t = gloop__task_current(&rc);
  if (t == NULL) return rc;
  if (fn == NULL || (flags & ~GLOOP_THREAD_ABANDON_ON_CANCEL)) return GLOOP_EINVAL;
  if ((rc = gloop__task_check_cancel(t)) != 0) return rc;
  gloop__run *run = t->run;
  struct gloop__pool *p = pool_get(run);
  if (p == NULL) return GLOOP_ENOMEM;
  gloop__job *job = gloop__sys_calloc(sizeof *job);
  if (job == NULL) return GLOOP_ENOMEM;
  job->fn = fn;
  job->arg = arg;
  job->task = t;
  job->done.fn = job_arrived;
  atomic_init(&job->cancel_fd, -1);
  job->eq = run->eq;
  gloop__entryq_ref(job->eq);
  if ((rc = submit(p, job)) != 0) {
    job_free(job);
    return rc;
  }
  int abandon = (flags & GLOOP_THREAD_ABANDON_ON_CANCEL) != 0;
  if (!abandon) t->notify_cancel = job_notify_cancel;
  rc = gloop__block(t, job_unwait, job, abandon);
  if (rc == GLOOP_ECANCELED) return rc; /* the job now belongs to the worker or host */
  if (result) *result = job->result;
  job_free(job);
  return gloop__task_check_cancel(t);
}

/* ---- Inside a job ---------------------------------------------------------------- */

int gloop_thread_check_cancelled(void) {
  gloop__job *job = current_job;
  if (job == NULL) return GLOOP_EWRONGTHREAD;
  return atomic_load(&job->cancel_requested) ? GLOOP_ECANCELED : 0;
}

int gloop_thread_cancel_fd(void) {
  gloop__job *job = current_job;
  if (job == NULL) return GLOOP_EWRONGTHREAD;
  int fd = atomic_load(&job->cancel_fd);
  if (fd >= 0) return fd;
  if (gloop__fault(GLOOP_FAULT_FD)) return GLOOP_ENOMEM;
  fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return (errno == EMFILE || errno == ENFILE) ? GLOOP_EMFILE : GLOOP_ENOMEM;
  /* Only this thread makes the fd; the host only reads cancel_fd. */
  atomic_store(&job->cancel_fd, fd);
  if (atomic_load(&job->cancel_requested)) {
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w;
  }
  return fd;
}

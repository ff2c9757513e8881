/* sync.c - events, semaphores and locks: FIFO wait queues on the one blocking protocol. */
#include "internal.h"

/* Each object keeps its waiting tasks in a FIFO through the task's `node`
 * (a blocked task is on no ready queue, so the node is free). The common
 * unwait removes a task from whichever queue holds it; that is all that
 * cancellation, abandon and freeing need. */


static int wait_on(gloop__queue *q, gloop_task *t, void *data) {
  t->wait_data = data;
  gloop__queue_push(q, &t->node);
  return gloop__block(t, gloop__unwait_queue, q, GLOOP__WAIT_CANCELLABLE);
}

/* Wakes every waiter with `result`; used by set, close and free. */
static void wake_all(gloop__queue *q, int result) {
  gloop_task *t;
  while ((t = gloop__pop_waiter(q)) != NULL) gloop__task_wake(t, result);
}

/* Freeing an object while tasks wait on it wakes them with EDESTROYED. That
 * is only safe on the run's own thread; from elsewhere the object is left
 * allocated (a leak, reported) rather than corrupting the run. */
static int release_waiters(const gloop__bound *b, gloop__queue *q, const char *what) {
  if (gloop__queue_empty(q)) return 1;
  if (gloop__bound_check(b) != 0) {
    fprintf(stderr, "guestloop: %s freed from a thread that does not own its run while "
                    "tasks wait on it; leaking it instead\n", what);
    return 0;
  }
  wake_all(q, GLOOP_EDESTROYED);
  return 1;
}

static gloop_task *task_for(const gloop__bound *b, int *rc) {
  gloop_task *t = gloop__task_current(rc);
  if (t == NULL) return NULL;
  *rc = gloop__bound_check(b);
  return *rc ? NULL : t;
}

/* ---- Event ------------------------------------------------------------------- */

struct gloop_event {
  gloop__bound b;
  gloop__queue waiters;
  int set;
  uint32_t ref;                 /* handle slot + 1 in its run, 0 = none given out */
};

int gloop_event_new(gloop_event **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop__bound b;
  int rc = gloop__bind(&b);
  if (rc) return rc;
  gloop_event *ev = gloop__calloc(&b.alloc, sizeof *ev);
  if (ev == NULL) return GLOOP_ENOMEM;
  ev->b = b;
  gloop__queue_init(&ev->waiters);
  *out = ev;
  return 0;
}

void gloop_event_free(gloop_event *ev) {
  if (ev == NULL || !release_waiters(&ev->b, &ev->waiters, "event")) return;
  if (ev->ref != 0) {
    /* Its ref must stop resolving before the memory goes. That table is
     * the run's: gone with it once the run has ended, and touched only on
     * the run's own thread while it lives. */
    int rc = gloop__bound_check(&ev->b);
    if (rc == GLOOP_EWRONGTHREAD) {
      fprintf(stderr, "guestloop: event with a ref freed from a thread that does not own "
                      "its run; leaking it instead\n");
      return;
    }
    if (rc == 0) gloop__ref_drop(ev->b.run, &ev->ref);
  }
  gloop__free(&ev->b.alloc, ev);
}

int gloop_event_set(gloop_event *ev) {
  if (ev == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&ev->b);
  if (rc) return rc;
  ev->set = 1;
  wake_all(&ev->waiters, 0);
  return 0;
}

int gloop_event_is_set(const gloop_event *ev) { return ev ? ev->set : 0; }

int gloop_event_clear(gloop_event *ev) {
  if (ev == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&ev->b);
  if (rc) return rc;
  /* Nobody waits on a set event (setting woke them all), so clearing only
   * decides what later waits see. */
  ev->set = 0;
  return 0;
}

int gloop_event_get_ref(gloop_event *ev, gloop_event_ref *out) {
  if (ev == NULL || out == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&ev->b);
  if (rc) return rc;
  return gloop__ref_make(ev->b.run, &ev->ref, GLOOP__REF_EVENT, ev, &out->run_, &out->id_);
}

int gloop_event_ref_set(gloop_event_ref ref) {
  int rc = 0;
  gloop_event *ev = gloop__ref_resolve(ref.run_, ref.id_, GLOOP__REF_EVENT, &rc);
  return ev ? gloop_event_set(ev) : rc;
}

int gloop_event_wait(gloop_event *ev) {
  if (ev == NULL) return GLOOP_EINVAL;
  int rc;
  gloop_task *t = task_for(&ev->b, &rc);
  if (t == NULL) return rc;
  if (ev->set) return gloop_checkpoint();
  return wait_on(&ev->waiters, t, NULL);
}

/* ---- Semaphore ------------------------------------------------------------------- */

struct gloop_semaphore {
  gloop__bound b;
  gloop__queue waiters;
  unsigned value;
  unsigned max;
};

int gloop_semaphore_new(unsigned initial, unsigned max_value, gloop_semaphore **out) {
  if (out == NULL || (max_value && initial > max_value)) return GLOOP_EINVAL;
  gloop__bound b;
  int rc = gloop__bind(&b);
  if (rc) return rc;
  gloop_semaphore *s = gloop__calloc(&b.alloc, sizeof *s);
  if (s == NULL) return GLOOP_ENOMEM;
  s->b = b;
  s->value = initial;
  s->max = max_value;
  gloop__queue_init(&s->waiters);
  *out = s;
  return 0;
}

void gloop_semaphore_free(gloop_semaphore *s) {
  if (s == NULL || !release_waiters(&s->b, &s->waiters, "semaphore")) return;
  gloop__free(&s->b.alloc, s);
}

int gloop_semaphore_acquire(gloop_semaphore *s) {
  if (s == NULL) return GLOOP_EINVAL;
  int rc;
  gloop_task *t = task_for(&s->b, &rc);
  if (t == NULL) return rc;
  rc = gloop__task_check_cancel(t);
  if (rc) return rc;
  if (s->value > 0 && gloop__queue_empty(&s->waiters)) {
    s->value--;
    return 0;
  }
  /* A release hands its unit straight to the first waiter, so a woken
   * waiter owns a unit without touching value. */
  return wait_on(&s->waiters, t, NULL);
}

int gloop_semaphore_release(gloop_semaphore *s) {
  if (s == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&s->b);
  if (rc) return rc;
  gloop_task *w = gloop__pop_waiter(&s->waiters);
  if (w) {
    gloop__task_wake(w, 0);
    return 0;
  }
  if (s->max && s->value >= s->max) return GLOOP_EBUSY;
  if (s->value == UINT_MAX) return GLOOP_EOVERFLOW;
  s->value++;
  return 0;
}

unsigned gloop_semaphore_value(const gloop_semaphore *s) { return s ? s->value : 0; }

/* ---- Lock ------------------------------------------------------------------------ */

/* The owner is identified by record and serial: a task that ended while
 * holding the lock leaves a stale pointer behind, and a recycled record must
 * not inherit its ownership. */
struct gloop_lock {
  gloop__bound b;
  gloop__queue waiters;
  gloop_task *owner;
  uint64_t owner_serial;
};

static int owned_by(const gloop_lock *l, const gloop_task *t) {
  return l->owner == t && l->owner_serial == t->serial;
}

int gloop_lock_new(gloop_lock **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop__bound b;
  int rc = gloop__bind(&b);
  if (rc) return rc;
  gloop_lock *l = gloop__calloc(&b.alloc, sizeof *l);
  if (l == NULL) return GLOOP_ENOMEM;
  l->b = b;
  gloop__queue_init(&l->waiters);
  *out = l;
  return 0;
}

void gloop_lock_free(gloop_lock *l) {
  if (l == NULL || !release_waiters(&l->b, &l->waiters, "lock")) return;
  gloop__free(&l->b.alloc, l);
}

int gloop_lock_acquire(gloop_lock *l) {
  if (l == NULL) return GLOOP_EINVAL;
  int rc;
  gloop_task *t = task_for(&l->b, &rc);
  if (t == NULL) return rc;
  if (owned_by(l, t)) return GLOOP_EBUSY;
  rc = gloop__task_check_cancel(t);
  if (rc) return rc;
  if (l->owner == NULL) {
    l->owner = t;
    l->owner_serial = t->serial;
    return 0;
  }
  /* Release makes the first waiter the owner before waking it (FIFO, no
   * barging). */
  return wait_on(&l->waiters, t, NULL);
}

int gloop_lock_release(gloop_lock *l) {
  if (l == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&l->b);
  if (rc) return rc;
  gloop_task *t = gloop__task_current(&rc);
  if (t == NULL) return rc;
  if (!owned_by(l, t)) return GLOOP_EPERM;
  l->owner = gloop__pop_waiter(&l->waiters);
  if (l->owner) {
    l->owner_serial = l->owner->serial;
    gloop__task_wake(l->owner, 0);
  }
  return 0;
}

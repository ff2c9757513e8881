/* cancel.c - cancel scopes: the scope tree, deadlines, shields and delivering cancellation to blocked tasks. */
#include <math.h>

#include "internal.h"

/* Scopes form a tree that mirrors the tasks' nesting: a scope's parent is the
 * scope that was innermost in its task when it opened, and a nursery's child
 * tasks hang below the nursery's scope. Each task is listed in exactly one
 * scope, its innermost. Cancelling a scope walks its subtree, stopping at
 * shields, and wakes every task blocked in a cancellable wait there; tasks
 * that are running or ready see the cancellation at their next checkpoint,
 * because every blocking call first checks its scope chain (walking it
 * again only after something has changed: gloop__task_check_cancel). */

/* The scope's deadline has passed: cancel it, and remember why, which
 * decides what closing a GLOOP_SCOPE_FAIL scope returns. */
static void deadline_passed(struct gloop_scope *s) {
  s->deadline_fired = 1;
  gloop__scope_cancel(s); /* also disarms the deadline timer */
}

static void scope_fired(gloop__timer *tm) {
  deadline_passed(gloop__container_of(tm, struct gloop_scope, timer));
}

void gloop__scope_init(gloop__run *run, struct gloop_scope *s, struct gloop_scope *parent,
                       gloop_task *owner) {
  s->parent = parent;
  s->run = run;
  s->token = run->token;
  s->owner = owner;
  gloop__queue_init(&s->children);
  gloop__queue_init(&s->sibling);
  gloop__queue_init(&s->tasks);
  s->timer.index = GLOOP__NOT_ARMED;
  s->timer.fire = scope_fired;
  s->deadline = GLOOP__NS_INF;
  if (parent) gloop__queue_push(&parent->children, &s->sibling);
}

void gloop__scope_fini(struct gloop_scope *s) {
  gloop__timer_disarm(s->run, &s->timer);
  gloop__queue_remove(&s->sibling);
}

void gloop__scope_attach(struct gloop_scope *s, gloop_task *t) {
  gloop__queue_remove(&t->scope_node);
  gloop__queue_push(&s->tasks, &t->scope_node);
  t->scope = s;
  t->cancel_clear = 0;
}

void gloop__scope_detach(gloop_task *t) {
  gloop__queue_remove(&t->scope_node);
  t->scope = NULL;
  t->cancel_clear = 0;
}

static void wake_cancelled(gloop_task *t) {
  if (t->state != GLOOP__TASK_BLOCKED) return;
  if (t->cancellable == GLOOP__WAIT_TELLS_JOB) {
    if (gloop__cancel_reaches(t, t->scope, 0)) gloop__job_cancel_requested(t->wait_obj);
    return;
  }
  if (t->cancellable != GLOOP__WAIT_CANCELLABLE) return;
  int rc = gloop__task_check_cancel(t);
  if (rc == 0) return;
  if (t->unwait) t->unwait(t);
  gloop__task_wake(t, rc);
}

static void deliver(struct gloop_scope *s) {
  gloop__queue *q, *next;
  for (q = s->tasks.next; q != &s->tasks; q = next) {
    next = q->next; /* waking moves the task's node to the ready queue, not this one */
    wake_cancelled(gloop__container_of(q, gloop_task, scope_node));
  }
  for (q = s->children.next; q != &s->children; q = q->next) {
    struct gloop_scope *c = gloop__container_of(q, struct gloop_scope, sibling);
    if (!c->shield && !c->cancelled) deliver(c);
  }
}

void gloop__scope_cancel(struct gloop_scope *s) {
  if (s->cancelled) return;
  s->cancelled = 1;
  s->run->cancel_gen++;
  gloop__timer_disarm(s->run, &s->timer);
  deliver(s);
}

/* A task's own cancellation sits just outside the scopes the task opened
 * (gloop__task_check_cancel() meets it there), so delivering it means
 * waking the tasks below the outermost of those scopes, or the task itself
 * if it has none open. */
void gloop__task_cancel(gloop_task *t) {
  if (t->cancel_called || t->state == GLOOP__TASK_DONE) return;
  t->cancel_called = 1;
  t->run->cancel_gen++;
  struct gloop_scope *outer = NULL;
  for (struct gloop_scope *s = t->scope; s && s->owner == t; s = s->parent) outer = s;
  if (outer != NULL)
    deliver(outer);
  else
    wake_cancelled(t);
}

/* ---- Public API ------------------------------------------------------------ */

static int check_scope(const struct gloop_scope *s) {
  if (s == NULL) return GLOOP_EINVAL;
  return gloop__run_check(s->run, s->token);
}

int gloop_scope_open(double deadline, int flags, gloop_scope **out) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  if (out == NULL || isnan(deadline) || (flags & ~(GLOOP_SCOPE_SHIELD | GLOOP_SCOPE_FAIL)))
    return GLOOP_EINVAL;
  struct gloop_scope *s = gloop__calloc(&t->run->alloc, sizeof *s);
  if (s == NULL) return GLOOP_ENOMEM;
  gloop__scope_init(t->run, s, t->scope, t);
  s->shield = (flags & GLOOP_SCOPE_SHIELD) != 0;
  s->fail = (flags & GLOOP_SCOPE_FAIL) != 0;
  gloop__ns d = gloop__sec_to_ns(deadline);
  if (d != GLOOP__NS_INF && d <= gloop__run_now(t->run)) {
    /* As in Trio, a deadline already past cancels the scope as it opens, so
     * the first checkpoint inside sees it, however the tick is timed. */
    s->deadline = d;
    gloop__scope_attach(s, t);
    deadline_passed(s);
    *out = s;
    return 0;
  }
  if (d != GLOOP__NS_INF) {
    s->deadline = d;
    int rc = gloop__timer_arm(t->run, &s->timer, d);
    if (rc) {
      gloop__scope_fini(s);
      gloop__free(&t->run->alloc, s);
      return rc;
    }
  }
  gloop__scope_attach(s, t);
  *out = s;
  return 0;
}

static int open_after(double seconds, int flags, gloop_scope **out) {
  if (isnan(seconds) || seconds < 0) return GLOOP_EINVAL;
  double now = gloop_now();
  if (isnan(now)) return GLOOP_ENOTTASK;
  return gloop_scope_open(now + seconds, flags, out);
}

int gloop_move_on_after(double seconds, gloop_scope **out) { return open_after(seconds, 0, out); }

int gloop_fail_after(double seconds, gloop_scope **out) {
  return open_after(seconds, GLOOP_SCOPE_FAIL, out);
}

int gloop_scope_close(gloop_scope *s) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  if (s == NULL || s->owner != t || t->scope != s || s->is_nursery) return GLOOP_EINVAL;
  gloop__assert(gloop__queue_empty(&s->children));
  gloop__scope_attach(s->parent, t);
  gloop__scope_fini(s);
  gloop__ref_drop(t->run, &s->ref);
  int rc = (s->fail && s->deadline_fired) ? GLOOP_ETIMEDOUT : 0;
  if (rc) gloop__set_last_message("deadline expired (fail_after)");
  gloop__free(&t->run->alloc, s);
  return rc;
}

int gloop_scope_cancel(gloop_scope *s) {
  int rc = check_scope(s);
  if (rc) return rc;
  gloop__scope_cancel(s);
  return 0;
}

int gloop_scope_set_deadline(gloop_scope *s, double deadline) {
  int rc = check_scope(s);
  if (rc) return rc;
  if (isnan(deadline)) return GLOOP_EINVAL;
  gloop__ns d = gloop__sec_to_ns(deadline);
  s->deadline = d;
  if (s->cancelled) return 0;
  if (d == GLOOP__NS_INF) {
    gloop__timer_disarm(s->run, &s->timer);
    return 0;
  }
  if (d <= gloop__run_now(s->run)) {
    /* Already past: cancel now, as opening the scope with it would. */
    deadline_passed(s);
    return 0;
  }
  return gloop__timer_arm(s->run, &s->timer, d);
}

double gloop_scope_deadline(const gloop_scope *s) {
  return s ? gloop__ns_to_sec(s->deadline) : NAN;
}

int gloop_scope_set_shield(gloop_scope *s, int shield) {
  int rc = check_scope(s);
  if (rc) return rc;
  int was = s->shield;
  s->shield = shield != 0;
  if (was && !s->shield) s->run->cancel_gen++;
  /* Dropping a shield exposes the subtree to a cancellation already
   * delivered above it, a cancelled task (its owner's or an outer one's)
   * included. */
  if (was && !s->shield && !s->cancelled && gloop__cancel_reaches(s->owner, s->parent, 0))
    deliver(s);
  return 0;
}

int gloop_scope_cancel_called(const gloop_scope *s) { return s ? s->cancelled : 0; }

int gloop_scope_cancelled_caught(const gloop_scope *s) { return s ? s->caught : 0; }

int gloop_cancel_run(void) {
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->phase != GLOOP__RUN_LIVE) return GLOOP_ENORUN;
  gloop__scope_cancel(&run->root);
  return 0;
}

/* nursery.c - nurseries: child tasks, the first failure cancelling its siblings, and close waiting for all. */
#include <string.h>

#include "internal.h"

static char *dup_message(gloop__run *run, const char *m) {
  size_t n = strlen(m) + 1;
  char *p = gloop__malloc(&run->alloc, n);
  if (p) memcpy(p, m, n);
  return p;
}

int gloop_nursery_open(gloop_nursery **out) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  if (out == NULL) return GLOOP_EINVAL;
  gloop_nursery *n = gloop__calloc(&t->run->alloc, sizeof *n);
  if (n == NULL) return GLOOP_ENOMEM;
  gloop__scope_init(t->run, &n->scope, t->scope, t);
  n->scope.is_nursery = 1;
  n->owner = t;
  gloop__scope_attach(&n->scope, t);
  *out = n;
  return 0;
}

static int start_child(gloop_nursery *n, gloop_task_fn fn, void *arg, const char *name,
                       size_t stack_size, gloop_task **out) {
  if (n == NULL || fn == NULL) return GLOOP_EINVAL;
  int rc = gloop__run_check(n->scope.run, n->scope.token);
  if (rc) return rc;
  if (stack_size != 0 && (stack_size < GLOOP_MIN_STACK_SIZE || stack_size > GLOOP_MAX_STACK_SIZE))
    return GLOOP_ESTACKSIZE;
  /* Starting more children is allowed while the owner waits in close, as
   * long as one child still lives; once the last has ended the owner is
   * already on its way out and the nursery is about to be freed. */
  if (n->closing && n->nchildren == 0) return GLOOP_ECLOSED;
  if (stack_size) {
    size_t page = gloop__page_size();
    stack_size = (stack_size + page - 1) / page * page;
  }
  gloop_task *t;
  rc = gloop__task_spawn(n->scope.run, n, fn, arg, name, stack_size, &t);
  if (rc) return rc;
  n->nchildren++;
  gloop__scope_attach(&n->scope, t);
  if (out) *out = t;
  return 0;
}

/* Every failure leaves a matching gloop_last_message(): the specific one
 * set on the way (the mapping limit), or the code's own message. */
int gloop_nursery_start_ex(gloop_nursery *n, gloop_task_fn fn, void *arg, const char *name,
                           size_t stack_size, gloop_task **out) {
  gloop__set_last_message("");
  int rc = start_child(n, fn, arg, name, stack_size, out);
  if (rc && gloop_last_message()[0] == '\0') gloop__set_last_message(gloop_strerror(rc));
  return rc;
}

int gloop_nursery_start(gloop_nursery *n, gloop_task_fn fn, void *arg, const char *name,
                        gloop_task **out) {
  return gloop_nursery_start_ex(n, fn, arg, name, 0, out);
}

int gloop_nursery_cancel(gloop_nursery *n) {
  if (n == NULL) return GLOOP_EINVAL;
  int rc = gloop__run_check(n->scope.run, n->scope.token);
  if (rc) return rc;
  gloop__scope_cancel(&n->scope);
  return 0;
}

/* A child that returns GLOOP_ECANCELED while a scope above it (or the child
 * or an owner above it, through a task ref) really is cancelled did what it
 * was asked: that is not a failure. */
static int expected_cancel(const gloop_task *t, gloop_nursery *n) {
  if (t->status != GLOOP_ECANCELED) return 0;
  /* The child's scopes are closed by now: its chain starts at the nursery. */
  return gloop__cancel_reaches(t, &n->scope, 0);
}

void gloop__nursery_child_done(gloop_nursery *n, gloop_task *t) {
  n->nchildren--;
  if (t->status != 0 && n->status == 0 && !expected_cancel(t, n)) {
    n->status = t->status;
    char buf[300];
    snprintf(buf, sizeof buf, "task '%s' failed: %s", t->name,
             t->message ? t->message : gloop_strerror(t->status));
    n->message = dup_message(t->run, buf);
    gloop__scope_cancel(&n->scope);
    /* A failing system task ends the whole run, as in Trio. */
    if (n == &t->run->sys) {
      t->run->sys_failed = 1;
      gloop__scope_cancel(&t->run->root);
    }
  }
  if (n->nchildren == 0 && n->owner_waiting) {
    n->owner_waiting = 0;
    gloop__task_wake(n->owner, 0);
  }
}

static int close_nursery(gloop_task *t, gloop_nursery *n) {
  n->closing = 1;
  while (n->nchildren > 0) {
    n->owner_waiting = 1;
    /* Not cancellable: when a scope above is cancelled, the children are
     * cancelled with it, and close still waits for them to finish. */
    gloop__block(t, NULL, n, GLOOP__WAIT_FIRM);
  }
  gloop__scope_attach(n->scope.parent, t);
  gloop__scope_fini(&n->scope);
  gloop__ref_drop(t->run, &n->scope.ref);
  int rc = n->status;
  if (rc) gloop__set_last_message(n->message ? n->message : gloop_strerror(rc));
  gloop__free(&t->run->alloc, n->message);
  gloop__free(&t->run->alloc, n);
  return rc;
}

int gloop_nursery_close(gloop_nursery *n) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  if (n == NULL || n->owner != t || t->scope != &n->scope) return GLOOP_EINVAL;
  return close_nursery(t, n);
}

void gloop__system_task_failed(gloop__run *run, int rc, const char *name) {
  gloop_nursery *n = &run->sys;
  if (n->status == 0) {
    n->status = rc;
    char buf[300];
    snprintf(buf, sizeof buf, "system task '%s' could not start: %s", name, gloop_strerror(rc));
    n->message = dup_message(run, buf);
  }
  run->sys_failed = 1;
  gloop__scope_cancel(&run->root);
}

void gloop__task_close_leftovers(gloop_task *t) {
  int left = 0;
  while (t->scope && t->scope->owner == t) {
    struct gloop_scope *s = t->scope;
    left++;
    if (s->is_nursery) {
      gloop_nursery *n = gloop__container_of(s, gloop_nursery, scope);
      gloop__scope_cancel(s);
      int rc = close_nursery(t, n);
      if (rc && t->status == 0) t->status = rc;
    } else {
      gloop_scope_close(s);
    }
  }
  if (left && t->status == 0) {
    t->status = gloop_fail(GLOOP_EINVAL,
                           "task '%s' returned with %d cancel scope(s) or nursery(ies) "
                           "still open; they were cancelled and closed",
                           t->name, left);
  }
}

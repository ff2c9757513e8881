/* task.c - task records, the switch between scheduler and tasks, the blocking protocol, sleeps and checkpoints. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "asan_hooks.h"
#include "internal.h"

#ifdef GLOOP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* ---- Switching ------------------------------------------------------------
 *
 * The scheduler (on the host thread's own stack) starts each batch by
 * resuming its first task in resume(). A task that suspends hands over
 * directly to the next task of the batch, if there is one, and switches back
 * to the scheduler only when the batch is used up: one switch per step
 * instead of two (task -> scheduler -> task). The hand-over leaves the
 * switch by ret, which keeps the return-stack predictor in step (see
 * gloop__ctx_handoff in ctx_x86_64.S); without that it was no faster than
 * the two switches. The order is the same either way, the batch's, and
 * everything the scheduler did between two steps (marking the current task,
 * freeing a finished one, fetching the next one ahead) is done by the
 * hand-over too.
 * AddressSanitizer is told about each stack change so that it keeps
 * tracking the right stack, also when only the application was built with
 * it (asan_hooks.h); valgrind learns the stacks in stack.c. */

/* With many tasks, a resume misses the cache (and the TLB) on the task's
 * record and on the top of its stack: the switch pops the saved registers,
 * and the task then returns through the frames between its function and the
 * switch (after gloop_checkpoint() two or three lines of stack, deeper waits
 * more), each a separate miss that the hardware prefetcher cannot guess.
 * The ready queue says who comes next, so each step fetches ahead in two
 * stages: the record of the task two places on, and the stack top of the
 * task one place on, whose record (with the saved stack pointer) was
 * fetched by the step before. Reading that pointer from a record not yet in
 * the cache would stall the step on the miss it is trying to hide. The
 * whole record and twelve lines of stack are fetched (three lines, or only
 * the record's first 64 bytes where a step's fields are, measured no
 * faster). A prefetch never faults and changes no state: a task that leaves
 * the queue before its turn only makes one fetch useless. The ucontext
 * backend keeps its stack pointer inside the ucontext_t and pays a system
 * call per switch, so only records are fetched there. */
enum { PREFETCH_RECORD_LINES = (sizeof(gloop_task) + 63) / 64, PREFETCH_STACK_LINES = 12 };

static void prefetch_ahead(const gloop__run *run, const gloop__queue *n) {
  const gloop__queue *n1 = n->next;
  if (n1 == &run->runq) return;
#if defined(GLOOP_CTX_ASM)
  const char *sp = gloop__container_of(n1, gloop_task, node)->ctx.sp;
  if (sp != NULL)
    for (int i = 0; i < PREFETCH_STACK_LINES; i++) __builtin_prefetch(sp + 64 * i);
#endif
  const gloop__queue *n2 = n1->next;
  if (n2 == &run->runq) return;
  for (int i = 0; i < PREFETCH_RECORD_LINES; i++) __builtin_prefetch((const char *)n2 + 64 * i);
}

/* Takes the batch's next task off the ready queue, marks it running and
 * fetches ahead; NULL when the batch is used up. Ready tasks leave the
 * queue only here, so the batch's last node is still queued. */
static gloop_task *batch_take(gloop__run *run) {
  if (run->batch_last == NULL) return NULL;
  gloop__queue *n = run->runq.next;
  if (n == run->batch_last)
    run->batch_last = NULL;
  else
    prefetch_ahead(run, n);
  gloop__queue_remove(n);
  gloop_task *t = gloop__container_of(n, gloop_task, node);
  run->steps++;
  run->current = t;
  t->state = GLOOP__TASK_RUNNING;
  return t;
}

/* A finished task cannot free the stack it is running on; whoever runs next
 * (the scheduler, or the task it handed over to) does it, after the switch
 * away from it. */
static void free_dead(gloop__run *run) {
  gloop_task *d = run->dead;
  run->dead = NULL;
  gloop__task_free(d);
}

static void resume(gloop__run *run, gloop_task *t) {
#ifdef GLOOP_TSAN
  if (run->tsan_sched_fiber == NULL) run->tsan_sched_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
  run->sched_resumes++;
  if (gloop__asan_present()) run->asan_from_sched = 1;
  gloop__asan_start_switch(&run->sched_fake_stack, (char *)t->stack.base + t->stack.guard,
                           t->stack.map_size - t->stack.guard);
  gloop__ctx_switch(&run->sched_ctx, &t->ctx);
  gloop__asan_finish_switch(run->sched_fake_stack, NULL, NULL);
  run->current = NULL;
  if (run->dead) free_dead(run);
}

/* First thing on a task's stack after any switch into it. Only an arrival
 * from the scheduler reports the scheduler's stack to ASan; a hand-over
 * comes from another task's. */
static void task_arrived(gloop__run *run, gloop_task *t) {
  if (gloop__asan_present()) {
    int s = run->asan_from_sched;
    gloop__asan_finish_switch(t->asan_fake_stack, s ? &run->sched_stack_bottom : NULL,
                              s ? &run->sched_stack_size : NULL);
  }
  if (run->dead) free_dead(run);
}

/* Leaves task t, which is no longer running (final: it has finished), for
 * the batch's next task or else the scheduler, and returns when t is
 * resumed. Always inlined into the few functions that suspend: a frame of
 * its own between them and the switch would be one more return to predict
 * after every resume (see gloop__ctx_handoff in ctx_x86_64.S). */
static inline __attribute__((always_inline)) void suspend(gloop_task *t, int final) {
  gloop__run *run = t->run;
  void **save = final ? NULL : &t->asan_fake_stack;
  gloop_task *u = batch_take(run);
  if (u != NULL) {
#ifdef GLOOP_TSAN
    __tsan_switch_to_fiber(u->tsan_fiber, 0);
#endif
    if (gloop__asan_present()) run->asan_from_sched = 0;
    gloop__asan_start_switch(save, (char *)u->stack.base + u->stack.guard,
                             u->stack.map_size - u->stack.guard);
    gloop__ctx_handoff(&t->ctx, &u->ctx);
  } else {
    gloop__asan_start_switch(save, run->sched_stack_bottom, run->sched_stack_size);
#ifdef GLOOP_TSAN
    __tsan_switch_to_fiber(run->tsan_sched_fiber, 0);
#endif
    gloop__ctx_switch(&t->ctx, &run->sched_ctx);
  }
  task_arrived(run, t);
}

/* ---- Life cycle ----------------------------------------------------------- */

static void task_main(void *arg) {
  gloop_task *t = arg;
  gloop__run *run = t->run;
  task_arrived(run, t);
  t->status = t->fn(t->arg);
  /* Scopes and nurseries the function left open are closed here, still on
   * the task's own stack, so its children end before the task does. */
  gloop__task_close_leftovers(t);
  t->state = GLOOP__TASK_DONE;
  gloop__ref_drop(run, &t->ref);
  gloop__scope_detach(t);
  run->ntasks--;
  if (t->parent) {
    gloop__nursery_child_done(t->parent, t);
    run->dead = t;
  } else {
    /* The main task's record is kept until the run ends so the outcome can
     * be read; only its stack is given back then too. */
    /* System tasks do not outlive the main task. */
    gloop__scope_cancel(&run->sys.scope);
    run->status = t->status;
    if (t->status != 0) {
      const char *m = t->message ? t->message : gloop_strerror(t->status);
      snprintf(run->message, sizeof run->message, "%s", m);
    } else {
      snprintf(run->message, sizeof run->message, "%s", "success");
    }
  }
  suspend(t, 1);
  gloop__assert(!"a finished task was resumed");
}

/* Task records are recycled like stacks, up to the stack pool's bound, so a
 * steady spawn/exit cycle calls neither malloc nor mmap. */
void gloop__task_free(gloop_task *t) {
  gloop__run *run = t->run;
  gloop__queue_remove(&t->all_node);
#ifdef GLOOP_TSAN
  if (t->tsan_fiber) __tsan_destroy_fiber(t->tsan_fiber);
  t->tsan_fiber = NULL;
#endif
  gloop__stack_release(run, &t->stack);
  gloop__free(&run->alloc, t->message);
  if (run->nfree_tasks < run->stacks.pool_cap && run->phase == GLOOP__RUN_LIVE) {
    t->arg = run->free_tasks;
    run->free_tasks = t;
    run->nfree_tasks++;
    return;
  }
  gloop__free(&run->alloc, t);
}

void gloop__task_records_drain(gloop__run *run) {
  while (run->free_tasks) {
    gloop_task *t = run->free_tasks;
    run->free_tasks = t->arg;
    gloop__free(&run->alloc, t);
  }
  run->nfree_tasks = 0;
}

static gloop_task *record_get(gloop__run *run) {
  gloop_task *t = run->free_tasks;
  if (t == NULL) return gloop__calloc(&run->alloc, sizeof *t);
  run->free_tasks = t->arg;
  run->nfree_tasks--;
  memset(t, 0, sizeof *t);
  return t;
}

int gloop__task_spawn(gloop__run *run, struct gloop_nursery *parent, gloop_task_fn fn,
                      void *arg, const char *name, size_t stack_size, gloop_task **out) {
  static _Atomic unsigned long counter;
  if (stack_size == 0) stack_size = run->stacks.size;
  gloop_task *t = record_get(run);
  if (t == NULL) return GLOOP_ENOMEM;
  int rc = gloop__stack_alloc(run, stack_size, &t->stack);
  if (rc) {
    gloop__free(&run->alloc, t);
    return rc;
  }
  gloop__queue_init(&t->node);
  gloop__queue_init(&t->scope_node);
  gloop__queue_push(&run->all_tasks, &t->all_node);
  t->run = run;
  t->serial = ++run->next_serial;
#ifdef GLOOP_TSAN
  t->tsan_fiber = __tsan_create_fiber(0);
#endif
  t->fn = fn;
  t->arg = arg;
  t->parent = parent;
  t->sleep.index = GLOOP__NOT_ARMED;
  if (name)
    snprintf(t->name, sizeof t->name, "%s", name);
  else
    snprintf(t->name, sizeof t->name, "task-%lu", ++counter);
  /* Every stack starts at the same offset within its page, so the saved
   * frames of many tasks would all compete for the same few cache sets.
   * Leaving a different multiple of 64 bytes unused at the top of each
   * stack ("colouring") spreads them over the cache. */
  size_t colour = ((uintptr_t)t >> 4) % 16 * 64;
  rc = gloop__ctx_make(&t->ctx, (char *)t->stack.base + t->stack.guard,
                       t->stack.map_size - t->stack.guard - colour, task_main, t);
  if (rc) {
    gloop__task_free(t);
    return rc;
  }
  run->ntasks++;
  t->state = GLOOP__TASK_NEW;
  gloop__queue_push(&run->runq, &t->node);
  gloop__run_poke(run);
  if (out) *out = t;
  return 0;
}

/* ---- Scheduling ----------------------------------------------------------- */

size_t gloop__run_batch(gloop__run *run) {
  if (gloop__queue_empty(&run->runq)) return 0;
  unsigned long before = run->steps;
  run->batch_last = run->runq.prev;
  gloop_task *t;
  while ((t = batch_take(run)) != NULL) resume(run, t);
  return run->steps - before;
}

void gloop__task_wake(gloop_task *t, int result) {
  gloop__assert(t->state == GLOOP__TASK_BLOCKED);
  t->state = GLOOP__TASK_READY;
  t->result = result;
  t->unwait = NULL;
  t->cancellable = GLOOP__WAIT_FIRM;
  t->wait_obj = NULL;
  gloop__queue_push(&t->run->runq, &t->node);
  gloop__run_poke(t->run);
}

int gloop__task_check_cancel_walk(gloop_task *t) {
  t->run->cancel_walks++;
  if (gloop__cancel_reaches(t, t->scope, 1)) return GLOOP_ECANCELED;
  t->cancel_clear = t->run->cancel_gen;
  return 0;
}

int gloop__cancel_reaches(const gloop_task *t, struct gloop_scope *from, int mark_caught) {
  /* Going outwards, each task's own cancellation (gloop_task_ref_cancel)
   * sits where the chain leaves the scopes that task opened: `x` is the
   * task whose boundary comes next. A nursery's scope belongs to its owner,
   * so the chain of a child passes its parent's boundary further out. */
  const gloop_task *x = t;
  for (struct gloop_scope *s = from; s; s = s->parent) {
    if (x != NULL && s->owner != x) {
      if (x->cancel_called) return 1;
      x = s->owner;
    }
    if (s->cancelled) {
      if (mark_caught) s->caught = 1;
      return 1;
    }
    if (s->shield) return 0;
  }
  return x != NULL && x->cancel_called;
}

int gloop__block(gloop_task *t, void (*unwait)(gloop_task *), void *obj, enum gloop__wait_kind kind) {
  if (kind == GLOOP__WAIT_CANCELLABLE) {
    int rc = gloop__task_check_cancel(t);
    if (rc) {
      if (unwait) unwait(t);
      return rc;
    }
  }
  t->state = GLOOP__TASK_BLOCKED;
  t->cancellable = (unsigned char)kind;
  t->unwait = unwait;
  t->wait_obj = obj;
  suspend(t, 0);
  return t->result;
}

gloop_task *gloop__task_current(int *err) {
  gloop__run *run = gloop__run_current();
  gloop_task *t = run ? run->current : NULL;
  if (t == NULL && err) *err = GLOOP_ENOTTASK;
  return t;
}

/* ---- Sleeping and checkpoints --------------------------------------------- */

static void sleep_fired(gloop__timer *tm) {
  gloop_task *t = gloop__container_of(tm, gloop_task, sleep);
  gloop__task_wake(t, 0);
}

static void sleep_unwait(gloop_task *t) { gloop__timer_disarm(t->run, &t->sleep); }

int gloop_checkpoint(void) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  int rc = gloop__task_check_cancel(t);
  /* Even a cancelled checkpoint is a schedule point: a cancelled task
   * looping on checkpoints must not starve the others. */
  t->state = GLOOP__TASK_READY;
  gloop__queue_push(&t->run->runq, &t->node);
  suspend(t, 0);
  return rc;
}

static int sleep_until_ns(gloop_task *t, gloop__ns deadline) {
  gloop__run *run = t->run;
  if (deadline <= gloop__run_now(run)) return gloop_checkpoint();
  t->sleep.fire = sleep_fired;
  int rc = gloop__timer_arm(run, &t->sleep, deadline);
  if (rc) return rc;
  /* gloop__block checks cancellation first and then disarms the timer. */
  return gloop__block(t, sleep_unwait, NULL, GLOOP__WAIT_CANCELLABLE);
}

int gloop_sleep_until(double deadline) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  if (isnan(deadline)) return GLOOP_EINVAL;
  return sleep_until_ns(t, gloop__sec_to_ns(deadline));
}

int gloop_sleep(double seconds) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  if (isnan(seconds) || seconds < 0) return GLOOP_EINVAL;
  if (seconds == 0) return gloop_checkpoint();
  return sleep_until_ns(t, gloop__ns_add(gloop__run_now(t->run), gloop__sec_to_ns(seconds)));
}

int gloop_sleep_forever(void) {
  int err = 0;
  gloop_task *t = gloop__task_current(&err);
  if (t == NULL) return err;
  /* Only cancellation can end this wait, so the result is ECANCELED. */
  return gloop__block(t, NULL, NULL, GLOOP__WAIT_CANCELLABLE);
}

gloop_task *gloop_current_task(void) { return gloop__task_current(NULL); }

const char *gloop_task_name(const gloop_task *t) { return t ? t->name : "(null)"; }

int gloop_fail(int err, const char *fmt, ...) {
  gloop_task *t = gloop__task_current(NULL);
  if (t == NULL || fmt == NULL) return err;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  size_t n = strlen(buf) + 1;
  char *m = gloop__malloc(&t->run->alloc, n);
  if (m == NULL) return err; /* the code still reports; only the message is lost */
  memcpy(m, buf, n);
  gloop__free(&t->run->alloc, t->message);
  t->message = m;
  return err;
}

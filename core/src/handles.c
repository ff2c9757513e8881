/* handles.c - host-safe handles: the run's generation-checked handle table, scope and task refs, and ref requests from other threads through tokens. */
#include <stdlib.h>

#include "guestloop/testing.h"
#include "internal.h"

/* A handle is (run token, id) with id = (generation << 32) | slot index.
 * The run token says which run the object belongs to (run.c keeps tokens
 * unique per live run and generation-checks them the same way); the slot's
 * generation says whether the object still lives. A slot is given back to
 * the free list when its object ends, with the generation moved on, so an
 * old handle of a reused slot does not match. A slot whose generation would
 * wrap around to 0 is retired instead of reused: a handle can never come to
 * name a later object, however long the run. */

#define NO_SLOT 0u

static int table_grow(gloop__run *run) {
  gloop__handles *h = &run->handles;
  if (h->cap == UINT32_MAX - 1) return GLOOP_ENOMEM;
  uint32_t cap = h->cap ? (h->cap > (UINT32_MAX - 1) / 2 ? UINT32_MAX - 1 : h->cap * 2) : 16;
  uint64_t bytes = (uint64_t)cap * sizeof *h->slots;
  if (bytes > PTRDIFF_MAX || gloop__fault(GLOOP_FAULT_MEMORY)) return GLOOP_ENOMEM;
  gloop__hslot *slots = run->alloc.fn(run->alloc.ud, h->slots, (size_t)bytes);
  if (slots == NULL) return GLOOP_ENOMEM;
  h->slots = slots;
  h->cap = cap;
  return 0;
}

int gloop__ref_make(gloop__run *run, uint32_t *slot, int kind, void *obj, uint64_t *run_out,
                    uint64_t *id_out) {
  gloop__handles *h = &run->handles;
  if (*slot == NO_SLOT) {
    uint32_t i;
    if (h->free_head != 0) {
      i = h->free_head - 1;
      h->free_head = h->slots[i].next_free;
    } else {
      if (h->len == h->cap) {
        int rc = table_grow(run);
        if (rc) return rc;
      }
      i = h->len++;
      h->slots[i].gen = 1;
    }
    h->slots[i].obj = obj;
    h->slots[i].kind = (uint32_t)kind;
    h->slots[i].next_free = 0;
    *slot = i + 1;
  }
  const gloop__hslot *e = &h->slots[*slot - 1];
  *run_out = run->token;
  *id_out = ((uint64_t)e->gen << 32) | (*slot - 1);
  return 0;
}

void gloop__ref_drop(gloop__run *run, uint32_t *slot) {
  if (*slot == NO_SLOT) return;
  gloop__handles *h = &run->handles;
  uint32_t i = *slot - 1;
  *slot = NO_SLOT;
  gloop__hslot *e = &h->slots[i];
  e->obj = NULL;
  e->gen++;
  if (e->gen == 0) return; /* retired: see above */
  e->next_free = h->free_head;
  h->free_head = i + 1;
}

void *gloop__ref_resolve(uint64_t run_token, uint64_t id, int kind, int *err) {
  if (run_token == 0 || run_token > UINT32_MAX) {
    *err = GLOOP_EINVAL;
    return NULL;
  }
  gloop__run *run = gloop__run_current();
  int rc = gloop__run_check(run, (uint32_t)run_token);
  if (rc) {
    *err = rc;
    return NULL;
  }
  const gloop__handles *h = &run->handles;
  uint32_t i = (uint32_t)id, gen = (uint32_t)(id >> 32);
  if (gen == 0 || i >= h->len || h->slots[i].gen != gen || h->slots[i].obj == NULL) {
    *err = GLOOP_ENOTFOUND;
    return NULL;
  }
  if (h->slots[i].kind != (uint32_t)kind) {
    *err = GLOOP_EINVAL; /* a forged ref, or one of another kind */
    return NULL;
  }
  return h->slots[i].obj;
}

void gloop__handles_free(gloop__run *run) {
  gloop__free(&run->alloc, run->handles.slots);
  run->handles.slots = NULL;
  run->handles.len = run->handles.cap = run->handles.free_head = 0;
}

/* ---- Scope and task refs ---------------------------------------------------- */

int gloop_scope_get_ref(gloop_scope *s, gloop_scope_ref *out) {
  if (s == NULL || out == NULL) return GLOOP_EINVAL;
  int rc = gloop__run_check(s->run, s->token);
  if (rc) return rc;
  return gloop__ref_make(s->run, &s->ref, GLOOP__REF_SCOPE, s, &out->run_, &out->id_);
}

int gloop_nursery_get_ref(gloop_nursery *n, gloop_scope_ref *out) {
  return n == NULL ? GLOOP_EINVAL : gloop_scope_get_ref(&n->scope, out);
}

int gloop_scope_ref_cancel(gloop_scope_ref ref) {
  int rc = 0;
  struct gloop_scope *s = gloop__ref_resolve(ref.run_, ref.id_, GLOOP__REF_SCOPE, &rc);
  if (s == NULL) return rc;
  gloop__scope_cancel(s);
  return 0;
}

int gloop_task_get_ref(gloop_task *t, gloop_task_ref *out) {
  if (t == NULL || out == NULL) return GLOOP_EINVAL;
  /* A task pointer is valid only while its task lives, so its run is live
   * too; the run's token never changes while it lives. */
  int rc = gloop__run_check(t->run, t->run->token);
  if (rc) return rc;
  if (t->state == GLOOP__TASK_DONE) return GLOOP_ENOTFOUND;
  return gloop__ref_make(t->run, &t->ref, GLOOP__REF_TASK, t, &out->run_, &out->id_);
}

int gloop_task_ref_cancel(gloop_task_ref ref) {
  int rc = 0;
  gloop_task *t = gloop__ref_resolve(ref.run_, ref.id_, GLOOP__REF_TASK, &rc);
  if (t == NULL) return rc;
  gloop__task_cancel(t);
  return 0;
}

/* ---- Requests from other threads ---------------------------------------------- */

/* A ref request travels to the host thread as an ordinary post, so it keeps
 * the order of the sending thread's posts and shares their guarantee: it
 * runs exactly once, in the live run or, after an abandon, with no run live
 * (the ref then resolves to GLOOP_ENORUN and nothing happens). */
typedef struct ref_request {
  int kind;
  uint64_t run, id;
} ref_request;

static void ref_request_run(void *arg) {
  ref_request *r = arg;
  switch (r->kind) {
    case GLOOP__REF_SCOPE:
      gloop_scope_ref_cancel((gloop_scope_ref){r->run, r->id});
      break;
    case GLOOP__REF_TASK:
      gloop_task_ref_cancel((gloop_task_ref){r->run, r->id});
      break;
    default:
      gloop_event_ref_set((gloop_event_ref){r->run, r->id});
      break;
  }
  free(r);
}

static int ref_request_post(gloop_token *token, int kind, uint64_t run, uint64_t id) {
  if (token == NULL || run == 0) return GLOOP_EINVAL;
  ref_request *r = gloop__sys_malloc(sizeof *r);
  if (r == NULL) return GLOOP_ENOMEM;
  r->kind = kind;
  r->run = run;
  r->id = id;
  int rc = gloop_token_post(token, ref_request_run, r);
  if (rc) free(r);
  return rc;
}

int gloop_token_cancel_scope(gloop_token *token, gloop_scope_ref ref) {
  return ref_request_post(token, GLOOP__REF_SCOPE, ref.run_, ref.id_);
}

int gloop_token_cancel_task(gloop_token *token, gloop_task_ref ref) {
  return ref_request_post(token, GLOOP__REF_TASK, ref.run_, ref.id_);
}

int gloop_token_set_event(gloop_token *token, gloop_event_ref ref) {
  return ref_request_post(token, GLOOP__REF_EVENT, ref.run_, ref.id_);
}

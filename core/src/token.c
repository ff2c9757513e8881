/* token.c - tokens: posts, system-task starts and calls into a run from other threads, each token a queue of slots that goes on the run's entry queue once per burst. */
#include <limits.h>
#include <sched.h>
#include <string.h>

#include "guestloop/testing.h"
#include "internal.h"

/* ---- The shape of a token ----------------------------------------------------------
 *
 * A token is a first-in first-out queue of slots with one producer at a
 * time, drained by the host. A post is one slot, {fn, data}; a start or a
 * call is a slot that names an entry ({NULL, entry}: a node that copies the
 * task's name, or the caller's waiting request), so everything one thread
 * sends through a token runs in the order it was sent. Slots live in
 * segments of SEG slots chained by `next`: the producer fills the newest
 * segment and links a fresh one when it is full; the host runs the oldest
 * and gives each segment back (one spare is kept) once it has run all of
 * its slots. So the producer never waits for the host and never reads the
 * host's position; a post into an awake run allocates nothing (a segment
 * per SEG posts, recycled, while the host keeps up).
 *
 * The token itself is an entry of its run's entry queue (entry.c), queued
 * once per burst: `queued` says it is on the queue (or about to be), and a
 * producer that finds it set queues nothing. So a post into an awake run
 * costs two atomic read-modify-writes on a line that stays with the posting
 * thread between the host's drains (taking `busy`, and publishing `head`).
 *
 * One producer at a time: `busy` serialises the threads that use one token
 * (a post holds it for a few dozen instructions and calls no user code). A
 * thread that finds it taken waits for it to be released; tokens used by
 * one thread each (the usual case) never wait.
 *
 * The host side (token_arrived()) clears `queued` before it looks at head.
 * Both sides use sequentially consistent operations for "publish, then look
 * at the other side's flag" (a producer: head, then `queued`; the host:
 * `queued`, then head), so the host sees a slot, or its producer sees
 * `queued` clear and queues the token again, or both: no slot is left behind
 * on an idle token.
 *
 * Lines: the producers' fields share one cache line with `queued` (which the
 * host writes once per drain), the host's fields have another; a steady
 * stream of posts moves the producers' line to the host and back once per
 * drain, and each slot line once. */

#define LINE 64
enum { SEG = 256, MASK = SEG - 1, DRAIN_MAX = 1024 };

/* Positions (head, tail) count slots modulo 2^32 and are only ever compared
 * for equality. They start just below the wrap, so that every token that
 * carries more than 2 * SEG slots crosses it: the wrap-around is exercised
 * by ordinary use and tests, not only after four billion posts. */
#define FIRST_POS ((uint32_t)0 - 2 * SEG)

typedef struct slot {
  gloop_callback_fn fn; /* NULL: data is a gloop__entry */
  void *data;
} slot;

typedef struct seg {
  struct seg *_Atomic next;
  _Alignas(LINE) slot s[SEG];
} seg;

struct gloop_token {
  /* Set once. */
  gloop__entryq *q;
  pthread_t host;
  /* Producers (under `busy`), and `queued`. */
  _Alignas(LINE) atomic_flag busy;
  int closed;                   /* under busy: the run has ended, refuse everything */
  int pstarted;                 /* under busy: a slot has been written into pseg */
  seg *pseg;                    /* under busy: the segment that slot `head` goes into */
  _Atomic uint32_t head;        /* slots published; written under busy */
  _Atomic int queued;           /* the token is on its run's entry queue */
  struct node *cache;           /* under busy: spare nodes for starts */
  /* The host. */
  _Alignas(LINE) _Atomic uint32_t tail; /* slots taken; published at the end of a drain */
  seg *cseg;                    /* the segment that slot `tail` is in */
  int cstarted;                 /* a slot of cseg has been taken */
  seg *_Atomic spare;           /* a segment given back, for the producer's next one */
  gloop__entry e;               /* the token's entry on the run's queue */
  _Atomic int refs;             /* the user's, and one while the token is queued */
  _Atomic unsigned long times_queued; /* for gloop_token_times_queued() */
};

/* ---- Nodes for starts -----------------------------------------------------------------
 *
 * A start needs a node that outlives the call (its name is copied). Nodes
 * are recycled: the host gives a node back, after running it, to its
 * queue's spare stack; a token takes that whole stack at once, with one
 * exchange, into its cache when the cache is empty. Only the host pushes
 * onto the spare stack and the only removal takes everything, which is what
 * makes it safe against reuse (ABA) without counters. Nodes are freed with
 * their token and their queue. */

typedef struct node {
  struct node *next_free;       /* first: the spare stack's link (see entry.c) */
  gloop__entry e;
  gloop_task_fn fn;
  void *arg;
  gloop__entryq *home;          /* whose spare stack it goes back to */
  char name[32];
} node;

static void free_nodes(node *n) {
  while (n != NULL) {
    node *next = n->next_free;
    free(n);
    n = next;
  }
}

/* Under busy. */
static node *node_get(gloop_token *t) {
  if (t->cache == NULL) t->cache = gloop__entryq_take_spare(t->q);
  node *n = t->cache;
  if (n != NULL)
    t->cache = n->next_free;
  else
    n = gloop__sys_malloc(sizeof(node));
  if (n != NULL) n->home = t->q;
  return n;
}

/* Under busy: a node that was never queued goes back to the cache. */
static void node_put(gloop_token *t, node *n) {
  n->next_free = t->cache;
  t->cache = n;
}

/* ---- What each kind of entry does when it arrives --------------------------------- */

/* A start starts its system task in the live run (after the main task has
 * ended it sees GLOOP_ECANCELED at its first checkpoint). An abandoned run
 * has nowhere to start it; that is the one accepted entry that cannot run,
 * and it is said on stderr rather than dropped silently. */
static void start_arrived(gloop__entry *e, gloop__run *run) {
  node *n = gloop__container_of(e, node, e);
  if (run != NULL) {
    int rc = gloop__start_system_task(run, n->fn, n->arg, n->name);
    /* The start was accepted, so a failure must not vanish: it counts as
     * a failing system task. */
    if (rc) gloop__system_task_failed(run, rc, n->name);
  } else {
    fprintf(stderr,
            "guestloop: system task '%s' was accepted by gloop_token_start() but the host "
            "abandoned the run before it could start\n",
            n->name);
  }
  gloop__entryq_give_spare(n->home, n);
}

/* A waiting gloop_token_call(): the calling thread sleeps on cv until the
 * host has run the function. Lives on the caller's stack; the host does not
 * touch it after signalling. */
typedef struct call_wait {
  gloop__entry e;
  gloop_work_fn fn;
  void *arg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int status; /* 0, or GLOOP_EABANDONED: the run was abandoned first */
  void *result;
} call_wait;

static void call_arrived(gloop__entry *e, gloop__run *run) {
  call_wait *c = gloop__container_of(e, call_wait, e);
  void *result = run != NULL ? c->fn(c->arg) : NULL;
  pthread_mutex_lock(&c->mu);
  c->result = result;
  c->status = run != NULL ? 0 : GLOOP_EABANDONED;
  c->done = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

/* ---- The producers' side ------------------------------------------------------------ */

static void lock(gloop_token *t) {
  int spins = 0;
  while (atomic_flag_test_and_set_explicit(&t->busy, memory_order_acquire)) {
    /* Another thread is in the middle of a post on this token: a few dozen
     * instructions, unless it was preempted there. */
    if (++spins == 64) {
      sched_yield();
      spins = 0;
    }
  }
}

static void unlock(gloop_token *t) { atomic_flag_clear_explicit(&t->busy, memory_order_release); }

static void free_segs(seg *g) {
  while (g != NULL) {
    seg *next = atomic_load_explicit(&g->next, memory_order_relaxed);
    free(g);
    g = next;
  }
}

static void token_unref(gloop_token *t) {
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) return;
  free_nodes(t->cache);
  free_segs(t->cseg); /* the chain reaches the producer's segment */
  free(atomic_load_explicit(&t->spare, memory_order_relaxed));
  gloop__entryq_unref(t->q);
  free(t);
}

/* Puts the token on its run's entry queue, by whoever set `queued`; the
 * queue holds a reference while it is there. */
static int enqueue(gloop_token *t) {
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&t->times_queued, 1, memory_order_relaxed);
  return gloop__entryq_push(t->q, &t->e);
}

/* Under busy, after publishing a slot: puts the token on its run's entry
 * queue unless it is there already. The load of `queued` is sequentially
 * consistent, after the publication (see the top).
 *
 * GLOOP_ENORUN if the queue has closed (the run has ended or was abandoned)
 * and the token was not on it; `closed` is then set, so later calls publish
 * nothing, and the caller must find out whether the host took its slot, and
 * take the slot back if not (publish() does). Why that decision is safe:
 *  - The host may well have taken it: `queued` was clear because the host's
 *    last drain of this token had cleared it, and that drain may have seen
 *    the slot (both sides looking is allowed; see the top) and run it,
 *    before the host went on to close the queue.
 *  - The refused compare-and-exchange read the closing sentinel, which the
 *    host linked in with a sequentially consistent exchange after all its
 *    normal drains; so the caller now sees everything those drains did,
 *    and `tail` as the host left it.
 *  - No drain of this token will come later: normal drains run only from
 *    gloop__entryq_drain(), never during or after a close, and a closing
 *    drain runs only for a token that was on the queue when it closed (this
 *    one was not: `queued` was clear) and takes `busy` first anyway.
 * So the caller, holding `busy`, is the only user of the slots from here
 * on, and `tail` is final: if it has not passed the caller's slot, the slot
 * was not taken, and it is taken back and the call fails; otherwise it ran,
 * and the call succeeded. No older slot can be left behind: each earlier
 * publication was followed by its own look at `queued` under `busy`, and
 * either the host's drain after its clear saw it, or that look queued the
 * token successfully (a refused one would have set `closed`), so a drain
 * that takes everything published ran after it, before the close. */
static int ensure_queued(gloop_token *t) {
  if (atomic_load(&t->queued) || atomic_exchange(&t->queued, 1)) return 0;
  int rc = enqueue(t);
  if (rc) {
    /* The push may have seen the sentinel with a relaxed load. Reading the
     * tail again, with an acquire load that finds the same sentinel (nothing
     * replaces it), synchronises with the host's exchange that linked it; a
     * fence would do the same, but ThreadSanitizer does not model fences. */
    (void)gloop__entryq_closed(t->q);
    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed); /* the caller holds one too */
    t->closed = 1;
  }
  return rc;
}

/* Under busy: the segment for slot h, linking a new one when h starts one.
 * NULL if there is no memory for it. */
static seg *seg_for(gloop_token *t, uint32_t h) {
  if ((h & MASK) != 0 || !t->pstarted) return t->pseg;
  seg *g = atomic_exchange_explicit(&t->spare, NULL, memory_order_acquire);
  if (g == NULL && (g = gloop__sys_calloc_aligned(LINE, sizeof *g)) == NULL) return NULL;
  atomic_store_explicit(&g->next, NULL, memory_order_relaxed);
  /* Published to the host by the release of head below. */
  atomic_store_explicit(&t->pseg->next, g, memory_order_relaxed);
  t->pseg = g;
  return g;
}

/* Publishes one slot and makes sure the host will look: 0 once the slot is
 * accepted (it runs exactly once), or an error and the slot is not. */
static int publish(gloop_token *t, gloop_callback_fn fn, void *data) {
  int rc;
  lock(t);
  uint32_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
  seg *g;
  if (t->closed) {
    rc = GLOOP_ENORUN;
  } else if ((g = seg_for(t, h)) == NULL) {
    rc = GLOOP_ENOMEM;
  } else {
    g->s[h & MASK] = (slot){fn, data};
    t->pstarted = 1;
    atomic_store(&t->head, h + 1); /* sequentially consistent: before the look at queued */
    rc = ensure_queued(t);
    /* See ensure_queued(): a slot the host took has run. A segment linked
     * for a slot taken back stays linked; nothing reads it any more. */
    if (rc && atomic_load_explicit(&t->tail, memory_order_relaxed) != h) rc = 0;
    if (rc) atomic_store_explicit(&t->head, h, memory_order_relaxed);
  }
  unlock(t);
  return rc;
}

int gloop_token_post(gloop_token *t, gloop_callback_fn fn, void *data) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  return publish(t, fn, data);
}

int gloop_token_start(gloop_token *t, gloop_task_fn fn, void *arg, const char *name) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  lock(t);
  node *n = t->closed ? NULL : node_get(t);
  int closed = t->closed;
  unlock(t);
  if (n == NULL) return closed ? GLOOP_ENORUN : GLOOP_ENOMEM;
  n->e.fn = start_arrived;
  n->fn = fn;
  n->arg = arg;
  snprintf(n->name, sizeof n->name, "%s", name ? name : "system");
  int rc = publish(t, NULL, &n->e);
  if (rc) {
    lock(t);
    node_put(t, n);
    unlock(t);
  }
  return rc;
}

int gloop_token_call(gloop_token *t, gloop_work_fn fn, void *arg, void **result) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  if (gloop__entryq_closed(t->q)) return GLOOP_ENORUN;
  if (pthread_equal(pthread_self(), t->host)) return GLOOP_EBUSY;
  call_wait c;
  c.e.fn = call_arrived;
  c.fn = fn;
  c.arg = arg;
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  c.done = 0;
  c.status = 0;
  c.result = NULL;
  int rc = publish(t, NULL, &c.e);
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

/* ---- The host's side ------------------------------------------------------------------ */

/* Runs the slots published so far, oldest first, at most `budget` of them;
 * returns nonzero if it stopped at the budget. A segment whose slots have
 * all been taken goes back as the spare (or is freed if there is one). The
 * tail is published at the end: the producers read it only when a post
 * meets a closed queue (see ensure_queued()). The caller's reference keeps
 * the token alive while user code runs, and user code may post to this
 * token again: the loop looks at head again before it stops. */
static int drain(gloop_token *t, gloop__run *run, unsigned budget) {
  uint32_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
  uint32_t head = atomic_load_explicit(&t->head, memory_order_acquire);
  int more = 0;
  while (tail != head) {
    if (budget-- == 0) {
      more = 1;
      break;
    }
    if ((tail & MASK) == 0 && t->cstarted) {
      seg *old = t->cseg;
      t->cseg = atomic_load_explicit(&old->next, memory_order_relaxed);
      old = atomic_exchange_explicit(&t->spare, old, memory_order_release);
      free(old);
    }
    slot s = t->cseg->s[tail & MASK];
    t->cstarted = 1;
    tail++;
    if (s.fn != NULL) {
      s.fn(s.data);
    } else {
      gloop__entry *e = s.data;
      e->fn(e, run); /* may free or reuse it */
    }
    if (tail == head) head = atomic_load_explicit(&t->head, memory_order_acquire);
  }
  atomic_store_explicit(&t->tail, tail, memory_order_release);
  return more;
}

/* The token's entry on the run's queue. Normally: clear `queued` first
 * (sequentially consistent, before the look at head), then run what is
 * there; a producer that publishes after that look finds `queued` clear and
 * queues the token again. If the budget ran out, the token queues itself
 * again, behind the other entries.
 *
 * Once the queue has closed (the run's end sequence, or an abandon, which
 * calls this with run == NULL) this is the token's last drain: `closed` is
 * set under `busy`, so every later post, start or call on the token gets
 * GLOOP_ENORUN without publishing anything, and what was published before
 * runs now. `busy` is held only to set the flag, not while user code runs:
 * a post that posts again on the same token from the host thread must get
 * its error, not wait for itself. */
static void token_arrived(gloop__entry *e, gloop__run *run) {
  gloop_token *t = gloop__container_of(e, gloop_token, e);
  if (gloop__entryq_closed(t->q)) {
    lock(t);
    t->closed = 1;
    unlock(t);
    drain(t, run, UINT_MAX);
  } else {
    atomic_store(&t->queued, 0);
    /* The push cannot be refused: only this thread closes the queue, and
     * it is here, not in gloop__entryq_close(). */
    if (drain(t, run, DRAIN_MAX) && !atomic_exchange(&t->queued, 1)) (void)enqueue(t);
  }
  token_unref(t);
}

/* ---- Tokens --------------------------------------------------------------------------- */

int gloop_token_new(gloop_token **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->phase != GLOOP__RUN_LIVE || run->eq == NULL) return GLOOP_ENORUN;
  gloop_token *t = gloop__sys_calloc_aligned(LINE, sizeof *t);
  seg *g = t != NULL ? gloop__sys_calloc_aligned(LINE, sizeof *g) : NULL;
  if (g == NULL) {
    free(t);
    return GLOOP_ENOMEM;
  }
  atomic_init(&g->next, NULL);
  t->q = run->eq;
  t->host = run->thread;
  atomic_flag_clear(&t->busy);
  t->closed = 0;
  t->pstarted = t->cstarted = 0;
  t->pseg = t->cseg = g;
  atomic_init(&t->head, FIRST_POS);
  atomic_init(&t->queued, 0);
  t->cache = NULL;
  atomic_init(&t->tail, FIRST_POS);
  atomic_init(&t->spare, NULL);
  t->e.fn = token_arrived;
  atomic_init(&t->e.next, NULL);
  atomic_init(&t->refs, 1);
  atomic_init(&t->times_queued, 0);
  gloop__entryq_ref(t->q);
  *out = t;
  return 0;
}

/* What the token holds still runs (the queue holds a reference while the
 * token is queued); the memory goes with the last reference. */
void gloop_token_free(gloop_token *t) {
  if (t != NULL) token_unref(t);
}

unsigned long gloop_token_times_queued(const gloop_token *t) {
  return t == NULL ? 0 : atomic_load_explicit(&((gloop_token *)t)->times_queued, memory_order_relaxed);
}

/* Starts an accepted system task. After the main task has exited the system
 * nursery is cancelled, so the task sees GLOOP_ECANCELED at its first
 * checkpoint, but it does run: an accepted start is never dropped while the
 * run is live. */
int gloop__start_system_task(gloop__run *run, gloop_task_fn fn, void *arg, const char *name) {
  if (run->phase != GLOOP__RUN_LIVE) return GLOOP_ENORUN;
  return gloop_nursery_start(&run->sys, fn, arg, name, NULL);
}

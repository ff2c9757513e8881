/* token.c - tokens: posts, system-task starts and calls into a run from other threads, through a ring of posts per token that is queued on the run's entry queue once per burst. */
#include <limits.h>
#include <sched.h>
#include <string.h>

#include "guestloop/testing.h"
#include "internal.h"

/* ---- The shape of a token ----------------------------------------------------------
 *
 * A post is two words, {fn, data}, written into the token's ring of RING
 * slots; the host runs the slots in order. The token itself is an entry of
 * its run's entry queue (entry.c), queued once per burst: the `queued` flag
 * says it is on the queue (or about to be), and a producer that finds it set
 * queues nothing. So a post into an awake run costs two atomic
 * read-modify-writes on a line that stays with the posting thread between
 * the host's drains (taking `busy`, and publishing `head`), and no
 * allocation.
 *
 * One producer at a time: `busy` serialises the threads that use one token
 * (a post holds it for a few dozen instructions and calls no user code), so
 * the ring has a single producer. A thread that finds it taken waits for it
 * to be released; tokens used by one thread each (the usual case) never wait.
 *
 * Work that does not fit a slot goes to the token's overflow: a stack of
 * entries (nodes for posts when the ring is full and for starts, the
 * caller's request for calls), newest first, which the host takes whole and
 * runs oldest first, after the ring slots published before them. Order per
 * thread holds because once the overflow holds anything (`ovf_count`:
 * entries not yet run) every later post goes there too, until the host has
 * run them all.
 *
 * The host side (token_arrived()) clears `queued` before it looks at the
 * ring and the overflow. Both sides use sequentially consistent operations
 * for "publish, then look at the other side's flag" (a producer: head or
 * overflow, then `queued`; the host: `queued`, then head and overflow), so
 * the host sees a post, or its producer sees `queued` clear and queues the
 * token again, or both: no post is left behind on an idle token.
 *
 * Lines: the producers' fields share one cache line with `queued` (which the
 * host writes once per drain), the host's tail and its queue entry another,
 * and the ring its own; a steady stream of posts moves the producers' line
 * to the host and back once per drain, not once per post. */

#define LINE 64
enum { RING = 256, MASK = RING - 1 };

typedef struct slot {
  gloop_callback_fn fn;
  void *data;
} slot;

struct gloop_token {
  /* Set once. */
  gloop__entryq *q;
  pthread_t host;
  /* Producers (under `busy`), and `queued`. */
  _Alignas(LINE) atomic_flag busy;
  int closed;                   /* under busy: the run has ended, refuse everything */
  uint32_t tail_seen;           /* under busy: the host's tail as last read */
  _Atomic uint32_t head;        /* the next slot to fill; written under busy */
  _Atomic int queued;           /* the token is on its run's entry queue */
  _Atomic uint32_t ovf_count;   /* overflow entries not yet run */
  gloop__entry *_Atomic ovf;    /* the overflow stack, newest first */
  struct node *cache;           /* under busy: spare nodes */
  /* The host. */
  _Alignas(LINE) _Atomic uint32_t tail; /* the next slot to run; the host publishes it */
  gloop__entry e;               /* the token's entry on the run's queue */
  _Atomic int refs;             /* the user's, and one while the token is queued */
  _Atomic unsigned long times_queued; /* for gloop_token_times_queued() */
  _Alignas(LINE) slot ring[RING];
};

/* ---- Nodes for starts and for posts that overflow the ring ---------------------------
 *
 * A start needs a node that outlives the call (its name is copied), and so
 * does a post that finds the ring full. Nodes are recycled: the host gives
 * a node back, after running it, to its queue's spare stack; a token takes
 * that whole stack at once, with one exchange, into its cache when the
 * cache is empty. Only the host pushes onto the spare stack and the only
 * removal takes everything, which is what makes it safe against reuse (ABA)
 * without counters. Nodes are freed with their token and their queue. */

typedef struct node {
  struct node *next_free;       /* first: the spare stack's link (see entry.c) */
  gloop__entry e;
  union {
    gloop_callback_fn post;
    gloop_task_fn task;
  } fn;
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

/* A post runs in the live run, or, if the host abandoned the run (run is
 * NULL), in host context with no run live: accepted work is never lost. */
static void post_arrived(gloop__entry *e, gloop__run *run) {
  (void)run;
  node *n = gloop__container_of(e, node, e);
  gloop_callback_fn fn = n->fn.post;
  void *arg = n->arg;
  gloop__entryq_give_spare(n->home, n);
  fn(arg);
}

/* A start starts its system task in the live run (after the main task has
 * ended it sees GLOOP_ECANCELED at its first checkpoint). An abandoned run
 * has nowhere to start it; that is the one accepted entry that cannot run,
 * and it is said on stderr rather than dropped silently. */
static void start_arrived(gloop__entry *e, gloop__run *run) {
  node *n = gloop__container_of(e, node, e);
  if (run != NULL) {
    int rc = gloop__start_system_task(run, n->fn.task, n->arg, n->name);
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

static void token_unref(gloop_token *t) {
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) return;
  free_nodes(t->cache);
  gloop__entryq_unref(t->q);
  free(t);
}

/* Under busy, after publishing one slot or one overflow entry: puts the
 * token on its run's entry queue unless it is there already. The load of
 * `queued` is sequentially consistent, after the publication (see the top).
 *
 * GLOOP_ENORUN if the queue has closed (the run has ended or was abandoned)
 * and the token was not on it. Then the caller must find out whether the
 * host took what it published, and take it back if not; `closed` is set,
 * so later calls publish nothing. Why that decision is safe:
 *  - The host may well have taken it: `queued` was clear because the host's
 *    last drain of this token had cleared it, and that drain may have seen
 *    the publication (both sides looking is allowed; see the top) and run
 *    it, before the host went on to close the queue.
 *  - The refused compare-and-exchange read the closing sentinel, which the
 *    host linked in with a sequentially consistent exchange after all its
 *    normal drains; so the caller now sees everything those drains did: the
 *    ring's tail and the overflow stack as the host left them.
 *  - No drain of this token will come later: normal drains run only from
 *    gloop__entryq_drain(), never during or after a close, and a closing
 *    drain runs only for a token that was on the queue when it closed (this
 *    one was not: `queued` was clear) and takes `busy` first anyway.
 * So the caller, holding `busy`, is the only user of the ring and the
 * overflow from here on, and what it sees there is final: its slot still
 * beyond the tail (its entry still on top of the overflow) means not taken,
 * and it takes it back and returns the error; otherwise the post ran, and
 * it returns 0. Nothing older can be left behind: each earlier publication
 * was followed by its own look at `queued` under `busy`, and the host's
 * drain after its clear saw it, or that look queued the token successfully
 * (a refused one would have set `closed`), so a drain that takes everything
 * ran after it, before the close. */
static int ensure_queued(gloop_token *t) {
  if (atomic_load(&t->queued) || atomic_exchange(&t->queued, 1)) return 0;
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&t->times_queued, 1, memory_order_relaxed);
  int rc = gloop__entryq_push(t->q, &t->e);
  if (rc) {
    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed); /* the caller holds one too */
    t->closed = 1;
  }
  return rc;
}

/* Under busy: e goes onto the overflow stack. */
static int push_overflow(gloop_token *t, gloop__entry *e) {
  atomic_fetch_add(&t->ovf_count, 1);
  gloop__entry *top = atomic_load_explicit(&t->ovf, memory_order_relaxed);
  do atomic_store_explicit(&e->next, top, memory_order_relaxed);
  while (!atomic_compare_exchange_weak(&t->ovf, &top, e));
  int rc = ensure_queued(t);
  if (rc) {
    /* See ensure_queued(): still on top means the host never took it (it
     * takes the whole stack), and then nothing is below it. */
    if (atomic_load_explicit(&t->ovf, memory_order_relaxed) != e) return 0;
    atomic_store_explicit(&t->ovf, atomic_load_explicit(&e->next, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_fetch_sub(&t->ovf_count, 1);
  }
  return rc;
}

/* Under busy: whether the ring has a free slot at h. The host's tail is read
 * only when the copy from the last read says the ring is full. */
static int ring_has_room(gloop_token *t, uint32_t h) {
  if (h - t->tail_seen < RING) return 1;
  t->tail_seen = atomic_load_explicit(&t->tail, memory_order_acquire);
  return h - t->tail_seen < RING;
}

int gloop_token_post(gloop_token *t, gloop_callback_fn fn, void *data) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  int rc;
  lock(t);
  uint32_t h = atomic_load_explicit(&t->head, memory_order_relaxed);
  if (t->closed) {
    rc = GLOOP_ENORUN;
  } else if (atomic_load_explicit(&t->ovf_count, memory_order_acquire) == 0 &&
             ring_has_room(t, h)) {
    slot *s = &t->ring[h & MASK];
    s->fn = fn;
    s->data = data;
    atomic_store(&t->head, h + 1); /* sequentially consistent: before the look at queued */
    rc = ensure_queued(t);
    /* See ensure_queued(): a slot the host took has run. */
    if (rc && atomic_load_explicit(&t->tail, memory_order_relaxed) != h) rc = 0;
    if (rc) atomic_store_explicit(&t->head, h, memory_order_relaxed); /* taken back */
  } else {
    node *n = node_get(t);
    if (n == NULL) {
      rc = GLOOP_ENOMEM;
    } else {
      n->e.fn = post_arrived;
      n->fn.post = fn;
      n->arg = data;
      rc = push_overflow(t, &n->e);
      if (rc) node_put(t, n);
    }
  }
  unlock(t);
  return rc;
}

int gloop_token_start(gloop_token *t, gloop_task_fn fn, void *arg, const char *name) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  int rc;
  lock(t);
  node *n = t->closed ? NULL : node_get(t);
  if (t->closed) {
    rc = GLOOP_ENORUN;
  } else if (n == NULL) {
    rc = GLOOP_ENOMEM;
  } else {
    n->e.fn = start_arrived;
    n->fn.task = fn;
    n->arg = arg;
    snprintf(n->name, sizeof n->name, "%s", name ? name : "system");
    rc = push_overflow(t, &n->e);
    if (rc) node_put(t, n);
  }
  unlock(t);
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
  lock(t);
  int rc = t->closed ? GLOOP_ENORUN : push_overflow(t, &c.e);
  unlock(t);
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

/* Runs the ring's slots up to the head as it is now, at most *budget of
 * them. The tail is published as each slot is taken, so a slow callback
 * does not keep the producer from reusing the slots before it. */
static void run_ring(gloop_token *t, unsigned *budget) {
  uint32_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
  uint32_t head = atomic_load_explicit(&t->head, memory_order_acquire);
  while (tail != head && *budget > 0) {
    slot s = t->ring[tail & MASK];
    atomic_store_explicit(&t->tail, ++tail, memory_order_release);
    --*budget;
    s.fn(s.data);
  }
}

/* Runs what the token holds, in order: the ring, then (once the overflow
 * is in use) the ring slots published before the overflow's entries and the
 * entries themselves, and again; at most `budget` ring slots in the first
 * pass. Returns nonzero if it stopped there with work possibly left. The
 * caller's reference keeps the token alive while user code runs. */
static int drain(gloop_token *t, gloop__run *run, unsigned budget) {
  for (;;) {
    run_ring(t, &budget);
    if (budget == 0) return 1;
    if (atomic_load(&t->ovf_count) == 0) return 0;
    gloop__entry *e = atomic_exchange(&t->ovf, NULL);
    /* Empty: a producer is between counting its entry and pushing it; it
     * looks at `queued` after pushing and queues the token again. */
    if (e == NULL) return 0;
    /* Slots published before these entries were pushed run first (the
     * exchange saw the pushes, so this look at head sees those slots); no
     * slot is published after them while ovf_count is nonzero. */
    unsigned all = UINT_MAX;
    run_ring(t, &all);
    gloop__entry *oldest = NULL;
    while (e != NULL) { /* newest first: reverse */
      gloop__entry *next = atomic_load_explicit(&e->next, memory_order_relaxed);
      atomic_store_explicit(&e->next, oldest, memory_order_relaxed);
      oldest = e;
      e = next;
    }
    while (oldest != NULL) {
      gloop__entry *next = atomic_load_explicit(&oldest->next, memory_order_relaxed);
      oldest->fn(oldest, run); /* may free or reuse it */
      atomic_fetch_sub_explicit(&t->ovf_count, 1, memory_order_release);
      oldest = next;
    }
  }
}

/* The token's entry on the run's queue. Normally: clear `queued` first
 * (sequentially consistent, before the looks at the ring and the overflow),
 * then run what is there; a producer that publishes after those looks finds
 * `queued` clear and queues the token again. If the budget ran out, the
 * token queues itself again, behind the other entries.
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
    if (drain(t, run, RING) && !atomic_exchange(&t->queued, 1)) {
      atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&t->times_queued, 1, memory_order_relaxed);
      /* Cannot be refused: only this thread closes the queue, and it is
       * here, not in gloop__entryq_close(). */
      (void)gloop__entryq_push(t->q, &t->e);
    }
  }
  token_unref(t);
}

/* ---- Tokens --------------------------------------------------------------------------- */

int gloop_token_new(gloop_token **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->phase != GLOOP__RUN_LIVE || run->eq == NULL) return GLOOP_ENORUN;
  gloop_token *t = gloop__sys_calloc_aligned(LINE, sizeof *t);
  if (t == NULL) return GLOOP_ENOMEM;
  t->q = run->eq;
  t->host = run->thread;
  atomic_flag_clear(&t->busy);
  t->closed = 0;
  t->tail_seen = 0;
  atomic_init(&t->head, 0);
  atomic_init(&t->queued, 0);
  atomic_init(&t->ovf_count, 0);
  atomic_init(&t->ovf, NULL);
  t->cache = NULL;
  atomic_init(&t->tail, 0);
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

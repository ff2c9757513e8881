/* entry.c - the entry queue: the one thread-safe way into a run, a lock-free many-producer, one-consumer queue of entries that carry their own callback. */
#include <sched.h>

#include "internal.h"

/* The queue is an intrusive linked list in the style of Dmitry Vyukov's
 * MPSC queue: a producer swaps itself in as the new tail with one atomic
 * exchange and then links the previous tail to itself; the consumer (the
 * host thread) follows the links from `head`. The stub node keeps the list
 * non-empty, so producers never touch the consumer's end. Between the
 * exchange and the link a producer's entry is in the queue but not yet
 * reachable: the consumer sees "in progress", which counts as pending
 * (see gloop__entryq_pending()), never as empty.
 *
 * Closing needs no counter and no lock: the host swaps a sentinel node,
 * `closed`, in as the tail and links it like any entry. A producer appends
 * with a compare-and-exchange that refuses to replace the sentinel, so a
 * push either lands before the sentinel (and is delivered: the host drains
 * up to the sentinel) or sees it and is refused. The one atomic
 * read-modify-write per push is that compare-and-exchange.
 *
 * Producers write `tail`, the host writes `head` and the stub: each group
 * has a cache line of its own, so a busy host does not take the producers'
 * line away from them at every entry. */
#define LINE 64
struct gloop__entryq {
  _Alignas(LINE) gloop__entry *_Atomic tail; /* producers: the newest entry */
  gloop__wake *wake;            /* set once; read by producers */
  _Atomic int refs;
  _Alignas(LINE) gloop__entry *head; /* host: the last entry taken (or the stub) */
  gloop__entry stub;
  gloop__entry closed;          /* the sentinel; last in the queue once closed */
  void *given, *given_last;     /* host: nodes given back during this drain */
  _Alignas(LINE) void *_Atomic spare; /* spare nodes of the queue's users */
};

int gloop__entryq_new(gloop__wake *wake, gloop__entryq **out) {
  gloop__entryq *q = gloop__sys_calloc_aligned(LINE, sizeof *q);
  if (q == NULL) return GLOOP_ENOMEM;
  atomic_init(&q->stub.next, NULL);
  atomic_init(&q->tail, &q->stub);
  q->head = &q->stub;
  atomic_init(&q->closed.next, NULL);
  atomic_init(&q->refs, 1);
  atomic_init(&q->spare, NULL);
  q->wake = wake;
  gloop__wake_ref(wake);
  *out = q;
  return 0;
}

void gloop__entryq_ref(gloop__entryq *q) { atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed); }

void gloop__entryq_unref(gloop__entryq *q) {
  if (q == NULL || atomic_fetch_sub(&q->refs, 1) != 1) return;
  void *b = atomic_load(&q->spare);
  while (b != NULL) {
    void *next = *(void **)b;
    free(b);
    b = next;
  }
  gloop__wake_unref(q->wake);
  free(q);
}

/* The host collects given-back nodes in a list of its own while it drains
 * and hands the whole list over with one exchange at the end, so the spare
 * stack's cache line moves once per drain, not once per entry. Only the
 * host pushes and takers only ever take the whole stack, so a node seen on
 * top is never popped and pushed back between the load and the exchange. */
void gloop__entryq_give_spare(gloop__entryq *q, void *block) {
  *(void **)block = q->given;
  if (q->given == NULL) q->given_last = block;
  q->given = block;
}

static void flush_spare(gloop__entryq *q) {
  if (q->given == NULL) return;
  void *top = atomic_load_explicit(&q->spare, memory_order_relaxed);
  do *(void **)q->given_last = top;
  while (!atomic_compare_exchange_weak_explicit(&q->spare, &top, q->given, memory_order_release,
                                                memory_order_relaxed));
  q->given = q->given_last = NULL;
}

void *gloop__entryq_take_spare(gloop__entryq *q) {
  if (atomic_load_explicit(&q->spare, memory_order_relaxed) == NULL) return NULL;
  return atomic_exchange_explicit(&q->spare, NULL, memory_order_acquire);
}

int gloop__entryq_closed(const gloop__entryq *q) {
  return atomic_load(&((gloop__entryq *)q)->tail) == &q->closed;
}

/* Appends e: the host re-appending the stub, and closing. */
static void link_in(gloop__entryq *q, gloop__entry *e) {
  atomic_store_explicit(&e->next, NULL, memory_order_relaxed);
  gloop__entry *prev = atomic_exchange(&q->tail, e);
  atomic_store_explicit(&prev->next, e, memory_order_release);
}

int gloop__entryq_push(gloop__entryq *q, gloop__entry *e) {
  atomic_store_explicit(&e->next, NULL, memory_order_relaxed);
  gloop__entry *prev = atomic_load_explicit(&q->tail, memory_order_relaxed);
  do {
    if (prev == &q->closed) return GLOOP_ENORUN;
  } while (!atomic_compare_exchange_weak(&q->tail, &prev, e));
  /* Wake first, link second. Once linked, the entry may run at once, and
   * its callback may drop the last reference to this queue (a worker job's
   * completion does), so nothing of the queue is touched after the link.
   * Until then the host sees the queue as pending and does not go idle.
   * The exchange is sequentially consistent and comes before the wake's
   * look at its flag, against the host's clear-then-look. */
  gloop__wake_signal(q->wake);
  atomic_store_explicit(&prev->next, e, memory_order_release);
  return 0;
}

/* Pending also while a producer is between its exchange and its link: the
 * entry is then in the queue, and its wake-up may already have been
 * consumed, so the host must look again rather than go idle. */
int gloop__entryq_pending(const gloop__entryq *q) {
  return atomic_load(&((gloop__entryq *)q)->tail) != q->head;
}

/* Takes the oldest entry, or NULL if there is none or the oldest one is
 * still being linked in by its producer. */
static gloop__entry *take(gloop__entryq *q) {
  gloop__entry *head = q->head;
  gloop__entry *next = atomic_load_explicit(&head->next, memory_order_acquire);
  if (head == &q->stub) {
    if (next == NULL) return NULL;
    q->head = head = next;
    next = atomic_load_explicit(&head->next, memory_order_acquire);
  }
  if (head == &q->closed) return NULL; /* everything before it was taken */
  if (next == NULL) {
    /* head is the last linked entry. Unless a producer is mid-push, put
     * the stub back behind it, so that head can be handed out. */
    if (atomic_load(&q->tail) != head) return NULL;
    link_in(q, &q->stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next == NULL) return NULL;
  }
  q->head = next;
  return head;
}

/* Runs queued entries, at most BATCH of them, so that producers cannot keep
 * the host in here; the tick drains again before it goes idle. Each entry
 * is finished with once its callback has been called: the callback may
 * free or reuse it. The tail, the producers' cache line, is read only when
 * the queue looks empty, so a busy host does not pull that line away from
 * the producers at every entry. */
enum { BATCH = 1024 };
static void drain_batch(gloop__entryq *q, gloop__run *run) {
  gloop__entry *e;
  for (int n = 0; n < BATCH && (e = take(q)) != NULL; n++) e->fn(e, run);
  flush_spare(q);
}

void gloop__entryq_drain(gloop__entryq *q, gloop__run *run) {
  /* The cheap look: an entry is linked after head. (One still being linked
   * is found by gloop__entryq_pending() before the run goes idle.) */
  gloop__entry *head = q->head;
  if (atomic_load_explicit(&head->next, memory_order_acquire) != NULL) drain_batch(q, run);
}

void gloop__entryq_close(gloop__entryq *q, gloop__run *run) {
  if (!gloop__entryq_closed(q)) link_in(q, &q->closed);
  /* Every push that landed before the sentinel is delivered, here. One
   * that is between its exchange and its link is a few instructions from
   * done; if its thread was preempted there, yield to it. */
  while (q->head != &q->closed) {
    drain_batch(q, run);
    if (q->head != &q->closed) sched_yield();
  }
}

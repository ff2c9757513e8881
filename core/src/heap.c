/* heap.c - the timer min-heap, keyed by (deadline, sequence number). */
#include "guestloop/testing.h"
#include "internal.h"

/* An array-backed binary heap of timer pointers. Each timer records its own
 * index so removal is O(log n) without tombstones. The array only grows (by
 * doubling), so steady-state timer traffic allocates nothing. */

static int less(const gloop__timer *a, const gloop__timer *b) {
  if (a->deadline != b->deadline) return a->deadline < b->deadline;
  return a->seq < b->seq;
}

static void place(gloop__heap *h, size_t i, gloop__timer *t) {
  h->items[i] = t;
  t->index = i;
}

static void sift_up(gloop__heap *h, size_t i) {
  gloop__timer *t = h->items[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!less(t, h->items[p])) break;
    place(h, i, h->items[p]);
    i = p;
  }
  place(h, i, t);
}

static void sift_down(gloop__heap *h, size_t i) {
  gloop__timer *t = h->items[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->len) break;
    if (c + 1 < h->len && less(h->items[c + 1], h->items[c])) c++;
    if (!less(h->items[c], t)) break;
    place(h, i, h->items[c]);
    i = c;
  }
  place(h, i, t);
}

int gloop__heap_push(gloop__heap *h, const gloop__alloc *a, gloop__timer *t) {
  if (h->len == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    gloop__timer **items =
        gloop__fault(GLOOP_FAULT_MEMORY) ? NULL : a->fn(a->ud, h->items, cap * sizeof *items);
    if (items == NULL) return GLOOP_ENOMEM;
    h->items = items;
    h->cap = cap;
  }
  h->items[h->len] = t;
  t->index = h->len++;
  sift_up(h, t->index);
  return 0;
}

void gloop__heap_remove(gloop__heap *h, gloop__timer *t) {
  size_t i = t->index;
  gloop__assert(i < h->len && h->items[i] == t);
  t->index = GLOOP__NOT_ARMED;
  gloop__timer *last = h->items[--h->len];
  if (i == h->len) return;
  place(h, i, last);
  if (i > 0 && less(last, h->items[(i - 1) / 2]))
    sift_up(h, i);
  else
    sift_down(h, i);
}

gloop__timer *gloop__heap_top(const gloop__heap *h) { return h->len ? h->items[0] : NULL; }

gloop__timer *gloop__heap_pop(gloop__heap *h) {
  gloop__timer *t = gloop__heap_top(h);
  if (t) gloop__heap_remove(h, t);
  return t;
}

void gloop__heap_free(gloop__heap *h, const gloop__alloc *a) {
  gloop__free(a, h->items);
  h->items = NULL;
  h->len = h->cap = 0;
}

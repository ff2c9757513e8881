/* channel.c - bounded memory channels: a ring buffer plus FIFO queues of waiting senders and receivers. */
#include <string.h>

#include "internal.h"

/* Invariants: receivers wait only while the buffer is empty, and senders
 * only while it is full (always, for capacity 0). A waiting sender's element
 * pointer and a waiting receiver's destination are in task->wait_data, so a
 * hand-off copies once, straight between the two tasks' memory. */
struct gloop_channel {
  gloop__bound b;
  gloop__queue senders;
  gloop__queue receivers;
  size_t cap, elem, head, count;
  int closed;
  unsigned char *buf;
};


static unsigned char *slot(gloop_channel *ch, size_t i) {
  return ch->buf + ((ch->head + i) % ch->cap) * ch->elem;
}

int gloop_channel_new(size_t capacity, size_t elem_size, gloop_channel **out) {
  if (out == NULL || elem_size == 0 || (capacity && elem_size > SIZE_MAX / capacity))
    return GLOOP_EINVAL;
  gloop__bound b;
  int rc = gloop__bind(&b);
  if (rc) return rc;
  gloop_channel *ch = gloop__calloc(&b.alloc, sizeof *ch);
  if (ch == NULL) return GLOOP_ENOMEM;
  if (capacity) {
    ch->buf = gloop__malloc(&b.alloc, capacity * elem_size);
    if (ch->buf == NULL) {
      gloop__free(&b.alloc, ch);
      return GLOOP_ENOMEM;
    }
  }
  ch->b = b;
  ch->cap = capacity;
  ch->elem = elem_size;
  gloop__queue_init(&ch->senders);
  gloop__queue_init(&ch->receivers);
  *out = ch;
  return 0;
}

void gloop_channel_free(gloop_channel *ch) {
  if (ch == NULL) return;
  if (!gloop__queue_empty(&ch->senders) || !gloop__queue_empty(&ch->receivers)) {
    if (gloop__bound_check(&ch->b) != 0) {
      fprintf(stderr, "guestloop: channel freed from a thread that does not own its run "
                      "while tasks wait on it; leaking it instead\n");
      return;
    }
    gloop_task *t;
    while ((t = gloop__pop_waiter(&ch->senders)) != NULL) gloop__task_wake(t, GLOOP_EDESTROYED);
    while ((t = gloop__pop_waiter(&ch->receivers)) != NULL) gloop__task_wake(t, GLOOP_EDESTROYED);
  }
  gloop__free(&ch->b.alloc, ch->buf);
  gloop__free(&ch->b.alloc, ch);
}

/* Delivers without waiting if a receiver waits or there is room. */
static int put_now(gloop_channel *ch, const void *elem) {
  gloop_task *r = gloop__pop_waiter(&ch->receivers);
  if (r) {
    memcpy(r->wait_data, elem, ch->elem);
    gloop__task_wake(r, 0);
    return 0;
  }
  if (ch->count < ch->cap) {
    memcpy(slot(ch, ch->count), elem, ch->elem);
    ch->count++;
    return 0;
  }
  return GLOOP_EAGAIN;
}

/* Takes without waiting from the buffer (refilling it from the first waiting
 * sender) or straight from a waiting sender. */
static int take_now(gloop_channel *ch, void *elem) {
  gloop_task *s = gloop__pop_waiter(&ch->senders);
  if (ch->count > 0) {
    memcpy(elem, slot(ch, 0), ch->elem);
    ch->head = (ch->head + 1) % ch->cap;
    ch->count--;
    if (s) {
      memcpy(slot(ch, ch->count), s->wait_data, ch->elem);
      ch->count++;
      gloop__task_wake(s, 0);
    }
    return 0;
  }
  if (s) {
    memcpy(elem, s->wait_data, ch->elem);
    gloop__task_wake(s, 0);
    return 0;
  }
  return ch->closed ? GLOOP_EENDOFCHANNEL : GLOOP_EAGAIN;
}

int gloop_channel_send(gloop_channel *ch, const void *elem) {
  if (ch == NULL || elem == NULL) return GLOOP_EINVAL;
  int rc = 0;
  gloop_task *t = gloop__task_current(&rc);
  if (t == NULL) return rc;
  if ((rc = gloop__bound_check(&ch->b)) != 0) return rc;
  if (ch->closed) return GLOOP_ECLOSED;
  if ((rc = gloop__task_check_cancel(t)) != 0) return rc;
  rc = put_now(ch, elem);
  if (rc != GLOOP_EAGAIN) return rc;
  t->wait_data = (void *)elem;
  gloop__queue_push(&ch->senders, &t->node);
  return gloop__block(t, gloop__unwait_queue, ch, GLOOP__WAIT_CANCELLABLE);
}

int gloop_channel_try_send(gloop_channel *ch, const void *elem) {
  if (ch == NULL || elem == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&ch->b);
  if (rc) return rc;
  if (ch->closed) return GLOOP_ECLOSED;
  return put_now(ch, elem);
}

int gloop_channel_receive(gloop_channel *ch, void *elem) {
  if (ch == NULL || elem == NULL) return GLOOP_EINVAL;
  int rc = 0;
  gloop_task *t = gloop__task_current(&rc);
  if (t == NULL) return rc;
  if ((rc = gloop__bound_check(&ch->b)) != 0) return rc;
  if ((rc = gloop__task_check_cancel(t)) != 0) return rc;
  rc = take_now(ch, elem);
  if (rc != GLOOP_EAGAIN) return rc;
  t->wait_data = elem;
  gloop__queue_push(&ch->receivers, &t->node);
  return gloop__block(t, gloop__unwait_queue, ch, GLOOP__WAIT_CANCELLABLE);
}

int gloop_channel_try_receive(gloop_channel *ch, void *elem) {
  if (ch == NULL || elem == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&ch->b);
  if (rc) return rc;
  return take_now(ch, elem);
}

int gloop_channel_close(gloop_channel *ch) {
  if (ch == NULL) return GLOOP_EINVAL;
  int rc = gloop__bound_check(&ch->b);
  if (rc) return rc;
  if (ch->closed) return GLOOP_ECLOSED;
  ch->closed = 1;
  gloop_task *t;
  while ((t = gloop__pop_waiter(&ch->senders)) != NULL) gloop__task_wake(t, GLOOP_ECLOSED);
  while ((t = gloop__pop_waiter(&ch->receivers)) != NULL) gloop__task_wake(t, GLOOP_EENDOFCHANNEL);
  return 0;
}

size_t gloop_channel_size(const gloop_channel *ch) { return ch ? ch->count : 0; }

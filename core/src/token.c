/* token.c - tokens: posts, system-task starts and calls into a run from other threads, as entries of its entry queue. */
#include <string.h>

#include "internal.h"

/* ---- Entry nodes for posts and starts ----------------------------------------------
 *
 * A post or start needs a node that outlives the call. Nodes are recycled,
 * so that a steady stream of posts allocates nothing and takes no lock: the
 * host gives a node back, after running it, to its queue's spare stack; a
 * token takes that whole stack at once, with one exchange, into a cache of
 * its own when its cache is empty. Only the host pushes onto the spare
 * stack and the only removal takes everything, which is what makes it safe
 * against reuse (ABA) without counters. A token used by several threads at
 * once lets one of them use its cache; the others allocate (their nodes
 * join the spare stack afterwards). Nodes are freed with their token and
 * their queue, so a queue holds at most as many as were ever in flight at
 * once. */

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

struct gloop_token {
  gloop__entryq *q;
  pthread_t host;
  atomic_flag busy;             /* a thread is using `cache` */
  node *cache;
};

static void free_nodes(node *n) {
  while (n != NULL) {
    node *next = n->next_free;
    free(n);
    n = next;
  }
}

static node *node_get(gloop_token *t) {
  node *n = NULL;
  if (!atomic_flag_test_and_set_explicit(&t->busy, memory_order_acquire)) {
    if (t->cache == NULL) t->cache = gloop__entryq_take_spare(t->q);
    n = t->cache;
    if (n != NULL) t->cache = n->next_free;
    atomic_flag_clear_explicit(&t->busy, memory_order_release);
  }
  if (n == NULL) n = gloop__sys_malloc(sizeof(node));
  if (n != NULL) n->home = t->q;
  return n;
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

/* ---- Tokens --------------------------------------------------------------------------- */

int gloop_token_new(gloop_token **out) {
  if (out == NULL) return GLOOP_EINVAL;
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->phase != GLOOP__RUN_LIVE || run->eq == NULL) return GLOOP_ENORUN;
  gloop_token *t = gloop__sys_malloc(sizeof *t);
  if (t == NULL) return GLOOP_ENOMEM;
  t->q = run->eq;
  t->host = run->thread;
  atomic_flag_clear(&t->busy);
  t->cache = NULL;
  gloop__entryq_ref(t->q);
  *out = t;
  return 0;
}

void gloop_token_free(gloop_token *t) {
  if (t == NULL) return;
  free_nodes(t->cache);
  gloop__entryq_unref(t->q);
  free(t);
}

static int push_node(gloop_token *t, void (*arrived)(gloop__entry *, gloop__run *),
                     void *fn, void *arg, const char *name) {
  node *n = node_get(t);
  if (n == NULL) return GLOOP_ENOMEM;
  n->e.fn = arrived;
  if (arrived == post_arrived)
    n->fn.post = (gloop_callback_fn)fn;
  else
    n->fn.task = (gloop_task_fn)fn;
  n->arg = arg;
  if (name != NULL) snprintf(n->name, sizeof n->name, "%s", name);
  int rc = gloop__entryq_push(t->q, &n->e);
  if (rc) free(n); /* refused: the queue is closed, no point keeping it */
  return rc;
}

int gloop_token_post(gloop_token *t, gloop_callback_fn fn, void *data) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  return push_node(t, post_arrived, (void *)fn, data, NULL);
}

int gloop_token_start(gloop_token *t, gloop_task_fn fn, void *arg, const char *name) {
  if (t == NULL || fn == NULL) return GLOOP_EINVAL;
  return push_node(t, start_arrived, (void *)fn, arg, name ? name : "system");
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
  int rc = gloop__entryq_push(t->q, &c.e);
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

/* Starts an accepted system task. After the main task has exited the system
 * nursery is cancelled, so the task sees GLOOP_ECANCELED at its first
 * checkpoint, but it does run: an accepted start is never dropped while the
 * run is live. */
int gloop__start_system_task(gloop__run *run, gloop_task_fn fn, void *arg, const char *name) {
  if (run->phase != GLOOP__RUN_LIVE) return GLOOP_ENORUN;
  return gloop_nursery_start(&run->sys, fn, arg, name, NULL);
}

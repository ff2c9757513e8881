/* stack.h - task stacks: the run's stack cache and slabs (stack.c). */
#ifndef GLOOP_STACK_H
#define GLOOP_STACK_H

#include <stddef.h>
#include <stdint.h>

struct gloop__run;

typedef struct gloop__stack {
  void *base;        /* lowest address of the mapping (the guard page, if any) */
  size_t map_size;   /* whole mapping, guard included */
  size_t guard;      /* guard-gap bytes at base (0 with guard_pages off) */
  unsigned vg_id;    /* valgrind stack id */
  unsigned char in_slab;  /* part of a slab (default size), else its own mapping */
} gloop__stack;

/* The run's stacks: the size and guard of its default stacks, the free
 * list (a LIFO, kept resident up to pool_cap), and the slabs they are carved
 * from. Host thread only; the overflow handler reads slabs and guard. */
typedef struct gloop__stacks {
  size_t size;                  /* default stack size (page multiple) */
  int guard;                    /* guard gaps on */
  gloop__stack *pool;           /* free stacks of `size` (LIFO) */
  size_t pool_alloc;            /* capacity of `pool` */
  size_t pool_len;
  size_t pool_trimmed;          /* pool[0 .. pool_trimmed) gave their pages back */
  size_t pool_cap;              /* bound on free stacks kept resident */
  void **slabs;                 /* every slab mapping of the run */
  uint64_t *slab_held;          /* per slab: slots handed over to worker jobs (bit per slot) */
  size_t nslabs, slabs_alloc;
  char *slab_cursor;            /* next never-used slot of the newest slab */
  size_t slab_left;
  char *slab_guarded;           /* newest slab: slots below this already have their guard gap */
  void *altstack;               /* our sigaltstack, if we installed one */
} gloop__stacks;

/* usable area: [base + guard, base + map_size) */
int gloop__stack_alloc(struct gloop__run *run, size_t size, gloop__stack *out);
void gloop__stack_release(struct gloop__run *run, gloop__stack *s);
/* The run's end: its free stacks go back, whole slabs to the process-wide
 * cache while it has room (see stack.c), the rest to the system. */
void gloop__stack_pool_drain(struct gloop__run *run);
/* Abandon with a worker job in flight: the job's function may still read
 * the task's stack (its argument often lives there), so the stack's pages
 * leave the run with the job instead of being unmapped with the run.
 * hand_over moves *from into *to and keeps the run from unmapping it;
 * take_back undoes that (the job had already finished). gloop__stack_unmap()
 * frees a handed-over stack on whichever thread frees the job. */
void gloop__stack_hand_over(struct gloop__run *run, gloop__stack *from, gloop__stack *to);
void gloop__stack_take_back(struct gloop__run *run, gloop__stack *from, gloop__stack *to);
void gloop__stack_unmap(gloop__stack *s);
/* Idle-time upkeep: gives back the pages of at most `max_calls` free stacks
 * beyond the cache bound. */
void gloop__stack_trim(struct gloop__run *run, size_t max_calls);
int gloop__overflow_handler_install(void);
void gloop__altstack_enter(struct gloop__run *run);
void gloop__altstack_leave(struct gloop__run *run);
size_t gloop__page_size(void);

#endif

/* alloc.c - the allocator hook: every loop allocation except stacks goes through here. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

static void *default_realloc(void *ud, void *ptr, size_t size) {
  (void)ud;
  if (size == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, size);
}

const gloop__alloc gloop__default_alloc = {default_realloc, NULL};

#include "guestloop/testing.h"

/* No object can be larger than PTRDIFF_MAX bytes (pointer differences
 * inside it would overflow), so such a request fails here, before any
 * allocator (a user's, or a checking one) sees a size that looks negative. */
void *gloop__malloc(const gloop__alloc *a, size_t size) {
  if (size > PTRDIFF_MAX || gloop__fault(GLOOP_FAULT_MEMORY)) return NULL;
  return a->fn(a->ud, NULL, size ? size : 1);
}

void *gloop__sys_malloc(size_t size) {
  if (gloop__fault(GLOOP_FAULT_MEMORY)) return NULL;
  return malloc(size ? size : 1);
}

void *gloop__sys_calloc(size_t size) {
  if (gloop__fault(GLOOP_FAULT_MEMORY)) return NULL;
  return calloc(1, size ? size : 1);
}

void *gloop__sys_calloc_aligned(size_t align, size_t size) {
  void *p = NULL;
  if (gloop__fault(GLOOP_FAULT_MEMORY) || posix_memalign(&p, align, size ? size : 1) != 0)
    return NULL;
  memset(p, 0, size);
  return p;
}

void *gloop__calloc(const gloop__alloc *a, size_t size) {
  void *p = gloop__malloc(a, size);
  if (p) memset(p, 0, size);
  return p;
}

void gloop__free(const gloop__alloc *a, void *p) {
  if (p) a->fn(a->ud, p, 0);
}

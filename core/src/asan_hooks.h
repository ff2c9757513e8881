/* asan_hooks.h - telling AddressSanitizer about task stacks, in ASan builds of the library and in plain builds loaded by an ASan program.
 *
 * AddressSanitizer keeps one "current stack" per thread. A task switch moves
 * to another stack behind its back, so every switch must be announced with
 * __sanitizer_start_switch_fiber() before and __sanitizer_finish_switch_fiber()
 * after; otherwise a no-return event on a task stack (a C++ exception thrown
 * at a cancellation, a longjmp) cannot clear the redzones of the frames it
 * skips, and the next frames built there are reported as stack overflows.
 *
 * That holds whether or not the library itself was built with ASan: an
 * application built with -fsanitize=address loads the ASan runtime into the
 * process, and its instrumented frames live on our task stacks. So a plain
 * build declares the hooks as weak symbols: they resolve to the runtime when
 * the process has it and to NULL otherwise. A symbol's address is fixed when
 * the library is loaded, so the test is one predictable branch per switch.
 */
#ifndef GLOOP_ASAN_HOOKS_H
#define GLOOP_ASAN_HOOKS_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GLOOP__HOOKS_ASAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define GLOOP__HOOKS_ASAN_BUILD 1
#endif

#ifdef GLOOP__HOOKS_ASAN_BUILD
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define gloop__asan_present() 1
#define gloop__asan_has_unpoison() 1
#else
/* The runtime's own declarations, made weak. Only the addresses are tested
 * before any call. */
#pragma weak __sanitizer_start_switch_fiber
#pragma weak __sanitizer_finish_switch_fiber
#pragma weak __asan_unpoison_memory_region
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define gloop__asan_present() (__builtin_expect(&__sanitizer_start_switch_fiber != NULL, 0))
#define gloop__asan_has_unpoison() (&__asan_unpoison_memory_region != NULL)
#endif

/* Before switching to the stack [bottom, bottom + size): save (NULL for a
 * task that finished) receives the fake-stack bookkeeping of the stack being
 * left. */
static inline void gloop__asan_start_switch(void **save, const void *bottom, size_t size) {
  if (gloop__asan_present()) __sanitizer_start_switch_fiber(save, bottom, size);
}

/* First thing after arriving on a stack: hands back the bookkeeping saved
 * when this stack was left, and reports the stack just left. */
static inline void gloop__asan_finish_switch(void *save, const void **old_bottom,
                                             size_t *old_size) {
  if (gloop__asan_present()) __sanitizer_finish_switch_fiber(save, old_bottom, old_size);
}

/* Clears the shadow of memory that held frames which never returned. */
static inline void gloop__asan_unpoison(const void *addr, size_t size) {
  if (gloop__asan_has_unpoison())
    __asan_unpoison_memory_region(addr, size);
}

#endif

/* Omega's memory allocator hook. By default the library allocates with the C library's
 * malloc, realloc, aligned_alloc and free; a program that wants Omega's memory in its own
 * heap (an arena, a counting or limiting allocator) installs one here, once, before any
 * other omega_* call: memory allocated by one allocator must never reach another's free.
 * The hook also carries jansson's allocations (model and config files are JSON), so a
 * program that uses jansson itself shares that allocator once one is installed. */
#ifndef OMEGA_ALLOC_H
#define OMEGA_ALLOC_H

#include "omega/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  /* Each returns NULL on failure (Omega then fails the call with OMEGA_ENOMEM). Called from
   * any thread at once: the functions must be thread-safe. */
  void *(*malloc)(size_t size, void *user);
  void *(*realloc)(void *ptr, size_t size, void *user);
  /* `align` is a power of two >= sizeof(void *) and divides `size`. */
  void *(*aligned_alloc)(size_t align, size_t size, void *user);
  /* Frees what any of the three above returned; never called with NULL. */
  void (*free)(void *ptr, void *user);
  void *user;
} omega_allocator_t;

/* Install `a` (copied; every function required), or the C library's allocator again with
 * NULL. Only before Omega has allocated anything: afterwards OMEGA_EINVAL, and the
 * allocator in place stays. Not thread-safe: call it at start-up, before other threads use
 * Omega. */
OMEGA_API int omega_set_allocator(const omega_allocator_t *a);

#ifdef __cplusplus
}
#endif
#endif

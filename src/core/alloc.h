/* Every allocation of libomega and the omega program goes through these (tools/alloc-sweep.sh
 * rewrites plain malloc/free calls into them), so a program can install its own allocator
 * (omega_set_allocator) and tests can fail any chosen allocation. Memory from them is freed
 * with omega__free only; memory a third-party library allocates itself (getdelim's line,
 * open_memstream's text) is freed with libc's free, on a line marked "libc:". */
#ifndef OMEGA_CORE_ALLOC_H
#define OMEGA_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *omega__malloc(size_t size);
void *omega__calloc(size_t n, size_t size);
void *omega__realloc(void *ptr, size_t size);
/* `align` a power of two; `size` is rounded up to a multiple of it (as C11 asks). */
void *omega__aligned_alloc(size_t align, size_t size);
void omega__free(void *ptr);
char *omega__strdup(const char *s);
char *omega__strndup(const char *s, size_t n);

/* Test mode, for the allocation-failure torture test: count allocations from now on (every
 * call above but omega__free, in every thread) and fail the nth (n >= 1) and, with
 * `all_later`, every one after it; n == 0 only counts; n < 0 ends the test mode. jansson's
 * allocations go through the hook but are never failed (see alloc.c). */
void omega__alloc_fail_after(long n, bool all_later);
/* Allocations counted since the last omega__alloc_fail_after. */
long omega__alloc_count(void);

#endif

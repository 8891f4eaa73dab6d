/* The C library's heap: how much of it is in use and how much it holds free. glibc keeps freed
 * memory in its arenas for reuse, so after a peak (a compaction building a new index beside the
 * old, a burst of large batches on many threads) the resident size stays at the peak although
 * the memory is free; omega__heap_trim hands the free pages back. Without glibc both report
 * nothing. */
#ifndef OMEGA_CORE_HEAP_H
#define OMEGA_CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  size_t in_use; /* allocated, mmapped blocks included */
  size_t free;   /* held by the allocator, free */
} omega_heap_stats_t;

bool omega__heap_stats(omega_heap_stats_t *out);
/* Give the free pages back to the system when more than min_free bytes lie free; true if it did. */
bool omega__heap_trim(size_t min_free);

#endif

/* The C library's heap: how much of it is in use and how much it holds free, and the policy a
 * long-running server needs. glibc serves a block of 128 KiB or more from its own mapping, but
 * each time such a block is freed it raises that threshold to the block's size (up to 32 MiB);
 * from then on the large, short-lived blocks of a server (a compaction's new arrays, snapshot
 * buffers, big answers) come from the arenas, where they fragment the heap: in a soak the heap
 * held 150-195 MiB free beside 85-105 MiB in use, and the resident size climbed with it. A
 * fixed threshold keeps them in mappings that go back to the system when freed. Without glibc
 * these do nothing. */
#ifndef OMEGA_CORE_HEAP_H
#define OMEGA_CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  size_t in_use; /* allocated, mmapped blocks included */
  size_t free;   /* held by the allocator, free */
} omega_heap_stats_t;

bool omega__heap_stats(omega_heap_stats_t *out);
/* Blocks of OMEGA_HEAP_MMAP_MIN bytes or more from their own mappings, always (a process-wide
 * setting: for the server, not for a program that links the library). */
#define OMEGA_HEAP_MMAP_MIN ((size_t)256 << 10)
void omega__heap_server_policy(void);
/* Give the free pages back to the system when more than min_free bytes lie free; true if it did. */
bool omega__heap_trim(size_t min_free);

#endif

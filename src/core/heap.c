#include "core/heap.h"

#include <string.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>

bool omega__heap_stats(omega_heap_stats_t *out) {
  const struct mallinfo2 mi = mallinfo2();
  out->in_use = mi.uordblks + mi.hblkhd;
  out->free = mi.fordblks;
  return true;
}

void omega__heap_server_policy(void) { mallopt(M_MMAP_THRESHOLD, (int)OMEGA_HEAP_MMAP_MIN); }

bool omega__heap_trim(size_t min_free) {
  omega_heap_stats_t st;
  if (!omega__heap_stats(&st) || st.free <= min_free)
    return false;
  malloc_trim(0);
  return true;
}
#else
void omega__heap_server_policy(void) {}

bool omega__heap_stats(omega_heap_stats_t *out) {
  memset(out, 0, sizeof *out);
  return false;
}

bool omega__heap_trim(size_t min_free) {
  (void)min_free;
  return false;
}
#endif

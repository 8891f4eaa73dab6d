/* The heap statistics and the trim: after a peak is freed the free bytes show it, and the
 * trim hands the pages back (the resident size falls), while a trim below its threshold does
 * nothing. The server's policy: once a large block was freed, glibc serves later large blocks
 * from its arenas, where they stay as free heap; under the policy they do not. The C library's allocator only: under AddressSanitizer, which replaces it, the test
 * skips. */
#include "testutil.h"

#include "core/heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define OMEGA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OMEGA_TEST_ASAN 1
#endif
#endif

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0, rss = 0;
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%lu %lu", &pages, &rss), 2);
  fclose(f);
  return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_peak_freed_then_trimmed(void **state) {
  (void)state;
  omega_heap_stats_t st;
  if (!omega__heap_stats(&st))
    skip(); /* not glibc */
  enum { N = 16384, SIZE = 4096 }; /* 64 MiB in chunks the allocator keeps in its arenas */
  char **p = malloc(N * sizeof *p);
  assert_non_null(p);
  for (size_t i = 0; i < N; i++) {
    p[i] = malloc(SIZE);
    assert_non_null(p[i]);
    memset(p[i], 1, SIZE);
  }
  assert_true(omega__heap_stats(&st));
  assert_true(st.in_use >= (size_t)N * SIZE);
  /* free all but every 64th: the survivors pin the heap's top, so only a trim returns pages */
  for (size_t i = 0; i < N; i++)
    if (i % 64)
      free(p[i]);
  assert_true(omega__heap_stats(&st));
  assert_true(st.free >= (size_t)48 << 20);
  assert_false(omega__heap_trim((size_t)1 << 40)); /* below the threshold: nothing */
  const size_t before = rss_bytes();
  assert_true(omega__heap_trim((size_t)32 << 20));
  const size_t after = rss_bytes();
  assert_true(before > after && before - after >= (size_t)32 << 20);
  for (size_t i = 0; i < N; i += 64)
    free(p[i]);
  free(p);
}

/* Free bytes left in the heap when every other one of 32 blocks of 1 MiB is freed, after a
 * 4 MiB block was (which raises glibc's own threshold to 4 MiB); the blocks kept between them
 * stop the holes from merging into the heap's top, which glibc would give back. */
static size_t free_left_by_large_blocks(void) {
  omega_heap_stats_t before, after;
  char *volatile raise = malloc((size_t)4 << 20); /* volatile: the compiler may not drop the pair */
  assert_non_null(raise);
  raise[0] = 1;
  free(raise);
  void *big[32];
  assert_true(omega__heap_stats(&before));
  for (int i = 0; i < 32; i++) {
    big[i] = malloc((size_t)1 << 20);
    assert_non_null(big[i]);
    memset(big[i], 1, (size_t)1 << 20);
  }
  for (int i = 0; i < 32; i += 2)
    free(big[i]);
  assert_true(omega__heap_stats(&after));
  for (int i = 1; i < 32; i += 2)
    free(big[i]);
  return after.free > before.free ? after.free - before.free : 0;
}

static void test_server_policy_maps_large_blocks(void **state) {
  (void)state;
  omega_heap_stats_t st;
  if (!omega__heap_stats(&st))
    skip();
  if (tu_emulated()) { /* the emulator maps the guest's memory its own way */
    printf("SKIP: glibc's arena under the emulator is not the policy's\n");
    skip();
  }
  /* glibc's default: the blocks came from the arena and stay there, free */
  assert_true(free_left_by_large_blocks() >= (size_t)12 << 20);
  omega__heap_server_policy();
  assert_true(free_left_by_large_blocks() < (size_t)4 << 20);
}

int main(void) {
#ifdef OMEGA_TEST_ASAN
  puts("test_heap: skipped under AddressSanitizer (it replaces the C library's allocator)");
  return 77;
#endif
  /* the policy is for the whole process: its test comes last */
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_peak_freed_then_trimmed),
                                     cmocka_unit_test(test_server_policy_maps_large_blocks)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The thread pool: every item runs once, and omega__pool_worker() names the running thread
 * consistently (the per-thread scratch of the CPU kernels depends on it). The one-shot
 * fan-out of shared-counter workers: every item once, the workers at once. */
#include "testutil.h"

#include "core/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define ITEMS 64

typedef struct {
  atomic_int hits[ITEMS];
  int index[ITEMS];        /* omega__pool_worker() for each item */
  pthread_t thread[ITEMS]; /* and the thread that ran it */
  int inner[ITEMS];        /* omega__pool_worker() inside an inline loop nested in the item */
  int after[ITEMS];        /* and after that loop */
} record_t;

static void inner_fn(void *ctx, size_t b, size_t e) {
  (void)b, (void)e;
  *(int *)ctx = omega__pool_worker();
}

static void record_fn(void *ctx, size_t b, size_t e) {
  record_t *r = ctx;
  for (size_t i = b; i < e; i++) {
    atomic_fetch_add(&r->hits[i], 1);
    r->index[i] = omega__pool_worker();
    r->thread[i] = pthread_self();
    omega__pool_for(NULL, 1, 1, inner_fn, &r->inner[i]);
    r->after[i] = omega__pool_worker();
    nanosleep(&(struct timespec){0, 200000}, NULL); /* so every thread gets items */
  }
}

static void test_worker_index(void **state) {
  (void)state;
  for (int threads = 1; threads <= 4; threads++)
    for (size_t grain = 1; grain <= 5; grain += 4) {
      omega_pool_t *p;
      assert_int_equal(omega__pool_create(threads, &p), 0);
      assert_int_equal(omega__pool_threads(p), threads);
      record_t *r = calloc(1, sizeof *r);
      omega__pool_for(p, ITEMS, grain, record_fn, r);
      int seen[4] = {0};
      for (size_t i = 0; i < ITEMS; i++) {
        assert_int_equal(atomic_load(&r->hits[i]), 1);
        assert_in_range(r->index[i], 0, threads - 1);
        seen[r->index[i]] = 1;
        assert_int_equal(r->inner[i], 0);           /* an inline loop's caller is its thread 0 */
        assert_int_equal(r->after[i], r->index[i]); /* and the outer index comes back */
        assert_int_equal(r->index[i] == 0, pthread_equal(r->thread[i], pthread_self()) != 0);
        for (size_t j = 0; j < i; j++) /* one index per thread, one thread per index */
          assert_int_equal(pthread_equal(r->thread[i], r->thread[j]) != 0, r->index[i] == r->index[j]);
      }
      int used = 0;
      for (int t = 0; t < threads; t++)
        used += seen[t];
      assert_true(used >= 1);
      assert_int_equal(omega__pool_worker(), 0);
      free(r);
      omega__pool_destroy(p);
    }
}

/* omega__run_workers: n workers share a counter; every item runs once, and the n run at
 * once (each waits until all have started); past OMEGA_JOBS_MAX the rest run in the caller
 * afterwards and find nothing left. */
#define WORK_ITEMS 1000

typedef struct {
  atomic_size_t next;
  atomic_int hits[WORK_ITEMS];
  atomic_int entered;
  int wait_for; /* workers to wait for before taking items (0: none) */
  atomic_int timed_out;
} work_t;

static void *work_fn(void *arg) {
  work_t *w = arg;
  atomic_fetch_add(&w->entered, 1);
  for (int i = 0; w->wait_for && atomic_load(&w->entered) < w->wait_for; i++) {
    if (i == 5000) { /* 5 s */
      atomic_store(&w->timed_out, 1);
      break;
    }
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  for (size_t i; (i = atomic_fetch_add(&w->next, 1)) < WORK_ITEMS;)
    atomic_fetch_add(&w->hits[i], 1);
  return NULL;
}

static void test_run_workers(void **state) {
  (void)state;
  const size_t counts[] = {0, 1, 3, 8, OMEGA_JOBS_MAX + 2};
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    const size_t n = counts[c];
    work_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->wait_for = n <= 8 ? (int)n : 0;
    omega__run_workers(work_fn, w, n);
    assert_int_equal(atomic_load(&w->entered), (int)n);
    assert_int_equal(atomic_load(&w->timed_out), 0);
    for (size_t i = 0; i < WORK_ITEMS; i++)
      assert_int_equal(atomic_load(&w->hits[i]), n ? 1 : 0);
    free(w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_worker_index), cmocka_unit_test(test_run_workers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

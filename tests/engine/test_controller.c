/* The latency controller on its own: backs off when p95 is over the target because of
 * batch run time, not because of queueing; grows while batches fill the ceiling and a bigger
 * batch still fits; never moves inside the cooldown. */
#include "testutil.h"

#include "engine/controller.h"

#define MS 1000000LL

/* n finished requests of latency lat_ms, each from a batch of `batch` sequences taking run_ms */
static void feed(omega_controller_t *c, double lat_ms, double run_ms, int n, size_t batch) {
  for (int i = 0; i < n; i++) {
    omega__controller_sample(c, lat_ms);
    omega__controller_batch(c, batch, run_ms);
  }
}

static void test_backs_off_when_batches_are_slow(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 64, true, 100); /* cooldown max(250 ms, 4 x 100 ms) = 400 ms */
  assert_int_equal(c.ceiling, 64);
  feed(&c, 150, 80, 40, 64);
  assert_int_equal(omega__controller_step(&c, 100 * MS), 0); /* inside the cooldown */
  assert_int_equal(omega__controller_step(&c, 500 * MS), -1);
  assert_int_equal(c.ceiling, 48);
  assert_true(c.last_p95_ms >= 150);
  /* a fresh window: nothing to judge until new samples arrive, and a new cooldown */
  assert_int_equal(omega__controller_step(&c, 950 * MS), 0);
  feed(&c, 150, 80, 40, 48);
  assert_int_equal(omega__controller_step(&c, 850 * MS), 0);
  assert_int_equal(omega__controller_step(&c, 1000 * MS), -1);
  assert_int_equal(c.ceiling, 36);
  assert_int_equal(c.downs, 2);
}

static void test_queueing_is_not_fixed_by_smaller_batches(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 64, true, 100);
  c.ceiling = 16;
  /* over the target, but batches run in 10 ms: the time is queueing, more throughput helps */
  feed(&c, 400, 10, 40, 16);
  assert_int_equal(omega__controller_step(&c, 1000 * MS), 1);
  assert_int_equal(c.ceiling, 20);
}

static void test_grows_while_batches_fit(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 200, true, 100);
  c.ceiling = 8;
  feed(&c, 20, 8, 40, 3); /* fast, but batches far below the ceiling: no reason to grow */
  assert_int_equal(omega__controller_step(&c, 1000 * MS), 0);
  int64_t t = 1000 * MS;
  for (int i = 0; i < 60; i++) { /* run time proportional to the batch: 1 ms per sequence */
    t += 1000 * MS;
    feed(&c, 30, (double)c.ceiling, 40, c.ceiling);
    omega__controller_step(&c, t);
  }
  /* it stops where the next step would take more than half the target (50 ms) */
  assert_true(c.ceiling <= 50 && c.ceiling >= 40);
  assert_int_equal(c.downs, 0);
}

static void test_not_adaptive_and_reconfigure(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 32, false, 10);
  feed(&c, 1000, 100, 100, 32);
  assert_int_equal(omega__controller_step(&c, 100000 * MS), 0);
  assert_int_equal(c.ceiling, 32);
  omega__controller_configure(&c, 16, true, 10);
  assert_int_equal(c.ceiling, 16);
  assert_int_equal(omega__controller_step(&c, 200000 * MS), -1); /* now adaptive and far over */
  assert_int_equal(c.ceiling, 12);
  omega__controller_configure(&c, 64, true, 10); /* a larger bound keeps the current ceiling */
  assert_int_equal(c.ceiling, 12);
  c.ceiling = 1; /* never below one */
  feed(&c, 1000, 100, 100, 1);
  assert_int_equal(omega__controller_step(&c, 900000 * MS), 0);
  assert_int_equal(c.ceiling, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backs_off_when_batches_are_slow),
      cmocka_unit_test(test_queueing_is_not_fixed_by_smaller_batches),
      cmocka_unit_test(test_grows_while_batches_fit),
      cmocka_unit_test(test_not_adaptive_and_reconfigure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

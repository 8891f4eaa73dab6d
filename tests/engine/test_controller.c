/* The latency controller on its own: backs off when p95 is over the target, grows when
 * there is room and batches fill up, never moves inside the cooldown. */
#include "testutil.h"

#include "engine/controller.h"

#define MS 1000000LL

static void feed(omega_controller_t *c, double ms, int n, size_t batch) {
  for (int i = 0; i < n; i++) {
    omega__controller_sample(c, ms);
    omega__controller_batch(c, batch);
  }
}

static void test_backs_off_over_target(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 64, true, 100); /* cooldown max(250 ms, 4 x 100 ms) = 400 ms */
  assert_int_equal(c.ceiling, 64);
  feed(&c, 150, 40, 64);
  assert_int_equal(omega__controller_step(&c, 100 * MS), 0); /* inside the cooldown */
  assert_int_equal(omega__controller_step(&c, 500 * MS), -1);
  assert_int_equal(c.ceiling, 48);
  assert_true(c.last_p95_ms >= 150);
  /* the window restarts: no move until new samples and a new cooldown */
  assert_int_equal(omega__controller_step(&c, 950 * MS), 0);
  feed(&c, 150, 40, 48);
  assert_int_equal(omega__controller_step(&c, 850 * MS), 0); /* 350 ms after the move: still cooling */
  assert_int_equal(omega__controller_step(&c, 1000 * MS), -1);
  assert_int_equal(c.ceiling, 36);
  assert_int_equal(c.downs, 2);
}

static void test_grows_when_saturated_and_fast(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 40, true, 100);
  c.ceiling = 8;
  feed(&c, 20, 40, 3); /* fast but batches far below the ceiling: no reason to grow */
  assert_int_equal(omega__controller_step(&c, 1000 * MS), 0);
  feed(&c, 20, 40, 8); /* batches fill the ceiling */
  assert_int_equal(omega__controller_step(&c, 1000 * MS), 1);
  assert_int_equal(c.ceiling, 10);
  int64_t t = 1000 * MS;
  for (int i = 0; i < 40; i++) {
    t += 1000 * MS;
    feed(&c, 20, 40, c.ceiling);
    omega__controller_step(&c, t);
  }
  assert_int_equal(c.ceiling, 40); /* capped at max_batch */
  /* between 80% and 100% of the target: hold */
  c.ceiling = 20;
  feed(&c, 90, OMEGA_CTL_WINDOW, 20);
  assert_int_equal(omega__controller_step(&c, t + 10000 * MS), 0);
}

static void test_not_adaptive_and_reconfigure(void **state) {
  (void)state;
  omega_controller_t c;
  omega__controller_init(&c, 32, false, 10);
  feed(&c, 1000, 100, 32);
  assert_int_equal(omega__controller_step(&c, 100000 * MS), 0);
  assert_int_equal(c.ceiling, 32);
  omega__controller_configure(&c, 16, true, 10);
  assert_int_equal(c.ceiling, 16);
  assert_int_equal(omega__controller_step(&c, 200000 * MS), -1); /* now adaptive: 1000 ms >> 10 ms */
  assert_int_equal(c.ceiling, 12);
  omega__controller_configure(&c, 64, true, 10); /* a larger bound keeps the current ceiling */
  assert_int_equal(c.ceiling, 12);
  /* never below one */
  c.ceiling = 1;
  feed(&c, 1000, 100, 1);
  assert_int_equal(omega__controller_step(&c, 900000 * MS), 0);
  assert_int_equal(c.ceiling, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_backs_off_over_target),
                                     cmocka_unit_test(test_grows_when_saturated_and_fast),
                                     cmocka_unit_test(test_not_adaptive_and_reconfigure)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

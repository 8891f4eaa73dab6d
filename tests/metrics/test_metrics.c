/* The metrics registry and its Prometheus text exposition. */
#include "testutil.h"

#include "metrics/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char *render(omega_metrics_t *m) {
  char *buf;
  size_t len;
  FILE *f = open_memstream(&buf, &len);
  omega__metrics_write(m, f);
  fclose(f);
  return buf;
}

static void expect_line(const char *text, const char *line) {
  char needle[512];
  snprintf(needle, sizeof needle, "\n%s\n", line);
  if (!strstr(text, needle) && strncmp(text, line, strlen(line)) != 0)
    fail_msg("line \"%s\" not in:\n%s", line, text);
}

static int collected;
static void collect(void *user) {
  collected++;
  omega__series_set(user, 42.5);
}

static void test_exposition(void **state) {
  (void)state;
  omega_metrics_t *m;
  assert_int_equal(omega__metrics_create(&m), 0);
  const char *route[] = {"route", NULL};
  omega_family_t *c = omega__metrics_family(m, "omega_test_total", "Things.", OMEGA_METRIC_COUNTER, route, NULL, 0);
  omega__series_add(omega__series(c, "gpu", NULL, NULL), 2);
  omega__series_add(omega__series(c, "gpu", NULL, NULL), 1);
  omega__series_add(omega__series(c, "a\"b\\c\nd", NULL, NULL), 1);
  omega_family_t *g = omega__metrics_family(m, "omega_test_gauge", "A gauge.", OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  omega__metrics_on_collect(m, collect, omega__series(g, NULL, NULL, NULL));
  const double b[] = {1, 5, 10};
  omega_family_t *h = omega__metrics_family(m, "omega_test_ms", "Latency.", OMEGA_METRIC_HISTOGRAM, NULL, b, 3);
  omega_series_t *hs = omega__series(h, NULL, NULL, NULL);
  const double obs[] = {0.5, 2, 2, 7, 100};
  for (int i = 0; i < 5; i++)
    omega__series_observe(hs, obs[i]);
  char *t = render(m);
  expect_line(t, "# HELP omega_test_total Things.");
  expect_line(t, "# TYPE omega_test_total counter");
  expect_line(t, "omega_test_total{route=\"gpu\"} 3");
  expect_line(t, "omega_test_total{route=\"a\\\"b\\\\c\\nd\"} 1");
  expect_line(t, "# TYPE omega_test_gauge gauge");
  expect_line(t, "omega_test_gauge 42.5");
  expect_line(t, "# TYPE omega_test_ms histogram");
  expect_line(t, "omega_test_ms_bucket{le=\"1\"} 1");
  expect_line(t, "omega_test_ms_bucket{le=\"5\"} 3");
  expect_line(t, "omega_test_ms_bucket{le=\"10\"} 4");
  expect_line(t, "omega_test_ms_bucket{le=\"+Inf\"} 5");
  expect_line(t, "omega_test_ms_sum 111.5");
  expect_line(t, "omega_test_ms_count 5");
  assert_int_equal(collected, 1);
  assert_int_equal((int)omega__series_value(hs), 5);
  double p50 = omega__series_quantile(hs, 0.5);
  assert_true(p50 > 1 && p50 <= 5);
  assert_true(omega__series_quantile(hs, 0.99) == 10); /* beyond the last bound */
  free(t);
  omega__metrics_free(m);
}

static omega_series_t *shared_counter;
static void *hammer(void *arg) {
  (void)arg;
  for (int i = 0; i < 100000; i++)
    omega__series_add(shared_counter, 1);
  return NULL;
}

static void test_concurrent_updates(void **state) {
  (void)state;
  omega_metrics_t *m;
  assert_int_equal(omega__metrics_create(&m), 0);
  omega_family_t *c = omega__metrics_family(m, "omega_c_total", "C.", OMEGA_METRIC_COUNTER, NULL, NULL, 0);
  shared_counter = omega__series(c, NULL, NULL, NULL);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, hammer, NULL);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal((long)omega__series_value(shared_counter), 400000);
  omega__metrics_free(m);
}

/* A removed series leaves the exposition; the others (first, middle, last) stay linked. */
static void test_remove_series(void **state) {
  (void)state;
  omega_metrics_t *m;
  assert_int_equal(omega__metrics_create(&m), 0);
  const char *coll[] = {"collection", NULL};
  omega_family_t *g = omega__metrics_family(m, "omega_v", "V.", OMEGA_METRIC_GAUGE, coll, NULL, 0);
  omega__series_set(omega__series(g, "a", NULL, NULL), 1);
  omega__series_set(omega__series(g, "b", NULL, NULL), 2);
  omega__series_set(omega__series(g, "c", NULL, NULL), 3);
  omega__series_remove(g, "c", NULL, NULL);
  omega__series_remove(g, "zz", NULL, NULL); /* absent: nothing happens */
  omega__series_set(omega__series(g, "d", NULL, NULL), 4); /* appended after the removed last one */
  omega__series_remove(g, "a", NULL, NULL);
  char *t = render(m);
  assert_null(strstr(t, "collection=\"a\""));
  assert_null(strstr(t, "collection=\"c\""));
  expect_line(t, "omega_v{collection=\"b\"} 2");
  expect_line(t, "omega_v{collection=\"d\"} 4");
  free(t);
  omega__metrics_free(m);
}

/* Out of memory while creating a series: NULL, not abort(), and NULL takes updates and reads
 * as 0. */
static int fill_until_out_of_memory(void *arg) {
  omega_family_t *h = arg;
  for (int i = 0; i < 10000000; i++) {
    char name[32];
    snprintf(name, sizeof name, "s%d", i);
    omega_series_t *s = omega__series(h, name, NULL, NULL);
    if (!s) {
      omega__series_observe(s, 1);
      omega__series_add(s, 1);
      omega__series_set(s, 1);
      const int ok = omega__series_value(s) == 0 && omega__series_sum(s) == 0 && omega__series_quantile(s, 0.5) == 0 &&
                     omega__series_value(omega__series(h, "kept", NULL, NULL)) == 1;
      return ok ? 0 : 2;
    }
  }
  return 4; /* the cap never bit */
}

static void test_series_out_of_memory(void **state) {
  (void)state;
#ifdef __SANITIZE_ADDRESS__
  skip();
#endif
  omega_metrics_t *m;
  assert_int_equal(omega__metrics_create(&m), 0);
  const char *labels[] = {"name", NULL};
  omega_family_t *h = omega__metrics_family(m, "omega_test_seconds", "Lat.", OMEGA_METRIC_HISTOGRAM, labels,
                                           (double[]){0.1, 1}, 2);
  omega__series_observe(omega__series(h, "kept", NULL, NULL), 0.5);
  assert_int_equal(tu_capped_child(8u << 20, fill_until_out_of_memory, h), 0);
  omega__metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_exposition), cmocka_unit_test(test_concurrent_updates),
                                     cmocka_unit_test(test_remove_series), cmocka_unit_test(test_series_out_of_memory)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

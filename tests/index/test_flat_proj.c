/* The projection-bound path of exact flat search (flat_proj.c) on indices large enough to
 * use it: results equal the double-precision brute force for every metric, batches and
 * single queries, filters, deletes, exact ties, appends after the projection was built, and
 * data whose variance is spread evenly (weak bounds) or concentrated (strong bounds). */
#include "ref.h"

static void check(omega_collection_t *c, const ref_model_t *m, const float *qs, size_t nq, size_t k,
                  const int64_t *allow, size_t n_allow, const char *what) {
  omega_result_t *res = malloc(nq * k * sizeof *res);
  size_t *counts = malloc(nq * sizeof *counts);
  omega_id_t *ids = NULL;
  if (allow) {
    ids = malloc(n_allow * sizeof *ids);
    for (size_t i = 0; i < n_allow; i++)
      ids[i] = int_id(allow[i]);
  }
  omega_search_opts_t o = {.k = k, .allow = ids, .n_allow = n_allow};
  if (omega_collection_search(c, qs, nq, &o, res, counts))
    fail_msg("search: %s", omega_errmsg());
  for (size_t i = 0; i < nq; i++)
    expect_exact(m, qs + i * m->dim, k, allow, n_allow, res + i * k, counts[i], what);
  free(res);
  free(counts);
  free(ids);
}

static void run(size_t dim, omega_metric_t metric, int kind_of_data) {
  const size_t n = 6000;
  omega_collection_t *c = new_collection(dim, metric, OMEGA_INDEX_FLAT);
  ref_model_t m;
  ref_init(&m, dim, metric);
  float *base = kind_of_data == 0 ? gen_uniform(n, dim, 5) : kind_of_data == 1 ? gen_clustered(n, dim, 30, 0.2f, 5)
                                                                               : gen_grid(n, dim, 5);
  upsert_rows(c, &m, base, n, 0, 2);
  float *qs = kind_of_data == 1 ? gen_clustered(24, dim, 30, 0.25f, 5) : gen_uniform(24, dim, 6);
  check(c, &m, qs, 24, 10, NULL, 0, "batch");
  check(c, &m, qs, 1, 1, NULL, 0, "single");
  check(c, &m, qs + dim, 1, 50, NULL, 0, "single k=50");
  /* appends after the projection exists, deletes, duplicates (exact ties) */
  upsert_rows(c, &m, base, 300, 100000, 1);
  omega_id_t del[40];
  for (int i = 0; i < 40; i++) {
    del[i] = int_id(i * 13);
    ref_delete(&m, i * 13);
  }
  size_t deleted;
  assert_int_equal(omega_collection_delete(c, del, 40, &deleted), 0);
  check(c, &m, qs, 24, 10, NULL, 0, "after appends and deletes");
  static int64_t allow[3000];
  for (int i = 0; i < 3000; i++)
    allow[i] = i * 2;
  check(c, &m, qs, 8, 10, allow, 3000, "large filter");
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  /* the projection is reported in the memory: (p + 2) floats per slot beyond the vectors */
  assert_true(st.bytes > st.slots * dim * sizeof(float));
  omega_collection_close(c);
  ref_free(&m);
  free(base);
  free(qs);
}

static void test_l2(void **state) {
  (void)state;
  run(128, OMEGA_METRIC_L2, 0);
  run(300, OMEGA_METRIC_L2, 1);
  run(100, OMEGA_METRIC_L2, 2);
}

static void test_ip_cosine(void **state) {
  (void)state;
  run(128, OMEGA_METRIC_IP, 1);
  run(256, OMEGA_METRIC_COSINE, 1);
  run(96, OMEGA_METRIC_COSINE, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_l2), cmocka_unit_test(test_ip_cosine)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

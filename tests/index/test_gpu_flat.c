/* The gpu_flat collection kind: exact results equal to the double-precision reference on
 * whatever serves it (a real GPU, the simulated device, or the CPU when there is none),
 * the route counters, fallback to the CPU under injected GPU failures with nothing lost,
 * the mirror rebuilt after a compaction, and the kind kept by a snapshot. */
#include "ref.h"

#include "core/fault.h"

#define D 24

static void search_all_exact(omega_collection_t *c, const ref_model_t *m, const float *qs, size_t nq, size_t k,
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
    expect_exact(m, qs + i * D, k, allow, n_allow, res + i * k, counts[i], what);
  free(res);
  free(counts);
  free(ids);
}

static unsigned long long served(omega_collection_t *c, omega_collection_stats_t *st) {
  omega_collection_stats(c, st);
  return st->queries_gpu + st->queries_cpu + st->queries_fallback;
}

static void exercise(omega_metric_t metric, int grid) {
  omega_collection_t *c = new_collection(D, metric, OMEGA_INDEX_GPU_FLAT);
  ref_model_t m;
  ref_init(&m, D, metric);
  float *base = grid ? gen_grid(3000, D, 7) : gen_clustered(3000, D, 20, 0.3f, 7);
  upsert_rows(c, &m, base, 3000, 0, 2);
  float *qs = gen_uniform(40, D, 8);
  search_all_exact(c, &m, qs, 40, 10, NULL, 0, "batch");
  search_all_exact(c, &m, qs, 1, 1, NULL, 0, "one query");
  /* deletes, upserts replacing vectors, appends after the mirror exists */
  omega_id_t del[50];
  for (int i = 0; i < 50; i++) {
    del[i] = int_id(i * 7);
    ref_delete(&m, i * 7);
  }
  size_t deleted;
  assert_int_equal(omega_collection_delete(c, del, 50, &deleted), 0);
  upsert_rows(c, &m, base + 500 * D, 100, 1000, 1); /* ids 1000.. get new vectors */
  upsert_rows(c, &m, base, 200, 5000, 1);           /* new ids, duplicate vectors: exact ties */
  search_all_exact(c, &m, qs, 40, 25, NULL, 0, "after changes");
  int64_t allow[300];
  for (int i = 0; i < 300; i++)
    allow[i] = i * 11;
  search_all_exact(c, &m, qs, 20, 10, allow, 300, "filtered");
  search_all_exact(c, &m, qs, 3, 2000, NULL, 0, "k above the GPU's limit");
  assert_int_equal(omega_collection_compact(c), 0);
  search_all_exact(c, &m, qs, 40, 10, NULL, 0, "after compaction");
  omega_collection_stats_t st;
  const unsigned long long n_served = served(c, &st);
  if (n_served != 40 * 3 + 1 + 20 + 3) /* every query counted once, on one route */
    fail_msg("%llu queries counted (gpu %llu cpu %llu fallback %llu)", n_served, st.queries_gpu, st.queries_cpu,
             st.queries_fallback);
  assert_int_equal(st.params.kind, OMEGA_INDEX_GPU_FLAT);
  /* the snapshot keeps the kind */
  char *dir = tu_mkdtemp();
  char path[4200];
  snprintf(path, sizeof path, "%s/g.omg", dir);
  assert_int_equal(omega_collection_save_file(c, path), 0);
  omega_collection_t *c2;
  assert_int_equal(omega_collection_load_file(path, &c2), 0);
  omega_collection_stats(c2, &st);
  assert_int_equal(st.params.kind, OMEGA_INDEX_GPU_FLAT);
  search_all_exact(c2, &m, qs, 40, 10, NULL, 0, "loaded");
  omega_collection_close(c2);
  tu_rmtree(dir);
  free(dir);
  omega_collection_close(c);
  ref_free(&m);
  free(base);
  free(qs);
}

/* Whatever serves it here (CPU without a GPU), results are exact and counted. */
static void test_exact_on_any_device(void **state) {
  (void)state;
  omega__fault_configure("");
  exercise(OMEGA_METRIC_L2, 0);
  exercise(OMEGA_METRIC_COSINE, 1);
}

/* With a device (the simulated one where no GPU is usable) the GPU route serves. */
static void test_gpu_route(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1"), 0);
  exercise(OMEGA_METRIC_IP, 0);
  exercise(OMEGA_METRIC_L2, 1);
  omega_collection_t *c = new_collection(D, OMEGA_METRIC_COSINE, OMEGA_INDEX_GPU_FLAT);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_COSINE);
  float *base = gen_clustered(2000, D, 10, 0.3f, 3), *qs = gen_uniform(30, D, 4);
  upsert_rows(c, &m, base, 2000, 0, 1);
  search_all_exact(c, &m, qs, 30, 10, NULL, 0, "gpu");
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_true(st.gpu_active);
  assert_true(st.queries_gpu > 0);
  assert_int_equal(st.queries_fallback, 0);
  assert_true(st.gpu_bytes > 0);
  /* every GPU search fails: the CPU answers, exactly, and the fallbacks are counted */
  assert_int_equal(omega__fault_configure("gpu_sim:1,cuda_oom:1"), 0);
  search_all_exact(c, &m, qs, 30, 10, NULL, 0, "under injected OOM");
  for (int i = 0; i < 5; i++)
    search_all_exact(c, &m, qs + i * D, 1, 5, NULL, 0, "one query under injected OOM");
  omega_collection_stats(c, &st);
  assert_int_equal(st.queries_fallback, 30 + 5);
  assert_non_null(strstr(st.gpu_reason, "out of memory"));
  /* OOM is not sticky: the mirror is rebuilt and the GPU serves again */
  omega__fault_configure("gpu_sim:1");
  const unsigned long long before = st.queries_gpu;
  search_all_exact(c, &m, qs, 30, 10, NULL, 0, "after the fault");
  omega_collection_stats(c, &st);
  assert_true(st.queries_gpu > before);
  omega_collection_close(c);
  ref_free(&m);
  free(base);
  free(qs);
  omega__fault_configure("");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_on_any_device),
      cmocka_unit_test(test_gpu_route),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

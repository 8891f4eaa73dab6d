/* The HNSW walk over the half-precision copy of the vectors (index/walk16.h): the same
 * neighbours as the walk over the fp32 vectors, distances returned exactly (the fp32 kernel's
 * values, in order), at any magnitude of the data (the copy's power-of-two scale: values far
 * past the half range, or far below it), after inserts that raise the magnitude (a rescale),
 * and for a query far larger than every vector (the fp32 walk serves it). */
#include "ref.h"

#include "index/hnsw.h"
#include "index/vindex.h"
#include "index/walk16.h"

#define N 4000
#define D 48
#define NQ 100
#define K 10

static float exact_dist(const omega_vindex_t *ix, const float *q, uint32_t s) {
  const float *v = ix->vecs + (size_t)s * ix->p.dim;
  return ix->p.metric == OMEGA_METRIC_L2 ? ix->simd->l2sq(q, v, ix->p.dim) : -ix->simd->dot(q, v, ix->p.dim);
}

static float *scaled(const float *x, size_t n, float s) {
  float *y = malloc(n * sizeof *y);
  for (size_t i = 0; i < n; i++)
    y[i] = x[i] * s;
  return y;
}

/* Mean overlap of the k best between the half-precision walk and the fp32 walk. */
static double compare_walks(omega_vindex_t *ix, const float *qs, size_t nq, bool expect_copy) {
  omega_hit_t a[K], b[K];
  float q[D];
  double overlap = 0;
  for (size_t i = 0; i < nq; i++) {
    omega__vindex_prepare_query(ix, qs + i * D, q);
    ix->copy_off = true;
    const size_t na = omega__hnsw_search(ix, q, K, 32, NULL, a);
    ix->copy_off = false;
    const size_t nb = omega__hnsw_search(ix, q, K, 32, NULL, b);
    assert_int_equal(na, K);
    assert_int_equal(nb, K);
    for (size_t j = 0; j < nb; j++) {
      assert_true(b[j].dist == exact_dist(ix, q, b[j].slot)); /* measured again in fp32 */
      if (j)
        assert_true(b[j - 1].dist < b[j].dist || (b[j - 1].dist == b[j].dist && b[j - 1].slot < b[j].slot));
      for (size_t t = 0; t < na; t++)
        overlap += a[t].slot == b[j].slot;
    }
  }
  assert_int_equal(omega__walk16_bytes(ix->w16) > 0, expect_copy);
  return overlap / (double)(nq * K);
}

static void new_index(omega_vindex_t *ix, omega_metric_t metric) {
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = D;
  p.metric = metric;
  p.kind = OMEGA_INDEX_HNSW;
  p.m = 12;
  p.ef_construction = 100;
  assert_int_equal(omega__vindex_init(ix, &p), 0);
}

static void check(omega_metric_t metric, float data_scale, float query_scale, double min_overlap) {
  omega_vindex_t ix;
  new_index(&ix, metric);
  float *base = gen_clustered(N + NQ, D, 40, 0.3f, 17);
  float *x = scaled(base, N * D, data_scale), *qs = scaled(base + N * D, NQ * D, query_scale);
  assert_int_equal(omega__vindex_add(&ix, x, N, 2, NULL, NULL), 0);
  const double o = compare_walks(&ix, qs, NQ, true);
  print_message("  %s, data x %g, queries x %g: overlap with the fp32 walk %.4f\n", omega_metric_name(metric),
                data_scale, query_scale, o);
  assert_true(o >= min_overlap);
  omega__vindex_free(&ix);
  free(base);
  free(x);
  free(qs);
}

static bool have_f16(void) {
  if (!omega__simd()->l2sq_f16)
    printf("SKIP: the %s distance kernels have no half-precision rows\n", omega__simd()->name);
  return omega__simd()->l2sq_f16 != NULL;
}

static void test_same_neighbours(void **state) {
  (void)state;
  if (!have_f16())
    return;
  check(OMEGA_METRIC_L2, 1, 1, 0.98);
  check(OMEGA_METRIC_IP, 1, 1, 0.98);
  check(OMEGA_METRIC_COSINE, 1, 1, 0.98);
  check(OMEGA_METRIC_L2, 1e6f, 1e6f, 0.98);   /* past the half range (65504) unscaled */
  check(OMEGA_METRIC_L2, 1e-6f, 1e-6f, 0.98); /* below its normal range unscaled */
  check(OMEGA_METRIC_IP, 1e-6f, 1e-6f, 0.98);
  check(OMEGA_METRIC_L2, 1, 1e30f, 1.0); /* beyond the copy's arithmetic: the fp32 walk, the same result */
}

static void test_rescale_after_inserts(void **state) {
  (void)state;
  if (!have_f16())
    return;
  omega_vindex_t ix;
  new_index(&ix, OMEGA_METRIC_L2);
  float *base = gen_clustered(N + NQ, D, 40, 0.3f, 23);
  assert_int_equal(omega__vindex_add(&ix, base, N / 2, 1, NULL, NULL), 0);
  assert_true(compare_walks(&ix, base + N * D, NQ, true) >= 0.98); /* the copy, scaled for magnitude 1 */
  /* the second half 1000 times larger: without a new scale it would overflow the copy */
  float *big = scaled(base + N / 2 * D, N / 2 * D, 1000);
  assert_int_equal(omega__vindex_add(&ix, big, N / 2, 1, NULL, NULL), 0);
  float *q = scaled(base + N * D, NQ * D, 1000);
  const double o = compare_walks(&ix, q, NQ, true);
  print_message("  after inserts 1000 times larger: overlap %.4f\n", o);
  assert_true(o >= 0.98);
  omega__vindex_free(&ix);
  free(base);
  free(big);
  free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_neighbours),
      cmocka_unit_test(test_rescale_after_inserts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

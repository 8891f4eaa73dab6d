/* The flat index's AMX copy (flat_amx.c) on its own: every score it gives is within the
 * proven bound omega__flat_amx_unit * |q| |x| of the exact dot product (which is what lets
 * the re-rank prove the results exact), on coordinates spread over six orders of magnitude,
 * for dimensions that are and are not a multiple of the tile depth; the bound is not vacuous
 * (a single bf16 product would break it); rows appended after the copy was built (the last
 * panel repacked) score as well; the copy's bytes count in the index's. Skipped on CPUs
 * without AMX. End-to-end exactness on the amx path is in test_flat. */
#include "testutil.h"

#include "backend/cpu/cpu_isa.h"
#include "index/flat_amx.h"
#include "index/vindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 7;

static float *wide(size_t n, size_t d) {
  float *v = malloc(n * d * sizeof *v);
  for (size_t i = 0; i < n * d; i++)
    v[i] = tu_randf(&rng) * powf(10.0f, 3.0f * tu_randf(&rng));
  return v;
}

/* Worst |score - exact| / (|q| |x|) over every query and row. */
static double worst_ratio(const omega_vindex_t *ix, const float *qs, size_t nq) {
  const size_t d = ix->p.dim;
  float *scores = malloc(nq * ix->n * sizeof *scores);
  omega_amx_queries_t qa;
  assert_int_equal(omega__flat_amx_queries(ix, qs, nq, &qa), 0);
  omega__flat_amx_read_lock(ix->amx);
  /* two query blocks (from query 16 on) against two row blocks (from row 96 on) */
  for (int qb = 0; qb < 2; qb++)
    for (int rb = 0; rb < 2; rb++) {
      const size_t q0 = qb ? 16 : 0, r0 = rb ? 96 : 0, nb = qb ? nq - 16 : 16, nr = rb ? ix->n - 96 : 96;
      float *block = malloc(nb * nr * sizeof *block);
      omega__flat_amx_scores(ix->amx, &qa, q0, nb, r0, nr, block);
      for (size_t j = 0; j < nb; j++)
        memcpy(scores + (q0 + j) * ix->n + r0, block + j * nr, nr * sizeof *block);
      free(block);
    }
  omega__flat_amx_read_unlock(ix->amx);
  omega__flat_amx_queries_free(&qa);
  double worst = 0;
  for (size_t j = 0; j < nq; j++)
    for (size_t r = 0; r < ix->n; r++) {
      double dot = 0, qq = 0, xx = 0;
      for (size_t e = 0; e < d; e++) {
        const double a = qs[j * d + e], b = ix->vecs[r * d + e];
        dot += a * b, qq += a * a, xx += b * b;
      }
      worst = fmax(worst, fabs(scores[j * ix->n + r] - dot) / sqrt(qq * xx));
    }
  free(scores);
  return worst;
}

static void test_bound(void **state) {
  (void)state;
  static const size_t dims[] = {7, 32, 100, 384, 784};
  for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
    const size_t d = dims[di], n = 333, nq = 37;
    omega_index_params_t p;
    omega_index_params_init(&p);
    p.dim = d;
    p.metric = OMEGA_METRIC_IP;
    omega_vindex_t ix;
    assert_int_equal(omega__vindex_init(&ix, &p), 0);
    float *x = wide(n, d), *qs = wide(nq, d);
    assert_int_equal(omega__vindex_add(&ix, x, 200, 1, NULL, NULL), 0);
    const size_t before = omega__vindex_bytes(&ix);
    assert_int_equal(omega__flat_amx_prepare(&ix, ix.amx), 0);
    assert_true(omega__vindex_bytes(&ix) >= before + 200 * d * 4);
    const double unit = omega__flat_amx_unit(&ix);
    double w = worst_ratio(&ix, qs, nq);
    fprintf(stderr, "dim %zu: worst error %.3g |q||x|, bound %.3g\n", d, w, unit);
    assert_true(w <= unit);
    /* a plain bf16 product errs by about 2^-9 |q||x|: the split is in use */
    assert_true(w < 0x1p-13);
    /* 133 more rows: the partly filled last panel is packed again with them */
    assert_int_equal(omega__vindex_add(&ix, x + 200 * d, n - 200, 1, NULL, NULL), 0);
    assert_int_equal(omega__flat_amx_prepare(&ix, ix.amx), 0);
    w = worst_ratio(&ix, qs, nq);
    assert_true(w <= unit);
    omega__vindex_free(&ix);
    free(x);
    free(qs);
  }
}

int main(void) {
  tu_cpu_caps_from_env();
  if (!omega__cpu_isa()->amx) {
    printf("SKIP: this CPU (or OMEGA_CPU_ISA) has no AMX tiles\n");
    return TU_SKIP_CODE;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bound)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The flat index's bf16 copy (flat_bf16.c) on its own, in each mode this CPU has (THREE: AMX
 * tiles, three products; ONE: AVX512-BF16, one product): every score it gives is within the
 * proven bound omega__flat_bf16_unit * |q| |x| (+ the flushed-term allowance) of the exact
 * dot product, which is what lets the scan rank rows by proven lower bounds and the re-rank
 * prove the results exact; on coordinates spread over six orders of magnitude, for
 * dimensions that are and are not a multiple of the panel depth; the bound is not vacuous
 * (THREE: a single bf16 product would break it; ONE: the errors seen reach a fair share of
 * it); rows appended after the copy was built (the last panel repacked) score as well; the
 * rows' norms it keeps are upper bounds; the copy's bytes count in the index's, and a change
 * of dispatch packs it afresh. Skipped on CPUs without AVX512-BF16. End-to-end exactness on
 * these paths is in test_flat. */
#include "testutil.h"

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/packed.h"
#include "index/exact.h"
#include "index/flat_bf16.h"
#include "index/flat_search.h"
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

/* Over every query and row: the worst |score - exact| / (|q| |x|) (rel) and the worst
 * |score - exact| / the proven bound (of_bound). */
typedef struct {
  double rel, of_bound;
} worst_t;

static worst_t worst_errors(const omega_vindex_t *ix, const float *qs, size_t nq) {
  const size_t d = ix->p.dim;
  const omega_flat_bf16_mode_t mode = omega__flat_bf16_prepared_mode(ix->b16);
  const double unit = omega__flat_bf16_unit(mode, d);
  float *scores = malloc(nq * ix->n * sizeof *scores);
  omega_bf16_queries_t qa;
  assert_int_equal(omega__flat_bf16_queries(ix->b16, ix, qs, nq, &qa), 0);
  omega__flat_bf16_read_lock(ix->b16);
  /* two query blocks (from query 16 on) against two row blocks (from row 96 on) */
  for (int qb = 0; qb < 2; qb++)
    for (int rb = 0; rb < 2; rb++) {
      const size_t q0 = qb ? 16 : 0, r0 = rb ? 96 : 0, nb = qb ? nq - 16 : 16, nr = rb ? ix->n - 96 : 96;
      float *block = malloc(nb * nr * sizeof *block);
      omega__flat_bf16_scores(ix->b16, &qa, q0, nb, r0, nr, block);
      for (size_t j = 0; j < nb; j++)
        memcpy(scores + (q0 + j) * ix->n + r0, block + j * nr, nr * sizeof *block);
      free(block);
    }
  omega__flat_bf16_read_unlock(ix->b16);
  omega__flat_bf16_queries_free(&qa);
  worst_t w = {0, 0};
  for (size_t j = 0; j < nq; j++) {
    const float *q = qs + j * d;
    const double rq = omega__flat_bf16_res_up(mode, q, d);
    for (size_t r = 0; r < ix->n; r++) {
      const float *x = ix->vecs + r * d;
      double dot = 0, qq = 0, xx = 0, rx = 0;
      for (size_t e = 0; e < d; e++) {
        const double t = (double)x[e] - omega__bf16_float(omega__bf16(x[e]));
        dot += (double)q[e] * x[e], qq += (double)q[e] * q[e], xx += (double)x[e] * x[e], rx += t * t;
      }
      const double nqd = sqrt(qq), nxd = sqrt(xx), err = fabs(scores[j * ix->n + r] - dot);
      /* the copy's norms and residuals are upper bounds of the exact ones */
      assert_true(omega__flat_bf16_rnorms(ix->b16)[r] >= nxd);
      assert_true(omega__flat_bf16_rres(ix->b16)[r] >= (mode == OMEGA_FLAT_BF16_ONE ? sqrt(rx) : 0.0));
      const double rxd = omega__flat_bf16_rres(ix->b16)[r];
      const double bound =
          unit * nqd * nxd + nqd * rxd + rq * (nxd + rxd) + omega__flat_bf16_tiny(d) * (1.0 + nqd + nxd);
      w.rel = tu_max(w.rel, err / (nqd * nxd));
      w.of_bound = tu_max(w.of_bound, err / bound);
    }
  }
  free(scores);
  return w;
}

static void check_mode(const char *simd, omega_flat_bf16_mode_t mode) {
  static const size_t dims[] = {7, 32, 100, 384, 784};
  for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
    const size_t d = dims[di], n = 333, nq = 37;
    omega_index_params_t p;
    omega_index_params_init(&p);
    p.dim = d;
    p.metric = OMEGA_METRIC_IP;
    omega_vindex_t ix;
    assert_int_equal(omega__vindex_init(&ix, &p), 0);
    ix.simd = omega__simd_named(simd);
    float *x = wide(n, d), *qs = wide(nq, d);
    assert_int_equal(omega__vindex_add(&ix, x, 200, 1, NULL, NULL), 0);
    if (d < 32) { /* mostly padding: the fp32 GEMM serves it */
      assert_int_equal(omega__flat_bf16_mode(&ix), OMEGA_FLAT_BF16_NONE);
      assert_int_equal(omega__flat_bf16_bytes_to_build(&ix), 0);
      goto next;
    }
    assert_int_equal(omega__flat_bf16_mode(&ix), mode);
    const size_t before = omega__vindex_bytes(&ix);
    assert_int_equal(omega__flat_bf16_prepare(&ix, ix.b16), 0);
    assert_int_equal(omega__flat_bf16_prepared_mode(ix.b16), mode);
    assert_true(omega__vindex_bytes(&ix) >= before + 200 * d * (mode == OMEGA_FLAT_BF16_THREE ? 4 : 2));
    worst_t w = worst_errors(&ix, qs, nq);
    fprintf(stderr, "%s, dim %zu: worst error %.3g |q||x|, %.3g of the bound\n", simd, d, w.rel, w.of_bound);
    assert_true(w.of_bound <= 1.0);
    if (mode == OMEGA_FLAT_BF16_THREE)
      assert_true(w.rel < 0x1p-13); /* a plain bf16 product errs by about 2^-8 |q||x|: the split is in use */
    else
      assert_true(w.of_bound > 1.0 / 16); /* the bound is not far above what one product errs by */
    /* 133 more rows: the partly filled last panel is packed again with them */
    assert_int_equal(omega__vindex_add(&ix, x + 200 * d, n - 200, 1, NULL, NULL), 0);
    assert_int_equal(omega__flat_bf16_prepare(&ix, ix.b16), 0);
    assert_true(worst_errors(&ix, qs, nq).of_bound <= 1.0);
  next:
    omega__vindex_free(&ix);
    free(x);
    free(qs);
  }
}

static void test_amx_three_products(void **state) {
  (void)state;
  if (!omega__cpu_isa()->amx || !omega__simd_named("amx")) {
    printf("SKIP: this CPU (or OMEGA_CPU_ISA) has no AMX tiles\n");
    return;
  }
  check_mode("amx", OMEGA_FLAT_BF16_THREE);
}

static void test_avx512_bf16_one_product(void **state) {
  (void)state;
  check_mode("avx512", OMEGA_FLAT_BF16_ONE);
}

/* The dispatch forced to another mode between batches (as OMEGA_SIMD does per process): the
 * copy is packed afresh in the new layout, not read in the old one. */
static void test_mode_change_repacks(void **state) {
  (void)state;
  if (!omega__cpu_isa()->amx || !omega__simd_named("amx")) {
    printf("SKIP: needs both modes (AMX)\n");
    return;
  }
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = 64;
  p.metric = OMEGA_METRIC_IP;
  omega_vindex_t ix;
  assert_int_equal(omega__vindex_init(&ix, &p), 0);
  float *x = wide(100, 64), *qs = wide(20, 64);
  assert_int_equal(omega__vindex_add(&ix, x, 100, 1, NULL, NULL), 0);
  ix.simd = omega__simd_named("amx");
  assert_int_equal(omega__flat_bf16_prepare(&ix, ix.b16), 0);
  assert_true(worst_errors(&ix, qs, 20).of_bound <= 1.0);
  ix.simd = omega__simd_named("avx512");
  assert_int_equal(omega__flat_bf16_prepare(&ix, ix.b16), 0);
  assert_int_equal(omega__flat_bf16_prepared_mode(ix.b16), OMEGA_FLAT_BF16_ONE);
  assert_true(worst_errors(&ix, qs, 20).of_bound <= 1.0);
  omega__vindex_free(&ix);
  free(x);
  free(qs);
}

/* Where the distance set is avx2 or portable there is no copy: the fp32 GEMM runs. */
static void test_no_copy_without_avx512(void **state) {
  (void)state;
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = 64;
  omega_vindex_t ix;
  assert_int_equal(omega__vindex_init(&ix, &p), 0);
  ix.simd = omega__simd_named("portable");
  assert_int_equal(omega__flat_bf16_mode(&ix), OMEGA_FLAT_BF16_NONE);
  assert_int_not_equal(omega__flat_bf16_prepare(&ix, ix.b16), 0);
  omega__vindex_free(&ix);
}

/* Clustered data (64 centres, points spread around them, queries drawn the same way): in
 * each metric, batch results equal the double-precision brute force, and the bound proves
 * nearly every query itself (a bound too loose would hand them all to the fp32 retry, which
 * is exact too but gives the speed away). */
static void check_proves(const char *simd, size_t d) {
  const size_t n = 4000, nq = 300, k = 10, nc = 64;
  float *centres = malloc(nc * d * sizeof *centres), *x = malloc(n * d * sizeof *x), *qs = malloc(nq * d * sizeof *qs);
  for (size_t i = 0; i < nc * d; i++)
    centres[i] = tu_randf(&rng);
  for (size_t i = 0; i < n + nq; i++) {
    float *v = i < n ? x + i * d : qs + (i - n) * d;
    const float *cn = centres + (i * 7919 % nc) * d;
    for (size_t e = 0; e < d; e++)
      v[e] = cn[e] + 0.4f * (tu_randf(&rng) + tu_randf(&rng) + tu_randf(&rng));
  }
  static const omega_metric_t metrics[] = {OMEGA_METRIC_L2, OMEGA_METRIC_IP, OMEGA_METRIC_COSINE};
  for (size_t mi = 0; mi < 3; mi++) {
    omega_index_params_t p;
    omega_index_params_init(&p);
    p.dim = d;
    p.metric = metrics[mi];
    omega_vindex_t ix;
    assert_int_equal(omega__vindex_init(&ix, &p), 0);
    ix.simd = omega__simd_named(simd);
    assert_int_equal(omega__vindex_add(&ix, x, n, 1, NULL, NULL), 0);
    float *pq = malloc(nq * d * sizeof *pq);
    for (size_t i = 0; i < nq; i++)
      omega__vindex_prepare_query(&ix, qs + i * d, pq + i * d);
    omega_hit_t *got = malloc(nq * k * sizeof *got), want[10];
    size_t *counts = malloc(nq * sizeof *counts);
    const size_t unproven = omega__flat_search_batch(&ix, pq, nq, k, got, counts);
    fprintf(stderr, "%s, dim %zu, metric %d: %zu of %zu queries left to fp32\n", simd, d, (int)metrics[mi], unproven,
            nq);
    assert_true(omega__flat_bf16_bytes(ix.b16) > 0); /* the copy answered */
    assert_true(unproven <= nq / 20);
    for (size_t i = 0; i < nq; i++) {
      assert_int_equal(counts[i], omega__vindex_search_exact(&ix, pq + i * d, k, NULL, want));
      for (size_t j = 0; j < k; j++) {
        assert_int_equal(got[i * k + j].slot, want[j].slot);
        assert_true(got[i * k + j].dist == want[j].dist);
      }
    }
    free(pq);
    free(got);
    free(counts);
    omega__vindex_free(&ix);
  }
  free(centres);
  free(x);
  free(qs);
}

static void test_bound_proves_clustered_queries(void **state) {
  (void)state;
  check_proves("avx512", 128);
  check_proves("avx512", 784);
  if (omega__cpu_isa()->amx && omega__simd_named("amx"))
    check_proves("amx", 128);
}

int main(void) {
  tu_cpu_caps_from_env();
  if (!omega__cpu_isa()->bf16 || !omega__simd_named("avx512")) {
    printf("SKIP: this CPU (or OMEGA_CPU_ISA) has no AVX512-BF16\n");
    return TU_SKIP_CODE;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_amx_three_products),
      cmocka_unit_test(test_avx512_bf16_one_product),
      cmocka_unit_test(test_mode_change_repacks),
      cmocka_unit_test(test_no_copy_without_avx512),
      cmocka_unit_test(test_bound_proves_clustered_queries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

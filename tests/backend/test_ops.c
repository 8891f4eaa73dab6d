/* Every optimised CPU kernel against its plain reference on random inputs, single- and
 * multi-threaded, with a relative error bound per precision (test-backend-ops style).
 * The packed GEMMs (fp32, bf16, bf16x3, int8) and the fp32 kernels run on every dispatch path
 * this CPU has (AMX, AVX-512, AVX2, portable), as OMEGA_CPU_ISA would force them. */
#include "testutil.h"

#include "backend/cpu/ops.h"
#include "backend/cpu/packed.h"
#include "omega/omega.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FP32_TOL 2e-5 /* max |fast - ref| / (max |ref| + 1e-6) */
/* Same rounded inputs as the reference; what differs is fp32 vs exact accumulation (bf16)
 * and the float rescale order (int8, plus an occasional rounding tie of an activation). */
#define BF16_TOL 2e-5
#define INT8_TOL 1e-4

static uint64_t rng = 42;

static float *rnd(size_t n, float scale) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = tu_randf(&rng) * scale;
  return p;
}

static float *dup(const float *p, size_t n) {
  float *q = malloc((n ? n : 1) * sizeof *q);
  memcpy(q, p, n * sizeof *q);
  return q;
}

static void close_enough(const char *what, const float *got, const float *want, size_t n, double tol) {
  double err = 0, mag = 1e-6;
  for (size_t i = 0; i < n; i++) {
    assert_false(isnan(got[i]));
    err = tu_max(err, fabs((double)got[i] - want[i]));
    mag = tu_max(mag, fabs((double)want[i]));
  }
  if (err / mag > tol)
    fail_msg("%s: max error %.3g relative to %.3g exceeds %.1g", what, err, mag, tol);
}

/* The fp32 kernels on each dispatch path this CPU has, most capable last (so later
 * tests run with the CPU's own choice). */
static void each_isa(void (*fn)(void)) {
  static const omega_isa_t caps[] = {OMEGA_ISA_PORTABLE, OMEGA_ISA_NEON, OMEGA_ISA_AVX2, OMEGA_ISA_AVX512};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    omega__cpu_isa_force(caps[i]);
    if (omega__cpu_isa()->level == caps[i])
      fn();
  }
}

static omega_cpu_ctx_t ctx_for(int threads, omega_pool_t **pool) {
  *pool = NULL;
  if (threads > 1)
    assert_int_equal(omega__pool_create(threads, pool), 0);
  return (omega_cpu_ctx_t){.pool = *pool};
}

static void test_linear(void **state) {
  (void)state;
  static const size_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 96, 32}, {64, 384, 128}, {5, 64, 512}};
  for (int th = 1; th <= 2; th++) {
    omega_pool_t *pool;
    omega_cpu_ctx_t c = ctx_for(th, &pool);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
      float *A = rnd(M * K, 1), *W = rnd(N * K, 0.1f), *b = rnd(N, 0.5f);
      float *got = rnd(M * N, 1), *want = rnd(M * N, 1);
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        omega__cpu_ops_fast.linear(&c, M, N, K, A, W, with_bias ? b : NULL, got);
        omega__cpu_ops_ref.linear(NULL, M, N, K, A, W, with_bias ? b : NULL, want);
        close_enough("linear", got, want, M * N, FP32_TOL);
      }
      free(A), free(W), free(b), free(got), free(want);
    }
    omega__pool_destroy(pool);
  }
}

static void test_add_layernorm_once(void) {
  static const size_t shapes[][2] = {{1, 1}, {3, 7}, {50, 128}, {17, 384}, {2, 1024}};
  for (int th = 1; th <= 2; th++) {
    omega_pool_t *pool;
    omega_cpu_ctx_t c = ctx_for(th, &pool);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      size_t T = shapes[s][0], H = shapes[s][1];
      float *x = rnd(T * H, 3), *r = rnd(T * H, 1), *g = rnd(H, 1), *b = rnd(H, 1);
      for (int with_r = 0; with_r < 2; with_r++) {
        float *got = dup(x, T * H), *want = dup(x, T * H);
        omega__cpu_ops_fast.add_layernorm(&c, T, H, got, with_r ? r : NULL, g, b, 1e-12f);
        omega__cpu_ops_ref.add_layernorm(NULL, T, H, want, with_r ? r : NULL, g, b, 1e-12f);
        close_enough("add_layernorm", got, want, T * H, FP32_TOL);
        free(got), free(want);
      }
      free(x), free(r), free(g), free(b);
    }
    omega__pool_destroy(pool);
  }
}

static void test_add_layernorm(void **state) {
  (void)state;
  each_isa(test_add_layernorm_once);
}

static void test_activation_once(void) {
  const omega_act_t acts[] = {OMEGA_ACT_GELU, OMEGA_ACT_GELU_TANH, OMEGA_ACT_RELU};
  for (int th = 1; th <= 2; th++) {
    omega_pool_t *pool;
    omega_cpu_ctx_t c = ctx_for(th, &pool);
    for (size_t a = 0; a < 3; a++) {
      size_t n = 100003;
      float *x = rnd(n, 8);
      x[0] = 0.0f;
      x[1] = -0.0f;
      x[2] = 20.0f;
      x[3] = -20.0f;
      float *got = dup(x, n), *want = dup(x, n);
      omega__cpu_ops_fast.activation(&c, n, got, acts[a]);
      omega__cpu_ops_ref.activation(NULL, n, want, acts[a]);
      close_enough("activation", got, want, n, 1e-6);
      free(x), free(got), free(want);
    }
    omega__pool_destroy(pool);
  }
}

static void test_activation(void **state) {
  (void)state;
  each_isa(test_activation_once);
}

/* Exactly the scratch attention may use (so AddressSanitizer sees any overrun). */
static float *attn_scratch(const omega_cpu_ctx_t *c, const uint32_t *off, size_t n_seq, int d) {
  const size_t n = (size_t)omega__pool_threads(c ? c->pool : NULL) * omega__attention_scratch(off, n_seq, d);
  return aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
}

static void test_attention_once(void) {
  /* sequences of different lengths packed back to back, including length 1 */
  static const uint32_t lens[] = {1, 7, 64, 2, 33, 128};
  const size_t n_seq = sizeof lens / sizeof lens[0];
  uint32_t off[sizeof lens / sizeof lens[0] + 1] = {0};
  for (size_t s = 0; s < n_seq; s++)
    off[s + 1] = off[s] + lens[s];
  static const int hd[][2] = {{1, 8}, {2, 16}, {4, 32}, {12, 64}, {3, 48}, {2, 20}};
  for (int th = 1; th <= 2; th++) {
    omega_pool_t *pool;
    omega_cpu_ctx_t c = ctx_for(th, &pool);
    for (size_t k = 0; k < sizeof hd / sizeof hd[0]; k++) {
      const int heads = hd[k][0], d = hd[k][1];
      const size_t T = off[n_seq], H = (size_t)heads * d;
      float *qkv = rnd(T * 3 * H, 2), *got = rnd(T * H, 1), *want = rnd(T * H, 1);
      float *sf = attn_scratch(&c, off, n_seq, d), *sr = attn_scratch(NULL, off, n_seq, d);
      omega__cpu_ops_fast.attention(&c, qkv, off, n_seq, heads, d, NULL, got, sf);
      omega__cpu_ops_ref.attention(NULL, qkv, off, n_seq, heads, d, NULL, want, sr);
      close_enough("attention", got, want, T * H, FP32_TOL);
      /* with a relative position bias (MPNet), the longest sequence deciding its width */
      float *rel = rnd((size_t)heads * (2 * 128 - 1), 3);
      const omega_attn_bias_t bias = {rel, 2 * 128 - 1, 127};
      omega__cpu_ops_fast.attention(&c, qkv, off, n_seq, heads, d, &bias, got, sf);
      omega__cpu_ops_ref.attention(NULL, qkv, off, n_seq, heads, d, &bias, want, sr);
      close_enough("attention with a relative bias", got, want, T * H, FP32_TOL);
      free(rel);
      free(qkv), free(got), free(want), free(sf), free(sr);
    }
    omega__pool_destroy(pool);
  }
}

static void test_attention(void **state) {
  (void)state;
  each_isa(test_attention_once);
}

/* A sequence attends only to itself: changing another sequence's tokens changes nothing. */
static void test_attention_isolation(void **state) {
  (void)state;
  const uint32_t off[3] = {0, 5, 12};
  const int heads = 2, d = 8;
  const size_t T = 12, H = 16;
  float *qkv = rnd(T * 3 * H, 1), *a = rnd(T * H, 1), *b = rnd(T * H, 1), *sc = attn_scratch(NULL, off, 2, d);
  omega__cpu_ops_fast.attention(&(omega_cpu_ctx_t){NULL}, qkv, off, 2, heads, d, NULL, a, sc);
  for (size_t i = 5 * 3 * H; i < T * 3 * H; i++)
    qkv[i] = tu_randf(&rng);
  omega__cpu_ops_fast.attention(&(omega_cpu_ctx_t){NULL}, qkv, off, 2, heads, d, NULL, b, sc);
  assert_memory_equal(a, b, 5 * H * sizeof *a);
  free(qkv), free(a), free(b), free(sc);
}

static const size_t qshapes[][3] = {{1, 1, 1},    {7, 13, 5},    {33, 96, 32}, {6, 64, 384},
                                     {26, 384, 384}, {5, 50, 1536}, {13, 17, 3}, {64, 1152, 384},
                                     {401, 80, 40}}; /* past two row chunks */

static void check_packed(omega_cpu_precision_t prec, omega_isa_t cap, int no_amx) {
  omega_cpu_isa_t isa = omega__cpu_isa_capped(cap);
  if (no_amx) {
    if (!isa.amx)
      return; /* the same kernels as with AMX allowed */
    isa.amx = 0;
  }
  if (omega__precision_unsupported(prec, &isa)) {
    omega_cpu_packed_t *p = NULL;
    assert_int_equal(omega__cpu_packed_create(NULL, prec, &isa, &p), OMEGA_EINVAL);
    assert_null(p);
    assert_non_null(strstr(omega_errmsg(), omega_cpu_precision_name(prec)));
    fprintf(stderr, "%s on %s%s: refused (%s)\n", omega_cpu_precision_name(prec), omega__isa_name(isa.level),
            no_amx ? " without AMX" : "", omega_errmsg());
    return;
  }
  for (int th = 1; th <= 2; th++) {
    omega_pool_t *pool = NULL;
    if (th > 1)
      assert_int_equal(omega__pool_create(th, &pool), 0);
    for (size_t s = 0; s < sizeof qshapes / sizeof qshapes[0]; s++) {
      const size_t M = qshapes[s][0], N = qshapes[s][1], K = qshapes[s][2];
      float *A = rnd(M * K, 1), *W = rnd(N * K, 0.1f), *b = rnd(N, 0.5f);
      float *got = rnd(M * N, 1), *want = rnd(M * N, 1);
      A[0] = 0.0f; /* an exact zero and a row maximum on either sign */
      omega_packed_w_t pw;
      static int (*const pack[OMEGA_CPU_KERNEL_PRECISIONS])(const float *, size_t, size_t, omega_packed_w_t *) = {
          [OMEGA_CPU_FP32] = omega__pack_f32, [OMEGA_CPU_BF16] = omega__pack_bf16,
          [OMEGA_CPU_BF16X3] = omega__pack_bf16x3, [OMEGA_CPU_INT8] = omega__pack_int8};
      static void (*const ref[OMEGA_CPU_KERNEL_PRECISIONS])(size_t, size_t, size_t, const float *, const float *,
                                                 const float *, float *) = {
          [OMEGA_CPU_BF16] = omega__linear_bf16_ref, [OMEGA_CPU_BF16X3] = omega__linear_bf16x3_ref,
          [OMEGA_CPU_INT8] = omega__linear_int8_ref};
      assert_int_equal(pack[prec](W, N, K, &pw), 0);
      void *scratch = malloc(omega__packed_scratch(&pw, M));
      /* no bias; bias; bias and GELU fused into the kernel's blocks */
      for (int v = 0; v < 3; v++) {
        const float *bias = v > 0 ? b : NULL;
        const omega_act_t gelu = OMEGA_ACT_GELU;
        omega__packed_linear(pool, &isa, M, A, &pw, bias, v == 2 ? &gelu : NULL, got, scratch);
        if (prec == OMEGA_CPU_FP32)
          omega__cpu_ops_ref.linear(NULL, M, N, K, A, W, bias, want);
        else
          ref[prec](M, N, K, A, W, bias, want);
        if (v == 2)
          omega__cpu_ops_ref.activation(NULL, M * N, want, gelu);
        char what[128];
        snprintf(what, sizeof what, "%s linear%s on %s%s, %zux%zux%zu, %d threads", omega_cpu_precision_name(prec),
                 v == 2 ? " + GELU" : "", omega__isa_name(isa.level), isa.amx ? "+amx" : "", M, N, K, th);
        const double tol = prec == OMEGA_CPU_INT8 ? INT8_TOL : prec == OMEGA_CPU_FP32 ? FP32_TOL : BF16_TOL;
        close_enough(what, got, want, M * N, tol);
      }
      free(scratch);
      omega__packed_free(&pw);
      free(A), free(W), free(b), free(got), free(want);
    }
    omega__pool_destroy(pool);
  }
}

/* Every ISA cap, and AVX-512 once more without AMX where the CPU has it. */
static void check_packed_all(omega_cpu_precision_t prec) {
  static const omega_isa_t caps[] = {OMEGA_ISA_AVX512, OMEGA_ISA_AVX2, OMEGA_ISA_NEON, OMEGA_ISA_PORTABLE};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
    if (omega__cpu_isa_capped(caps[i]).level == caps[i])
      check_packed(prec, caps[i], 0);
  check_packed(prec, OMEGA_ISA_AVX512, 1);
}

static void test_linear_f32_packed(void **state) {
  (void)state;
  check_packed_all(OMEGA_CPU_FP32);
}

static void test_linear_bf16(void **state) {
  (void)state;
  check_packed_all(OMEGA_CPU_BF16);
}

static void test_linear_bf16x3(void **state) {
  (void)state;
  check_packed_all(OMEGA_CPU_BF16X3);
}

static void test_linear_int8(void **state) {
  (void)state;
  check_packed_all(OMEGA_CPU_INT8);
}

/* The reduced-precision references themselves stay close to fp32 on well-scaled inputs. */
static void test_quant_refs_near_fp32(void **state) {
  (void)state;
  const size_t M = 9, N = 40, K = 384;
  float *A = rnd(M * K, 1), *W = rnd(N * K, 0.1f), *f = malloc(M * N * sizeof *f), *q = malloc(M * N * sizeof *q);
  omega__cpu_ops_ref.linear(NULL, M, N, K, A, W, NULL, f);
  omega__linear_bf16_ref(M, N, K, A, W, NULL, q);
  close_enough("bf16 reference vs fp32", q, f, M * N, 2e-2);
  omega__linear_int8_ref(M, N, K, A, W, NULL, q);
  close_enough("int8 reference vs fp32", q, f, M * N, 3e-2);
  /* bf16x3 drops only lo.lo and the bits past 16: about 2^-16 of each product */
  omega__linear_bf16x3_ref(M, N, K, A, W, NULL, q);
  close_enough("bf16x3 reference vs fp32", q, f, M * N, 1e-4);
  free(A), free(W), free(f), free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_linear), cmocka_unit_test(test_add_layernorm),
                                     cmocka_unit_test(test_activation), cmocka_unit_test(test_attention),
                                     cmocka_unit_test(test_attention_isolation), cmocka_unit_test(test_linear_f32_packed),
                                     cmocka_unit_test(test_linear_bf16), cmocka_unit_test(test_linear_bf16x3),
                                     cmocka_unit_test(test_linear_int8), cmocka_unit_test(test_quant_refs_near_fp32)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

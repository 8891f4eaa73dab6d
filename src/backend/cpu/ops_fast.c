/* Optimised CPU kernels: GEMMs through BLAS (which picks its own kernels per CPU), per-token
 * and attention loops spread over the pool and compiled three times (AVX-512, AVX2+FMA,
 * portable), the copy chosen at run time by omega__cpu_isa() (OMEGA_CPU_ISA caps it). The
 * vector copies sum in a different order than ops_ref.c; the error bounds in tests/backend
 * account for it. */
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* fn##_by_isa[level]: the always-inline body `fn` compiled for each level. */
#if defined(__x86_64__)
#define ISA_VARIANTS(fn)                                                                                              \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))) static void fn##_avx512(void *a, size_t b,  \
                                                                                                 size_t e) {          \
    fn(a, b, e);                                                                                                      \
  }                                                                                                                   \
  __attribute__((target("avx2,fma"))) static void fn##_avx2(void *a, size_t b, size_t e) { fn(a, b, e); }          \
  static void fn##_portable(void *a, size_t b, size_t e) { fn(a, b, e); }                                           \
  static const omega_range_fn fn##_by_isa[3] = {fn##_portable, fn##_avx2, fn##_avx512};
#else
#define ISA_VARIANTS(fn)                                                                                              \
  static void fn##_portable(void *a, size_t b, size_t e) { fn(a, b, e); }                                           \
  static const omega_range_fn fn##_by_isa[3] = {fn##_portable, fn##_portable, fn##_portable};
#endif
#define BODY static inline __attribute__((always_inline))

typedef struct {
  size_t M, N, K, cols;
  const float *A, *W, *bias;
  float *C;
} lin_args_t;

/* One column slice per task: the BLAS library runs single-threaded (cpu_backend.c) and
 * Omega's pool owns the cores, so the two never wait on or spin against each other. */
static void lin_cols(void *arg, size_t j0, size_t j1) {
  const lin_args_t *a = arg;
  const size_t n0 = j0 * a->cols, n1 = j1 * a->cols < a->N ? j1 * a->cols : a->N;
  float beta = 0.0f;
  if (a->bias) {
    for (size_t i = 0; i < a->M; i++)
      memcpy(a->C + i * a->N + n0, a->bias + n0, (n1 - n0) * sizeof *a->C);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a->M, (int)(n1 - n0), (int)a->K, 1.0f, a->A, (int)a->K,
              a->W + n0 * a->K, (int)a->K, beta, a->C + n0, (int)a->N);
}

static void linear_fast(omega_cpu_ctx_t *c, size_t M, size_t N, size_t K, const float *A, const float *W,
                        const float *bias, float *C) {
  const size_t threads = (size_t)omega__pool_threads(c->pool);
  /* Slices of whole 16-column panels, one per thread; tiny products stay in the caller. */
  size_t cols = (N + threads - 1) / threads;
  cols = (cols + 15) / 16 * 16;
  lin_args_t a = {M, N, K, cols, A, W, bias, C};
  const size_t parts = (N + cols - 1) / cols;
  if (parts < 2 || (double)M * (double)N * (double)K < 1 << 20)
    lin_cols(&a, 0, parts);
  else
    omega__pool_for(c->pool, parts, 1, lin_cols, &a);
}

typedef struct {
  size_t H;
  float *x;
  const float *r, *g, *b;
  float eps;
} ln_args_t;

BODY void ln_rows(void *arg, size_t t0, size_t t1) {
  const ln_args_t *a = arg;
  const size_t H = a->H;
  for (size_t t = t0; t < t1; t++) {
    float *row = a->x + t * H;
    if (a->r) {
      const float *rr = a->r + t * H;
      for (size_t i = 0; i < H; i++)
        row[i] += rr[i];
    }
    float sum = 0.0f;
    for (size_t i = 0; i < H; i++)
      sum += row[i];
    const float mean = sum / (float)H;
    float var = 0.0f;
    for (size_t i = 0; i < H; i++) {
      float d = row[i] - mean;
      var += d * d;
    }
    const float inv = 1.0f / sqrtf(var / (float)H + a->eps);
    for (size_t i = 0; i < H; i++)
      row[i] = (row[i] - mean) * inv * a->g[i] + a->b[i];
  }
}

ISA_VARIANTS(ln_rows)

static void add_layernorm_fast(omega_cpu_ctx_t *c, size_t T, size_t H, float *x, const float *r, const float *g,
                               const float *b, float eps) {
  ln_args_t a = {H, x, r, g, b, eps};
  omega__pool_for(c->pool, T, 16, ln_rows_by_isa[omega__cpu_isa()->level], &a);
}

typedef struct {
  float *x;
  omega_act_t act;
} act_args_t;

/* erf as a rational function on [-4, 4] (Eigen's fast erf; beyond 4, erf is +-1 in
 * float): no libm call, so the loop vectorises. Within 2 ulp-ish of erff over the range. */
BODY float erf_rational(float x) {
  x = x > 4.0f ? 4.0f : x < -4.0f ? -4.0f : x;
  const float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return x * p / q;
}

BODY void act_range(void *arg, size_t i0, size_t i1) {
  const act_args_t *a = arg;
  float *x = a->x;
  switch (a->act) {
  case OMEGA_ACT_GELU:
    for (size_t i = i0; i < i1; i++)
      x[i] = 0.5f * x[i] * (1.0f + erf_rational(x[i] * (float)M_SQRT1_2));
    break;
  case OMEGA_ACT_GELU_TANH:
    for (size_t i = i0; i < i1; i++) {
      float v = x[i];
      x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
    break;
  case OMEGA_ACT_RELU:
    for (size_t i = i0; i < i1; i++)
      x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  }
}

ISA_VARIANTS(act_range)

static void activation_fast(omega_cpu_ctx_t *c, size_t n, float *x, omega_act_t act) {
  act_args_t a = {x, act};
  omega__pool_for(c->pool, n, 8192, act_range_by_isa[omega__cpu_isa()->level], &a);
}

/* exp(x) for x <= 0 (softmax after subtracting the row maximum), without libm so the loop
 * vectorises: x = (n + f) ln 2 with n the nearest integer, e^(f ln 2) by its Taylor series
 * to degree 6 (|f ln 2| <= 0.35: relative error ~1e-7), 2^n put into the exponent bits. */
BODY float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.44269504088896341f;
  const int n = -(int)(0.5f - t);
  const float r = (t - (float)n) * 0.693147180559945309f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  const uint32_t bits = (uint32_t)(n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* 16 floats in GCC's vector extension: one zmm on AVX-512, two ymm on AVX2, four xmm on the
 * portable copy; element-wise, so sums keep their order. */
typedef float v16f __attribute__((vector_size(64)));

/* out[0..16) = scale * sum_i w[i] * rows[i * stride + 0..16), in four independent chains of
 * multiply-adds so they pipeline instead of waiting on one. */
BODY void weighted_rows16(const float *w, size_t n, const float *rows, size_t stride, float scale, float *out) {
  v16f acc[4] = {{0}, {0}, {0}, {0}};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t u = 0; u < 4; u++) {
      v16f r;
      memcpy(&r, rows + (i + u) * stride, sizeof r);
      acc[u] += w[i + u] * r;
    }
  for (; i < n; i++) {
    v16f r;
    memcpy(&r, rows + i * stride, sizeof r);
    acc[0] += w[i] * r;
  }
  const v16f total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) * scale;
  memcpy(out, &total, sizeof total);
}

typedef struct {
  const float *qkv;
  const uint32_t *offsets;
  int heads, d;
  float *ctx;
} attn_args_t;

/* One (sequence, head) pair per task. The head's keys are transposed first (Kt[e][j], rows
 * padded to 16 keys with zeros), so a query's scores are 16-wide axpys along j and the value
 * sum 16-wide axpys along e, each block's sums held in four vectors (four independent chains
 * of multiply-adds) across the whole loop, where dot products over a 32- or 64-wide head
 * did not vectorise at all. */
BODY void attn_tasks(void *arg, size_t k0, size_t k1) {
  const attn_args_t *a = arg;
  const size_t d = (size_t)a->d, H = (size_t)a->heads * d, ld = 3 * H;
  const float scale = 1.0f / sqrtf((float)d);
  size_t maxL = 1;
  for (size_t k = k0; k < k1; k++) {
    size_t s = k / (size_t)a->heads, L = a->offsets[s + 1] - a->offsets[s];
    if (L > maxL)
      maxL = L;
  }
  const size_t maxLp = (maxL + 15) & ~(size_t)15;
  float *p = malloc((d + 1) * maxLp * sizeof *p), *kt = p + maxLp;
  if (!p)
    abort(); /* tens of KB; nothing sensible to return from a kernel */
  for (size_t k = k0; k < k1; k++) {
    const size_t s = k / (size_t)a->heads, h = k % (size_t)a->heads;
    const size_t t0 = a->offsets[s], L = a->offsets[s + 1] - t0, Lp = (L + 15) & ~(size_t)15;
    const float *Q = a->qkv + t0 * ld + h * d, *K = Q + H, *V = Q + 2 * H;
    for (size_t e = 0; e < d; e++) {
      for (size_t j = 0; j < L; j++)
        kt[e * Lp + j] = K[j * ld + e];
      for (size_t j = L; j < Lp; j++)
        kt[e * Lp + j] = 0.0f;
    }
    for (size_t i = 0; i < L; i++) {
      const float *q = Q + i * ld;
      for (size_t j0 = 0; j0 < Lp; j0 += 16) {
        weighted_rows16(q, d, kt + j0, Lp, scale, p + j0);
      }
      float mx = -INFINITY;
      for (size_t j = 0; j < L; j++)
        mx = p[j] > mx ? p[j] : mx;
      for (size_t j = 0; j < L; j++)
        p[j] = exp_neg(p[j] - mx);
      float sum = 0.0f;
      for (size_t j = 0; j < L; j++)
        sum += p[j];
      const float inv = 1.0f / sum;
      for (size_t j = 0; j < L; j++)
        p[j] *= inv;
      float *out = a->ctx + (t0 + i) * H + h * d;
      size_t e0 = 0;
      for (; e0 + 16 <= d; e0 += 16)
        weighted_rows16(p, L, V + e0, ld, 1.0f, out + e0);
      for (; e0 < d; e0++) {
        float acc = 0.0f;
        for (size_t j = 0; j < L; j++)
          acc += p[j] * V[j * ld + e0];
        out[e0] = acc;
      }
    }
  }
  free(p);
}

ISA_VARIANTS(attn_tasks)

static void attention_fast(omega_cpu_ctx_t *c, const float *qkv, const uint32_t *offsets, size_t n_seq, int heads,
                           int d, float *ctx) {
  attn_args_t a = {qkv, offsets, heads, d, ctx};
  omega__pool_for(c->pool, n_seq * (size_t)heads, 1, attn_tasks_by_isa[omega__cpu_isa()->level], &a);
}

const omega_cpu_ops_t omega__cpu_ops_fast = {"fast", linear_fast, add_layernorm_fast, activation_fast,
                                             attention_fast};

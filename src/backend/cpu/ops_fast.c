/* Optimised CPU kernels: GEMMs through BLAS (which picks its own kernels per CPU), per-token
 * and attention loops spread over the pool and compiled three times on x86 (AVX-512, AVX2+FMA,
 * portable), the copy chosen at run time by omega__cpu_isa() (OMEGA_CPU_ISA caps it); on
 * AArch64 once, for the compiler's own target, which has NEON (every AArch64 CPU does). The
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
  static const omega_range_fn fn##_by_isa[OMEGA_ISA_LEVELS] = {fn##_portable, fn##_avx2, fn##_avx512, fn##_portable};
#else
#define ISA_VARIANTS(fn)                                                                                              \
  static void fn##_portable(void *a, size_t b, size_t e) { fn(a, b, e); }                                           \
  static const omega_range_fn fn##_by_isa[OMEGA_ISA_LEVELS] = {fn##_portable, fn##_portable, fn##_portable,          \
                                                                fn##_portable};
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

void omega__act_block(omega_act_t act, float *x, size_t M, size_t ld, size_t j0, size_t j1) {
  const omega_range_fn fn = act_range_by_isa[omega__cpu_isa()->level];
  for (size_t r = 0; r < M; r++) {
    act_args_t a = {x + r * ld, act};
    fn(&a, j0, j1);
  }
}

/* 16 floats in GCC's vector extension: one zmm on AVX-512, two ymm on AVX2, four xmm on the
 * portable copy; element-wise, so sums keep their order. */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

/* The same vector at any float alignment, for loads and stores through a pointer. */
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define LOAD16(ptr) (*(const v16u *)(ptr))
#define STORE16(ptr, v) (*(v16u *)(ptr) = (v))

/* exp(x) for x <= 0 (softmax after subtracting the row maximum), 16 lanes without libm: x =
 * (n + f) ln 2 with n the nearest integer, e^(f ln 2) by its Taylor series to degree 6
 * (|f ln 2| <= 0.35: relative error ~1e-7), 2^n put into the exponent bits. Written on vectors
 * because GCC would not vectorise the scalar form (the float to int conversion). */
BODY void exp_neg16(v16f *xp) {
  v16f x = *xp;
  const v16i low = x < -87.0f;
  x = (v16f)(((v16i)x & ~low) | ((v16i)((v16f){0} - 87.0f) & low));
  const v16f t = x * 1.44269504088896341f;
  const v16i n = -__builtin_convertvector(0.5f - t, v16i);
  const v16f r = (t - __builtin_convertvector(n, v16f)) * 0.693147180559945309f;
  const v16f p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  *xp = p * (v16f)((n + 127) << 23);
}

/* Queries are taken four at a time, and keys (scores) or head columns (values) 32 at a time:
 * eight sums in registers, each key or value vector loaded once for four queries, and eight
 * independent chains of multiply-adds, where one query's 16-wide sums left the FMA units
 * waiting on their own latency. */
#define ATT_Q 4

typedef struct {
  const float *qkv;
  const uint32_t *offsets;
  int heads, d;
  const omega_attn_bias_t *bias;
  float *ctx;
  float *scratch; /* per thread: probabilities of ATT_Q queries, then the transposed keys */
  size_t scratch_floats;
} attn_args_t;

/* Rounded up to 4 KiB and one 4 KiB page more, so one thread's prefetchers running past the
 * end of its scratch do not pull in lines the next thread is writing: adjacent slots made a
 * 32-sentence batch's attention 5-7% slower on two threads than scratch from each thread's own
 * malloc, padded slots were level with it (interleaved runs, tmp harness). */
size_t omega__attention_scratch(const uint32_t *offsets, size_t n_seq, int head_dim) {
  size_t max_len = 1;
  for (size_t s = 0; s < n_seq; s++)
    if (offsets[s + 1] - offsets[s] > max_len)
      max_len = offsets[s + 1] - offsets[s];
  const size_t floats = ((size_t)head_dim + ATT_Q) * ((max_len + 31) & ~(size_t)31);
  return ((floats + 1023) & ~(size_t)1023) + 1024;
}

/* p[qi][j0 .. j0 + 32) = scale * q_qi . k_j for the four query rows q[qi]; kt is the head's
 * keys transposed ([e][Lp], zero past the sequence). */
BODY void scores4x32(const float *const q[ATT_Q], size_t d, const float *kt, size_t Lp, size_t j0, float scale,
                     float *p) {
  v16f acc[ATT_Q][2] = {{{0}}};
  for (size_t e = 0; e < d; e++) {
    const v16f k0 = LOAD16(kt + e * Lp + j0), k1 = LOAD16(kt + e * Lp + j0 + 16);
    for (int qi = 0; qi < ATT_Q; qi++) {
      acc[qi][0] += q[qi][e] * k0;
      acc[qi][1] += q[qi][e] * k1;
    }
  }
  for (int qi = 0; qi < ATT_Q; qi++) {
    STORE16(p + qi * Lp + j0, acc[qi][0] * scale);
    STORE16(p + qi * Lp + j0 + 16, acc[qi][1] * scale);
  }
}

/* out[qi][e0 .. e0 + 16 nb) = inv[qi] * sum_j p[qi][j] v_j, nb (1 or 2) blocks of 16 head
 * columns; only the first nq outputs are written. */
BODY void values4(const float *p, size_t Lp, size_t L, const float *V, size_t ld, size_t e0, int nb,
                  const float inv[ATT_Q], float *const out[ATT_Q], size_t nq) {
  v16f acc[ATT_Q][2] = {{{0}}};
  for (size_t j = 0; j < L; j++) {
    const v16f v0 = LOAD16(V + j * ld + e0), v1 = nb > 1 ? (v16f)LOAD16(V + j * ld + e0 + 16) : v0;
    for (int qi = 0; qi < ATT_Q; qi++) {
      acc[qi][0] += p[qi * Lp + j] * v0;
      if (nb > 1)
        acc[qi][1] += p[qi * Lp + j] * v1;
    }
  }
  for (size_t qi = 0; qi < nq; qi++)
    for (int b = 0; b < nb; b++)
      STORE16(out[qi] + e0 + 16 * (size_t)b, acc[qi][b] * inv[qi]);
}

/* A two-vector shuffle with constant lanes (vpermt2ps): gcc and clang spell it differently. */
#ifdef __clang__
#define SHUFFLE2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE2(a, b, ...) __builtin_shuffle(a, b, (v16i){__VA_ARGS__})
#endif
#define T_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define T_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define T_LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define T_HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define T_LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define T_HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define T_LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define T_HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define T_ROUND(s, LO, HI)                                                                                           \
  for (int r = 0; r < 16; r++)                                                                                       \
    if (!(r & (s))) {                                                                                                \
      const v16f a = m[r], b = m[r + (s)];                                                                           \
      m[r] = SHUFFLE2(a, b, LO);                                                                                     \
      m[r + (s)] = SHUFFLE2(a, b, HI);                                                                               \
    }

/* Transposes 16 x 16 floats in place: four rounds in which rows r and r + s (r & s == 0) swap
 * their off-diagonal s x s blocks, s = 8, 4, 2, 1; each a two-vector shuffle (vpermt2ps). */
BODY void transpose16(v16f m[16]) {
  T_ROUND(8, T_LO8, T_HI8)
  T_ROUND(4, T_LO4, T_HI4)
  T_ROUND(2, T_LO2, T_HI2)
  T_ROUND(1, T_LO1, T_HI1)
}

/* Softmax numerators of one row of scores in place (0 past L); returns 1 / sum. Lanes past L
 * are masked in registers: storing pads into the row just before reading it as vectors made
 * every load wait on a failed store forwarding. */
BODY float softmax_row(float *p, size_t L, size_t Lp) {
  const v16i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const v16f lowest = (v16f){0} - INFINITY;
  v16f mv = lowest;
  for (size_t j = 0; j < Lp; j += 16) {
    const v16i in = lane + (int32_t)j < (int32_t)L;
    const v16f x = (v16f)(((v16i)LOAD16(p + j) & in) | ((v16i)lowest & ~in));
    const v16i gt = x > mv;
    mv = (v16f)(((v16i)x & gt) | ((v16i)mv & ~gt));
  }
  float mx = mv[0];
  for (int i = 1; i < 16; i++)
    mx = mv[i] > mx ? mv[i] : mx;
  v16f sv = {0};
  for (size_t j = 0; j < Lp; j += 16) {
    v16f e = LOAD16(p + j) - mx;
    exp_neg16(&e);
    e = (v16f)((v16i)e & (lane + (int32_t)j < (int32_t)L));
    STORE16(p + j, e);
    sv += e;
  }
  float sum = 0.0f;
  for (int i = 0; i < 16; i++)
    sum += sv[i];
  return 1.0f / sum;
}

/* One (sequence, head) pair per task. The head's keys are transposed first (Kt[e][j], rows
 * padded to 32 keys with zeros), so scores are 16-wide multiply-adds along the keys and the
 * weighted sum of values 16-wide multiply-adds along the head, where dot products over a 32-
 * or 64-wide head did not vectorise at all. The softmax's 1 / sum scales the output instead of
 * the probabilities. */
BODY void attn_tasks(void *arg, size_t k0, size_t k1) {
  const attn_args_t *a = arg;
  const size_t d = (size_t)a->d, H = (size_t)a->heads * d, ld = 3 * H;
  const float scale = 1.0f / sqrtf((float)d);
  float *p = a->scratch + (size_t)omega__pool_worker() * a->scratch_floats;
  for (size_t k = k0; k < k1; k++) {
    const size_t s = k / (size_t)a->heads, h = k % (size_t)a->heads;
    const size_t t0 = a->offsets[s], L = a->offsets[s + 1] - t0, Lp = (L + 31) & ~(size_t)31;
    float *kt = p + ATT_Q * Lp;
    const float *Q = a->qkv + t0 * ld + h * d, *K = Q + H, *V = Q + 2 * H;
    size_t c0 = 0;
    for (; c0 + 16 <= d; c0 += 16)
      for (size_t j0 = 0; j0 < Lp; j0 += 16) {
        v16f m[16];
        for (size_t r = 0; r < 16; r++)
          m[r] = j0 + r < L ? (v16f)LOAD16(K + (j0 + r) * ld + c0) : (v16f){0};
        transpose16(m);
        for (size_t r = 0; r < 16; r++)
          STORE16(kt + (c0 + r) * Lp + j0, m[r]);
      }
    for (; c0 < d; c0++) {
      for (size_t j = 0; j < L; j++)
        kt[c0 * Lp + j] = K[j * ld + c0];
      for (size_t j = L; j < Lp; j++)
        kt[c0 * Lp + j] = 0.0f;
    }
    for (size_t i0 = 0; i0 < L; i0 += ATT_Q) {
      const size_t nq = L - i0 < ATT_Q ? L - i0 : ATT_Q;
      const float *q[ATT_Q];
      float *out[ATT_Q], inv[ATT_Q];
      for (size_t qi = 0; qi < ATT_Q; qi++) { /* past the sequence: its last query again, unused */
        const size_t i = i0 + (qi < nq ? qi : nq - 1);
        q[qi] = Q + i * ld;
        out[qi] = a->ctx + (t0 + i) * H + h * d;
      }
      for (size_t j0 = 0; j0 < Lp; j0 += 32)
        scores4x32(q, d, kt, Lp, j0, scale, p);
      if (a->bias)
        for (size_t qi = 0; qi < nq; qi++) {
          const float *row = a->bias->v + h * a->bias->stride + a->bias->center - (i0 + qi);
          for (size_t j = 0; j < L; j++)
            p[qi * Lp + j] += row[j];
        }
      for (size_t qi = 0; qi < ATT_Q; qi++)
        inv[qi] = qi < nq ? softmax_row(p + qi * Lp, L, Lp) : 0.0f;
      size_t e0 = 0;
      for (; e0 + 32 <= d; e0 += 32)
        values4(p, Lp, L, V, ld, e0, 2, inv, out, nq);
      if (e0 + 16 <= d) {
        values4(p, Lp, L, V, ld, e0, 1, inv, out, nq);
        e0 += 16;
      }
      for (; e0 < d; e0++)
        for (size_t qi = 0; qi < nq; qi++) {
          float acc = 0.0f;
          for (size_t j = 0; j < L; j++)
            acc += p[qi * Lp + j] * V[j * ld + e0];
          out[qi][e0] = acc * inv[qi];
        }
    }
  }
}

ISA_VARIANTS(attn_tasks)

static void attention_fast(omega_cpu_ctx_t *c, const float *qkv, const uint32_t *offsets, size_t n_seq, int heads,
                           int d, const omega_attn_bias_t *bias, float *ctx, float *scratch) {
  attn_args_t a = {qkv, offsets, heads, d, bias, ctx, scratch, omega__attention_scratch(offsets, n_seq, d)};
  /* Several (sequence, head) pairs per hand-out when there are many (fewer hand-offs), still
   * eight hand-outs per thread to even out the lengths. */
  const size_t tasks = n_seq * (size_t)heads, per = tasks / (8 * (size_t)omega__pool_threads(c->pool));
  omega__pool_for(c->pool, tasks, per ? per : 1, attn_tasks_by_isa[omega__cpu_isa()->level], &a);
}

const omega_cpu_ops_t omega__cpu_ops_fast = {"fast", linear_fast, add_layernorm_fast, activation_fast,
                                             attention_fast};

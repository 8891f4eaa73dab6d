#include "index/simd.h"

#include "backend/cpu/cpu_isa.h"
#include "core/error_internal.h"
#include "omega/cpu.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* ---- portable ---- */

static float l2sq_portable(const float *a, const float *b, size_t d) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    float t0 = a[i] - b[i], t1 = a[i + 1] - b[i + 1], t2 = a[i + 2] - b[i + 2], t3 = a[i + 3] - b[i + 3];
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  for (; i < d; i++) {
    float t = a[i] - b[i];
    s0 += t * t;
  }
  return (s0 + s1) + (s2 + s3);
}

static float dot_portable(const float *a, const float *b, size_t d) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < d; i++)
    s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

#define MANY(name, fn)                                                                                                 \
  static void name(const float *q, const float *rows, size_t n, size_t d, float *out) {                              \
    for (size_t r = 0; r < n; r++)                                                                                     \
      out[r] = fn(q, rows + r * d, d);                                                                                 \
  }

MANY(l2sq_many_portable, l2sq_portable)
MANY(dot_many_portable, dot_portable)

static const omega_simd_t portable = {"portable", l2sq_portable, dot_portable, l2sq_many_portable, dot_many_portable,
                                      NULL, NULL, NULL, NULL};

#if defined(__aarch64__)
/* ---- NEON (every AArch64 CPU): four accumulators of four lanes; half-precision rows widened
 * by vcvt_f32_f16, which AArch64 has in its base set ---- */

static inline __attribute__((always_inline)) float32x4_t step_neon(float32x4_t q, float32x4_t x, float32x4_t s,
                                                                   bool l2) {
  if (l2) {
    const float32x4_t t = vsubq_f32(q, x);
    return vfmaq_f32(s, t, t);
  }
  return vfmaq_f32(s, q, x);
}

static inline float half_to_float(uint16_t h) {
  __fp16 f;
  memcpy(&f, &h, sizeof f);
  return (float)f;
}

/* Four lanes of row x from i: fp32, or half precision widened (half: x is uint16_t). */
static inline __attribute__((always_inline)) float32x4_t load_neon(const void *x, size_t i, bool half) {
  if (half)
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)x + i)));
  return vld1q_f32((const float *)x + i);
}

static inline __attribute__((always_inline)) float elem_neon(const void *x, size_t i, bool half) {
  return half ? half_to_float(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

static inline __attribute__((always_inline)) float tail_neon(float q, float x, float s, bool l2) {
  return l2 ? s + (q - x) * (q - x) : s + q * x;
}

/* q against one row (fp32 or half): four accumulators of four lanes. */
static inline __attribute__((always_inline)) float dist_neon(const float *q, const void *x, size_t d, bool l2,
                                                             bool half) {
  float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = step_neon(vld1q_f32(q + i), load_neon(x, i, half), s0, l2);
    s1 = step_neon(vld1q_f32(q + i + 4), load_neon(x, i + 4, half), s1, l2);
    s2 = step_neon(vld1q_f32(q + i + 8), load_neon(x, i + 8, half), s2, l2);
    s3 = step_neon(vld1q_f32(q + i + 12), load_neon(x, i + 12, half), s3, l2);
  }
  for (; i + 4 <= d; i += 4)
    s0 = step_neon(vld1q_f32(q + i), load_neon(x, i, half), s0, l2);
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; i < d; i++)
    s = tail_neon(q[i], elem_neon(x, i, half), s, l2);
  return s;
}

/* q against four rows (fp32 or half) at once, sharing the query's loads. */
static inline __attribute__((always_inline)) void x4_neon(const float *q, const void *const x[4], size_t d, bool l2,
                                                          bool half, float out[4]) {
  float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    const float32x4_t qv = vld1q_f32(q + i);
    s0 = step_neon(qv, load_neon(x[0], i, half), s0, l2);
    s1 = step_neon(qv, load_neon(x[1], i, half), s1, l2);
    s2 = step_neon(qv, load_neon(x[2], i, half), s2, l2);
    s3 = step_neon(qv, load_neon(x[3], i, half), s3, l2);
  }
  float o[4] = {vaddvq_f32(s0), vaddvq_f32(s1), vaddvq_f32(s2), vaddvq_f32(s3)};
  for (; i < d; i++)
    for (int j = 0; j < 4; j++)
      o[j] = tail_neon(q[i], elem_neon(x[j], i, half), o[j], l2);
  memcpy(out, o, sizeof o);
}

static float l2sq_neon(const float *a, const float *b, size_t d) { return dist_neon(a, b, d, true, false); }
static float dot_neon(const float *a, const float *b, size_t d) { return dist_neon(a, b, d, false, false); }

/* Many rows: four at a time share the query loads. */
static inline __attribute__((always_inline)) void many_neon(const float *q, const float *rows, size_t n, size_t d,
                                                            float *out, bool l2) {
  size_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const void *const x[4] = {rows + r * d, rows + (r + 1) * d, rows + (r + 2) * d, rows + (r + 3) * d};
    x4_neon(q, x, d, l2, false, out + r);
  }
  for (; r < n; r++)
    out[r] = dist_neon(q, rows + r * d, d, l2, false);
}

static void l2sq_many_neon(const float *q, const float *rows, size_t n, size_t d, float *out) {
  many_neon(q, rows, n, d, out, true);
}

static void dot_many_neon(const float *q, const float *rows, size_t n, size_t d, float *out) {
  many_neon(q, rows, n, d, out, false);
}

static float l2sq_f16_neon(const float *q, const uint16_t *x, size_t d) { return dist_neon(q, x, d, true, true); }
static float dot_f16_neon(const float *q, const uint16_t *x, size_t d) { return dist_neon(q, x, d, false, true); }

static void l2sq_f16_x4_neon(const float *q, const uint16_t *const x[4], size_t d, float out[4]) {
  const void *const v[4] = {x[0], x[1], x[2], x[3]};
  x4_neon(q, v, d, true, true, out);
}

static void dot_f16_x4_neon(const float *q, const uint16_t *const x[4], size_t d, float out[4]) {
  const void *const v[4] = {x[0], x[1], x[2], x[3]};
  x4_neon(q, v, d, false, true, out);
}

static const omega_simd_t neon = {"neon",        l2sq_neon,       dot_neon,         l2sq_many_neon, dot_many_neon,
                                  l2sq_f16_neon, dot_f16_neon,    l2sq_f16_x4_neon, dot_f16_x4_neon};
#endif

#if defined(__x86_64__)

/* ---- AVX2 + FMA ---- */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  lo = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, lo);
  return _mm_cvtss_f32(_mm_add_ss(lo, sh));
}

__attribute__((target("avx2,fma"))) static float l2sq_avx2(const float *a, const float *b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(t0, t0, s0);
    s1 = _mm256_fmadd_ps(t1, t1, s1);
  }
  for (; i + 8 <= d; i += 8) {
    __m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(t, t, s0);
  }
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < d; i++) {
    float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= d; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < d; i++)
    s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) static void l2sq_many_avx2(const float *q, const float *rows, size_t n, size_t d,
                                                                float *out) {
  for (size_t r = 0; r < n; r++)
    out[r] = l2sq_avx2(q, rows + r * d, d);
}

__attribute__((target("avx2,fma"))) static void dot_many_avx2(const float *q, const float *rows, size_t n, size_t d,
                                                               float *out) {
  for (size_t r = 0; r < n; r++)
    out[r] = dot_avx2(q, rows + r * d, d);
}

static const omega_simd_t avx2 = {"avx2", l2sq_avx2, dot_avx2, l2sq_many_avx2, dot_many_avx2, NULL, NULL, NULL, NULL};

/* ---- AVX-512 ---- */

/* Half-precision rows: 16 values widened per step (vcvtph2ps), fp32 arithmetic. */
static inline __attribute__((target("avx512f,avx512bw,avx512vl"))) __m512 load_f16(const uint16_t *x) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
}

/* The last n < 16 values, zero-extended, with a masked 16-bit load (a copy through a stack
 * buffer made every low-dimensional distance wait on a failed store forwarding). */
static inline __attribute__((target("avx512f,avx512bw,avx512vl"))) __m512 load_f16_tail(const uint16_t *x, size_t n) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), x));
}

/* 16 values of a row of fp32 or (half) fp16 from i on; with n < 16, the last n, the rest
 * zero. The kernels below take `half` as a constant, so each compiles to one kind of row. */
#define AVX512_INLINE static inline __attribute__((target("avx512f,avx512bw,avx512vl"), always_inline))
AVX512_INLINE __m512 load_row(const void *x, size_t i, bool half) {
  return half ? load_f16((const uint16_t *)x + i) : _mm512_loadu_ps((const float *)x + i);
}

AVX512_INLINE __m512 load_row_tail(const void *x, size_t i, size_t n, bool half) {
  return half ? load_f16_tail((const uint16_t *)x + i, n)
              : _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), (const float *)x + i);
}

/* One step of a distance: the sums gain (a - b)^2 (l2) or a b, lane by lane. */
AVX512_INLINE __m512 step(__m512 a, __m512 b, __m512 s, bool l2) {
  if (!l2)
    return _mm512_fmadd_ps(a, b, s);
  const __m512 t = _mm512_sub_ps(a, b);
  return _mm512_fmadd_ps(t, t, s);
}

/* Squared L2 (l2) or dot product of a and a row of fp32 or (half) fp16. */
AVX512_INLINE float dist_avx512(const float *a, const void *b, size_t d, bool half, bool l2) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = step(_mm512_loadu_ps(a + i), load_row(b, i, half), s0, l2);
    s1 = step(_mm512_loadu_ps(a + i + 16), load_row(b, i + 16, half), s1, l2);
  }
  for (; i + 16 <= d; i += 16)
    s0 = step(_mm512_loadu_ps(a + i), load_row(b, i, half), s0, l2);
  if (i < d) /* masked tail: no scalar loop */
    s1 = step(_mm512_maskz_loadu_ps((__mmask16)((1u << (d - i)) - 1), a + i), load_row_tail(b, i, d - i, half), s1,
              l2);
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float l2sq_avx512(const float *a, const float *b, size_t d) {
  return dist_avx512(a, b, d, false, true);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float dot_avx512(const float *a, const float *b, size_t d) {
  return dist_avx512(a, b, d, false, false);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float l2sq_f16_avx512(const float *q, const uint16_t *x, size_t d) {
  return dist_avx512(q, x, d, true, true);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float dot_f16_avx512(const float *q, const uint16_t *x, size_t d) {
  return dist_avx512(q, x, d, true, false);
}

/* Many rows: four at a time share the query loads. */
AVX512_INLINE void many_avx512(const float *q, const float *rows, size_t n, size_t d, float *out, bool l2) {
  size_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float *r0 = rows + r * d, *r1 = r0 + d, *r2 = r1 + d, *r3 = r2 + d;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
      __m512 qv = _mm512_loadu_ps(q + i);
      s0 = step(qv, _mm512_loadu_ps(r0 + i), s0, l2);
      s1 = step(qv, _mm512_loadu_ps(r1 + i), s1, l2);
      s2 = step(qv, _mm512_loadu_ps(r2 + i), s2, l2);
      s3 = step(qv, _mm512_loadu_ps(r3 + i), s3, l2);
    }
    if (i < d) {
      __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
      __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
      s0 = step(qv, _mm512_maskz_loadu_ps(m, r0 + i), s0, l2);
      s1 = step(qv, _mm512_maskz_loadu_ps(m, r1 + i), s1, l2);
      s2 = step(qv, _mm512_maskz_loadu_ps(m, r2 + i), s2, l2);
      s3 = step(qv, _mm512_maskz_loadu_ps(m, r3 + i), s3, l2);
    }
    out[r] = _mm512_reduce_add_ps(s0);
    out[r + 1] = _mm512_reduce_add_ps(s1);
    out[r + 2] = _mm512_reduce_add_ps(s2);
    out[r + 3] = _mm512_reduce_add_ps(s3);
  }
  for (; r < n; r++)
    out[r] = dist_avx512(q, rows + r * d, d, false, l2);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void l2sq_many_avx512(const float *q, const float *rows, size_t n, size_t d,
                                                                 float *out) {
  many_avx512(q, rows, n, d, out, true);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void dot_many_avx512(const float *q, const float *rows, size_t n, size_t d,
                                                                float *out) {
  many_avx512(q, rows, n, d, out, false);
}

/* Four half-precision rows against q: one query load per step for the four, and the four
 * sums reduced together (a lane-pair transpose, then the 128-bit quarters), where four
 * separate reductions cost twice the shuffles; at d = 100 the reductions were a fifth of a
 * distance. */
AVX512_INLINE void f16_x4_avx512(const float *q, const uint16_t *const x[4], size_t d, bool l2, float *out) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m512 qv = _mm512_loadu_ps(q + i);
    s0 = step(qv, load_f16(x[0] + i), s0, l2);
    s1 = step(qv, load_f16(x[1] + i), s1, l2);
    s2 = step(qv, load_f16(x[2] + i), s2, l2);
    s3 = step(qv, load_f16(x[3] + i), s3, l2);
  }
  if (i < d) {
    const __m512 qv = _mm512_maskz_loadu_ps((__mmask16)((1u << (d - i)) - 1), q + i);
    s0 = step(qv, load_f16_tail(x[0] + i, d - i), s0, l2);
    s1 = step(qv, load_f16_tail(x[1] + i, d - i), s1, l2);
    s2 = step(qv, load_f16_tail(x[2] + i, d - i), s2, l2);
    s3 = step(qv, load_f16_tail(x[3] + i, d - i), s3, l2);
  }
  /* per 128-bit quarter: a = [s0 s1 s0 s1] and b = [s2 s3 s2 s3] partial pairs, then c = the
   * quarter's sum of each of the four */
  const __m512 a = _mm512_add_ps(_mm512_unpacklo_ps(s0, s1), _mm512_unpackhi_ps(s0, s1));
  const __m512 b = _mm512_add_ps(_mm512_unpacklo_ps(s2, s3), _mm512_unpackhi_ps(s2, s3));
  __m512 c = _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  c = _mm512_add_ps(c, _mm512_shuffle_f32x4(c, c, _MM_SHUFFLE(1, 0, 3, 2)));
  c = _mm512_add_ps(c, _mm512_shuffle_f32x4(c, c, _MM_SHUFFLE(2, 3, 0, 1)));
  _mm_storeu_ps(out, _mm512_castps512_ps128(c));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void l2sq_f16_x4_avx512(const float *q,
                                                                                    const uint16_t *const x[4],
                                                                                    size_t d, float out[4]) {
  f16_x4_avx512(q, x, d, true, out);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void dot_f16_x4_avx512(const float *q,
                                                                                   const uint16_t *const x[4],
                                                                                   size_t d, float out[4]) {
  f16_x4_avx512(q, x, d, false, out);
}

static const omega_simd_t avx512 = {"avx512",         l2sq_avx512,   dot_avx512, l2sq_many_avx512, dot_many_avx512,
                                    l2sq_f16_avx512, dot_f16_avx512, l2sq_f16_x4_avx512, dot_f16_x4_avx512};
/* The same kernels; the flat index's batch GEMM runs on AMX tiles (flat_bf16.h) with this set. */
static const omega_simd_t amx = {"amx",           l2sq_avx512,   dot_avx512, l2sq_many_avx512, dot_many_avx512,
                                 l2sq_f16_avx512, dot_f16_avx512, l2sq_f16_x4_avx512, dot_f16_x4_avx512};

static int cpu_has(const char *isa) {
  __builtin_cpu_init();
  if (strcmp(isa, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (strcmp(isa, "amx") == 0)
    return cpu_has("avx512") && omega__cpu_isa_capped(OMEGA_ISA_AVX512).amx;
  if (strcmp(isa, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return 1;
}
#elif defined(__aarch64__)
static int cpu_has(const char *isa) { return strcmp(isa, "portable") == 0 || strcmp(isa, "neon") == 0; }
#else
static int cpu_has(const char *isa) { return strcmp(isa, "portable") == 0; }
#endif

const omega_simd_t *omega__simd_named(const char *name) {
  if (!cpu_has(name))
    return NULL;
  if (strcmp(name, "portable") == 0)
    return &portable;
#if defined(__x86_64__)
  if (strcmp(name, "avx2") == 0)
    return &avx2;
  if (strcmp(name, "avx512") == 0)
    return &avx512;
  if (strcmp(name, "amx") == 0)
    return &amx;
#endif
#if defined(__aarch64__)
  if (strcmp(name, "neon") == 0)
    return &neon;
#endif
  return NULL;
}

static const omega_simd_t *chosen;

/* The set named by cap when the CPU has it, else the best the CPU has (which is below it;
 * under the NEON cap an x86 CPU has only portable below). */
static const omega_simd_t *choose(omega_isa_cap_t cap) {
  const omega_simd_t *c = cap == OMEGA_ISA_CAP_AUTO ? NULL : omega__simd_named(omega_isa_cap_names[cap]);
  if (!c && cap == OMEGA_ISA_CAP_NEON)
    return &portable;
  if (!c)
    c = omega__simd_named("amx");
  if (!c)
    c = omega__simd_named("avx512");
  if (!c)
    c = omega__simd_named("avx2");
  if (!c)
    c = omega__simd_named("neon");
  return c ? c : &portable;
}

const omega_simd_t *omega__simd(void) {
  const omega_simd_t *c = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
  if (c)
    return c;
  c = choose(OMEGA_ISA_CAP_AUTO);
  __atomic_store_n(&chosen, c, __ATOMIC_RELEASE);
  return c;
}

int omega_simd_force(omega_isa_cap_t cap) {
  if ((unsigned)cap >= OMEGA_ISA_CAP_COUNT)
    return omega__seterr(OMEGA_EINVAL, "instruction set cap %d is not one of omega_isa_cap_t", (int)cap);
  __atomic_store_n(&chosen, choose(cap), __ATOMIC_RELEASE);
  return 0;
}

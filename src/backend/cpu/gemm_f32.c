/* fp32 GEMM over weights packed once at load into 16-channel panels ([N16][K][16]): the
 * BLAS library re-packs W on every call, which for the few rows of a single sentence
 * costs more than the arithmetic. AVX-512: 6 rows x 4 panels of accumulators; AVX2+FMA:
 * 6 rows x 1 panel (two ymm halves); NEON: 6 rows x 1 panel (four q registers, 24 of the 32
 * accumulating); portable: plain loops over one panel. */
#include "backend/cpu/packed.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

int omega__pack_f32(const float *W, size_t N, size_t K, omega_packed_w_t *out) {
  memset(out, 0, sizeof *out);
  const size_t Np = (N + 15) & ~(size_t)15;
  float *p = omega__aligned_alloc(64, Np * (K ? K : 1) * sizeof *p);
  if (!p)
    return omega__seterr(OMEGA_ENOMEM, "fp32 weights: out of memory for %zu x %zu", N, K);
  for (size_t n = 0; n < Np; n++)
    for (size_t k = 0; k < K; k++)
      p[(n / 16 * K + k) * 16 + n % 16] = n < N ? W[n * K + k] : 0.0f;
  *out = (omega_packed_w_t){OMEGA_CPU_FP32, N, K, K, Np, p, NULL, NULL, NULL};
  return 0;
}

void omega__gemm_f32_portable(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C,
                              size_t p0, size_t p1) {
  const size_t K = w->K, N = w->N;
  for (size_t p = p0; p < p1; p++) {
    const float *Wp = (const float *)w->w + p * 16 * K;
    for (size_t i = 0; i < M; i++) {
      float acc[16] = {0};
      for (size_t k = 0; k < K; k++)
        for (int j = 0; j < 16; j++)
          acc[j] += A[i * K + k] * Wp[k * 16 + j];
      for (size_t j = 0; j < 16 && p * 16 + j < N; j++)
        C[i * N + p * 16 + j] = acc[j] + (bias ? bias[p * 16 + j] : 0.0f);
    }
  }
}

/* The one-panel kernels' sweep (AVX2, NEON): each 16-column panel of [p0, p1), rows in blocks
 * of 6; CASE(MR) calls the kernel's block for a constant height (OMEGA_ROW_BLOCK_CASES). */
#define F32_PANEL_SWEEP(CASE)                                                                                         \
  const size_t K = w->K, N = w->N;                                                                                    \
  for (size_t p = p0; p < p1; p++) {                                                                                  \
    const float *Wp = (const float *)w->w + p * 16 * K;                                                              \
    for (size_t i = 0; i < M; i += 6) {                                                                               \
      const float *Ar = A + i * K;                                                                                    \
      float *Cr = C + i * N;                                                                                          \
      switch (M - i >= 6 ? 6 : (int)(M - i)) { OMEGA_ROW_BLOCK_CASES(CASE) }                                          \
    }                                                                                                                 \
  }

#if defined(__x86_64__)
#define F32_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

/* Depth of a weight block: 4 panels x 96 k = 24 KiB, which stays in L1 while every row block
 * of the chunk sweeps it (the whole K of 4 panels, 96 KiB at K = 384, was re-read from L2 by
 * each 6-row block). Only for chunks of up to F32_KC_ROWS rows: with more, reloading the
 * partial sums of every block cost more than it saved (batch 128 fell from 490 to 410-440
 * sentences/s on MiniLM-L6). */
#define F32_KC 96
#define F32_KC_ROWS 64

/* Rows [0, mr) x panels [0, np) over k in [k0, k1): C is started from zero (first) or from its
 * partial sums, and gets the bias with the last block of k. When pf is not NULL (the first four
 * row blocks of a chunk, one panel of the next group each) it also prefetches that panel's
 * k into L2, one line per step, so the next group's weights do not start from L3 (a burst of
 * prefetches from one block stalled it on its miss buffers). GCC keeps the test of pf inside
 * the k loop: two instructions a step, next to its 24 multiply-adds. */
F32_AVX512 static inline __attribute__((always_inline)) void
f32_block512(int mr, int np, const float *A, size_t K, size_t k0, size_t k1, const float *Wp, size_t pstride,
             const float *bias, float *C, size_t N, size_t n0, int first, int last, const float *pf) {
  __m512 acc[6][4];
  __mmask16 m[4];
  for (int j = 0; j < np; j++) {
    const size_t n = n0 + 16 * (size_t)j;
    m[j] = N - n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (N - n)) - 1);
  }
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < np; j++)
      acc[r][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[j], C + (size_t)r * N + n0 + 16 * (size_t)j);
  for (size_t k = k0; k < k1; k++) {
    __m512 wv[4];
    for (int j = 0; j < np; j++)
      wv[j] = _mm512_load_ps(Wp + (size_t)j * pstride + k * 16);
    if (pf)
      _mm_prefetch((const char *)(pf + k * 16), _MM_HINT_T1);
    for (int r = 0; r < mr; r++) {
      const __m512 a = _mm512_set1_ps(A[(size_t)r * K + k]);
      for (int j = 0; j < np; j++)
        acc[r][j] = _mm512_fmadd_ps(a, wv[j], acc[r][j]);
    }
  }
  for (int j = 0; j < np; j++) {
    const size_t n = n0 + 16 * (size_t)j;
    const __m512 b = last && bias ? _mm512_maskz_loadu_ps(m[j], bias + n) : _mm512_setzero_ps();
    for (int r = 0; r < mr; r++)
      _mm512_mask_storeu_ps(C + (size_t)r * N + n, m[j], _mm512_add_ps(acc[r][j], b));
  }
}

#define F32_CASE(MR)                                                                                                  \
  case MR:                                                                                                            \
    switch (np) {                                                                                                     \
    case 4: f32_block512(MR, 4, Ar, K, k0, k1, Wp, ps, bias, Cr, N, n0, first, last, pf); break;                    \
    case 3: f32_block512(MR, 3, Ar, K, k0, k1, Wp, ps, bias, Cr, N, n0, first, last, pf); break;                    \
    case 2: f32_block512(MR, 2, Ar, K, k0, k1, Wp, ps, bias, Cr, N, n0, first, last, pf); break;                    \
    default: f32_block512(MR, 1, Ar, K, k0, k1, Wp, ps, bias, Cr, N, n0, first, last, pf); break;                   \
    }                                                                                                                 \
    break;

F32_AVX512 void omega__gemm_f32_avx512(size_t M, const float *A, const omega_packed_w_t *w, const float *bias,
                                       float *C, size_t p0, size_t p1) {
  const size_t K = w->K, N = w->N, ps = 16 * K;
  /* Chunks of rows small enough to stay in L2 while the column groups sweep them, so the
   * activations are not re-read from memory for every group of 64 output channels. */
  for (size_t i0 = 0; i0 < M; i0 += OMEGA_GEMM_ROW_CHUNK) {
    const size_t rows = M - i0 > OMEGA_GEMM_ROW_CHUNK ? OMEGA_GEMM_ROW_CHUNK : M - i0;
    /* Row blocks of 6 or fewer, evened out (50 rows: 5 x 6 + 4 x 5, not 8 x 6 + 2), since a
     * short block does the same weight loads for fewer products. */
    const size_t nb = (rows + 5) / 6, kc = rows <= F32_KC_ROWS ? F32_KC : K;
    for (size_t p = p0; p < p1; p += 4) {
      const int np = p1 - p >= 4 ? 4 : (int)(p1 - p);
      const float *Wp = (const float *)w->w + p * ps;
      const size_t n0 = p * 16;
      for (size_t k0 = 0; k0 == 0 || k0 < K; k0 += kc) { /* K = 0: C = bias */
        const size_t k1 = K - k0 > kc ? k0 + kc : K;
        const int first = k0 == 0, last = k1 == K;
        for (size_t b = 0, i = i0; b < nb; b++) {
          const size_t i1 = i0 + rows * (b + 1) / nb;
          const int mr = (int)(i1 - i);
          const float *pf = b < 4 && p + 4 + b < p1 ? Wp + (4 + b) * ps : NULL;
          const float *Ar = A + i * K;
          float *Cr = C + i * N;
          switch (mr) {
            OMEGA_ROW_BLOCK_CASES(F32_CASE)
          }
          i = i1;
        }
      }
    }
  }
}

#define F32_AVX2 __attribute__((target("avx2,fma")))

F32_AVX2 static inline __attribute__((always_inline)) void f32_block256(int mr, const float *A, size_t K,
                                                                       const float *Wp, const float *bias, float *C,
                                                                       size_t N, size_t n0) {
  __m256 acc[6][2];
  for (int r = 0; r < mr; r++)
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (size_t k = 0; k < K; k++) {
    const __m256 w0 = _mm256_load_ps(Wp + k * 16), w1 = _mm256_load_ps(Wp + k * 16 + 8);
    for (int r = 0; r < mr; r++) {
      const __m256 a = _mm256_broadcast_ss(A + (size_t)r * K + k);
      acc[r][0] = _mm256_fmadd_ps(a, w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, w1, acc[r][1]);
    }
  }
  for (int r = 0; r < mr; r++) {
    float out[16];
    _mm256_storeu_ps(out, acc[r][0]);
    _mm256_storeu_ps(out + 8, acc[r][1]);
    for (size_t j = 0; j < 16 && n0 + j < N; j++)
      C[(size_t)r * N + n0 + j] = out[j] + (bias ? bias[n0 + j] : 0.0f);
  }
}

F32_AVX2 void omega__gemm_f32_avx2(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C,
                                   size_t p0, size_t p1) {
#define AVX2_CASE(MR)                                                                                                 \
  case MR: f32_block256(MR, Ar, K, Wp, bias, Cr, N, p * 16); break;
  F32_PANEL_SWEEP(AVX2_CASE)
}
#endif

#if defined(__aarch64__)
static inline __attribute__((always_inline)) void f32_block_neon(int mr, const float *A, size_t K, const float *Wp,
                                                                 const float *bias, float *C, size_t N, size_t n0) {
  float32x4_t acc[6][4];
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < 4; j++)
      acc[r][j] = vdupq_n_f32(0.0f);
  for (size_t k = 0; k < K; k++) {
    const float32x4_t w0 = vld1q_f32(Wp + k * 16), w1 = vld1q_f32(Wp + k * 16 + 4), w2 = vld1q_f32(Wp + k * 16 + 8),
                      w3 = vld1q_f32(Wp + k * 16 + 12);
    for (int r = 0; r < mr; r++) {
      const float a = A[(size_t)r * K + k];
      acc[r][0] = vfmaq_n_f32(acc[r][0], w0, a);
      acc[r][1] = vfmaq_n_f32(acc[r][1], w1, a);
      acc[r][2] = vfmaq_n_f32(acc[r][2], w2, a);
      acc[r][3] = vfmaq_n_f32(acc[r][3], w3, a);
    }
  }
  for (int r = 0; r < mr; r++) {
    float out[16];
    for (int j = 0; j < 4; j++)
      vst1q_f32(out + 4 * j, acc[r][j]);
    for (size_t j = 0; j < 16 && n0 + j < N; j++)
      C[(size_t)r * N + n0 + j] = out[j] + (bias ? bias[n0 + j] : 0.0f);
  }
}

void omega__gemm_f32_neon(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C, size_t p0,
                          size_t p1) {
#define NEON_CASE(MR)                                                                                                 \
  case MR: f32_block_neon(MR, Ar, K, Wp, bias, Cr, N, p * 16); break;
  F32_PANEL_SWEEP(NEON_CASE)
}
#endif

/* bf16 GEMM with AVX512-BF16: weights packed once into 16-channel panels of k pairs, so
 * one vdpbf16ps multiplies a broadcast activation pair by 16 channels (32 products) and
 * accumulates in fp32. Register block: 6 rows x 4 panels = 24 accumulators. */
#include "backend/cpu/packed.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

void omega__pack_bf16x3_rows(const float *W, size_t r0, size_t r1, size_t K, size_t Kp, uint16_t *hi, uint16_t *lo) {
  for (size_t n = r0; n < r1; n++)
    for (size_t k = 0; k < Kp; k++) {
      const size_t at = omega__bf16_at(n, k, Kp);
      const float v = k < K ? W[n * K + k] : 0.0f;
      hi[at] = omega__bf16(v);
      if (lo)
        lo[at] = omega__bf16(v - omega__bf16_float(hi[at]));
    }
}

/* bf16 panels of W (and of its low parts when lo is asked for); rows past N stay zero. */
static int pack(const float *W, size_t N, size_t K, omega_cpu_precision_t prec, omega_packed_w_t *out) {
  memset(out, 0, sizeof *out);
  const size_t Kp = (K + 31) & ~(size_t)31, Np = (N + 15) & ~(size_t)15, bytes = Np * Kp * sizeof(uint16_t);
  uint16_t *hi = omega__aligned_alloc(64, bytes), *lo = prec == OMEGA_CPU_BF16X3 ? omega__aligned_alloc(64, bytes) : NULL;
  if (!hi || (prec == OMEGA_CPU_BF16X3 && !lo)) {
    omega__free(hi), omega__free(lo);
    return omega__seterr(OMEGA_ENOMEM, "bf16 weights: out of memory for %zu x %zu", N, K);
  }
  memset(hi, 0, bytes);
  if (lo)
    memset(lo, 0, bytes);
  omega__pack_bf16x3_rows(W, 0, N, K, Kp, hi, lo);
  *out = (omega_packed_w_t){prec, N, K, Kp, Np, hi, lo, NULL, NULL};
  return 0;
}

int omega__pack_bf16(const float *W, size_t N, size_t K, omega_packed_w_t *out) {
  return pack(W, N, K, OMEGA_CPU_BF16, out);
}

int omega__pack_bf16x3(const float *W, size_t N, size_t K, omega_packed_w_t *out) {
  return pack(W, N, K, OMEGA_CPU_BF16X3, out);
}

#if defined(__x86_64__)
/* vcvtneps2bf16 rounds 16 values to nearest even at once, as omega__bf16 does (it reads
 * denormal inputs as zero, as the AMX and AVX512-BF16 products do anyway). Callers run only
 * where the CPU has AVX512-BF16 (every AMX CPU has it). */
#define CVT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

CVT_TARGET static inline __m256i bf16x16(__m512 a) { return (__m256i)_mm512_cvtneps_pbh(a); }

CVT_TARGET void omega__bf16_rows(size_t M, const float *A, size_t K, size_t Kp, uint16_t *Ab) {
  for (size_t i = 0; i < M; i++) {
    const float *a = A + i * K;
    uint16_t *o = Ab + i * Kp;
    size_t k = 0;
    for (; k + 16 <= K; k += 16)
      _mm256_storeu_si256((__m256i *)(o + k), bf16x16(_mm512_loadu_ps(a + k)));
    for (; k < K; k++)
      o[k] = omega__bf16(a[k]);
    for (; k < Kp; k++)
      o[k] = 0;
  }
}

CVT_TARGET void omega__bf16x3_rows(size_t M, const float *A, size_t K, size_t Kp, uint16_t *hi, uint16_t *lo) {
  for (size_t i = 0; i < M; i++) {
    const float *a = A + i * K;
    uint16_t *h = hi + i * Kp, *l = lo + i * Kp;
    size_t k = 0;
    for (; k + 16 <= K; k += 16) {
      const __m512 v = _mm512_loadu_ps(a + k);
      const __m256i hv = bf16x16(v);
      const __m512 hf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(hv), 16));
      _mm256_storeu_si256((__m256i *)(h + k), hv);
      _mm256_storeu_si256((__m256i *)(l + k), bf16x16(_mm512_sub_ps(v, hf)));
    }
    for (; k < K; k++) {
      h[k] = omega__bf16(a[k]);
      l[k] = omega__bf16(a[k] - omega__bf16_float(h[k]));
    }
    for (; k < Kp; k++)
      h[k] = l[k] = 0;
  }
}

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

BF16_TARGET static inline __attribute__((always_inline)) void
bf16_block(int mr, int np, const uint16_t *Ab, size_t Kp, const uint16_t *Wp, size_t pstride, const float *bias,
           float *C, size_t ldc, size_t n0, size_t N) {
  __m512 acc[6][4];
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < np; j++)
      acc[r][j] = _mm512_setzero_ps();
  for (size_t kp = 0; kp < Kp / 2; kp++) {
    __m512i w[4];
    for (int j = 0; j < np; j++)
      w[j] = _mm512_load_si512((const void *)(Wp + (size_t)j * pstride + kp * 32));
    for (int r = 0; r < mr; r++) {
      int32_t pair;
      memcpy(&pair, Ab + (size_t)r * Kp + 2 * kp, sizeof pair);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      for (int j = 0; j < np; j++)
        acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, (__m512bh)w[j]);
    }
  }
  for (int j = 0; j < np; j++) {
    const size_t n = n0 + 16 * (size_t)j;
    const __mmask16 m = N - n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (N - n)) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + n) : _mm512_setzero_ps();
    for (int r = 0; r < mr; r++)
      _mm512_mask_storeu_ps(C + (size_t)r * ldc + n, m, _mm512_add_ps(acc[r][j], b));
  }
}

#define BF16_CASE(MR)                                                                                                 \
  case MR:                                                                                                            \
    switch (np) {                                                                                                     \
    case 4: bf16_block(MR, 4, A, Kp, Wp, ps, bias, Cr, N, n0, N); break;                                            \
    case 3: bf16_block(MR, 3, A, Kp, Wp, ps, bias, Cr, N, n0, N); break;                                            \
    case 2: bf16_block(MR, 2, A, Kp, Wp, ps, bias, Cr, N, n0, N); break;                                            \
    default: bf16_block(MR, 1, A, Kp, Wp, ps, bias, Cr, N, n0, N); break;                                           \
    }                                                                                                                 \
    break;

BF16_TARGET void omega__gemm_bf16_avx512(size_t M, const uint16_t *Ab, const omega_packed_w_t *w, const float *bias,
                                         float *C, size_t p0, size_t p1) {
  const size_t Kp = w->Kp, N = w->N, ps = 16 * Kp;
  /* Chunks of rows small enough to stay in L2 while the column groups sweep them, so the
   * activations are not re-read from memory for every group of 64 output channels. */
  for (size_t i0 = 0; i0 < M; i0 += OMEGA_GEMM_ROW_CHUNK) {
    const size_t i1 = M - i0 > OMEGA_GEMM_ROW_CHUNK ? i0 + OMEGA_GEMM_ROW_CHUNK : M;
    for (size_t p = p0; p < p1; p += 4) {
      const int np = p1 - p >= 4 ? 4 : (int)(p1 - p);
      const uint16_t *Wp = (const uint16_t *)w->w + p * ps;
      const size_t n0 = p * 16;
      for (size_t i = i0; i < i1; i += 6) {
        const int mr = i1 - i >= 6 ? 6 : (int)(i1 - i);
        const uint16_t *A = Ab + i * Kp;
        float *Cr = C + i * N;
        switch (mr) {
          OMEGA_ROW_BLOCK_CASES(BF16_CASE)
        }
      }
    }
  }
}
#endif

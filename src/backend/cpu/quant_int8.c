/* int8 dynamic quantisation: weights per output channel (once, at load), activations per
 * token (every call), integer dot products with VNNI (vpdpbusd: 64 products per
 * instruction) or AVX2 (sign/maddubs/madd), one float rescale per output. */
#include "backend/cpu/packed.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Vectorisable as written: the max of |x| compares the bit patterns (an integer max, the
 * same order for finite non-negative floats) and rounding adds and removes 1.5 * 2^23,
 * which rounds to nearest even exactly like lrintf for |v| <= 127. Every ISA copy and the
 * scalar reference therefore produce the same bytes. */
static inline __attribute__((always_inline)) float quant_row_body(const float *x, size_t K, int8_t *q,
                                                                  uint8_t shift) {
  uint32_t mb = 0;
  for (size_t k = 0; k < K; k++) {
    uint32_t b;
    memcpy(&b, x + k, sizeof b);
    b &= 0x7fffffffu;
    mb = b > mb ? b : mb;
  }
  float mx;
  memcpy(&mx, &mb, sizeof mx);
  const float s = mx / 127.0f, inv = mx > 0.0f ? 127.0f / mx : 0.0f;
  for (size_t k = 0; k < K; k++) {
    const float v = (x[k] * inv + 12582912.0f) - 12582912.0f;
    q[k] = (int8_t)(uint8_t)((uint8_t)(int8_t)(int)v ^ shift);
  }
  return s;
}

float omega__quant_row(const float *x, size_t K, int8_t *q) { return quant_row_body(x, K, q, 0); }

#define QUANT_ROWS(suffix, attr)                                                                                      \
  attr static void quant_rows_##suffix(size_t M, const float *A, size_t K, size_t Kp, uint8_t shift, int8_t *Aq,    \
                                       float *sa) {                                                                   \
    for (size_t i = 0; i < M; i++) {                                                                                  \
      sa[i] = quant_row_body(A + i * K, K, Aq + i * Kp, shift);                                                       \
      memset(Aq + i * Kp + K, (int)shift, Kp - K);                                                                    \
    }                                                                                                                 \
  }
QUANT_ROWS(portable, )
#if defined(__x86_64__)
QUANT_ROWS(avx2, __attribute__((target("avx2,fma"))))
QUANT_ROWS(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))))
#endif

void omega__quant_rows(omega_isa_t isa, size_t M, const float *A, size_t K, size_t Kp, uint8_t shift, int8_t *Aq,
                       float *sa) {
#if defined(__x86_64__)
  if (isa == OMEGA_ISA_AVX512)
    quant_rows_avx512(M, A, K, Kp, shift, Aq, sa);
  else if (isa == OMEGA_ISA_AVX2)
    quant_rows_avx2(M, A, K, Kp, shift, Aq, sa);
  else
#endif
    quant_rows_portable(M, A, K, Kp, shift, Aq, sa);
}

int omega__pack_int8(const float *W, size_t N, size_t K, omega_packed_w_t *out) {
  memset(out, 0, sizeof *out);
  const size_t Kp = (K + 63) & ~(size_t)63, Np = (N + 15) & ~(size_t)15;
  int8_t *p = omega__aligned_alloc(64, Np * Kp), *row = omega__malloc(K ? K : 1);
  float *scale = omega__calloc(Np, sizeof *scale);
  int32_t *colsum = omega__calloc(Np, sizeof *colsum);
  if (!p || !row || !scale || !colsum) {
    omega__free(p), omega__free(row), omega__free(scale), omega__free(colsum);
    return omega__seterr(OMEGA_ENOMEM, "int8 weights: out of memory for %zu x %zu", N, K);
  }
  memset(p, 0, Np * Kp);
  for (size_t n = 0; n < N; n++) {
    scale[n] = omega__quant_row(W + n * K, K, row);
    for (size_t k = 0; k < K; k++) {
      p[((n / 16 * (Kp / 4) + k / 4) * 16 + n % 16) * 4 + k % 4] = row[k];
      colsum[n] += 128 * row[k];
    }
  }
  omega__free(row);
  *out = (omega_packed_w_t){OMEGA_CPU_INT8, N, K, Kp, Np, p, NULL, scale, colsum};
  return 0;
}

#if defined(__x86_64__)
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* acc += a (unsigned bytes) . b (signed bytes), four products per lane. Written as asm
 * because GCC 12 compiles _mm512_dpbusd_epi32 on an accumulator array with a copy of each
 * accumulator and a store of it to the stack per instruction (the builtin does not tie the
 * accumulator to the output register): the 6 x 4 block ran at 29-38% of vpdpbusd's peak. */
VNNI_TARGET static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

VNNI_TARGET static inline __attribute__((always_inline)) void
vnni_block(int mr, int np, const uint8_t *Aq, const float *sa, size_t Kp, const int8_t *Wp, size_t pstride,
           const omega_packed_w_t *w, const float *bias, float *C, size_t n0) {
  __m512i acc[6][4];
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < np; j++)
      acc[r][j] = _mm512_setzero_si512();
  for (size_t k4 = 0; k4 < Kp / 4; k4++) {
    __m512i wv[4];
    for (int j = 0; j < np; j++)
      wv[j] = _mm512_load_si512((const void *)(Wp + (size_t)j * pstride + k4 * 64));
    for (int r = 0; r < mr; r++) {
      int32_t quad;
      memcpy(&quad, Aq + (size_t)r * Kp + 4 * k4, sizeof quad);
      const __m512i a = _mm512_set1_epi32(quad);
      for (int j = 0; j < np; j++)
        acc[r][j] = dpbusd(acc[r][j], a, wv[j]);
    }
  }
  const size_t N = w->N;
  for (int j = 0; j < np; j++) {
    const size_t n = n0 + 16 * (size_t)j;
    const __mmask16 m = N - n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (N - n)) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + n) : _mm512_setzero_ps();
    const __m512 ws = _mm512_loadu_ps(w->scale + n);
    const __m512i cs = _mm512_loadu_si512((const void *)(w->colsum + n));
    for (int r = 0; r < mr; r++) {
      const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][j], cs));
      _mm512_mask_storeu_ps(C + (size_t)r * N + n, m,
                            _mm512_fmadd_ps(v, _mm512_mul_ps(ws, _mm512_set1_ps(sa[r])), b));
    }
  }
}

#define VNNI_CASE(MR)                                                                                                 \
  case MR:                                                                                                            \
    switch (np) {                                                                                                     \
    case 4: vnni_block(MR, 4, A, S, Kp, Wp, ps, w, bias, Cr, n0); break;                                            \
    case 3: vnni_block(MR, 3, A, S, Kp, Wp, ps, w, bias, Cr, n0); break;                                            \
    case 2: vnni_block(MR, 2, A, S, Kp, Wp, ps, w, bias, Cr, n0); break;                                            \
    default: vnni_block(MR, 1, A, S, Kp, Wp, ps, w, bias, Cr, n0); break;                                           \
    }                                                                                                                 \
    break;

VNNI_TARGET void omega__gemm_int8_vnni(size_t M, const uint8_t *Aq, const float *sa, const omega_packed_w_t *w,
                                       const float *bias, float *C, size_t p0, size_t p1) {
  const size_t Kp = w->Kp, ps = 16 * Kp;
  /* Chunks of rows small enough to stay in L2 while the column groups sweep them, so the
   * activations are not re-read from memory for every group of 64 output channels. */
  for (size_t i0 = 0; i0 < M; i0 += OMEGA_GEMM_ROW_CHUNK) {
    const size_t i1 = M - i0 > OMEGA_GEMM_ROW_CHUNK ? i0 + OMEGA_GEMM_ROW_CHUNK : M;
    for (size_t p = p0; p < p1; p += 4) {
      const int np = p1 - p >= 4 ? 4 : (int)(p1 - p);
      const int8_t *Wp = (const int8_t *)w->w + p * ps;
      const size_t n0 = p * 16;
      for (size_t i = i0; i < i1; i += 6) {
        const int mr = i1 - i >= 6 ? 6 : (int)(i1 - i);
        const uint8_t *A = Aq + i * Kp;
        const float *S = sa + i;
        float *Cr = C + i * w->N;
        switch (mr) {
          OMEGA_ROW_BLOCK_CASES(VNNI_CASE)
        }
      }
    }
  }
}

#define AVX2_TARGET __attribute__((target("avx2,fma")))

/* Without VNNI: |a| (unsigned) times w carrying a's sign, adjacent pairs summed into
 * int16 (at most 2 * 127 * 127, no saturation), then pairs of those into int32. */
AVX2_TARGET static inline __attribute__((always_inline)) void
avx2_block(int mr, const int8_t *Aq, const float *sa, size_t Kp, const int8_t *Wp, const omega_packed_w_t *w,
           const float *bias, float *C, size_t n0) {
  __m256i acc[4][2];
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < mr; r++)
    acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (size_t k4 = 0; k4 < Kp / 4; k4++) {
    const __m256i w0 = _mm256_load_si256((const void *)(Wp + k4 * 64)),
                  w1 = _mm256_load_si256((const void *)(Wp + k4 * 64 + 32));
    for (int r = 0; r < mr; r++) {
      int32_t quad;
      memcpy(&quad, Aq + (size_t)r * Kp + 4 * k4, sizeof quad);
      const __m256i a = _mm256_set1_epi32(quad), ua = _mm256_abs_epi8(a);
      acc[r][0] = _mm256_add_epi32(acc[r][0],
                                   _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(w0, a)), ones));
      acc[r][1] = _mm256_add_epi32(acc[r][1],
                                   _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(w1, a)), ones));
    }
  }
  const size_t N = w->N;
  for (int h = 0; h < 2; h++) {
    const size_t n = n0 + 8 * (size_t)h;
    if (n >= N)
      break;
    const __m256 ws = _mm256_loadu_ps(w->scale + n);
    float b[8] = {0}, out[8];
    const size_t cnt = N - n >= 8 ? 8 : N - n;
    if (bias)
      memcpy(b, bias + n, cnt * sizeof *b);
    for (int r = 0; r < mr; r++) {
      const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][h]), _mm256_mul_ps(ws, _mm256_set1_ps(sa[r])),
                                       _mm256_loadu_ps(b));
      if (cnt == 8) {
        _mm256_storeu_ps(C + (size_t)r * N + n, v);
      } else {
        _mm256_storeu_ps(out, v);
        memcpy(C + (size_t)r * N + n, out, cnt * sizeof *out);
      }
    }
  }
}

AVX2_TARGET void omega__gemm_int8_avx2(size_t M, const int8_t *Aq, const float *sa, const omega_packed_w_t *w,
                                       const float *bias, float *C, size_t p0, size_t p1) {
  const size_t Kp = w->Kp;
  for (size_t p = p0; p < p1; p++) {
    const int8_t *Wp = (const int8_t *)w->w + p * 16 * Kp;
    for (size_t i = 0; i < M; i += 4) {
      const int mr = M - i >= 4 ? 4 : (int)(M - i);
      const int8_t *A = Aq + i * Kp;
      float *Cr = C + i * w->N;
      switch (mr) {
      case 4: avx2_block(4, A, sa + i, Kp, Wp, w, bias, Cr, p * 16); break;
      case 3: avx2_block(3, A, sa + i, Kp, Wp, w, bias, Cr, p * 16); break;
      case 2: avx2_block(2, A, sa + i, Kp, Wp, w, bias, Cr, p * 16); break;
      default: avx2_block(1, A, sa + i, Kp, Wp, w, bias, Cr, p * 16); break;
      }
    }
  }
}
#endif

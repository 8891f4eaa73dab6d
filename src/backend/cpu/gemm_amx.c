/* AMX GEMMs: bf16 (tdpbf16ps, fp32 accumulation), bf16x3 (three bf16 products per k block:
 * hi.hi + lo.hi + hi.lo, fp32-class accuracy) and int8 (tdpbusd, int32 accumulation). The
 * weights are already in tile layout (packed.h): 32 k (bf16) or 64 k (int8) of a 16-channel
 * panel make one 16-row B tile, so B tiles load straight from the packed panels. Block: 2 row
 * tiles x 2 panels = 4 accumulators (tmm0-3), A tiles in tmm4-5, B tiles in tmm6-7. The
 * activation rows are padded to a multiple of 16 with zeros by the caller, so every tile
 * is full and one tile configuration serves the whole call. */
#include "backend/cpu/packed.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw,avx512vl,avx512dq")))
#define INLINE static inline __attribute__((always_inline))

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg_t;

AMX_TARGET static void tiles_configure(void) {
  tilecfg_t c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  _tile_loadconfig(&c);
}

/* The block's products for the A tiles in tmm4-5 and B tiles in tmm6-7. Tile numbers are
 * immediates, hence macros. */
#define DP_TILES(op, mt, nt)                                                                                          \
  do {                                                                                                                \
    op(0, 4, 6);                                                                                                      \
    if (nt > 1)                                                                                                       \
      op(1, 4, 7);                                                                                                    \
    if (mt > 1) {                                                                                                     \
      op(2, 5, 6);                                                                                                    \
      if (nt > 1)                                                                                                     \
        op(3, 5, 7);                                                                                                  \
    }                                                                                                                 \
  } while (0)
#define DP_BF16(mt, nt) DP_TILES(_tile_dpbf16ps, mt, nt)
#define DP_INT8(mt, nt) DP_TILES(_tile_dpbusd, mt, nt)
/* A rows [0,16) and [16,32) of the block at byte column `col`; B panels p and p+1. */
#define LOAD_A(mt, A, lda, col)                                                                                       \
  do {                                                                                                                \
    _tile_loadd(4, (const char *)(A) + (col), lda);                                                                   \
    if (mt > 1)                                                                                                       \
      _tile_loadd(5, (const char *)(A) + 16 * (lda) + (col), lda);                                                    \
  } while (0)
#define LOAD_B(nt, B, pbytes, off)                                                                                    \
  do {                                                                                                                \
    _tile_loadd(6, (const char *)(B) + (off), 64);                                                                    \
    if (nt > 1)                                                                                                       \
      _tile_loadd(7, (const char *)(B) + (pbytes) + (off), 64);                                                       \
  } while (0)

INLINE AMX_TARGET void zero_acc(int mt, int nt) {
  _tile_zero(0);
  if (nt > 1)
    _tile_zero(1);
  if (mt > 1) {
    _tile_zero(2);
    if (nt > 1)
      _tile_zero(3);
  }
}

/* Each k block of 32 is 64 bytes of an A row and 1 KiB of a B panel. */
INLINE AMX_TARGET void bf16_block(int mt, int nt, const uint16_t *A, const uint16_t *Alo, const uint16_t *B,
                                  const uint16_t *Blo, size_t Kp) {
  const size_t lda = Kp * 2, pbytes = 32 * Kp;
  zero_acc(mt, nt);
  for (size_t kb = 0; kb < Kp / 32; kb++) {
    LOAD_A(mt, A, lda, kb * 64);
    LOAD_B(nt, B, pbytes, kb * 1024);
    DP_BF16(mt, nt);
    if (Alo) {
      LOAD_A(mt, Alo, lda, kb * 64);
      DP_BF16(mt, nt);
      LOAD_A(mt, A, lda, kb * 64);
      LOAD_B(nt, Blo, pbytes, kb * 1024);
      DP_BF16(mt, nt);
    }
  }
}

/* Each k block of 64 is 64 bytes of an A row and 1 KiB of a B panel. */
INLINE AMX_TARGET void int8_block(int mt, int nt, const uint8_t *A, const int8_t *B, size_t Kp) {
  const size_t lda = Kp, pbytes = 16 * Kp;
  zero_acc(mt, nt);
  for (size_t kb = 0; kb < Kp / 64; kb++) {
    LOAD_A(mt, A, lda, kb * 64);
    LOAD_B(nt, B, pbytes, kb * 1024);
    DP_INT8(mt, nt);
  }
}

INLINE AMX_TARGET void store_acc(int mt, int nt, void *buf) {
  char *b = buf;
  _tile_stored(0, b, 64);
  if (nt > 1)
    _tile_stored(1, b + 1024, 64);
  if (mt > 1) {
    _tile_stored(2, b + 2048, 64);
    if (nt > 1)
      _tile_stored(3, b + 3072, 64);
  }
}

/* Writes accumulator tile (ti, tj) of the block at rows i.., columns n0..: bf16 adds the bias,
 * int8 removes the activation shift and applies both scales (as the VNNI kernel does). */
AMX_TARGET static void epilogue(int mt, int nt, const void *buf, int is_int8, size_t M, size_t i, size_t n0,
                                const omega_packed_w_t *w, const float *sa, const float *bias, float *C) {
  const size_t N = w->N;
  for (int tj = 0; tj < nt; tj++) {
    const size_t n = n0 + 16 * (size_t)tj;
    if (n >= N)
      continue;
    const __mmask16 m = N - n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (N - n)) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + n) : _mm512_setzero_ps();
    __m512 ws = _mm512_setzero_ps();
    __m512i cs = _mm512_setzero_si512();
    if (is_int8) {
      ws = _mm512_loadu_ps(w->scale + n);
      cs = _mm512_loadu_si512((const void *)(w->colsum + n));
    }
    for (int ti = 0; ti < mt; ti++) {
      const char *t = (const char *)buf + 1024 * (size_t)(2 * ti + tj);
      for (size_t r = 0; r < 16 && i + 16 * (size_t)ti + r < M; r++) {
        const size_t row = i + 16 * (size_t)ti + r;
        __m512 v;
        if (is_int8) {
          const __m512 acc = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512((const void *)(t + 64 * r)), cs));
          v = _mm512_fmadd_ps(acc, _mm512_mul_ps(ws, _mm512_set1_ps(sa[row])), b);
        } else {
          /* cppcheck-suppress invalidPointerCast ; the tile store wrote fp32 accumulators into these bytes */
          v = _mm512_add_ps(_mm512_load_ps((const float *)(t + 64 * r)), b);
        }
        _mm512_mask_storeu_ps(C + row * N + n, m, v);
      }
    }
  }
}

#define BLOCK_CASES(call)                                                                                             \
  do {                                                                                                                \
    if (mt == 2 && nt == 2)                                                                                           \
      call(2, 2);                                                                                                     \
    else if (mt == 2)                                                                                                 \
      call(2, 1);                                                                                                     \
    else if (nt == 2)                                                                                                 \
      call(1, 2);                                                                                                     \
    else                                                                                                              \
      call(1, 1);                                                                                                     \
  } while (0)

/* Rows in chunks (as the other kernels) so the activations stay in L2 while the panels
 * sweep them; then pairs of panels, then blocks of 32 rows. */
#define SWEEP(...)                                                                                                    \
  for (size_t i0 = 0; i0 < M; i0 += OMEGA_GEMM_ROW_CHUNK) {                                                           \
    const size_t i1 = M - i0 > OMEGA_GEMM_ROW_CHUNK ? i0 + OMEGA_GEMM_ROW_CHUNK : M;                                  \
    for (size_t p = p0; p < p1; p += 2) {                                                                             \
      const int nt = p1 - p >= 2 ? 2 : 1;                                                                             \
      for (size_t i = i0; i < i1; i += 32) {                                                                          \
        const int mt = i1 - i > 16 ? 2 : 1;                                                                           \
        __VA_ARGS__                                                                                                   \
      }                                                                                                               \
    }                                                                                                                 \
  }

#define BF16_CALL(MT, NT) bf16_block(MT, NT, A, Al, B, Bl, Kp)
#define INT8_CALL(MT, NT) int8_block(MT, NT, A, B, Kp)

AMX_TARGET void omega__gemm_amx_bf16(size_t M, const uint16_t *Ab, const uint16_t *Alo, const omega_packed_w_t *w,
                                     const float *bias, float *C, size_t p0, size_t p1) {
  const size_t Kp = w->Kp, ps = 16 * Kp;
  _Alignas(64) float buf[4 * 256];
  tiles_configure();
  SWEEP({
    const uint16_t *A = Ab + i * Kp, *Al = Alo ? Alo + i * Kp : NULL, *B = (const uint16_t *)w->w + p * ps,
                   *Bl = Alo ? (const uint16_t *)w->w_lo + p * ps : NULL;
    BLOCK_CASES(BF16_CALL);
    store_acc(mt, nt, buf);
    epilogue(mt, nt, buf, 0, M, i, p * 16, w, NULL, bias, C);
  })
  _tile_release();
}

AMX_TARGET void omega__gemm_amx_int8(size_t M, const uint8_t *Aq, const float *sa, const omega_packed_w_t *w,
                                     const float *bias, float *C, size_t p0, size_t p1) {
  const size_t Kp = w->Kp, ps = 16 * Kp;
  _Alignas(64) int32_t buf[4 * 256];
  tiles_configure();
  SWEEP({
    const uint8_t *A = Aq + i * Kp;
    const int8_t *B = (const int8_t *)w->w + p * ps;
    BLOCK_CASES(INT8_CALL);
    store_acc(mt, nt, buf);
    epilogue(mt, nt, buf, 1, M, i, p * 16, w, sa, bias, C);
  })
  _tile_release();
}
#endif

/* Linear-layer weights packed once at load for Omega's GEMM kernels: fp32 (FMA), bf16
 * (AMX tiles, else AVX512-BF16 dot products; fp32 accumulation), bf16x3 (fp32 split into a
 * high and a low bf16 part, three AMX products: fp32-class accuracy at bf16 speed) and int8
 * (AMX, VNNI or AVX2; dynamic per-token activation scales, per-channel weight scales). */
#ifndef OMEGA_BACKEND_CPU_PACKED_H
#define OMEGA_BACKEND_CPU_PACKED_H

#include "backend/cpu/cpu_isa.h"
#include "core/parallel.h"
#include "model/config.h"
#include "omega/engine.h"

#include <stddef.h>
#include <stdint.h>

/* Panels of 16 output channels. fp32: [N16][K][16]; bf16: [N16][K/2][16][2] uint16 (a k pair per lane, as
 * vdpbf16ps reads it, and 32 k of a panel are one AMX B tile); int8: [N16][K/4][16][4] int8 (a k
 * quad per lane, as vpdpbusd reads it; 64 k are one AMX tile). K is zero-padded to the AMX
 * tile depth (32 for bf16, 64 for int8), N to 16. */
typedef struct {
  omega_cpu_precision_t prec;
  size_t N, K, Kp, Np;
  void *w;
  void *w_lo;      /* bf16x3: bf16(W - bf16(W)), packed like w */
  float *scale;    /* int8: w[n,k] ~ scale[n] * q[n,k] */
  int32_t *colsum; /* int8: 128 * sum_k q[n,k], which removes the +128 of unsigned activations */
} omega_packed_w_t;

/* NULL when `isa` has kernels for the precision, else why not (for the user). */
const char *omega__precision_unsupported(omega_cpu_precision_t p, const omega_cpu_isa_t *isa);

int omega__pack_f32(const float *W, size_t N, size_t K, omega_packed_w_t *out);
int omega__pack_bf16(const float *W, size_t N, size_t K, omega_packed_w_t *out);
int omega__pack_int8(const float *W, size_t N, size_t K, omega_packed_w_t *out);
int omega__pack_bf16x3(const float *W, size_t N, size_t K, omega_packed_w_t *out);
/* Rows [r0, r1) of W [.][K] into bf16 panels hi and (when lo is not NULL) lo of depth Kp (a
 * multiple of 32), as omega__pack_bf16 and omega__pack_bf16x3 lay them out; also for
 * matrices that grow (the flat index). */
void omega__pack_bf16x3_rows(const float *W, size_t r0, size_t r1, size_t K, size_t Kp, uint16_t *hi, uint16_t *lo);
void omega__packed_free(omega_packed_w_t *w);

/* Bytes of scratch omega__packed_linear needs for M rows. */
size_t omega__packed_scratch(const omega_packed_w_t *w, size_t M);
/* C[M,N] = act(A[M,K] . W^T + bias) (bias and act may be NULL), in the weight's precision,
 * with the kernels of `isa` (which must support it); column panels spread over the pool. The
 * activation runs on each block of C as soon as its kernel has written it. */
void omega__packed_linear(omega_pool_t *pool, const omega_cpu_isa_t *isa, size_t M, const float *A,
                          const omega_packed_w_t *w, const float *bias, const omega_act_t *act, float *C,
                          void *scratch);

/* Rows the AVX-512 kernels handle per sweep of the columns (a multiple of their 6-row block). */
#define OMEGA_GEMM_ROW_CHUNK 192
/* The cases of a switch over a row block's height, 6 rows down to 1: CASE(MR) calls the
 * kernel's block for a constant MR, so its accumulators stay in registers. */
#define OMEGA_ROW_BLOCK_CASES(CASE) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2) CASE(1)

/* Kernels over a range of 16-column panels [p0, p1); A already converted. */
void omega__gemm_f32_avx512(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C,
                            size_t p0, size_t p1);
void omega__gemm_f32_avx2(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C,
                          size_t p0, size_t p1);
void omega__gemm_f32_portable(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C,
                              size_t p0, size_t p1);
void omega__gemm_f32_neon(size_t M, const float *A, const omega_packed_w_t *w, const float *bias, float *C, size_t p0,
                          size_t p1);
void omega__gemm_bf16_avx512(size_t M, const uint16_t *Ab, const omega_packed_w_t *w, const float *bias, float *C,
                             size_t p0, size_t p1);
/* AMX: blocks of 32 rows x 32 columns in tiles. A has ceil16(M) rows (zero rows past M).
 * bf16: Alo NULL for bf16, the low parts for bf16x3 (C += hi.hi + hi.lo + lo.hi). */
void omega__gemm_amx_bf16(size_t M, const uint16_t *Ab, const uint16_t *Alo, const omega_packed_w_t *w,
                          const float *bias, float *C, size_t p0, size_t p1);
void omega__gemm_amx_int8(size_t M, const uint8_t *Aq, const float *sa, const omega_packed_w_t *w, const float *bias,
                          float *C, size_t p0, size_t p1);
void omega__gemm_int8_vnni(size_t M, const uint8_t *Aq, const float *sa, const omega_packed_w_t *w,
                           const float *bias, float *C, size_t p0, size_t p1);
void omega__gemm_int8_avx2(size_t M, const int8_t *Aq, const float *sa, const omega_packed_w_t *w, const float *bias,
                           float *C, size_t p0, size_t p1);

/* Every linear layer of a model, packed for one precision. */
typedef struct {
  omega_packed_w_t qkv, ao, ff1, ff2;
} omega_packed_layer_t;

typedef struct omega_cpu_packed {
  omega_cpu_precision_t prec;
  omega_cpu_isa_t isa; /* the kernels to run: checked against prec when packed */
  int n_layers;
  omega_packed_layer_t *layers;
  size_t max_k; /* the widest input (scratch sizing) */
} omega_cpu_packed_t;

struct omega_model;
/* Pack m's linear layers for `prec` on `isa`; refuses with OMEGA_EINVAL when the CPU has
 * no kernels for it (m is not read then). */
int omega__cpu_packed_create(const struct omega_model *m, omega_cpu_precision_t prec, const omega_cpu_isa_t *isa,
                             omega_cpu_packed_t **out);
void omega__cpu_packed_free(omega_cpu_packed_t *p);

/* Activation conversion for the kernels, rows padded to Kp with zeros: bf16 (only where
 * the bf16 kernel runs, AVX-512), int8 per row with scales sa (bytes XOR shift: 0x80 makes
 * them the unsigned form VNNI reads). */
void omega__bf16_rows(size_t M, const float *A, size_t K, size_t Kp, uint16_t *Ab);
/* hi = bf16(a), lo = bf16(a - hi): a = hi + lo to 16 significant bits. */
void omega__bf16x3_rows(size_t M, const float *A, size_t K, size_t Kp, uint16_t *hi, uint16_t *lo);
void omega__quant_rows(omega_isa_t isa, size_t M, const float *A, size_t K, size_t Kp, uint8_t shift, int8_t *Aq,
                       float *sa);

/* fp32 -> bf16, round to nearest even (inputs are finite). */
static inline uint16_t omega__bf16(float f) {
  union {
    float f;
    uint32_t u;
  } v = {f};
  return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* The fp32 value of a bf16 (exact). */
static inline float omega__bf16_float(uint16_t h) {
  union {
    uint32_t u;
    float f;
  } v = {(uint32_t)h << 16};
  return v.f;
}

/* Where value (n, k) of a [N][K] matrix lands in the bf16 panels of depth Kp. */
static inline size_t omega__bf16_at(size_t n, size_t k, size_t Kp) {
  return ((n / 16 * (Kp / 2) + k / 2) * 16 + n % 16) * 2 + k % 2;
}

/* Reference linears (gemm_ref.c): the same rounding of inputs, then plain loops with
 * exact accumulation, straight from the fp32 weights (no packing). */
void omega__linear_bf16_ref(size_t M, size_t N, size_t K, const float *A, const float *W, const float *bias,
                            float *C);
void omega__linear_int8_ref(size_t M, size_t N, size_t K, const float *A, const float *W, const float *bias,
                            float *C);
void omega__linear_bf16x3_ref(size_t M, size_t N, size_t K, const float *A, const float *W, const float *bias,
                              float *C);
/* The symmetric int8 quantisation of one row shared by kernels and reference:
 * q = round(x / s), s = max|x| / 127 (0 for an all-zero row). Returns s. */
float omega__quant_row(const float *x, size_t K, int8_t *q);

#endif

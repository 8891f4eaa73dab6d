/* The flat index's batch GEMM on bf16 hardware: the vectors kept a second time in bf16, in
 * the panel layout of the CPU backend's packed weights, and scored against query blocks in
 * one of two modes:
 *  - THREE (AMX tiles): each vector split into a high and a low bf16 part (x = hi + lo to 16
 *    significant bits), three bf16 products (hi.hi + lo.hi + hi.lo), fp32 accumulation;
 *  - ONE (AVX512-BF16 without AMX, where vdpbf16ps runs at twice the FMA's rate): the high
 *    part only, one product; up to 2^-7 |q| |x| from the exact dot product, about half that
 *    by the vectors' own rounding residuals.
 * Either way each score is within a proven bound (omega__flat_bf16_unit) of the exact one,
 * and the scan that keeps the candidates ranks them by a proven lower bound of their exact
 * distance (built from each row's norm), so the double-precision re-rank can prove the top k
 * complete (exact.h) and the results stay exactly the brute force's. Built on demand by the
 * first batch search; its bytes count in the index's. */
#ifndef OMEGA_INDEX_FLAT_BF16_H
#define OMEGA_INDEX_FLAT_BF16_H

#include "index/store.h"

typedef struct omega_flat_bf16 omega_flat_bf16_t;

typedef enum {
  OMEGA_FLAT_BF16_NONE = 0, /* no bf16 copy here: fp32 GEMMs */
  OMEGA_FLAT_BF16_ONE,      /* AVX512-BF16: one bf16 product */
  OMEGA_FLAT_BF16_THREE,    /* AMX: three bf16 products */
} omega_flat_bf16_mode_t;

int omega__flat_bf16_create(omega_flat_bf16_t **out);
void omega__flat_bf16_free(omega_flat_bf16_t *a);
size_t omega__flat_bf16_bytes(const omega_flat_bf16_t *a);
/* What it would take once the index holds n slots (0 while it is not built). */
size_t omega__flat_bf16_bytes_after(const omega_flat_bf16_t *a, size_t n);
/* What building it now would take. */
size_t omega__flat_bf16_bytes_to_build(const omega_vindex_t *ix);
/* The mode this index's batches use: THREE where the CPU has AMX (and OMEGA_CPU_ISA and
 * OMEGA_SIMD allow it), ONE where it has AVX512-BF16 and the avx512 or amx distance set runs;
 * NONE below 32 dimensions, or when the owner has ruled the copy out (ix->copy_off). */
omega_flat_bf16_mode_t omega__flat_bf16_mode(const omega_vindex_t *ix);
/* Pack the slots added since the last call (callers may race: it locks). */
int omega__flat_bf16_prepare(const omega_vindex_t *ix, omega_flat_bf16_t *a);
/* Hold the packed vectors steady while scoring (a concurrent prepare waits). */
void omega__flat_bf16_read_lock(omega_flat_bf16_t *a);
void omega__flat_bf16_read_unlock(omega_flat_bf16_t *a);
/* The prepared copy's mode, its rows' norms (rnorm[s] >= |x_s|) and rounding residuals
 * (rres[s] >= res(x_s), omega__flat_bf16_res_up). */
omega_flat_bf16_mode_t omega__flat_bf16_prepared_mode(const omega_flat_bf16_t *a);
const float *omega__flat_bf16_rnorms(const omega_flat_bf16_t *a);
const float *omega__flat_bf16_rres(const omega_flat_bf16_t *a);
/* At least |x|; at least res(x) = |x - bf16(x)| in mode ONE (0 in THREE, whose rounding is
 * in its unit). */
float omega__flat_bf16_norm_up(const float *x, size_t d);
float omega__flat_bf16_res_up(omega_flat_bf16_mode_t mode, const float *x, size_t d);
/* Queries converted once for many row blocks: hi (and, THREE, lo) parts, rows padded to 16. */
typedef struct {
  size_t nq;
  uint16_t *hi, *lo;
} omega_bf16_queries_t;
int omega__flat_bf16_queries(const omega_flat_bf16_t *a, const omega_vindex_t *ix, const float *qs, size_t nq,
                             omega_bf16_queries_t *out);
void omega__flat_bf16_queries_free(omega_bf16_queries_t *q);
/* scores[j][i] ~ q_(q0+j) . x_(r0+i) for queries [q0, q0 + nb) of qa (q0 a multiple of 16)
 * and rows [r0, r0 + nr) (r0 a multiple of 16, every row prepared). */
void omega__flat_bf16_scores(const omega_flat_bf16_t *a, const omega_bf16_queries_t *qa, size_t q0, size_t nb,
                             size_t r0, size_t nr, float *scores);
/* u such that every score above is within
 *   u |q| |x| + |q| res(x) + res(q) (|x| + res(x)) + tiny (1 + |q| + |x|)
 * of q.x in `mode` (res: omega__flat_bf16_res_up; tiny: omega__flat_bf16_tiny, for what the
 * bf16 units flush to zero). */
double omega__flat_bf16_unit(omega_flat_bf16_mode_t mode, size_t dim);
double omega__flat_bf16_tiny(size_t dim);

#endif

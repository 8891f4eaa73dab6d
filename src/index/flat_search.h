/* The flat (exact) index's searches over a store: one query (SIMD kernels, or the projection
 * bounds of flat_proj.h), and many at once in GEMM blocks (OpenBLAS sgemm, or the bf16 copy of
 * flat_bf16.h: AMX tiles or AVX512-BF16). Every answer goes through the re-rank of exact.h,
 * so it is the brute force's. */
#ifndef OMEGA_INDEX_FLAT_SEARCH_H
#define OMEGA_INDEX_FLAT_SEARCH_H

#include "index/store.h"

/* k best live (and allowed) slots for one query, best first; returns how many. */
size_t omega__flat_search(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                          omega_hit_t *out);
/* Exact search of many queries at once (GEMM blocks), results [nq][k]; counts per query.
 * Returns how many queries the bf16 copy's bound could not prove, which went through fp32
 * GEMMs again (0 without the copy). */
size_t omega__flat_search_batch(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, omega_hit_t *out,
                              size_t *counts);

#endif

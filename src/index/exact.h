/* Exactness of the index's answers: the double-precision brute force every search path is
 * tested against, and the re-rank that turns float candidates into the provably exact top k.
 *
 * The float kernels (SIMD or GEMM) rank every slot and keep the best k + OMEGA_RERANK_MARGIN;
 * the kept ones are re-scored in double precision and sorted by (distance, tie order). The
 * result is the exact top k when the worst kept float distance, less its rounding bound, is
 * still beyond the k-th exact distance; otherwise the brute force answers. So every path
 * returns what the double-precision brute force returns. */
#ifndef OMEGA_INDEX_EXACT_H
#define OMEGA_INDEX_EXACT_H

#include "index/heap.h"
#include "index/store.h"

#include <stdint.h>

/* Float candidates kept beyond k for the re-rank: fp32 kernels and GEMMs, and the bf16 copy's
 * (flat_bf16.h) lower bounds, about 2^-15 (three products) or 2^-8 (one) |q| |x| below the
 * exact distances: the wider the bound, the further down the proof needs candidates to go. */
#define OMEGA_RERANK_MARGIN 16
#define OMEGA_RERANK_MARGIN_BF16X3 48
#define OMEGA_RERANK_MARGIN_BF16 112

/* omega__flat_rerank's answer when lower-bound candidates could not be proven complete. */
#define OMEGA_RERANK_UNPROVEN SIZE_MAX

/* The distance in double precision, lower is better: squared L2, or the negated inner
 * product. Header-only, so the tests' reference model (tests/index/ref.h) uses the same
 * definition. */
static inline double omega__dist_f64(omega_metric_t metric, const float *q, const float *x, size_t d) {
  double s = 0;
  if (metric == OMEGA_METRIC_L2) {
    for (size_t i = 0; i < d; i++) {
      double t = (double)q[i] - x[i];
      s += t * t;
    }
    return s;
  }
  for (size_t i = 0; i < d; i++)
    s += (double)q[i] * x[i];
  return -s;
}

/* Exact brute force in double precision over the live (and allowed) slots, best first by
 * (distance, tie order): the reference, and the last resort of the exact paths. */
size_t omega__vindex_search_exact(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                                  omega_hit_t *out);

/* heap: the best k + margin by float distance (max-heap), or with `lower` by a proven lower
 * bound of the exact distance; `exhausted` when every candidate slot is in it. Writes the
 * exact top k to out and returns how many. When the candidates cannot be proven to hold the
 * top k: float distances go to the brute force; lower bounds return OMEGA_RERANK_UNPROVEN,
 * for the caller to try fp32 first. */
size_t omega__flat_rerank(const omega_vindex_t *ix, const float *q, size_t k, omega_heap_t *heap, bool exhausted,
                          const omega_allow_t *allow, bool lower, omega_hit_t *out);

#endif

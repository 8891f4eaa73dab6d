/* The double-precision reference and the re-rank proof (exact.h). */
#include "core/alloc.h"
#include "index/exact.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the double-precision reference ---- */

static double exact_dist(const omega_vindex_t *ix, const float *q, uint32_t slot) {
  return omega__dist_f64(ix->p.metric, q, ix->vecs + (size_t)slot * ix->p.dim, ix->p.dim);
}

typedef struct {
  double dist;
  uint32_t slot;
} exact_hit_t;

/* By distance, then by the index's tie order (a collection's: the smaller external id). */
static int cmp_exact(const void *a, const void *b, void *arg) {
  const exact_hit_t *x = a, *y = b;
  const omega_vindex_t *ix = arg;
  if (x->dist != y->dist)
    return x->dist < y->dist ? -1 : 1;
  if (x->slot == y->slot)
    return 0;
  if (ix->tie)
    return ix->tie(ix->tie_ctx, x->slot, y->slot);
  return x->slot < y->slot ? -1 : 1;
}

static void sort_exact(const omega_vindex_t *ix, exact_hit_t *e, size_t n) {
  qsort_r(e, n, sizeof *e, cmp_exact, (void *)ix);
}

/* A max-heap of the k best so far by cmp_exact: the root is the one to drop next. */
static void exact_sift_down(const omega_vindex_t *ix, exact_hit_t *h, size_t n, size_t i) {
  for (;;) {
    size_t w = i, l = 2 * i + 1, r = l + 1;
    if (l < n && cmp_exact(&h[l], &h[w], (void *)ix) > 0)
      w = l;
    if (r < n && cmp_exact(&h[r], &h[w], (void *)ix) > 0)
      w = r;
    if (w == i)
      return;
    const exact_hit_t t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

static void exact_sift_up(const omega_vindex_t *ix, exact_hit_t *h, size_t i) {
  while (i && cmp_exact(&h[i], &h[(i - 1) / 2], (void *)ix) > 0) {
    const exact_hit_t t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

/* Offer e to the max-heap h of *m hits that keeps the cap best. */
static void exact_keep(const omega_vindex_t *ix, exact_hit_t *h, size_t *m, size_t cap, exact_hit_t e) {
  if (*m < cap) {
    h[*m] = e;
    exact_sift_up(ix, h, (*m)++);
  } else if (cmp_exact(&e, &h[0], (void *)ix) < 0) {
    h[0] = e;
    exact_sift_down(ix, h, *m, 0);
  }
}

/* Every allowed slot in double precision, the k best kept in a heap (n log k, not a sort of
 * all n: this is the fallback when a float proof fails, and may run for every query). */
size_t omega__vindex_search_exact(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                                  omega_hit_t *out) {
  const size_t cap = k < ix->n ? k : ix->n;
  if (cap == 0)
    return 0;
  exact_hit_t *h = omega__malloc(cap * sizeof *h);
  if (!h)
    return OMEGA_SEARCH_NOMEM;
  size_t m = 0;
  for (uint32_t s = 0; s < ix->n; s++) {
    if (!omega__allowed(ix, allow, s))
      continue;
    exact_keep(ix, h, &m, cap, (exact_hit_t){exact_dist(ix, q, s), s});
  }
  sort_exact(ix, h, m);
  for (size_t i = 0; i < m; i++)
    out[i] = (omega_hit_t){(float)h[i].dist, h[i].slot};
  omega__free(h);
  return m;
}

/* ---- exact re-rank of float candidates ---- */

/* Rounding bound of a float distance between q and a vector of squared norm xnorm2: the
 * worst case of any summation order, d+2 units of roundoff times the sum of the magnitudes
 * of the terms. */
static double float_err(const omega_vindex_t *ix, double qnorm2, double xnorm2, double dist) {
  const double u = (double)FLT_EPSILON * 0.5 * (double)(ix->p.dim + 2);
  if (ix->p.metric == OMEGA_METRIC_L2) { /* covers |q|^2 + |x|^2 - 2 q.x as well as sum (q - x)^2 */
    double a = sqrt(qnorm2) + sqrt(xnorm2);
    return u * (fabs(dist) + a * a) + 1e-30;
  }
  return u * sqrt(qnorm2 * xnorm2) + 1e-30;
}

static int cmp_hit(const void *a, const void *b) {
  const omega_hit_t *x = a, *y = b;
  return omega__hit_less(*x, *y) ? -1 : omega__hit_less(*y, *x);
}

/* Lower-bound candidates in increasing bound: a candidate whose bound is beyond the k-th
 * exact distance so far cannot enter (its exact distance is at least the bound), nor can any
 * after it, so most of them are never measured in double. m <= the buffers' length. */
static size_t rerank_lower(const omega_vindex_t *ix, const float *q, size_t k, omega_heap_t *heap, bool exhausted,
                           omega_hit_t *by_lb, exact_hit_t *best, omega_hit_t *out) {
  const size_t m = heap->n, n = m < k ? m : k;
  if (n == 0)
    return 0;
  const float worst_lb = heap->v[0].dist;
  memcpy(by_lb, heap->v, m * sizeof *by_lb);
  qsort(by_lb, m, sizeof *by_lb, cmp_hit);
  size_t have = 0;
  for (size_t i = 0; i < m; i++) {
    if (have == n && (double)by_lb[i].dist > best[0].dist)
      break;
    exact_keep(ix, best, &have, n, (exact_hit_t){exact_dist(ix, q, by_lb[i].slot), by_lb[i].slot});
  }
  /* anything not kept has a lower bound, so an exact distance, at least worst_lb: the k-th
   * exact distance must be strictly below it, so that no tie crosses the cut */
  if (!exhausted && !(isfinite(worst_lb) && (double)worst_lb > best[0].dist))
    return OMEGA_RERANK_UNPROVEN;
  sort_exact(ix, best, n);
  for (size_t i = 0; i < n; i++)
    out[i] = (omega_hit_t){(float)best[i].dist, best[i].slot};
  return n;
}

/* The re-rank and its proof (exact.h). */
size_t omega__flat_rerank(const omega_vindex_t *ix, const float *q, size_t k, omega_heap_t *heap, bool exhausted,
                          const omega_allow_t *allow, bool lower, omega_hit_t *out) {
  const size_t m = heap->n;
  if (m == 0)
    return 0;
  exact_hit_t ex[1024 + OMEGA_RERANK_MARGIN_BF16];
  exact_hit_t *e = m <= sizeof ex / sizeof ex[0] ? ex : omega__malloc(m * sizeof *e);
  if (!e)
    return lower ? OMEGA_RERANK_UNPROVEN : omega__vindex_search_exact(ix, q, k, allow, out);
  if (lower) {
    omega_hit_t hb[1024 + OMEGA_RERANK_MARGIN_BF16];
    omega_hit_t *h = m <= sizeof hb / sizeof hb[0] ? hb : omega__malloc(m * sizeof *h);
    const size_t n = h ? rerank_lower(ix, q, k, heap, exhausted, h, e, out) : OMEGA_RERANK_UNPROVEN;
    if (h != hb)
      omega__free(h);
    if (e != ex)
      omega__free(e);
    return n;
  }
  double qn = 0;
  for (size_t i = 0; i < ix->p.dim; i++)
    qn += (double)q[i] * q[i];
  float worst_f = heap->v[0].dist;
  for (size_t i = 0; i < m; i++)
    e[i] = (exact_hit_t){exact_dist(ix, q, heap->v[i].slot), heap->v[i].slot};
  sort_exact(ix, e, m);
  size_t n = m < k ? m : k;
  bool proven = exhausted;
  if (!proven) {
    /* anything not kept has float distance >= worst_f, so its exact distance is at least
     * worst_f less the error bound of a float distance there, taken at the largest norm in
     * the index (the vector not kept is unknown; the bound grows with its norm). The
     * k-th exact distance must be strictly below that, so that no tie crosses the cut. */
    double kth = e[n - 1].dist;
    double err_w = float_err(ix, qn, ix->max_norm2, worst_f);
    proven = isfinite(worst_f) && (double)worst_f - 2.0 * err_w > kth;
  }
  if (!proven) {
    if (e != ex)
      omega__free(e);
    return omega__vindex_search_exact(ix, q, k, allow, out);
  }
  for (size_t i = 0; i < n; i++)
    out[i] = (omega_hit_t){(float)e[i].dist, e[i].slot};
  if (e != ex)
    omega__free(e);
  return n;
}

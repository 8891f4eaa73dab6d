/* The flat index's searches (flat_search.h). */
#include "index/flat_search.h"

#include "core/alloc.h"
#include "index/exact.h"
#include "index/flat_bf16.h"
#include "index/flat_proj.h"
#include "index/heap.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define ROW_BLOCK 4096 /* rows per GEMM block */
#define Q_BLOCK 64     /* queries per GEMM block */

/* ---- flat, one query ---- */

/* Offer one row of distances: only entries under the current threshold reach the heap. */
static void offer_row(const omega_vindex_t *ix, const omega_allow_t *allow, omega_heap_t *h, size_t cap,
                      const float *dist, uint32_t first, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (h->n >= cap && dist[i] > h->v[0].dist)
      continue;
    uint32_t s = first + (uint32_t)i;
    if (omega__allowed(ix, allow, s))
      omega__heap_offer(h, cap, dist[i], s);
  }
}

size_t omega__flat_search(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                          omega_hit_t *out) {
  const size_t d = ix->p.dim, cap = k + OMEGA_RERANK_MARGIN;
  if (omega__proj_allowed(ix) && (!allow || allow->count * 8 >= ix->n) &&
      omega__proj_verdict(ix->proj) != 0 && omega__proj_prepare(ix, ix->proj) == 0) {
    size_t count = 0;
    if (omega__proj_search(ix, ix->proj, q, 1, k, allow, out, &count) == 0)
      return count;
  }
  float buf[ROW_BLOCK];
  omega_heap_t h = {0};
  if (omega__heap_grow(&h))
    return OMEGA_SEARCH_NOMEM;
  size_t live = 0;
  if (allow && allow->count * 8 < ix->n) { /* few allowed slots: visit only them */
    for (uint32_t s = 0; s < ix->n; s++) {
      if (!(allow->bits[s >> 3] >> (s & 7) & 1) || ix->dead[s])
        continue;
      const float *v = ix->vecs + (size_t)s * d;
      float dd = ix->p.metric == OMEGA_METRIC_L2 ? ix->simd->l2sq(q, v, d) : -ix->simd->dot(q, v, d);
      omega__heap_offer(&h, cap, dd, s);
      live++;
    }
    size_t n = omega__flat_rerank(ix, q, k, &h, live <= cap, allow, false, out);
    omega__heap_free(&h);
    return n;
  }
  for (size_t r0 = 0; r0 < ix->n; r0 += ROW_BLOCK) {
    size_t nr = ix->n - r0 < ROW_BLOCK ? ix->n - r0 : ROW_BLOCK;
    if (ix->p.metric == OMEGA_METRIC_L2) {
      ix->simd->l2sq_many(q, ix->vecs + r0 * d, nr, d, buf);
    } else {
      ix->simd->dot_many(q, ix->vecs + r0 * d, nr, d, buf);
      for (size_t i = 0; i < nr; i++)
        buf[i] = -buf[i];
    }
    offer_row(ix, allow, &h, cap, buf, (uint32_t)r0, nr);
  }
  for (uint32_t s = 0; s < ix->n && live <= cap; s++)
    live += omega__allowed(ix, allow, s);
  size_t n = omega__flat_rerank(ix, q, k, &h, live <= cap, allow, false, out);
  omega__heap_free(&h);
  return n;
}

/* ---- flat, many queries: GEMM blocks ---- */

/* One query's GEMM scores over rows [first, first + n) become distances (L2: |q|^2 + |x|^2
 * - 2 q.x; else -q.x) and go to its heap, in one pass: 16 rows at a time are converted and
 * tested against the heap's worst at once (loops that vectorise), and only a block with a
 * row at or below it (or NaN, which offer_row would take too) is offered row by row. */
static void offer_scan(const omega_vindex_t *ix, omega_heap_t *h, size_t cap, float *row, float qn, uint32_t first,
                       size_t n) {
  const bool l2 = ix->p.metric == OMEGA_METRIC_L2;
  const float *xn = ix->norms + first;
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const size_t m = n - i0 < 16 ? n - i0 : 16;
    float *r = row + i0;
    const float thr = h->n >= cap ? h->v[0].dist : INFINITY;
    int hit = 0;
    if (l2) {
      for (size_t i = 0; i < m; i++) {
        r[i] = qn + xn[i0 + i] - 2.0f * r[i];
        hit |= !(r[i] > thr);
      }
    } else {
      for (size_t i = 0; i < m; i++) {
        r[i] = -r[i];
        hit |= !(r[i] > thr);
      }
    }
    if (hit)
      for (size_t i = 0; i < m; i++)
        if ((h->n < cap || !(r[i] > h->v[0].dist)) && !ix->dead[first + i0 + i])
          omega__heap_offer(h, cap, r[i], first + (uint32_t)(i0 + i));
  }
}

/* The bf16 copy's scan: each score becomes a proven lower bound of the exact distance, from
 * the copy's bound (flat_bf16.h) with the row's norm and rounding residual, and the heap
 * keeps the smallest bounds. Every row left out then has an exact distance at least the
 * heap's worst, which is what the re-rank proves its top k against. The bound on a row of
 * norm x and residual r is x (a + c x) + r rr + b, its coefficients set per query. */
typedef struct {
  float qn;        /* fp32 |q|^2, as the distances use it */
  float a, rr, b;  /* see above */
} lb_query_t;

typedef struct {
  omega_flat_bf16_mode_t mode;
  double f;        /* 2 for L2 (2 q.x), else 1 */
  double u, tiny;  /* the copy's unit (with the bound's own subtraction); flushed terms */
  float c;         /* L2: fp32 rounding of the norms and sums, per (|q| + |x|)^2 */
  const float *rnorm, *rres;
} lb_rows_t;

static lb_rows_t lb_rows(const omega_vindex_t *ix) {
  const size_t d = ix->p.dim;
  const bool l2 = ix->p.metric == OMEGA_METRIC_L2;
  const omega_flat_bf16_mode_t mode = omega__flat_bf16_prepared_mode(ix->b16);
  /* L2: |q|^2 and |x|^2 in fp32 (d roundings each), two sums and the subtraction of the bound */
  const double c = l2 ? (2.0 * (double)d + 8.0) * 1.01 * 0x1p-24 : 0.0;
  return (lb_rows_t){mode,
                     l2 ? 2.0 : 1.0,
                     omega__flat_bf16_unit(mode, d) + 0x1p-22,
                     omega__flat_bf16_tiny(d),
                     (float)(c * 1.0001),
                     omega__flat_bf16_rnorms(ix->b16),
                     omega__flat_bf16_rres(ix->b16)};
}

static lb_query_t lb_query(const omega_vindex_t *ix, const lb_rows_t *lr, const float *q) {
  const size_t d = ix->p.dim;
  const double nq = omega__flat_bf16_norm_up(q, d), rq = omega__flat_bf16_res_up(lr->mode, q, d);
  const double f = lr->f, c = lr->c, t = lr->tiny * f;
  /* f (u nq x + nq r + rq (x + r)) + c (nq + x)^2 + t (1 + nq + x), gathered by x and r */
  const double a = f * (lr->u * nq + rq) + 2.0 * c * nq + t, rr = f * (nq + rq), b = c * nq * nq + t * (1.0 + nq);
  const double up = 1.0 + 0x1p-16; /* the float steps of the bound itself */
  return (lb_query_t){ix->simd->dot(q, q, d), (float)(a * up), (float)(rr * up), (float)(b * up)};
}

#if defined(__x86_64__)
/* Offer the rows of a 16-row group whose bound is at or below the heap's worst (or NaN). */
static void offer_group(const omega_vindex_t *ix, omega_heap_t *h, size_t cap, const float *r, uint32_t first,
                        unsigned mask) {
  for (; mask; mask &= mask - 1) {
    const unsigned i = (unsigned)__builtin_ctz(mask);
    if ((h->n < cap || !(r[i] > h->v[0].dist)) && !ix->dead[first + i])
      omega__heap_offer(h, cap, r[i], first + i);
  }
}

/* The bf16 copy exists only where AVX-512 runs: 16 rows' bounds in one go. */
__attribute__((target("avx512f"))) static void offer_scan_lb(const omega_vindex_t *ix, const lb_rows_t *lr,
                                                             const lb_query_t *lq, omega_heap_t *h, size_t cap,
                                                             float *row, uint32_t first, size_t n) {
  const bool l2 = ix->p.metric == OMEGA_METRIC_L2;
  const float *xn = ix->norms + first, *rn = lr->rnorm + first, *rs = lr->rres + first;
  const __m512 qn = _mm512_set1_ps(lq->qn), a = _mm512_set1_ps(lq->a), rr = _mm512_set1_ps(lq->rr),
               b = _mm512_set1_ps(lq->b), c = _mm512_set1_ps(lr->c), two = _mm512_set1_ps(2.0f);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 m = n - i0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i0)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, rn + i0), s = _mm512_maskz_loadu_ps(m, row + i0);
    const __m512 e = _mm512_fmadd_ps(x, _mm512_fmadd_ps(c, x, a), _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, rs + i0), rr, b));
    const __m512 dist = l2 ? _mm512_fnmadd_ps(two, s, _mm512_add_ps(qn, _mm512_maskz_loadu_ps(m, xn + i0)))
                           : _mm512_sub_ps(_mm512_setzero_ps(), s);
    const __m512 lb = _mm512_sub_ps(dist, e);
    _mm512_mask_storeu_ps(row + i0, m, lb);
    const float thr = h->n >= cap ? h->v[0].dist : INFINITY;
    const unsigned hit = _mm512_mask_cmp_ps_mask(m, lb, _mm512_set1_ps(thr), _CMP_NGT_UQ);
    if (hit)
      offer_group(ix, h, cap, row + i0, first + (uint32_t)i0, hit);
  }
}
#else
static void offer_scan_lb(const omega_vindex_t *ix, const lb_rows_t *lr, const lb_query_t *lq, omega_heap_t *h,
                          size_t cap, float *row, uint32_t first, size_t n) {
  (void)ix, (void)lr, (void)lq, (void)h, (void)cap, (void)row, (void)first, (void)n; /* no bf16 copy here */
}
#endif

/* Scores of a query block against a row block: the bf16 copy when there is one, else sgemm. */
static void block_scores(const omega_vindex_t *ix, const omega_bf16_queries_t *qa, size_t q0, const float *qb,
                         size_t nb, size_t r0, size_t nr, float *scores) {
  if (qa)
    omega__flat_bf16_scores(ix->b16, qa, q0, nb, r0, nr, scores);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nr, (int)ix->p.dim, 1.0f, qb, (int)ix->p.dim,
                ix->vecs + r0 * ix->p.dim, (int)ix->p.dim, 0.0f, scores, (int)nr);
}

/* The GEMM-block search of nq queries: bf16 scores (`bf16`: the copy is prepared) or OpenBLAS
 * sgemm. With bf16, queries whose candidates could not be proven complete get counts
 * OMEGA_RERANK_UNPROVEN. */
static void batch_gemm(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, bool bf16, omega_hit_t *out,
                       size_t *counts) {
  const size_t d = ix->p.dim;
  if (bf16)
    omega__flat_bf16_read_lock(ix->b16);
  const omega_flat_bf16_mode_t mode = bf16 ? omega__flat_bf16_prepared_mode(ix->b16) : OMEGA_FLAT_BF16_NONE;
  /* bf16 scores are less exact than fp32 ones: more candidates, so the proof rarely fails */
  const size_t cap = k + (mode == OMEGA_FLAT_BF16_THREE ? OMEGA_RERANK_MARGIN_BF16X3
                          : mode                        ? OMEGA_RERANK_MARGIN_BF16
                                                        : OMEGA_RERANK_MARGIN);
  /* Queries in groups of QS (a heap each); in a group, row blocks of RB, and query blocks of
   * QB against each. sgemm: one 64-query block per group over 4096-row blocks (OpenBLAS
   * blocks for its caches itself). bf16: a row block small enough to stay in L2 (about 1 MiB
   * of AMX tiles, half that of vdpbf16ps panels) while every query block of a large group
   * goes past it, so the vectors stream from memory once per 1024 queries rather than once
   * per 64. */
  const size_t Kp = (d + 31) & ~(size_t)31;
  const size_t QS = bf16 ? 1024 : Q_BLOCK, QB = bf16 ? 192 : Q_BLOCK;
  size_t RB = ROW_BLOCK;
  if (bf16) {
    RB = ((size_t)1 << 18) / Kp & ~(size_t)15;
    RB = RB < 64 ? 64 : RB;
  }
  float *scores = omega__malloc(QB * RB * sizeof *scores);
  omega_heap_t *heaps = omega__calloc(QS, sizeof *heaps);
  float *qn = omega__malloc(QS * sizeof *qn);
  lb_query_t *lq = bf16 ? omega__malloc(QS * sizeof *lq) : NULL;
  omega_bf16_queries_t qa = {0};
  if (!scores || !heaps || !qn || (bf16 && (!lq || omega__flat_bf16_queries(ix->b16, ix, qs, nq, &qa)))) {
    omega__free(scores);
    omega__free(heaps);
    omega__free(qn);
    omega__free(lq);
    omega__flat_bf16_queries_free(&qa);
    if (bf16)
      omega__flat_bf16_read_unlock(ix->b16);
    for (size_t i = 0; i < nq; i++)
      counts[i] = omega__flat_search(ix, qs + i * d, k, NULL, out + i * k);
    return;
  }
  const lb_rows_t lr = bf16 ? lb_rows(ix) : (lb_rows_t){0};
  const size_t live = ix->n - ix->n_dead;
  for (size_t g0 = 0; g0 < nq; g0 += QS) {
    const size_t ng = nq - g0 < QS ? nq - g0 : QS;
    for (size_t j = 0; j < ng; j++) {
      heaps[j].n = 0;
      if (bf16)
        lq[j] = lb_query(ix, &lr, qs + (g0 + j) * d);
      else
        qn[j] = ix->simd->dot(qs + (g0 + j) * d, qs + (g0 + j) * d, d);
    }
    for (size_t r0 = 0; r0 < ix->n; r0 += RB) {
      const size_t nr = ix->n - r0 < RB ? ix->n - r0 : RB;
      for (size_t q0 = 0; q0 < ng; q0 += QB) {
        const size_t nb = ng - q0 < QB ? ng - q0 : QB;
        block_scores(ix, bf16 ? &qa : NULL, g0 + q0, qs + (g0 + q0) * d, nb, r0, nr, scores);
        for (size_t j = 0; j < nb; j++) {
          if (bf16)
            offer_scan_lb(ix, &lr, &lq[q0 + j], &heaps[q0 + j], cap, scores + j * nr, (uint32_t)r0, nr);
          else
            offer_scan(ix, &heaps[q0 + j], cap, scores + j * nr, qn[q0 + j], (uint32_t)r0, nr);
        }
      }
    }
    for (size_t j = 0; j < ng; j++)
      counts[g0 + j] =
          omega__flat_rerank(ix, qs + (g0 + j) * d, k, &heaps[j], live <= cap, NULL, bf16, out + (g0 + j) * k);
  }
  if (bf16)
    omega__flat_bf16_read_unlock(ix->b16);
  for (size_t j = 0; j < QS; j++)
    omega__heap_free(&heaps[j]);
  omega__free(heaps);
  omega__free(scores);
  omega__free(qn);
  omega__free(lq);
  omega__flat_bf16_queries_free(&qa);
}

size_t omega__flat_search_batch(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, omega_hit_t *out,
                                size_t *counts) {
  const size_t d = ix->p.dim;
  const bool bf16 = omega__flat_bf16_mode(ix) && omega__flat_bf16_prepare(ix, ix->b16) == 0;
  if (!bf16 && omega__proj_allowed(ix) && omega__proj_verdict(ix->proj) != 0 &&
      omega__proj_prepare(ix, ix->proj) == 0) {
    /* not known yet whether the bounds prune on this data: measure on the first queries */
    size_t done = 0;
    if (omega__proj_verdict(ix->proj) < 0) {
      done = nq < 16 ? nq : 16;
      if (omega__proj_search(ix, ix->proj, qs, done, k, NULL, out, counts) != 0)
        done = 0;
    }
    if (done < nq && omega__proj_verdict(ix->proj) != 0 &&
        omega__proj_search(ix, ix->proj, qs + done * d, nq - done, k, NULL, out + done * k, counts + done) == 0)
      done = nq;
    if (done == nq)
      return 0;
    qs += done * d;
    out += done * k;
    counts += done;
    nq -= done;
  }
  batch_gemm(ix, qs, nq, k, bf16, out, counts);
  if (!bf16)
    return 0;
  /* Queries the bf16 bound left unproven (data far from the origin, or ties closer than the
   * bound) go through fp32 GEMMs, whose bound is tighter, before any exhaustive scan. */
  size_t nf = 0;
  for (size_t i = 0; i < nq; i++)
    nf += counts[i] == OMEGA_RERANK_UNPROVEN;
  if (!nf)
    return 0;
  float *fq = omega__malloc(nf * d * sizeof *fq);
  omega_hit_t *fo = omega__malloc(nf * k * sizeof *fo);
  size_t *fc = omega__malloc(nf * sizeof *fc);
  for (size_t i = 0, j = 0; i < nq; i++) {
    if (counts[i] != OMEGA_RERANK_UNPROVEN)
      continue;
    if (fq && fo && fc)
      memcpy(fq + j * d, qs + i * d, d * sizeof *fq);
    else /* out of memory: one at a time */
      counts[i] = omega__vindex_search_exact(ix, qs + i * d, k, NULL, out + i * k);
    j++;
  }
  if (fq && fo && fc) {
    batch_gemm(ix, fq, nf, k, false, fo, fc);
    for (size_t i = 0, j = 0; i < nq; i++) {
      if (counts[i] != OMEGA_RERANK_UNPROVEN)
        continue;
      counts[i] = fc[j];
      memcpy(out + i * k, fo + j * k, k * sizeof *out);
      j++;
    }
  }
  omega__free(fq);
  omega__free(fo);
  omega__free(fc);
  return nf;
}

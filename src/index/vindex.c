/* Storage, the flat (exact) search paths, and dispatch to HNSW.
 *
 * Exactness: the float kernels (SIMD or GEMM) rank every slot and keep the best k + 16; the
 * kept ones are re-scored in double precision and sorted by (distance, slot). The result is
 * provably the exact top k when the worst kept float distance, less its rounding bound, is
 * still beyond the k-th exact distance; otherwise the search falls back to a full double
 * scan. So every path returns what the double-precision brute force returns. */
#include "core/error_internal.h"
#include "core/vecmath.h"
#include "index/flat_amx.h"
#include "index/walk16.h"
#include "index/flat_proj.h"
#include "index/heap.h"
#include "index/vindex.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MARGIN 16      /* extra float candidates kept for the exact re-rank */
#define AMX_MARGIN 48  /* the same for AMX scores, whose error bound is a few times wider */
#define ROW_BLOCK 4096 /* rows per GEMM block */
#define Q_BLOCK 64     /* queries per GEMM block */

void omega_index_params_init(omega_index_params_t *p) {
  memset(p, 0, sizeof *p);
  p->metric = OMEGA_METRIC_L2;
  p->kind = OMEGA_INDEX_FLAT;
  p->m = 16;
  p->ef_construction = 200;
  p->ef_search = 64;
  p->seed = 42;
}

const char *omega_metric_name(omega_metric_t m) {
  return m == OMEGA_METRIC_L2 ? "l2" : m == OMEGA_METRIC_IP ? "ip" : m == OMEGA_METRIC_COSINE ? "cosine" : "?";
}

const char *omega_index_kind_name(omega_index_kind_t k) {
  return k == OMEGA_INDEX_FLAT ? "flat" : k == OMEGA_INDEX_HNSW ? "hnsw" : k == OMEGA_INDEX_GPU_FLAT ? "gpu_flat" : "?";
}

int omega_metric_parse(const char *s, omega_metric_t *out) {
  for (int m = 0; m <= 2; m++)
    if (strcmp(s, omega_metric_name((omega_metric_t)m)) == 0) {
      *out = (omega_metric_t)m;
      return 0;
    }
  return omega__seterr(OMEGA_EINVAL, "metric \"%.32s\" is not one of l2, ip, cosine", s);
}

int omega_index_kind_parse(const char *s, omega_index_kind_t *out) {
  for (int k = 0; k <= 2; k++)
    if (strcmp(s, omega_index_kind_name((omega_index_kind_t)k)) == 0) {
      *out = (omega_index_kind_t)k;
      return 0;
    }
  return omega__seterr(OMEGA_EINVAL, "index kind \"%.32s\" is not one of flat, hnsw, gpu_flat", s);
}

int omega__vindex_init(omega_vindex_t *ix, const omega_index_params_t *p) {
  memset(ix, 0, sizeof *ix);
  if (p->dim == 0 || p->dim > 65536)
    return omega__seterr(OMEGA_EINVAL, "dimension %zu must be in [1, 65536]", p->dim);
  if (p->metric > OMEGA_METRIC_COSINE || p->kind > OMEGA_INDEX_GPU_FLAT)
    return omega__seterr(OMEGA_EINVAL, "unknown metric or index kind");
  if (p->kind == OMEGA_INDEX_HNSW && (p->m < 2 || p->m > 256 || p->ef_construction < 1 || p->ef_search < 1))
    return omega__seterr(OMEGA_EINVAL, "HNSW needs m in [2, 256] and positive ef_construction and ef_search");
  ix->p = *p;
  ix->simd = omega__simd();
  if (p->kind == OMEGA_INDEX_HNSW) {
    int rc = omega__hnsw_create(ix);
    return rc ? rc : omega__walk16_create(&ix->w16);
  }
  int rc = omega__proj_create(&ix->proj);
  return rc ? rc : omega__flat_amx_create(&ix->amx);
}

void omega__vindex_free(omega_vindex_t *ix) {
  free(ix->vecs);
  free(ix->norms);
  free(ix->dead);
  omega__hnsw_free(ix->g);
  omega__proj_free(ix->proj);
  omega__flat_amx_free(ix->amx);
  omega__walk16_free(ix->w16);
  memset(ix, 0, sizeof *ix);
}

/* Reallocate to exactly `cap` slots. */
static int realloc_to(omega_vindex_t *ix, size_t cap) {
  const size_t d = ix->p.dim;
  if (cap > SIZE_MAX / sizeof(float) / d - 16)
    return omega__seterr(OMEGA_ENOMEM, "index: %zu vectors of dimension %zu do not fit in memory", cap, d);
  float *v = aligned_alloc(64, ((cap * d * sizeof(float)) + 63) & ~(size_t)63);
  float *nr = realloc(ix->norms, cap * sizeof *nr);
  if (nr)
    ix->norms = nr;
  uint8_t *dead = nr ? realloc(ix->dead, cap) : NULL;
  if (dead)
    ix->dead = dead;
  if (!v || !nr || !dead) {
    free(v);
    return omega__seterr(OMEGA_ENOMEM, "index: cannot grow to %zu vectors of dimension %zu", cap, d);
  }
  if (ix->n)
    memcpy(v, ix->vecs, ix->n * d * sizeof *v);
  free(ix->vecs);
  ix->vecs = v;
  if (ix->g && omega__hnsw_reserve(ix, cap))
    return OMEGA_ENOMEM;
  ix->cap = cap;
  return 0;
}

size_t omega__vindex_grow_cap(const omega_vindex_t *ix, size_t need) {
  if (need <= ix->cap)
    return ix->cap;
  size_t cap = ix->cap ? ix->cap : 1024;
  while (cap < need)
    cap += cap / 2 ? cap / 2 : 1; /* a snapshot of one vector loads with capacity 1 */
  return cap;
}

static int reserve(omega_vindex_t *ix, size_t need) {
  return need <= ix->cap ? 0 : realloc_to(ix, omega__vindex_grow_cap(ix, need));
}

int omega__vindex_reserve(omega_vindex_t *ix, size_t cap) {
  if (cap > UINT32_MAX - 1)
    return omega__seterr(OMEGA_ERANGE, "index: more than %u vectors", UINT32_MAX - 1);
  return cap <= ix->cap ? 0 : realloc_to(ix, cap);
}

size_t omega__vindex_bytes_after(const omega_vindex_t *ix, size_t cap, size_t n_more) {
  size_t b = cap * (ix->p.dim * sizeof(float) + sizeof(float) + 1);
  if (ix->g) {
    const size_t gcap = cap > omega__hnsw_cap(ix->g) ? cap : omega__hnsw_cap(ix->g);
    b += gcap * omega__hnsw_bytes_per_slot(ix->g) + omega__hnsw_upper_bytes_now(ix->g) +
         omega__hnsw_upper_bytes(ix, ix->n, ix->n + n_more);
  }
  return b + omega__flat_amx_bytes_after(ix->amx, ix->n + n_more) +
         omega__walk16_bytes_after(ix->w16, ix->p.dim, cap);
}

void omega__vindex_prepare_query(const omega_vindex_t *ix, const float *q, float *out) {
  memcpy(out, q, ix->p.dim * sizeof *out);
  if (ix->p.metric == OMEGA_METRIC_COSINE)
    omega__l2_normalize(out, ix->p.dim);
}

static int add_rows(omega_vindex_t *ix, const float *vecs, size_t n, int threads, bool normalise,
                    void (*progress)(size_t, size_t, void *), void *user) {
  if (ix->n + n > UINT32_MAX - 1)
    return omega__seterr(OMEGA_ERANGE, "index: more than %u vectors", UINT32_MAX - 1);
  int rc = reserve(ix, ix->n + n);
  if (rc)
    return rc;
  const size_t d = ix->p.dim, first = ix->n;
  for (size_t i = 0; i < n; i++) {
    float *v = ix->vecs + (first + i) * d;
    memcpy(v, vecs + i * d, d * sizeof *v);
    if (normalise && ix->p.metric == OMEGA_METRIC_COSINE)
      omega__l2_normalize(v, d);
    ix->norms[first + i] = ix->simd->dot(v, v, d);
    ix->dead[first + i] = 0;
    double n2 = 0;
    for (size_t j = 0; j < d; j++)
      n2 += (double)v[j] * v[j];
    if (n2 > ix->max_norm2)
      ix->max_norm2 = n2;
  }
  ix->n += n;
  if (ix->g)
    return omega__hnsw_insert_range(ix, first, first + n, threads, progress, user);
  if (progress)
    progress(n, n, user);
  return 0;
}

int omega__vindex_add(omega_vindex_t *ix, const float *vecs, size_t n, int threads,
                      void (*progress)(size_t, size_t, void *), void *user) {
  return add_rows(ix, vecs, n, threads, true, progress, user);
}

int omega__vindex_add_stored(omega_vindex_t *ix, const float *vecs, size_t n, int threads) {
  return add_rows(ix, vecs, n, threads, false, NULL, NULL);
}

void omega__vindex_delete(omega_vindex_t *ix, uint32_t slot) {
  if (slot < ix->n && !ix->dead[slot]) {
    ix->dead[slot] = 1;
    ix->n_dead++;
  }
}

float omega__score(const omega_vindex_t *ix, float dist) { return ix->p.metric == OMEGA_METRIC_L2 ? dist : -dist; }

size_t omega__vindex_bytes(const omega_vindex_t *ix) {
  size_t b = ix->cap * (ix->p.dim * sizeof(float) + sizeof(float) + 1);
  if (ix->g)
    b += omega__hnsw_bytes(ix->g);
  return b + omega__proj_bytes(ix->proj) + omega__vindex_copy_bytes(ix);
}

size_t omega__vindex_copy_bytes(const omega_vindex_t *ix) {
  return omega__flat_amx_bytes(ix->amx) + omega__walk16_bytes(ix->w16);
}

size_t omega__vindex_copy_bytes_to_build(const omega_vindex_t *ix) {
  if (omega__vindex_copy_bytes(ix))
    return 0;
  if (ix->amx)
    return omega__flat_amx_bytes_to_build(ix);
  return ix->w16 ? omega__walk16_bytes_to_build(ix) : 0;
}

int omega__vindex_prepare_copy(const omega_vindex_t *ix) {
  if (omega__flat_amx_useful(ix))
    return omega__flat_amx_prepare(ix, ix->amx);
  if (omega__walk16_useful(ix))
    return omega__walk16_prepare(ix, ix->w16);
  return 0;
}

static inline bool allowed(const omega_vindex_t *ix, const omega_allow_t *a, uint32_t s) {
  return !ix->dead[s] && (!a || (a->bits[s >> 3] >> (s & 7) & 1));
}

/* ---- the double-precision reference ---- */

static double exact_dist(const omega_vindex_t *ix, const float *q, uint32_t slot) {
  const float *v = ix->vecs + (size_t)slot * ix->p.dim;
  double s = 0;
  if (ix->p.metric == OMEGA_METRIC_L2) {
    for (size_t i = 0; i < ix->p.dim; i++) {
      double t = (double)q[i] - v[i];
      s += t * t;
    }
    return s;
  }
  for (size_t i = 0; i < ix->p.dim; i++)
    s += (double)q[i] * v[i];
  return -s;
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

/* Every allowed slot in double precision, the k best kept in a heap (n log k, not a sort of
 * all n: this is the fallback when a float proof fails, and may run for every query). */
size_t omega__vindex_search_exact(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                                  omega_hit_t *out) {
  const size_t cap = k < ix->n ? k : ix->n;
  if (cap == 0)
    return 0;
  exact_hit_t *h = malloc(cap * sizeof *h);
  if (!h)
    return OMEGA_SEARCH_NOMEM;
  size_t m = 0;
  for (uint32_t s = 0; s < ix->n; s++) {
    if (!allowed(ix, allow, s))
      continue;
    const exact_hit_t e = {exact_dist(ix, q, s), s};
    if (m < cap) {
      h[m] = e;
      exact_sift_up(ix, h, m++);
    } else if (cmp_exact(&e, &h[0], (void *)ix) < 0) {
      h[0] = e;
      exact_sift_down(ix, h, m, 0);
    }
  }
  sort_exact(ix, h, m);
  for (size_t i = 0; i < m; i++)
    out[i] = (omega_hit_t){(float)h[i].dist, h[i].slot};
  free(h);
  return m;
}

/* ---- exact re-rank of float candidates ---- */

/* Rounding bound of a float distance between q and a vector of squared norm xnorm2: the
 * worst case of any summation order, d+2 units of roundoff times the sum of the magnitudes
 * of the terms. */
static double float_err(const omega_vindex_t *ix, double qnorm2, double xnorm2, double dist, double unit) {
  const double u = (double)FLT_EPSILON * 0.5 * (double)(ix->p.dim + 2) + unit;
  /* AMX flushes inputs and sums below 2^-126 to zero: at most 2^-126 times a coordinate of
   * the other vector per term, and 2^-126 per accumulation (generous by 2^6) */
  const double tiny =
      1e-30 + (unit > 0 ? 0x1p-120 * (double)(2 * ix->p.dim + 32) * (1.0 + sqrt(qnorm2) + sqrt(xnorm2)) : 0.0);
  if (ix->p.metric == OMEGA_METRIC_L2) { /* covers |q|^2 + |x|^2 - 2 q.x as well as sum (q - x)^2 */
    double a = sqrt(qnorm2) + sqrt(xnorm2);
    return u * (fabs(dist) + a * a) + tiny;
  }
  return u * sqrt(qnorm2 * xnorm2) + tiny;
}

/* heap: the best k + MARGIN by float distance (max-heap); `exhausted` when every candidate
 * slot is in it. Writes the exact top k to out. When the candidates cannot be proven to hold
 * the top k: with unit 0 (fp32 distances) an exhaustive double search answers; with AMX
 * scores (unit > 0) OMEGA_RERANK_UNPROVEN is returned, for the caller to try fp32 first. */
size_t omega__flat_rerank(const omega_vindex_t *ix, const float *q, size_t k, omega_heap_t *heap, bool exhausted,
                          const omega_allow_t *allow, double unit, omega_hit_t *out) {
  const size_t m = heap->n;
  if (m == 0)
    return 0;
  exact_hit_t ex[1024 + MARGIN];
  exact_hit_t *e = m <= sizeof ex / sizeof ex[0] ? ex : malloc(m * sizeof *e);
  if (!e)
    return omega__vindex_search_exact(ix, q, k, allow, out);
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
    double err_w = float_err(ix, qn, ix->max_norm2, worst_f, unit);
    proven = isfinite(worst_f) && (double)worst_f - 2.0 * err_w > kth;
  }
  if (!proven) {
    if (e != ex)
      free(e);
    return unit > 0 ? OMEGA_RERANK_UNPROVEN : omega__vindex_search_exact(ix, q, k, allow, out);
  }
  for (size_t i = 0; i < n; i++)
    out[i] = (omega_hit_t){(float)e[i].dist, e[i].slot};
  if (e != ex)
    free(e);
  return n;
}

/* ---- flat, one query ---- */

static inline void offer(omega_heap_t *h, size_t cap, float d, uint32_t s) {
  if (h->n < cap) {
    omega__heap_push_max(h, d, s);
  } else if (omega__hit_less((omega_hit_t){d, s}, h->v[0])) {
    omega__heap_pop_max(h);
    omega__heap_push_max(h, d, s);
  }
}

/* Offer one row of distances: only entries under the current threshold reach the heap. */
static void offer_row(const omega_vindex_t *ix, const omega_allow_t *allow, omega_heap_t *h, size_t cap,
                      const float *dist, uint32_t first, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (h->n >= cap && dist[i] > h->v[0].dist)
      continue;
    uint32_t s = first + (uint32_t)i;
    if (allowed(ix, allow, s))
      offer(h, cap, dist[i], s);
  }
}

static size_t flat_search(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                          omega_hit_t *out) {
  const size_t d = ix->p.dim, cap = k + MARGIN;
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
      offer(&h, cap, dd, s);
      live++;
    }
    size_t n = omega__flat_rerank(ix, q, k, &h, live <= cap, allow, 0, out);
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
    live += allowed(ix, allow, s);
  size_t n = omega__flat_rerank(ix, q, k, &h, live <= cap, allow, 0, out);
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
          offer(h, cap, r[i], first + (uint32_t)(i0 + i));
  }
}

/* Scores of a query block against a row block: the AMX copy when there is one, else sgemm. */
static void block_scores(const omega_vindex_t *ix, const omega_amx_queries_t *qa, size_t q0, const float *qb,
                         size_t nb, size_t r0, size_t nr, float *scores) {
  if (qa)
    omega__flat_amx_scores(ix->amx, qa, q0, nb, r0, nr, scores);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nr, (int)ix->p.dim, 1.0f, qb, (int)ix->p.dim,
                ix->vecs + r0 * ix->p.dim, (int)ix->p.dim, 0.0f, scores, (int)nr);
}

/* The GEMM-block search of nq queries: AMX scores (amx) or OpenBLAS sgemm. With AMX, queries
 * whose candidates could not be proven complete get counts OMEGA_RERANK_UNPROVEN. */
static void batch_gemm(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, bool amx, omega_hit_t *out,
                       size_t *counts) {
  const size_t d = ix->p.dim;
  /* AMX scores are less exact than fp32 ones: more candidates, so the proof rarely fails */
  const size_t cap = k + (amx ? AMX_MARGIN : MARGIN);
  const double unit = amx ? omega__flat_amx_unit(ix) : 0.0;
  /* Queries in groups of QS (a heap each); in a group, row blocks of RB, and query blocks of
   * QB against each. sgemm: one 64-query block per group over 4096-row blocks (OpenBLAS
   * blocks for its caches itself). AMX: a row block small enough to stay in L2 (about 1 MiB
   * of tiles) while every query block of a large group goes past it, so the vectors stream
   * from memory once per 1024 queries rather than once per 64. */
  const size_t Kp = (d + 31) & ~(size_t)31;
  const size_t QS = amx ? 1024 : Q_BLOCK, QB = amx ? 192 : Q_BLOCK;
  size_t RB = ROW_BLOCK;
  if (amx) {
    RB = ((size_t)1 << 20) / (4 * Kp) & ~(size_t)15;
    RB = RB < 64 ? 64 : RB;
  }
  float *scores = malloc(QB * RB * sizeof *scores);
  omega_heap_t *heaps = calloc(QS, sizeof *heaps);
  float *qn = malloc(QS * sizeof *qn);
  omega_amx_queries_t qa = {0};
  if (!scores || !heaps || !qn || (amx && omega__flat_amx_queries(ix, qs, nq, &qa))) {
    free(scores);
    free(heaps);
    free(qn);
    omega__flat_amx_queries_free(&qa);
    for (size_t i = 0; i < nq; i++)
      counts[i] = omega__vindex_search(ix, qs + i * d, k, 0, NULL, out + i * k);
    return;
  }
  if (amx)
    omega__flat_amx_read_lock(ix->amx);
  const size_t live = ix->n - ix->n_dead;
  for (size_t g0 = 0; g0 < nq; g0 += QS) {
    const size_t ng = nq - g0 < QS ? nq - g0 : QS;
    for (size_t j = 0; j < ng; j++) {
      heaps[j].n = 0;
      qn[j] = ix->simd->dot(qs + (g0 + j) * d, qs + (g0 + j) * d, d);
    }
    for (size_t r0 = 0; r0 < ix->n; r0 += RB) {
      const size_t nr = ix->n - r0 < RB ? ix->n - r0 : RB;
      for (size_t q0 = 0; q0 < ng; q0 += QB) {
        const size_t nb = ng - q0 < QB ? ng - q0 : QB;
        block_scores(ix, amx ? &qa : NULL, g0 + q0, qs + (g0 + q0) * d, nb, r0, nr, scores);
        for (size_t j = 0; j < nb; j++) {
          offer_scan(ix, &heaps[q0 + j], cap, scores + j * nr, qn[q0 + j], (uint32_t)r0, nr);
        }
      }
    }
    for (size_t j = 0; j < ng; j++)
      counts[g0 + j] =
          omega__flat_rerank(ix, qs + (g0 + j) * d, k, &heaps[j], live <= cap, NULL, unit, out + (g0 + j) * k);
  }
  if (amx)
    omega__flat_amx_read_unlock(ix->amx);
  for (size_t j = 0; j < QS; j++)
    omega__heap_free(&heaps[j]);
  free(heaps);
  free(scores);
  free(qn);
  omega__flat_amx_queries_free(&qa);
}

void omega__flat_search_batch(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, omega_hit_t *out,
                              size_t *counts) {
  const size_t d = ix->p.dim;
  const bool amx = omega__flat_amx_useful(ix) && omega__flat_amx_prepare(ix, ix->amx) == 0;
  if (!amx && omega__proj_allowed(ix) && omega__proj_verdict(ix->proj) != 0 &&
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
      return;
    qs += done * d;
    out += done * k;
    counts += done;
    nq -= done;
  }
  batch_gemm(ix, qs, nq, k, amx, out, counts);
  if (!amx)
    return;
  /* Queries the AMX bound left unproven (data far from the origin, or ties closer than the
   * bound) go through fp32 GEMMs, whose bound is tighter, before any exhaustive scan. */
  size_t nf = 0;
  for (size_t i = 0; i < nq; i++)
    nf += counts[i] == OMEGA_RERANK_UNPROVEN;
  if (!nf)
    return;
  float *fq = malloc(nf * d * sizeof *fq);
  omega_hit_t *fo = malloc(nf * k * sizeof *fo);
  size_t *fc = malloc(nf * sizeof *fc);
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
  free(fq);
  free(fo);
  free(fc);
}

/* ---- dispatch ---- */

size_t omega__vindex_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                            omega_hit_t *out) {
  if (k == 0 || ix->n == 0)
    return 0;
  /* a small allow-list is searched exactly: a graph walk would rarely meet its members */
  bool small_filter = allow && allow->count <= 4096;
  if (!ix->g || small_filter)
    return flat_search(ix, q, k, allow, out);
  return omega__hnsw_search(ix, q, k, ef ? ef : ix->p.ef_search, allow, out);
}

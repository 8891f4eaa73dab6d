#include "index/flat_proj.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/parallel.h"
#include "index/exact.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE 8192     /* rows the subspace is fitted on */
#define ITERATIONS 3    /* of the subspace iteration: the bound only needs most of the variance */
#define Q_BLOCK 64      /* queries per bound GEMM */
#define ROW_BLOCK 16384 /* rows per bound GEMM */

struct omega_proj {
  pthread_rwlock_t lock; /* readers search; a writer builds or extends */
  size_t n;              /* slots projected */
  size_t cap;
  int p;          /* 0: not built */
  float *basis;   /* [p][d], orthonormal rows */
  float *mean;    /* [d]: the centre for L2, zero for inner products */
  float *px;      /* [cap][p] */
  float *pn;      /* [cap] |Px|^2 */
  float *rx;      /* [cap] residual norms */
  double max_c2;  /* the largest |x - mean|^2 seen */
  /* how well the bounds prune on this data: slots considered and slots scored in full */
  atomic_ullong considered, scored;
};

int omega__proj_create(omega_proj_t **out) {
  omega_proj_t *p = omega__calloc(1, sizeof *p);
  if (!p)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  pthread_rwlock_init(&p->lock, NULL);
  *out = p;
  return 0;
}

void omega__proj_free(omega_proj_t *p) {
  if (!p)
    return;
  omega__free(p->basis);
  omega__free(p->mean);
  omega__free(p->px);
  omega__free(p->pn);
  omega__free(p->rx);
  pthread_rwlock_destroy(&p->lock);
  omega__free(p);
}

size_t omega__proj_bytes(const omega_proj_t *p) {
  return p && p->p ? p->cap * ((size_t)p->p + 2) * sizeof(float) : 0;
}

typedef struct {
  float lb;
  uint32_t slot;
} bound_t;

static int dims_for(size_t d) { return d >= 256 ? 64 : d >= 96 ? 32 : 0; }

bool omega__proj_useful(const omega_vindex_t *ix) {
  return !ix->g && ix->n >= 4096 && dims_for(ix->p.dim) > 0;
}

bool omega__proj_allowed(const omega_vindex_t *ix) { return ix->proj && !ix->proj_off && omega__proj_useful(ix); }

size_t omega__proj_bytes_to_build(const omega_vindex_t *ix) {
  if (!ix->proj || !omega__proj_useful(ix))
    return 0;
  const size_t cap = ix->cap > ix->n ? ix->cap : ix->n;
  const size_t want = cap * ((size_t)dims_for(ix->p.dim) + 2) * sizeof(float), have = omega__proj_bytes(ix->proj);
  return want > have ? want - have : 0;
}

/* Scoring a slot in full costs a scattered read of its vector, the GEMM path reads them in
 * order: the bounds pay off only when they leave a few percent of the slots. Unknown until
 * some queries have run. */
int omega__proj_verdict(const omega_proj_t *P) {
  const unsigned long long c = atomic_load(&P->considered), sc = atomic_load(&P->scored);
  if (c < 16 * (unsigned long long)(P->n ? P->n : 1))
    return -1;
  return sc * 50 < c; /* under 2% */
}

/* After it, b[0..want) hold the `want` smallest bounds (in no order): 3-way quickselect. */
static void select_smallest(bound_t *b, size_t m, size_t want) {
  size_t lo = 0, hi = m;
  while (hi - lo > 1) {
    const float x = b[lo].lb, y = b[lo + (hi - lo) / 2].lb, z = b[hi - 1].lb;
    const float piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    size_t lt = lo, i = lo, gt = hi;
    while (i < gt) {
      if (b[i].lb < piv) {
        bound_t t = b[lt];
        b[lt++] = b[i];
        b[i++] = t;
      } else if (b[i].lb > piv) {
        bound_t t = b[--gt];
        b[gt] = b[i];
        b[i] = t;
      } else {
        i++;
      }
    }
    if (want < lt)
      hi = lt;
    else if (want <= gt)
      return;
    else
      lo = gt;
  }
}

/* Orthonormalise the p columns of y[d][p] (modified Gram-Schmidt in double). */
static void orthonormalise(double *y, size_t d, int p) {
  for (int j = 0; j < p; j++) {
    for (int i = 0; i < j; i++) {
      double dot = 0;
      for (size_t r = 0; r < d; r++)
        dot += y[r * p + j] * y[r * p + i];
      for (size_t r = 0; r < d; r++)
        y[r * p + j] -= dot * y[r * p + i];
    }
    double nrm = 0;
    for (size_t r = 0; r < d; r++)
      nrm += y[r * p + j] * y[r * p + j];
    nrm = sqrt(nrm);
    for (size_t r = 0; r < d; r++)
      y[r * p + j] = nrm > 1e-300 ? y[r * p + j] / nrm : (r == (size_t)j ? 1.0 : 0.0);
  }
}

/* The basis: subspace iteration on a sample of (centred) rows, so the leading principal
 * directions hold most of each vector and the residual bound is tight. */
static int fit(const omega_vindex_t *ix, omega_proj_t *P) {
  const size_t d = ix->p.dim, s = ix->n < SAMPLE ? ix->n : SAMPLE;
  const int p = dims_for(d);
  const size_t step = ix->n / s;
  double *mean = omega__calloc(d, sizeof *mean);
  double *y = omega__malloc(d * (size_t)p * sizeof *y), *z = omega__malloc(s * (size_t)p * sizeof *z);
  double *xs = omega__malloc(s * d * sizeof *xs);
  P->basis = omega__malloc((size_t)p * d * sizeof *P->basis);
  P->mean = omega__calloc(d, sizeof *P->mean);
  int rc = 0;
  if (!mean || !y || !z || !xs || !P->basis || !P->mean) {
    rc = omega__seterr(OMEGA_ENOMEM, "flat index: out of memory for the projection");
    goto done;
  }
  if (ix->p.metric == OMEGA_METRIC_L2) {
    for (size_t i = 0; i < ix->n; i++)
      for (size_t j = 0; j < d; j++)
        mean[j] += ix->vecs[i * d + j];
    for (size_t j = 0; j < d; j++)
      mean[j] /= (double)ix->n;
  }
  for (size_t i = 0; i < s; i++)
    for (size_t j = 0; j < d; j++)
      xs[i * d + j] = (double)ix->vecs[i * step * d + j] - mean[j];
  uint64_t r = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < d * (size_t)p; i++) {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    y[i] = (double)(r >> 11) / 9007199254740992.0 - 0.5;
  }
  orthonormalise(y, d, p);
  for (int it = 0; it < ITERATIONS; it++) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s, p, (int)d, 1.0, xs, (int)d, y, p, 0.0, z, p);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, p, (int)s, 1.0, xs, (int)d, z, p, 0.0, y, p);
    orthonormalise(y, d, p);
  }
  for (int j = 0; j < p; j++)
    for (size_t i = 0; i < d; i++)
      P->basis[(size_t)j * d + i] = (float)y[i * (size_t)p + (size_t)j];
  for (size_t j = 0; j < d; j++)
    P->mean[j] = (float)mean[j];
  P->p = p;
done:
  omega__free(mean);
  omega__free(y);
  omega__free(z);
  omega__free(xs);
  if (rc) {
    omega__free(P->basis);
    omega__free(P->mean);
    P->basis = P->mean = NULL;
  }
  return rc;
}

/* Project slots [P->n, ix->n). */
static int extend(const omega_vindex_t *ix, omega_proj_t *P) {
  const size_t d = ix->p.dim, p = (size_t)P->p;
  if (ix->n > P->cap) {
    size_t cap = ix->cap > ix->n ? ix->cap : ix->n;
    float *px = omega__realloc(P->px, cap * p * sizeof *px);
    if (px)
      P->px = px;
    float *pn = px ? omega__realloc(P->pn, cap * sizeof *pn) : NULL;
    if (pn)
      P->pn = pn;
    float *rx = pn ? omega__realloc(P->rx, cap * sizeof *rx) : NULL;
    if (rx)
      P->rx = rx;
    if (!px || !pn || !rx)
      return omega__seterr(OMEGA_ENOMEM, "flat index: out of memory for the projection");
    P->cap = cap;
  }
  float *c = omega__malloc(ROW_BLOCK * d * sizeof *c);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "flat index: out of memory for the projection");
  for (size_t r0 = P->n; r0 < ix->n; r0 += ROW_BLOCK) {
    const size_t nr = ix->n - r0 < ROW_BLOCK ? ix->n - r0 : ROW_BLOCK;
    for (size_t i = 0; i < nr; i++)
      for (size_t j = 0; j < d; j++)
        c[i * d + j] = ix->vecs[(r0 + i) * d + j] - P->mean[j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)p, (int)d, 1.0f, c, (int)d, P->basis, (int)d,
                0.0f, P->px + r0 * p, (int)p);
    for (size_t i = 0; i < nr; i++) {
      double full = 0, part = 0;
      for (size_t j = 0; j < d; j++)
        full += (double)c[i * d + j] * c[i * d + j];
      for (size_t j = 0; j < p; j++)
        part += (double)P->px[(r0 + i) * p + j] * P->px[(r0 + i) * p + j];
      P->pn[r0 + i] = (float)part;
      P->rx[r0 + i] = (float)sqrt(full > part ? full - part : 0.0);
      if (full > P->max_c2)
        P->max_c2 = full;
    }
  }
  omega__free(c);
  P->n = ix->n;
  return 0;
}

int omega__proj_prepare(const omega_vindex_t *ix, omega_proj_t *P) {
  pthread_rwlock_rdlock(&P->lock);
  const bool ready = P->p && P->n == ix->n;
  pthread_rwlock_unlock(&P->lock);
  if (ready)
    return 0;
  pthread_rwlock_wrlock(&P->lock);
  int rc = 0;
  if (!P->p)
    rc = fit(ix, P);
  if (rc == 0 && P->n < ix->n)
    rc = extend(ix, P);
  pthread_rwlock_unlock(&P->lock);
  return rc;
}

/* Rounding margin of a bound: the float GEMM over p terms, the float norms, and the basis
 * being orthonormal only to float precision; generous on purpose (it only costs a few
 * more full distance computations). */
static double margin(const omega_vindex_t *ix, int p, double qc2, double max_c2) {
  return 8.0 * ((double)p + (double)ix->p.dim / 8.0 + 16.0) * (double)FLT_EPSILON * (qc2 + max_c2) + 1e-30;
}

static inline float full_dist(const omega_vindex_t *ix, const float *q, uint32_t s) {
  const float *v = ix->vecs + (size_t)s * ix->p.dim;
  return ix->p.metric == OMEGA_METRIC_L2 ? ix->simd->l2sq(q, v, ix->p.dim) : -ix->simd->dot(q, v, ix->p.dim);
}

static int cmp_bound(const void *a, const void *b) {
  const bound_t *x = a, *y = b;
  return x->lb < y->lb ? -1 : x->lb > y->lb;
}

/* Queries [0, nq) of one thread; the caller holds the read lock. */
static int search_range(const omega_vindex_t *ix, omega_proj_t *P, const float *qs, size_t nq, size_t k,
                        const omega_allow_t *allow, omega_hit_t *out, size_t *counts) {
  const size_t d = ix->p.dim, cap = k + OMEGA_RERANK_MARGIN;
  const size_t n = P->n < ix->n ? P->n : ix->n; /* slots past the projection: scored in full below */
  const int p = P->p;
  const bool l2 = ix->p.metric == OMEGA_METRIC_L2;
  float *qp = omega__malloc((size_t)Q_BLOCK * (size_t)p * sizeof *qp), *qc = omega__malloc((size_t)Q_BLOCK * d * sizeof *qc);
  float *s = omega__malloc((size_t)Q_BLOCK * ROW_BLOCK * sizeof *s);
  double *qn = omega__malloc(Q_BLOCK * sizeof *qn), *rq = omega__malloc(Q_BLOCK * sizeof *rq), *qc2 = omega__malloc(Q_BLOCK * sizeof *qc2);
  /* the bounds of a block of queries against every slot: about 32 MB at most */
  size_t qb = ((size_t)32 << 20) / ((n ? n : 1) * sizeof(bound_t));
  qb = qb < 1 ? 1 : qb > Q_BLOCK ? Q_BLOCK : qb;
  bound_t *all = omega__malloc(qb * (n ? n : 1) * sizeof *all);
  omega_heap_t h = {0};
  int rc = 0;
  if (!qp || !qc || !s || !qn || !rq || !qc2 || !all) {
    rc = OMEGA_ENOMEM;
    goto done;
  }
  size_t live = 0;
  for (uint32_t t = 0; t < ix->n && live <= cap; t++)
    live += omega__allowed(ix, allow, t);
  for (size_t q0 = 0; q0 < nq; q0 += qb) {
    const size_t nb = nq - q0 < qb ? nq - q0 : qb;
    for (size_t j = 0; j < nb; j++) {
      const float *q = qs + (q0 + j) * d;
      double c2 = 0;
      for (size_t i = 0; i < d; i++) {
        qc[j * d + i] = q[i] - P->mean[i];
        c2 += (double)qc[j * d + i] * qc[j * d + i];
      }
      qc2[j] = c2;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, p, (int)d, 1.0f, qc, (int)d, P->basis, (int)d, 0.0f,
                qp, p);
    for (size_t j = 0; j < nb; j++) {
      double part = 0;
      for (int i = 0; i < p; i++)
        part += (double)qp[j * (size_t)p + (size_t)i] * qp[j * (size_t)p + (size_t)i];
      qn[j] = part;
      rq[j] = sqrt(qc2[j] > part ? qc2[j] - part : 0.0);
    }
    /* bounds of every (query, slot) pair, as "lower is better" distances */
    for (size_t r0 = 0; r0 < n; r0 += ROW_BLOCK) {
      const size_t nr = n - r0 < ROW_BLOCK ? n - r0 : ROW_BLOCK;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nr, p, 1.0f, qp, p, P->px + r0 * (size_t)p,
                  p, 0.0f, s, (int)nr);
      for (size_t j = 0; j < nb; j++) {
        const float *row = s + j * nr;
        bound_t *o = all + j * n + r0;
        const float qnj = (float)qn[j], rqj = (float)rq[j];
        if (l2) {
          for (size_t i = 0; i < nr; i++) {
            const float dr = rqj - P->rx[r0 + i];
            o[i] = (bound_t){qnj + P->pn[r0 + i] - 2.0f * row[i] + dr * dr, (uint32_t)(r0 + i)};
          }
        } else {
          for (size_t i = 0; i < nr; i++)
            o[i] = (bound_t){-(row[i] + rqj * P->rx[r0 + i]), (uint32_t)(r0 + i)};
        }
      }
    }
    for (size_t j = 0; j < nb; j++) {
      const float *q = qs + (q0 + j) * d;
      bound_t *b = all + j * n;
      const double mg = margin(ix, p, qc2[j], P->max_c2);
      h.n = 0;
      /* the cap smallest bounds first: they give a tight threshold at once */
      size_t m = n;
      if (ix->n_dead || allow) {
        m = 0;
        for (size_t i = 0; i < n; i++)
          if (omega__allowed(ix, allow, b[i].slot))
            b[m++] = b[i];
      }
      const size_t first = m < cap * 4 ? m : cap * 4;
      if (first < m)
        select_smallest(b, m, first);
      qsort(b, first, sizeof *b, cmp_bound);
      for (size_t i = 0; i < first; i++)
        omega__heap_offer(&h, cap, full_dist(ix, q, b[i].slot), b[i].slot);
      /* then every slot whose bound, less the margin, is still below the worst kept */
      size_t scored = first;
      for (size_t i = first; i < m; i++) {
        if (h.n && h.n >= cap && (double)b[i].lb - mg > (double)h.v[0].dist)
          continue;
        scored++;
        omega__heap_offer(&h, cap, full_dist(ix, q, b[i].slot), b[i].slot);
      }
      atomic_fetch_add(&P->considered, m);
      atomic_fetch_add(&P->scored, scored);
      /* slots appended after the projection was made */
      for (uint32_t t = (uint32_t)n; t < ix->n; t++)
        if (omega__allowed(ix, allow, t))
          omega__heap_offer(&h, cap, full_dist(ix, q, t), t);
      counts[q0 + j] = omega__flat_rerank(ix, q, k, &h, live <= cap, allow, false, out + (q0 + j) * k);
    }
  }
done:
  omega__heap_free(&h);
  omega__free(qp);
  omega__free(qc);
  omega__free(s);
  omega__free(qn);
  omega__free(rq);
  omega__free(qc2);
  omega__free(all);
  return rc;
}

typedef struct {
  const omega_vindex_t *ix;
  omega_proj_t *P;
  const float *qs;
  size_t nq, k;
  const omega_allow_t *allow;
  omega_hit_t *out;
  size_t *counts;
  int rc;
} range_job_t;

static void *range_main(void *arg) {
  range_job_t *j = arg;
  j->rc = search_range(j->ix, j->P, j->qs, j->nq, j->k, j->allow, j->out, j->counts);
  return NULL;
}

int omega__proj_search(const omega_vindex_t *ix, omega_proj_t *P, const float *qs, size_t nq, size_t k,
                       const omega_allow_t *allow, omega_hit_t *out, size_t *counts) {
  /* After the bounds most of the work is per query: split the queries over the threads the
   * caller gave the BLAS library (the collection sets them from the search's thread count). */
  int T = openblas_get_num_threads();
  T = T < 1 ? 1 : T > 16 ? 16 : T;
  if ((size_t)T > nq / 8)
    T = nq / 8 > 1 ? (int)(nq / 8) : 1;
  pthread_rwlock_rdlock(&P->lock);
  range_job_t jobs[16];
  const size_t d = ix->p.dim, per = (nq + (size_t)T - 1) / (size_t)T;
  for (int t = 0; t < T; t++) {
    const size_t a = (size_t)t * per, b = a + per < nq ? a + per : nq;
    jobs[t] = (range_job_t){ix, P, qs + a * d, b > a ? b - a : 0, k, allow, out + a * k, counts + a, 0};
  }
  omega__run_jobs(range_main, jobs, sizeof jobs[0], (size_t)T);
  pthread_rwlock_unlock(&P->lock);
  int rc = 0;
  for (int t = 0; t < T; t++)
    rc = rc ? rc : jobs[t].rc;
  return rc;
}

/* Shared helpers of the index tests: a model of a collection's contents and the
 * double-precision brute force over it (what every exact search must return: same ids,
 * same order, ties broken by the smaller id), data sets, recall. Header-only: each test
 * program includes it once. */
#ifndef OMEGA_TEST_INDEX_REF_H
#define OMEGA_TEST_INDEX_REF_H

#include "testutil.h"

#include "index/exact.h"
#include "omega/omega.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- data ---- */

/* Uniform in [-1, 1). */
static inline float *gen_uniform(size_t n, size_t d, uint64_t seed) {
  float *v = malloc((n ? n : 1) * d * sizeof *v);
  assert_non_null(v);
  uint64_t s = seed;
  for (size_t i = 0; i < n * d; i++)
    v[i] = tu_randf(&s);
  return v;
}

/* Small integers in [-2, 2]: duplicates and exactly tied distances are everywhere, and
 * every float computation on them is exact. */
static inline float *gen_grid(size_t n, size_t d, uint64_t seed) {
  float *v = malloc((n ? n : 1) * d * sizeof *v);
  assert_non_null(v);
  uint64_t s = seed;
  for (size_t i = 0; i < n * d; i++)
    v[i] = (float)((int)(tu_rand(&s) % 5) - 2);
  return v;
}

/* nc clusters: centres uniform in [-1, 1), points at a spread of `spread` around them. */
static inline float *gen_clustered(size_t n, size_t d, size_t nc, float spread, uint64_t seed) {
  uint64_t s = seed;
  float *c = gen_uniform(nc, d, seed ^ 0x5555);
  float *v = malloc((n ? n : 1) * d * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) {
    const float *ci = c + (tu_rand(&s) % nc) * d;
    for (size_t j = 0; j < d; j++)
      v[i * d + j] = ci[j] + spread * (tu_randf(&s) + tu_randf(&s) + tu_randf(&s)) / 3.0f;
  }
  free(c);
  return v;
}

/* ---- the model ---- */

typedef struct {
  size_t dim;
  omega_metric_t metric;
  size_t n, cap;
  int64_t *ids;
  float *vecs; /* as the library stores them: cosine ones normalised in float */
} ref_model_t;

/* The library's normalisation, bit for bit: a double sum, one float factor. */
static inline void ref_normalize(float *v, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++)
    s += (double)v[i] * v[i];
  if (s > 0) {
    const float inv = (float)(1.0 / sqrt(s));
    for (size_t i = 0; i < d; i++)
      v[i] *= inv;
  }
}

static inline void ref_init(ref_model_t *m, size_t dim, omega_metric_t metric) {
  memset(m, 0, sizeof *m);
  m->dim = dim;
  m->metric = metric;
}

static inline void ref_free(ref_model_t *m) {
  free(m->ids);
  free(m->vecs);
  memset(m, 0, sizeof *m);
}

static inline ssize_t ref_find(const ref_model_t *m, int64_t id) {
  for (size_t i = 0; i < m->n; i++)
    if (m->ids[i] == id)
      return (ssize_t)i;
  return -1;
}

static inline void ref_upsert(ref_model_t *m, int64_t id, const float *vec) {
  ssize_t at = ref_find(m, id);
  if (at < 0) {
    if (m->n == m->cap) {
      m->cap = m->cap ? 2 * m->cap : 256;
      m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
      m->vecs = realloc(m->vecs, m->cap * m->dim * sizeof *m->vecs);
      assert_non_null(m->ids);
      assert_non_null(m->vecs);
    }
    at = (ssize_t)m->n++;
    m->ids[at] = id;
  }
  float *v = m->vecs + (size_t)at * m->dim;
  memcpy(v, vec, m->dim * sizeof *v);
  if (m->metric == OMEGA_METRIC_COSINE)
    ref_normalize(v, m->dim);
}

static inline bool ref_delete(ref_model_t *m, int64_t id) {
  ssize_t at = ref_find(m, id);
  if (at < 0)
    return false;
  m->n--;
  m->ids[at] = m->ids[m->n];
  memcpy(m->vecs + (size_t)at * m->dim, m->vecs + m->n * m->dim, m->dim * sizeof(float));
  return true;
}

/* Lower is better: squared L2, or the negated inner product, in double precision: the
 * library's one definition (test_flat checks it against values worked out by hand). */
static inline double ref_dist(const ref_model_t *m, const float *q, const float *x) {
  return omega__dist_f64(m->metric, q, x, m->dim);
}

typedef struct {
  double dist;
  int64_t id;
} ref_hit_t;

static inline int ref_cmp(const void *a, const void *b) {
  const ref_hit_t *x = a, *y = b;
  if (x->dist != y->dist)
    return x->dist < y->dist ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

static inline bool ref_in(const int64_t *set, size_t n, int64_t id) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == id)
      return true;
  return false;
}

static inline int ref_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The exact top k (by distance, then id) of the live ids (in `allow` when given). */
static inline size_t ref_search(const ref_model_t *m, const float *query, size_t k, const int64_t *allow,
                                size_t n_allow, ref_hit_t *out) {
  float *q = malloc(m->dim * sizeof *q);
  ref_hit_t *all = malloc((m->n ? m->n : 1) * sizeof *all);
  assert_non_null(q);
  assert_non_null(all);
  memcpy(q, query, m->dim * sizeof *q);
  if (m->metric == OMEGA_METRIC_COSINE)
    ref_normalize(q, m->dim);
  int64_t *sorted = NULL;
  if (allow) {
    sorted = malloc((n_allow ? n_allow : 1) * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, allow, n_allow * sizeof *sorted);
    qsort(sorted, n_allow, sizeof *sorted, ref_cmp_i64);
  }
  size_t c = 0;
  for (size_t i = 0; i < m->n; i++)
    if (!allow || bsearch(&m->ids[i], sorted, n_allow, sizeof *sorted, ref_cmp_i64))
      all[c++] = (ref_hit_t){ref_dist(m, q, m->vecs + i * m->dim), m->ids[i]};
  free(sorted);
  qsort(all, c, sizeof *all, ref_cmp);
  size_t r = c < k ? c : k;
  memcpy(out, all, r * sizeof *out);
  free(all);
  free(q);
  return r;
}

static inline double ref_score(const ref_model_t *m, double dist) { return m->metric == OMEGA_METRIC_L2 ? dist : -dist; }

/* The results of one query must be the reference's exactly: count, ids, order, scores.
 * (A failure leaves `want` allocated: fail_msg does not return.) */
static inline void expect_exact(const ref_model_t *m, const float *q, size_t k, const int64_t *allow, size_t n_allow,
                                const omega_result_t *got, size_t count, const char *what) {
  ref_hit_t *want = malloc((k ? k : 1) * sizeof *want);
  assert_non_null(want);
  size_t nw = ref_search(m, q, k, allow, n_allow, want);
  if (count != nw) {
    fail_msg("%s: %zu results, expected %zu", what, count, nw);
  }
  for (size_t i = 0; i < nw; i++) {
    if (got[i].is_str || got[i].num != want[i].id) {
      int64_t g = got[i].num, w = want[i].id;
      double wd = want[i].dist;
      float gs = got[i].score;
      fail_msg("%s: result %zu is id %lld (score %.9g), expected id %lld (distance %.9g)", what, i, (long long)g,
               (double)gs, (long long)w, wd);
    }
    double s = ref_score(m, want[i].dist);
    if (fabs((double)got[i].score - s) > 1e-6 * (1.0 + fabs(s))) {
      float gs = got[i].score;
      fail_msg("%s: result %zu has score %.9g, expected %.9g", what, i, (double)gs, s);
    }
  }
  free(want);
}

/* recall@k of approximate results against the reference. */
static inline double recall_of(const ref_model_t *m, const float *qs, size_t nq, size_t k, const int64_t *allow,
                               size_t n_allow, const omega_result_t *got, const size_t *counts) {
  ref_hit_t *want = malloc(k * sizeof *want);
  assert_non_null(want);
  size_t hit = 0, total = 0;
  for (size_t i = 0; i < nq; i++) {
    size_t nw = ref_search(m, qs + i * m->dim, k, allow, n_allow, want);
    total += nw;
    for (size_t a = 0; a < counts[i]; a++)
      for (size_t b = 0; b < nw; b++)
        if (!got[i * k + a].is_str && got[i * k + a].num == want[b].id) {
          hit++;
          break;
        }
  }
  free(want);
  return total ? (double)hit / (double)total : 1.0;
}

static inline omega_id_t int_id(int64_t v) { return (omega_id_t){0, v, NULL, 0}; }

/* Upsert rows with ids first_id.. into both the collection and the model. */
static inline void upsert_rows(omega_collection_t *c, ref_model_t *m, const float *vecs, size_t n, int64_t first_id,
                               int threads) {
  omega_id_t *ids = malloc((n ? n : 1) * sizeof *ids);
  assert_non_null(ids);
  for (size_t i = 0; i < n; i++)
    ids[i] = int_id(first_id + (int64_t)i);
  int rc = omega_collection_upsert(c, ids, vecs, n, threads);
  if (rc)
    fail_msg("upsert: %s", omega_errmsg());
  free(ids);
  if (m)
    for (size_t i = 0; i < n; i++)
      ref_upsert(m, first_id + (int64_t)i, vecs + i * m->dim);
}

static inline omega_collection_t *new_collection(size_t dim, omega_metric_t metric, omega_index_kind_t kind) {
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = dim;
  p.metric = metric;
  p.kind = kind;
  omega_collection_t *c = NULL;
  if (omega_collection_create("test", &p, NULL, &c))
    fail_msg("create: %s", omega_errmsg());
  return c;
}

#endif

/* The index's lifecycle and storage: parameters, slots and their growth, memory accounting,
 * the structures it owns over its vectors (HNSW graph, projection bounds, AMX tiles, half
 * copy), and which search a query goes to (flat_search.h or hnsw.h). */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/vecmath.h"
#include "index/flat_bf16.h"
#include "index/flat_proj.h"
#include "index/flat_search.h"
#include "index/hnsw.h"
#include "index/vindex.h"
#include "index/walk16.h"

#include <stdlib.h>
#include <string.h>

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
  return rc ? rc : omega__flat_bf16_create(&ix->b16);
}

void omega__vindex_free(omega_vindex_t *ix) {
  omega__free(ix->vecs);
  omega__free(ix->norms);
  omega__free(ix->dead);
  omega__hnsw_free(ix->g);
  omega__proj_free(ix->proj);
  omega__flat_bf16_free(ix->b16);
  omega__walk16_free(ix->w16);
  memset(ix, 0, sizeof *ix);
}

/* Reallocate to exactly `cap` slots. */
static int realloc_to(omega_vindex_t *ix, size_t cap) {
  const size_t d = ix->p.dim;
  if (cap > SIZE_MAX / sizeof(float) / d - 16)
    return omega__seterr(OMEGA_ENOMEM, "index: %zu vectors of dimension %zu do not fit in memory", cap, d);
  float *v = omega__aligned_alloc(64, ((cap * d * sizeof(float)) + 63) & ~(size_t)63);
  float *nr = omega__realloc(ix->norms, cap * sizeof *nr);
  if (nr)
    ix->norms = nr;
  uint8_t *dead = nr ? omega__realloc(ix->dead, cap) : NULL;
  if (dead)
    ix->dead = dead;
  if (!v || !nr || !dead) {
    omega__free(v);
    return omega__seterr(OMEGA_ENOMEM, "index: cannot grow to %zu vectors of dimension %zu", cap, d);
  }
  if (ix->n)
    memcpy(v, ix->vecs, ix->n * d * sizeof *v);
  omega__free(ix->vecs);
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
  return b + omega__flat_bf16_bytes_after(ix->b16, ix->n + n_more) +
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
  return omega__flat_bf16_bytes(ix->b16) + omega__walk16_bytes(ix->w16);
}

size_t omega__vindex_copy_bytes_to_build(const omega_vindex_t *ix) {
  if (omega__vindex_copy_bytes(ix))
    return 0;
  if (ix->b16)
    return omega__flat_bf16_bytes_to_build(ix);
  return ix->w16 ? omega__walk16_bytes_to_build(ix) : 0;
}

int omega__vindex_prepare_copy(const omega_vindex_t *ix) {
  if (omega__flat_bf16_mode(ix))
    return omega__flat_bf16_prepare(ix, ix->b16);
  if (ix->g && ix->n)
    return omega__hnsw_warm(ix);
  return 0;
}

/* ---- dispatch ---- */

size_t omega__vindex_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                            omega_hit_t *out) {
  if (k == 0 || ix->n == 0)
    return 0;
  /* a small allow-list is searched exactly: a graph walk would rarely meet its members */
  bool small_filter = allow && allow->count <= 4096;
  if (!ix->g || small_filter)
    return omega__flat_search(ix, q, k, allow, out);
  return omega__hnsw_search(ix, q, k, ef ? ef : ix->p.ef_search, allow, out);
}

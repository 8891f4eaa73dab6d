/* A collection's searches: which path answers a set of queries (the GPU mirror, GEMM blocks
 * for many exact queries, or one search per query), the allow-list as slots, results as
 * external ids, and the fan-out over the caller's threads. Under the read lock. */
#include "index/collection_internal.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/parallel.h"
#include "index/flat_bf16.h"
#include "index/flat_proj.h"
#include "index/flat_search.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Threads one search fans out to at most (more are asked for; this many are used). */
#define SEARCH_THREADS_MAX 64

static void fill_results(omega_collection_t *c, const omega_hit_t *hits, size_t n, omega_result_t *out) {
  for (size_t i = 0; i < n && n != OMEGA_SEARCH_NOMEM; i++) {
    size_t kl;
    const unsigned char *key = omega__idmap_key(&c->ids, hits[i].slot, &kl);
    omega__key_to_result(key, kl, &out[i]);
    out[i].score = omega__score(&c->ix, hits[i].dist);
  }
}

/* The allowed ids as a bitset over slots (ids not in the collection drop out); *bits is the
 * caller's to free. */
static int allow_slots(omega_collection_t *c, const omega_search_opts_t *o, omega_allow_t *allow, uint8_t **bits_out) {
  uint8_t *bits = omega__calloc(c->ix.n / 8 + 1, 1);
  if (!bits)
    return omega__seterr(OMEGA_ENOMEM, "search: out of memory");
  for (size_t i = 0; i < o->n_allow; i++) {
    unsigned char key[OMEGA_KEY_MAX];
    size_t kl = omega__id_key(&o->allow[i], key);
    uint32_t s = kl ? omega__idmap_get(&c->ids, key, kl) : UINT32_MAX;
    if (s != UINT32_MAX && !(bits[s >> 3] >> (s & 7) & 1)) {
      bits[s >> 3] |= (uint8_t)(1u << (s & 7));
      allow->count++;
    }
  }
  allow->bits = *bits_out = bits;
  return 0;
}

/* gpu_flat: exact on the GPU. False on any failure (or no GPU), counted, for the CPU paths. */
static bool search_gpu(omega_collection_t *c, const float *qs, size_t nq, size_t k, const omega_allow_t *allow,
                       omega_result_t *out, size_t *counts) {
  const size_t d = c->ix.p.dim;
  float *prep = omega__malloc(nq * d * sizeof *prep);
  omega_hit_t *hits = omega__malloc(nq * k * sizeof *hits);
  int grc = prep && hits ? 0 : OMEGA_ENOMEM;
  for (size_t i = 0; grc == 0 && i < nq; i++)
    omega__vindex_prepare_query(&c->ix, qs + i * d, prep + i * d);
  if (grc == 0)
    grc = omega__gpu_flat_search(c->gpu, &c->ix, prep, nq, k, allow, hits, counts);
  if (grc == 0) {
    for (size_t i = 0; i < nq; i++)
      fill_results(c, hits + i * k, counts[i], out + i * k);
  } else {
    omega__gpu_flat_count(c->gpu, nq, grc == OMEGA_EDEVICE); /* a GPU failure, or no GPU / k too large */
    memset(counts, 0, nq * sizeof *counts);
  }
  omega__free(prep);
  omega__free(hits);
  return grc == 0;
}

typedef struct {
  const omega_vindex_t *ix;
  const float *qs;
  size_t nq, k;
  omega_hit_t *hits;
  size_t *counts;
} batch_part_t;

static void *batch_part(void *arg) {
  const batch_part_t *b = arg;
  (void)omega__flat_search_batch(b->ix, b->qs, b->nq, b->k, b->hits, b->counts);
  return NULL;
}

/* The queries split into `threads` contiguous shares of whole 64-query blocks. */
static void batch_threads(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, int threads,
                          omega_hit_t *hits, size_t *counts) {
  const size_t d = ix->p.dim;
  size_t parts = threads < SEARCH_THREADS_MAX ? (size_t)threads : SEARCH_THREADS_MAX;
  size_t per = (nq + parts - 1) / parts;
  per = (per + 63) / 64 * 64;
  batch_part_t b[SEARCH_THREADS_MAX];
  size_t n = 0;
  for (size_t q0 = 0; q0 < nq; q0 += per, n++)
    b[n] = (batch_part_t){ix, qs + q0 * d, nq - q0 < per ? nq - q0 : per, k, hits + q0 * k, counts + q0};
  omega__run_jobs(batch_part, b, sizeof b[0], n);
}

/* Many exact queries, no filter: GEMM blocks. */
static int search_batch(omega_collection_t *c, const float *qs, size_t nq, size_t k, const omega_search_opts_t *o,
                        int threads, omega_result_t *out, size_t *counts) {
  const size_t d = c->ix.p.dim;
  float *prep = omega__malloc(nq * d * sizeof *prep);
  omega_hit_t *hits = omega__malloc(nq * k * sizeof *hits);
  int rc = 0;
  if (!prep || !hits) {
    rc = omega__seterr(OMEGA_ENOMEM, "search: out of memory for %zu queries", nq);
  } else {
    for (size_t i = 0; i < nq; i++)
      omega__vindex_prepare_query(&c->ix, qs + i * d, prep + i * d);
    if (omega__flat_bf16_mode(&c->ix)) {
      /* bf16 scores (Omega's kernels): Omega's threads, each on a share of the queries */
      batch_threads(&c->ix, prep, nq, k, threads, hits, counts);
    } else {
      /* the BLAS library's threads; their count is process-wide (the embedding engine's
       * GEMMs use it too): change it only when the caller asks for a number */
      if (o->threads > 0)
        openblas_set_num_threads(threads);
      (void)omega__flat_search_batch(&c->ix, prep, nq, k, hits, counts);
    }
    for (size_t i = 0; i < nq; i++)
      fill_results(c, hits + i * k, counts[i], out + i * k);
  }
  omega__free(prep);
  omega__free(hits);
  return rc;
}

/* One search per query: workers take the next query until none is left. */
typedef struct {
  omega_collection_t *c;
  const float *qs;
  size_t nq, k, ef;
  const omega_allow_t *allow;
  omega_result_t *out;
  size_t *counts;
  atomic_size_t next;
} search_job_t;

static void *search_worker(void *arg) {
  search_job_t *j = arg;
  const size_t d = j->c->ix.p.dim;
  float *q = omega__malloc(d * sizeof *q);
  omega_hit_t *hits = omega__malloc(j->k * sizeof *hits);
  for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->nq;) {
    if (!q || !hits) {
      j->counts[i] = OMEGA_SEARCH_NOMEM;
      continue;
    }
    omega__vindex_prepare_query(&j->c->ix, j->qs + i * d, q);
    size_t n = omega__vindex_search(&j->c->ix, q, j->k, j->ef, j->allow, hits);
    fill_results(j->c, hits, n, j->out + i * j->k);
    j->counts[i] = n;
  }
  omega__free(q);
  omega__free(hits);
  return NULL;
}

static void search_each(omega_collection_t *c, const float *qs, size_t nq, size_t k, size_t ef,
                        const omega_allow_t *allow, int threads, omega_result_t *out, size_t *counts) {
  search_job_t j = {.c = c, .qs = qs, .nq = nq, .k = k, .ef = ef, .allow = allow, .out = out, .counts = counts};
  atomic_init(&j.next, 0);
  size_t n = threads < SEARCH_THREADS_MAX ? (size_t)threads : SEARCH_THREADS_MAX;
  omega__run_workers(search_worker, &j, n < nq ? n : nq);
}

int omega_collection_search(omega_collection_t *c, const float *qs, size_t nq, const omega_search_opts_t *o,
                            omega_result_t *out, size_t *counts) {
  const size_t d = c->ix.p.dim, k = o->k;
  if (k == 0 || k > 10000)
    return omega__seterr(OMEGA_EINVAL, "k must be in [1, 10000]");
  for (size_t i = 0; i < nq; i++) {
    int rc = omega__check_vector(qs + i * d, d, "query", i, NULL);
    if (rc)
      return rc;
  }
  pthread_rwlock_rdlock(&c->lock);
  omega_allow_t allow_set = {0}, *allow = NULL;
  uint8_t *bits = NULL;
  int rc = 0;
  if (o->allow) {
    if ((rc = allow_slots(c, o, &allow_set, &bits))) {
      pthread_rwlock_unlock(&c->lock);
      return rc;
    }
    allow = &allow_set;
  }
  const int threads = o->threads > 0 ? o->threads : 1;
  memset(counts, 0, nq * sizeof *counts);
  const bool flat = c->ix.p.kind == OMEGA_INDEX_FLAT || c->ix.p.kind == OMEGA_INDEX_GPU_FLAT;
  const bool done = c->gpu && search_gpu(c, qs, nq, k, allow, out, counts);
  if (!done && flat && !allow && nq >= 8)
    rc = search_batch(c, qs, nq, k, o, threads, out, counts);
  else if (!done)
    search_each(c, qs, nq, k, o->ef, allow, threads, out, counts);
  pthread_rwlock_unlock(&c->lock);
  omega__free(bits);
  for (size_t i = 0; i < nq && rc == 0; i++)
    if (counts[i] == OMEGA_SEARCH_NOMEM)
      rc = omega__seterr(OMEGA_ENOMEM, "search: out of memory");
  return rc;
}

int omega_collection_warm(omega_collection_t *c) {
  pthread_rwlock_rdlock(&c->lock);
  int rc = 0;
  if (omega__proj_allowed(&c->ix))
    rc = omega__proj_prepare(&c->ix, c->ix.proj);
  if (rc == 0)
    rc = omega__vindex_prepare_copy(&c->ix);
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

/* A vector index over internal slots 0..n-1: flat (exact) or HNSW (graph). Vectors are
 * stored contiguously (cosine ones normalised at insert); deleted slots are tombstones
 * until the collection compacts. Distances are "lower is better": squared L2, or the
 * negated inner product (IP, and cosine on normalised vectors). */
#ifndef OMEGA_INDEX_VINDEX_H
#define OMEGA_INDEX_VINDEX_H

#include "index/simd.h"
#include "omega/index.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct omega_hnsw omega_hnsw_t;

/* Order of two slots whose exact distances tie: negative when a goes first. */
typedef int (*omega_tie_fn)(const void *ctx, uint32_t a, uint32_t b);

typedef struct {
  omega_index_params_t p;
  const omega_simd_t *simd;
  size_t n, cap;
  float *vecs;   /* [cap][dim], 64-byte aligned */
  float *norms;  /* squared norms per slot (L2: the GEMM path) */
  uint8_t *dead; /* tombstones */
  size_t n_dead;
  double max_norm2; /* at least every slot's squared norm: bounds the float error of slots not seen */
  omega_hnsw_t *g;  /* NULL for flat */
  /* exact ties are broken by this order (a collection: the smaller external id); NULL: slot */
  omega_tie_fn tie;
  const void *tie_ctx;
  struct omega_proj *proj; /* flat: projection bounds of the exact search (flat_proj.h), built on demand */
  struct omega_flat_amx *amx; /* flat: the vectors in AMX tile layout for batch GEMMs (flat_amx.h), on demand */
  struct omega_walk16 *w16;   /* HNSW: the vectors in half precision for query walks (walk16.h), on demand */
  bool copy_off; /* the owner's memory limit leaves no room to build amx or w16 (set under its write lock) */
  bool proj_off; /* nor to build or extend proj (flat_search then scores every vector) */
} omega_vindex_t;

/* A candidate result: internal slot and distance (lower is better). */
typedef struct {
  float dist;
  uint32_t slot;
} omega_hit_t;

/* Slots a search may return (NULL: all live ones). */
typedef struct {
  const uint8_t *bits; /* bitset over slots */
  size_t count;        /* set bits, to choose exact search for small sets */
} omega_allow_t;

int omega__vindex_init(omega_vindex_t *ix, const omega_index_params_t *p);
void omega__vindex_free(omega_vindex_t *ix);
/* Append n vectors as slots ix->n .. ix->n+n-1 (normalised for cosine). HNSW links them with
 * `threads` threads; progress(done, total, user) is called now and then when given. */
int omega__vindex_add(omega_vindex_t *ix, const float *vecs, size_t n, int threads,
                      void (*progress)(size_t done, size_t total, void *user), void *user);
/* The same for vectors already in stored form (cosine: normalised), e.g. copied out of
 * another index by a compaction: stored as they are. */
int omega__vindex_add_stored(omega_vindex_t *ix, const float *vecs, size_t n, int threads);
/* Room for exactly `cap` slots (no growth margin); never shrinks. */
int omega__vindex_reserve(omega_vindex_t *ix, size_t cap);
/* The capacity an add that needs `need` slots grows to (ix->cap when it fits). */
size_t omega__vindex_grow_cap(const omega_vindex_t *ix, size_t need);
/* What omega__vindex_bytes would report with capacity `cap` once `n_more` more slots are
 * added (HNSW: their upper levels are drawn from the seed, so this is exact). */
size_t omega__vindex_bytes_after(const omega_vindex_t *ix, size_t cap, size_t n_more);
void omega__vindex_delete(omega_vindex_t *ix, uint32_t slot);
/* The count a search returns when it ran out of memory (it found nothing). */
#define OMEGA_SEARCH_NOMEM (SIZE_MAX - 1)
/* k best live (and allowed) slots for one query, best first; returns how many were found,
 * or OMEGA_SEARCH_NOMEM (so do the other searches below, count by count). */
size_t omega__vindex_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                            omega_hit_t *out);
/* Exact search of many queries at once (flat: GEMM blocks), results [nq][k]; counts per query. */
void omega__flat_search_batch(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, omega_hit_t *out,
                              size_t *counts);
/* The score shown to users for a distance: L2 -> squared distance, IP/cosine -> similarity. */
float omega__score(const omega_vindex_t *ix, float dist);
size_t omega__vindex_bytes(const omega_vindex_t *ix);
/* The copy of the vectors an index builds on demand (flat: amx; HNSW: w16): the bytes it
 * holds, what building it now would take, and building it (warm-up). */
size_t omega__vindex_copy_bytes(const omega_vindex_t *ix);
size_t omega__vindex_copy_bytes_to_build(const omega_vindex_t *ix);
int omega__vindex_prepare_copy(const omega_vindex_t *ix);
/* Prepare a query: copy, normalised for cosine. */
void omega__vindex_prepare_query(const omega_vindex_t *ix, const float *q, float *out);

/* Exact brute force in double precision over the live (and allowed) slots: the reference
 * every search path is tested against, and the last resort of the exact paths. */
size_t omega__vindex_search_exact(const omega_vindex_t *ix, const float *q, size_t k, const omega_allow_t *allow,
                                  omega_hit_t *out);

/* HNSW internals (hnsw.c). */
int omega__hnsw_create(omega_vindex_t *ix);
void omega__hnsw_free(omega_hnsw_t *g);
int omega__hnsw_reserve(omega_vindex_t *ix, size_t cap);
int omega__hnsw_insert_range(omega_vindex_t *ix, size_t from, size_t to, int threads,
                             void (*progress)(size_t, size_t, void *), void *user);
size_t omega__hnsw_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                          omega_hit_t *out);
size_t omega__hnsw_bytes(const omega_hnsw_t *g);
/* Bytes of the node-count-proportional part per slot of capacity, and of the upper-level
 * lists that slots from..to-1 will get. */
size_t omega__hnsw_bytes_per_slot(const omega_hnsw_t *g);
size_t omega__hnsw_upper_bytes(const omega_vindex_t *ix, size_t from, size_t to);
size_t omega__hnsw_upper_bytes_now(const omega_hnsw_t *g);
size_t omega__hnsw_cap(const omega_hnsw_t *g);
/* The graph as bytes for the snapshot (malloc'ed), and back (validated). */
int omega__hnsw_serialize(const omega_vindex_t *ix, unsigned char **out, size_t *len);
int omega__hnsw_read(omega_vindex_t *ix, const unsigned char *data, size_t len);

#endif

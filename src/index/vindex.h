/* A vector index over internal slots 0..n-1: flat (exact) or HNSW (graph), on the store of
 * store.h. Deleted slots are tombstones until the collection compacts. The lifecycle and
 * the one search entry; the searches themselves are flat_search.h and hnsw.h, their
 * exactness exact.h. */
#ifndef OMEGA_INDEX_VINDEX_H
#define OMEGA_INDEX_VINDEX_H

#include "index/store.h"

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
/* k best live (and allowed) slots for one query, best first; returns how many were found,
 * or OMEGA_SEARCH_NOMEM (store.h; so do the other searches, count by count). */
size_t omega__vindex_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                            omega_hit_t *out);
/* The score shown to users for a distance: L2 -> squared distance, IP/cosine -> similarity. */
float omega__score(const omega_vindex_t *ix, float dist);
size_t omega__vindex_bytes(const omega_vindex_t *ix);
/* The copy of the vectors an index builds on demand (flat: amx; HNSW: w16): the bytes it
 * holds, what building it now would take, and building it (warm-up). */
size_t omega__vindex_copy_bytes(const omega_vindex_t *ix);
size_t omega__vindex_copy_bytes_to_build(const omega_vindex_t *ix);
/* ... and for HNSW, the search structures a first search would otherwise set up (omega__hnsw_warm). */
int omega__vindex_prepare_copy(const omega_vindex_t *ix);
/* Prepare a query: copy, normalised for cosine. */
void omega__vindex_prepare_query(const omega_vindex_t *ix, const float *q, float *out);

#endif

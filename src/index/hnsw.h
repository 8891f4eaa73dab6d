/* HNSW internals (hnsw.c): the graph over a store's slots, created and grown by vindex.c. */
#ifndef OMEGA_INDEX_HNSW_H
#define OMEGA_INDEX_HNSW_H

#include "index/store.h"

int omega__hnsw_create(omega_vindex_t *ix);
void omega__hnsw_free(omega_hnsw_t *g);
int omega__hnsw_reserve(omega_vindex_t *ix, size_t cap);
int omega__hnsw_insert_range(omega_vindex_t *ix, size_t from, size_t to, int threads,
                             void (*progress)(size_t, size_t, void *), void *user);
size_t omega__hnsw_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                          omega_hit_t *out);
/* Set up what a first search would otherwise build inside its own time: the half-precision
 * copy of the slots added since (when it is in use) and a visited set for every slot, its
 * pages touched and its heaps sized for the default beam. */
int omega__hnsw_warm(const omega_vindex_t *ix);
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

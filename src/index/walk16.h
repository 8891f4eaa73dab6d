/* HNSW queries walk the graph over a second copy of the vectors in IEEE half precision. A
 * walk is bound by the bytes it reads (the vector of every node it meets), and half the
 * bytes walk faster. The copy is scaled by a power of two that puts the largest magnitude
 * near the top of the half range (no overflow, no early underflow); the scale is exact and is
 * applied to the queries too, so distances keep their order up to the half rounding. The
 * beam's finalists are measured again in fp32, so returned distances are exact. Built on
 * demand by the first query (warm builds it too); its bytes count in the index's. */
#ifndef OMEGA_INDEX_WALK16_H
#define OMEGA_INDEX_WALK16_H

#include "index/store.h"

typedef struct omega_walk16 omega_walk16_t;

int omega__walk16_create(omega_walk16_t **out);
void omega__walk16_free(omega_walk16_t *w);
size_t omega__walk16_bytes(const omega_walk16_t *w);
/* What it would take once the vectors have room for cap slots (0 while it is not built). */
size_t omega__walk16_bytes_after(const omega_walk16_t *w, size_t dim, size_t cap);
/* What building it now would take. */
size_t omega__walk16_bytes_to_build(const omega_vindex_t *ix);
/* An HNSW index whose distance kernels read half precision (OMEGA_SIMD avx512 or amx), and
 * whose owner has not ruled the copy out (ix->copy_off). */
bool omega__walk16_useful(const omega_vindex_t *ix);
/* Convert the slots added since the last call (callers may race: it locks). */
int omega__walk16_prepare(const omega_vindex_t *ix, omega_walk16_t *w);
/* Hold the copy steady for one walk: its rows [n][dim] and scale. */
const uint16_t *omega__walk16_acquire(omega_walk16_t *w, float *scale);
void omega__walk16_release(omega_walk16_t *w);

#endif

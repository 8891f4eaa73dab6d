/* Projection bounds for exact flat search. Every vector x is split into P x (its
 * coordinates in a p-dimensional subspace close to the data's principal directions) and a
 * residual of norm r_x. Since P has orthonormal rows,
 *   |q - x|^2 >= |Pq - Px|^2 + (r_q - r_x)^2        (L2, P applied to x - mean)
 *   q . x     <= Pq . Px + r_q r_x                   (inner product, no centring)
 * so a p-dimensional GEMM gives a lower bound of every distance at a fraction of the full
 * cost, and only the vectors whose bound (less its rounding margin) beats the k-th best
 * distance found so far are scored in full. The results stay exactly those of the brute
 * force: the candidates go through the same double-precision re-rank and proof. */
#ifndef OMEGA_INDEX_FLAT_PROJ_H
#define OMEGA_INDEX_FLAT_PROJ_H

#include "index/store.h"

typedef struct omega_proj omega_proj_t;

int omega__proj_create(omega_proj_t **out);
void omega__proj_free(omega_proj_t *p);
size_t omega__proj_bytes(const omega_proj_t *p);
/* What building or extending the projection to the index's capacity would add to
 * omega__proj_bytes (0: not useful here, or already there). Not concurrent with prepare. */
size_t omega__proj_bytes_to_build(const omega_vindex_t *ix);
/* Whether the bound search pays for this index (enough vectors and dimensions). */
bool omega__proj_useful(const omega_vindex_t *ix);
/* Useful, and the owner's memory limit lets it be built (ix->proj_off). */
bool omega__proj_allowed(const omega_vindex_t *ix);
/* 1 when the bounds prune well on this data, 0 when the plain GEMM path is faster, -1 not
 * known yet (too few queries measured). */
int omega__proj_verdict(const omega_proj_t *p);
/* Build or extend the projection to the index's current slots (callers may race: it locks). */
int omega__proj_prepare(const omega_vindex_t *ix, omega_proj_t *p);
/* Exact search of nq queries through the bounds; 0 on success, else the caller uses the
 * plain paths (out of memory). */
int omega__proj_search(const omega_vindex_t *ix, omega_proj_t *p, const float *qs, size_t nq, size_t k,
                       const omega_allow_t *allow, omega_hit_t *out, size_t *counts);

#endif

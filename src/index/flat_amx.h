/* The flat index's batch GEMM on AMX tiles: the vectors kept a second time, split into a high
 * and a low bf16 part (x = hi + lo to 16 significant bits) in the tile layout of the CPU
 * backend's packed weights, and scored against query blocks with three bf16 products
 * (hi.hi + lo.hi + hi.lo, fp32 accumulation). Each dot product is then within a proven bound
 * of the exact one (omega__flat_amx_unit), so the candidates go through the same
 * double-precision re-rank and proof as the fp32 GEMM's and the results stay exactly those of
 * the brute force. Built on demand by the first batch search; its bytes count in the index's. */
#ifndef OMEGA_INDEX_FLAT_AMX_H
#define OMEGA_INDEX_FLAT_AMX_H

#include "index/store.h"

typedef struct omega_flat_amx omega_flat_amx_t;

int omega__flat_amx_create(omega_flat_amx_t **out);
void omega__flat_amx_free(omega_flat_amx_t *a);
size_t omega__flat_amx_bytes(const omega_flat_amx_t *a);
/* What it would take once the index holds n slots (0 while it is not built). */
size_t omega__flat_amx_bytes_after(const omega_flat_amx_t *a, size_t n);
/* What building it now would take. */
size_t omega__flat_amx_bytes_to_build(const omega_vindex_t *ix);
/* Whether this CPU has AMX (OMEGA_CPU_ISA and OMEGA_SIMD allow it), the index has at least
 * 32 dimensions, and its owner has not ruled the copy out (ix->copy_off). */
bool omega__flat_amx_useful(const omega_vindex_t *ix);
/* Pack the slots added since the last call (callers may race: it locks). */
int omega__flat_amx_prepare(const omega_vindex_t *ix, omega_flat_amx_t *a);
/* Hold the packed vectors steady while scoring (a concurrent prepare waits). */
void omega__flat_amx_read_lock(omega_flat_amx_t *a);
void omega__flat_amx_read_unlock(omega_flat_amx_t *a);
/* Queries split once for many row blocks: hi and lo parts, rows padded to 16. */
typedef struct {
  size_t nq;
  uint16_t *hi, *lo;
} omega_amx_queries_t;
int omega__flat_amx_queries(const omega_vindex_t *ix, const float *qs, size_t nq, omega_amx_queries_t *out);
void omega__flat_amx_queries_free(omega_amx_queries_t *q);
/* scores[j][i] ~ q_(q0+j) . x_(r0+i) for queries [q0, q0 + nb) of qa (q0 a multiple of 16)
 * and rows [r0, r0 + nr) (r0 a multiple of 16, every row prepared). */
void omega__flat_amx_scores(const omega_flat_amx_t *a, const omega_amx_queries_t *qa, size_t q0, size_t nb,
                            size_t r0, size_t nr, float *scores);
/* u such that |score - q.x| <= u |q| |x| for every score above. */
double omega__flat_amx_unit(const omega_vindex_t *ix);

#endif

/* The GPU flat index: a VRAM mirror of a flat index's vectors (the CUDA plugin's flat
 * index), searched exactly: the GPU proposes candidates, the CPU re-ranks them in double
 * precision and proves with a rounding-error bound that nothing outside them can be in the
 * top k, else that query runs on the CPU. Any GPU failure (or no GPU) leaves the caller
 * to run the same query on the CPU flat path; the routes are counted. */
#ifndef OMEGA_INDEX_GPU_FLAT_H
#define OMEGA_INDEX_GPU_FLAT_H

#include "index/store.h"

typedef struct omega_gpu_flat omega_gpu_flat_t;

typedef struct {
  int active;         /* a GPU (or the simulated device) holds the mirror */
  char reason[256];   /* why not, or the last failure */
  unsigned long long gpu_queries, cpu_queries, fallback_queries;
  size_t gpu_bytes;
} omega_gpu_flat_stats_t;

/* Never fails for want of a GPU: the index then serves on the CPU (route cpu). */
int omega__gpu_flat_create(const omega_vindex_t *ix, omega_gpu_flat_t **out);
void omega__gpu_flat_free(omega_gpu_flat_t *g);
/* The vectors changed other than by appending (a compaction): rebuild the mirror lazily. */
void omega__gpu_flat_reset(omega_gpu_flat_t *g);
/* Exact search of nq prepared queries. Returns 0 when every query was answered (on the
 * GPU, or on the CPU where the GPU's candidates could not be proven complete); non-zero
 * when the GPU could not serve, and then the caller searches on the CPU and reports it with
 * omega__gpu_flat_count. */
int omega__gpu_flat_search(omega_gpu_flat_t *g, const omega_vindex_t *ix, const float *prep, size_t nq, size_t k,
                           const omega_allow_t *allow, omega_hit_t *out, size_t *counts);
/* Queries the caller served on the CPU: fallback (the GPU failed) or cpu (no GPU, k too large). */
void omega__gpu_flat_count(omega_gpu_flat_t *g, size_t nq, int fallback);
void omega__gpu_flat_stats(omega_gpu_flat_t *g, omega_gpu_flat_stats_t *st);

#endif

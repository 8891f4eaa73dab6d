/* The vector store every part of an index works on: slots 0..n-1 of contiguous vectors
 * (cosine ones normalised at insert), tombstones, and the structures built over them. Parts
 * that read it (exact.h, flat_proj.h, flat_bf16.h, walk16.h, hnsw.h) include this header only;
 * its lifecycle (vindex.h) sits above them and owns them. Distances are "lower is better":
 * squared L2, or the negated inner product (IP, and cosine on normalised vectors). */
#ifndef OMEGA_INDEX_STORE_H
#define OMEGA_INDEX_STORE_H

#include "index/simd.h"
#include "omega/index.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
  struct omega_flat_bf16 *b16; /* flat: the vectors in bf16 panels for batch GEMMs (flat_bf16.h), on demand */
  struct omega_walk16 *w16;   /* HNSW: the vectors in half precision for query walks (walk16.h), on demand */
  bool copy_off; /* the owner's memory limit leaves no room to build b16 or w16 (set under its write lock) */
  bool proj_off; /* nor to build or extend proj (flat_search then scores every vector) */
} omega_vindex_t;

/* A candidate result: internal slot and distance (lower is better). */
typedef struct {
  float dist;
  uint32_t slot;
} omega_hit_t;

/* The count a search returns when it ran out of memory (it found nothing). */
#define OMEGA_SEARCH_NOMEM (SIZE_MAX - 1)

/* Slots a search may return (NULL: all live ones). */
typedef struct {
  const uint8_t *bits; /* bitset over slots */
  size_t count;        /* set bits, to choose exact search for small sets */
} omega_allow_t;

/* Slot s is live and (with an allow-list) allowed. */
static inline bool omega__allowed(const omega_vindex_t *ix, const omega_allow_t *a, uint32_t s) {
  return !ix->dead[s] && (!a || (a->bits[s >> 3] >> (s & 7) & 1));
}

#endif

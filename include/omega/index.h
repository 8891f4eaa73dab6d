/* Vector search: collections of vectors with external ids, exact (flat) or HNSW indices,
 * crash-safe persistence (snapshot + write-ahead log). */
#ifndef OMEGA_INDEX_H
#define OMEGA_INDEX_H

#include "omega/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OMEGA_METRIC_L2 = 0, OMEGA_METRIC_IP = 1, OMEGA_METRIC_COSINE = 2 } omega_metric_t;
typedef enum { OMEGA_INDEX_FLAT = 0, OMEGA_INDEX_HNSW = 1, OMEGA_INDEX_GPU_FLAT = 2 } omega_index_kind_t;

typedef struct {
  size_t dim;
  omega_metric_t metric;
  omega_index_kind_t kind;
  size_t m;               /* HNSW links per node (level 0 has 2m); default 16 */
  size_t ef_construction; /* HNSW build beam; default 200 */
  size_t ef_search;       /* HNSW default search beam; default 64 */
  uint64_t seed;          /* HNSW level draws; default 42 */
} omega_index_params_t;

OMEGA_API void omega_index_params_init(omega_index_params_t *p);
OMEGA_API const char *omega_metric_name(omega_metric_t m);
OMEGA_API const char *omega_index_kind_name(omega_index_kind_t k);
/* "l2" / "ip" / "cosine" and "flat" / "hnsw" / "gpu_flat"; 0 or OMEGA_EINVAL. */
OMEGA_API int omega_metric_parse(const char *s, omega_metric_t *out);
OMEGA_API int omega_index_kind_parse(const char *s, omega_index_kind_t *out);

/* The largest Euclidean norm a stored vector or a query may have. With |x|, |q| <= 1e18
 * every quantity the index computes in float32 is at most (|q| + |x|)^2 <= 4e36, far below
 * FLT_MAX (3.4e38) even with rounding: squared norms, dot products, squared L2 distances
 * (also in the GEMM form |q|^2 + |x|^2 - 2 q.x), cosine normalisation. Past it a distance
 * could overflow to infinity and rank arbitrarily, so upserts and searches refuse it. */
#define OMEGA_VECTOR_NORM_MAX 1e18

/* An external id: a 64-bit integer or a string (1-256 bytes). */
#define OMEGA_ID_MAX 256
typedef struct {
  int is_str;
  int64_t num;
  const char *str;
  size_t len;
} omega_id_t;

typedef struct {
  const char *dir;            /* persistence folder; NULL: in memory only */
  int fsync_always;           /* fsync the log before every acknowledgement */
  unsigned fsync_interval_ms; /* otherwise: fsync in the background this often (0: never) */
  size_t memory_limit;        /* bytes the collection may use; 0: no limit */
  size_t wal_checkpoint_bytes; /* write a snapshot once the log passes this (0: 64 MB) */
  /* open: where the log shows acknowledged writes lost (missing, cut short, damaged, or not
   * the log that follows the snapshot), open what survives instead of failing, log a warning
   * saying what was lost, and write a consistent snapshot and log at once */
  int accept_loss;
} omega_collection_opts_t;

typedef struct omega_collection omega_collection_t;

typedef struct {
  char name[128];
  omega_index_params_t params;
  size_t count;   /* live vectors */
  size_t slots;   /* live + deleted not yet compacted */
  size_t deleted;
  size_t bytes;   /* memory used: vectors, graph, ids */
  size_t wal_bytes;
  unsigned long long snapshots;
  double last_snapshot_ms;
  int persistent;
  /* gpu_flat: whether a GPU holds the mirror (else why not), its VRAM bytes, and the
   * queries served by route: gpu, cpu (no GPU, k above 1024, or a candidate list the
   * error bound could not prove complete), fallback (the GPU failed) */
  int gpu_active;
  char gpu_reason[256];
  size_t gpu_bytes;
  unsigned long long queries_gpu, queries_cpu, queries_fallback;
} omega_collection_stats_t;

typedef struct {
  int is_str;
  int64_t num;
  char str[OMEGA_ID_MAX + 1];
  float score; /* L2: squared distance (lower is better); IP: inner product; cosine: similarity */
} omega_result_t;

typedef struct {
  size_t k;
  size_t ef;               /* HNSW beam (0: the collection's ef_search) */
  const omega_id_t *allow; /* only these ids may be returned (NULL: all) */
  size_t n_allow;
  int threads;             /* for many queries at once (0: one, and the BLAS library keeps its own setting) */
} omega_search_opts_t;

/* A new collection (with opts->dir: a folder that must hold no collection file yet; one
 * that does is refused with OMEGA_EINVAL and left as it is). */
OMEGA_API int omega_collection_create(const char *name, const omega_index_params_t *p,
                                      const omega_collection_opts_t *o, omega_collection_t **out);
/* Open a persisted collection: the last snapshot, then the log written after it. A log
 * that shows acknowledged writes lost fails the open (OMEGA_EFORMAT naming the file and what
 * is missing) unless opts->accept_loss; a missing snapshot beside a log fails it always. */
OMEGA_API int omega_collection_open(const char *dir, const omega_collection_opts_t *o, omega_collection_t **out);
/* Checkpoint (persistent ones) and free. */
OMEGA_API void omega_collection_close(omega_collection_t *c);
/* Free and delete its files. */
OMEGA_API int omega_collection_drop(omega_collection_t *c);

/* Insert or replace n vectors; acknowledged (returns 0) only once durable per the fsync
 * policy. OMEGA_ERANGE: the memory limit would be passed (nothing is changed). */
OMEGA_API int omega_collection_upsert(omega_collection_t *c, const omega_id_t *ids, const float *vecs, size_t n,
                                      int threads);
OMEGA_API int omega_collection_delete(omega_collection_t *c, const omega_id_t *ids, size_t n, size_t *deleted);
/* out: nq * k results, counts: nq entries (fewer than k when the collection is small). */
OMEGA_API int omega_collection_search(omega_collection_t *c, const float *queries, size_t nq,
                                      const omega_search_opts_t *o, omega_result_t *out, size_t *counts);
/* Room for n vectors in all, allocated exactly (no growth margin; ids sized for integer
 * ids): call it before inserting a known number of vectors. Never shrinks. OMEGA_ERANGE
 * where it would pass the memory limit. */
OMEGA_API int omega_collection_reserve(omega_collection_t *c, size_t n);
/* Build the search structures a first search would otherwise build (the flat index's
 * projection bounds, and its AMX copy on CPUs with AMX), so that search is not slower than
 * the next; optional. */
OMEGA_API int omega_collection_warm(omega_collection_t *c);
/* Rebuild without tombstones; then snapshot when persistent. */
OMEGA_API int omega_collection_compact(omega_collection_t *c);
OMEGA_API int omega_collection_snapshot(omega_collection_t *c);
OMEGA_API void omega_collection_stats(omega_collection_t *c, omega_collection_stats_t *st);

/* One-file form (the `omega index` commands): a snapshot without a log. */
OMEGA_API int omega_collection_save_file(omega_collection_t *c, const char *path);
OMEGA_API int omega_collection_load_file(const char *path, omega_collection_t **out);

#ifdef __cplusplus
}
#endif
#endif

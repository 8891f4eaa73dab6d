/* The server's vector collections: a registry by name, persisted under OMEGA_DATA_DIR and
 * reopened at start-up. Requests hold a reference while they use a collection so that a drop
 * waits for them instead of freeing it under their feet. Per-collection gauges are cached
 * after each change so a /metrics scrape (on an I/O thread) never waits on a collection lock. */
#ifndef OMEGA_SERVER_COLLECTIONS_H
#define OMEGA_SERVER_COLLECTIONS_H

#include "config/config.h"
#include "metrics/metrics.h"
#include "omega/index.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct omega_colls omega_colls_t;

typedef struct omega_coll {
  char name[128];
  omega_collection_t *c;
  omega_index_params_t params; /* fixed for the collection's life */
  /* registry state, guarded by the registry's lock */
  int refs;
  int state; /* creating, ready, dropping */
  struct omega_coll *next;
  /* the last stats, for the gauges */
  size_t count, bytes, wal_bytes;
  unsigned long long snapshots_seen;
  unsigned long long routes_seen[3]; /* gpu_flat: queries by gpu, cpu, fallback, counted so far */
} omega_coll_t;

/* Open every collection under set->omega_data_dir/collections (none when it is empty).
 * A collection that cannot be read fails the whole start-up: never serve half the data
 * silently. *out is set even then, to be closed once nothing can use it. */
int omega__colls_open(const omega_settings_t *set, omega_metrics_t *m, omega_colls_t **out);
/* Checkpoint and close every collection (no request may be running). */
void omega__colls_close(omega_colls_t *r);
size_t omega__colls_count(omega_colls_t *r);

/* Create one and return it referenced. *exists: the name is taken (nothing done). */
int omega__colls_create(omega_colls_t *r, const char *name, const omega_index_params_t *p, bool *exists,
                        omega_coll_t **out);
/* A referenced collection, or NULL when there is none of that name. */
omega_coll_t *omega__colls_get(omega_colls_t *r, const char *name);
void omega__colls_put(omega_colls_t *r, omega_coll_t *e);
/* Remove it and delete its files once the requests using it are done. */
int omega__colls_drop(omega_colls_t *r, const char *name, bool *found);
/* Every ready collection, referenced, sorted by name; the caller puts each and frees *out. */
size_t omega__colls_list(omega_colls_t *r, omega_coll_t ***out);
size_t omega__colls_memory_limit(const omega_colls_t *r);

/* Fresh stats (blocking: worker pool only), also refreshing the gauges and recording any
 * snapshot written since the last look and (gpu_flat) the queries by route. st may be NULL. */
void omega__coll_refresh(omega_colls_t *r, omega_coll_t *e, omega_collection_stats_t *st);
/* A search of nq queries took `seconds` (blocking for gpu_flat: worker pool only). */
void omega__colls_observe_search(omega_colls_t *r, omega_coll_t *e, size_t nq, double seconds);

#endif

/* A collection's parts, shared by its three files: collection.c (lifecycle: create, open,
 * close, drop; writes; memory limit; maintenance), collection_log.c (durability: the
 * write-ahead log, checkpoints, the background syncer) and collection_search.c (search
 * planning and its fan-out). Searches share `lock` for reading; writes, checkpoints and the
 * log's appends hold it exclusively. */
#ifndef OMEGA_INDEX_COLLECTION_INTERNAL_H
#define OMEGA_INDEX_COLLECTION_INTERNAL_H

#include "index/gpu_flat.h"
#include "index/idmap.h"
#include "index/persist.h"
#include "index/vindex.h"
#include "omega/index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct omega_collection {
  char name[128];
  omega_vindex_t ix;
  omega_gpu_flat_t *gpu; /* kind gpu_flat: the VRAM mirror (its own lock) */
  omega_idmap_t ids;
  pthread_rwlock_t lock;
  omega_collection_opts_t opts;
  char dir[1024];
  /* The file named wal.log: its generation, length and records. wal_fd < 0 with a dir: none
   * is open for appends (a checkpoint's snapshot is written but its new log is not in place
   * yet); the fields still describe what is there, which the next checkpoint records as the
   * log its snapshot absorbed. */
  int wal_fd;
  size_t wal_bytes, wal_records;
  uint64_t log_gen;
  size_t committed_len; /* what the header's newest commit slot says */
  int wal_slot;         /* that slot; the next commit writes the other one */
  uint64_t generation;  /* the snapshot's: the log that follows it has this generation */
  uint64_t uid;         /* the collection's identity in its snapshots and logs */
  unsigned long long snapshots;
  double last_snapshot_ms;
  /* background fsync */
  pthread_t syncer;
  bool syncer_running;
  atomic_int stop, dirty;
  pthread_mutex_t sync_mu;
  pthread_cond_t sync_cv;
};


/* ---- collection_log.c ---- */

/* The log's fields (no file yet) and the syncer's lock; omega__coll_log_close undoes both. */
void omega__coll_log_init(omega_collection_t *c);
/* Stop the syncer, commit and close the log (the collection is going away). */
void omega__coll_log_close(omega_collection_t *c);
/* The background fsync of interval-acknowledged writes, where the options ask for one. */
void omega__coll_syncer_start(omega_collection_t *c);
/* dir/file into out. */
void omega__coll_path(const omega_collection_t *c, const char *file, char *out, size_t cap);
/* Append encoded records (write lock held); durable now or by the syncer, per the options.
 * In memory only (no dir): nothing. */
int omega__coll_log_append(omega_collection_t *c, const char *buf, size_t len, size_t records);
/* A snapshot that replaces the log (write lock held). `create`: the collection's first,
 * which must not replace any file. In memory only: nothing. */
int omega__coll_checkpoint(omega_collection_t *c, bool create);
/* After the snapshot is read: its log, checked against it, replayed through `apply` (the
 * index and ids only, no logging), and continued or replaced. */
int omega__coll_log_open(omega_collection_t *c, const omega_snap_meta_t *m, omega_wal_apply_fn apply);

#endif

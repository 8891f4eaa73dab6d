/* Persistence of a collection: the snapshot file (magic, version, checksummed sections)
 * and the write-ahead log (checksummed records). Every load error says what is wrong. */
#ifndef OMEGA_INDEX_PERSIST_H
#define OMEGA_INDEX_PERSIST_H

#include "index/idmap.h"
#include "index/vindex.h"

#include <stdint.h>
#include <stdio.h>

#define OMEGA_SNAPSHOT_VERSION 1
#define OMEGA_WAL_VERSION 1
#define OMEGA_WAL_HEADER 24

/* Write ix + keys as a snapshot to path, atomically (temp file, fsync, rename, fsync dir). */
int omega__snapshot_write(const char *path, const char *name, uint64_t generation, const omega_vindex_t *ix,
                          const omega_idmap_t *ids);
/* Read a snapshot: fills ix (initialised here) and ids (slot keys; the map of live ones). */
int omega__snapshot_read(const char *path, char name[128], uint64_t *generation, omega_vindex_t *ix,
                         omega_idmap_t *ids);

/* The same on bytes in memory (`path` names them in errors): the fuzz targets' entry. */
int omega__snapshot_parse(const char *path, const unsigned char *data, size_t size, char name[128],
                          uint64_t *generation, omega_vindex_t *ix, omega_idmap_t *ids);

typedef enum { OMEGA_WAL_UPSERT = 1, OMEGA_WAL_DELETE = 2 } omega_wal_op_t;

/* Append one record to a growing buffer. */
int omega__wal_encode(char **buf, size_t *len, size_t *cap, omega_wal_op_t op, const unsigned char *key,
                      size_t key_len, const float *vec, size_t dim);
void omega__wal_header(unsigned char out[OMEGA_WAL_HEADER], uint64_t generation);

/* Replay callback: one record. */
typedef int (*omega_wal_apply_fn)(void *user, omega_wal_op_t op, const unsigned char *key, size_t key_len,
                                  const float *vec);
/* Read a log: check the header (generation), apply every complete record. A torn last
 * record (a write the crash interrupted, never acknowledged) ends the log: *good_len is where
 * to truncate. A bad record followed by good ones is corruption (OMEGA_EFORMAT). */
int omega__wal_replay(const char *path, uint64_t generation, size_t dim, omega_wal_apply_fn fn, void *user,
                      size_t *good_len, size_t *records);
int omega__wal_parse(const char *path, const unsigned char *data, size_t size, uint64_t generation, size_t dim,
                     omega_wal_apply_fn fn, void *user, size_t *good_len, size_t *records);

#endif

/* Persistence of a collection: the snapshot file (magic, version, checksummed sections)
 * and the write-ahead log (checksummed header and records). Every load error says what is
 * wrong.
 *
 * The two files vouch for each other. A snapshot (format 2) records the generation of the
 * log that follows it, and the generation, length and record count of the log it absorbed.
 * A log (format 2) records its generation and, in its header, how many of its bytes and
 * records were acknowledged ("committed"). So a log that is missing, shorter than its
 * committed length, damaged inside it, or of another generation or collection is found,
 * while the one crash window of a checkpoint (the old log still in place beside the new
 * snapshot) is recognised exactly. Format 1 files (no such ties) are read as before and
 * replaced by format 2 at the next checkpoint. */
#ifndef OMEGA_INDEX_PERSIST_H
#define OMEGA_INDEX_PERSIST_H

#include "index/idmap.h"
#include "index/vindex.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OMEGA_SNAPSHOT_VERSION 2
#define OMEGA_WAL_VERSION 2
#define OMEGA_WAL_HEADER_V1 24
/* magic, version, reserved, generation, collection id (32 bytes), then two commit slots of
 * 20 bytes: committed length, committed records, a CRC-32 of the first 32 bytes and the slot */
#define OMEGA_WAL_HEADER 72
#define OMEGA_WAL_SLOT 20

/* What ties a snapshot to its logs. */
typedef struct {
  uint32_t version;     /* as read (1 or 2); a write always writes the current format */
  uint64_t generation;  /* the log that follows the snapshot has this generation */
  uint64_t uid;         /* the collection's identity, in its snapshots and logs (format 1: 0) */
  uint64_t absorbed_gen, absorbed_len, absorbed_records; /* the log the snapshot replaced (len 0: none) */
} omega_snap_meta_t;

/* Write ix + keys as a snapshot to path, atomically (temp file, fsync, rename, fsync dir).
 * replace false: fail (OMEGA_EINVAL) rather than replace an existing file at path. */
int omega__snapshot_write(const char *path, const char *name, const omega_snap_meta_t *meta, const omega_vindex_t *ix,
                          const omega_idmap_t *ids, bool replace);
/* Move the finished file tmp to path and fsync the folder; without `replace`, never over an
 * existing file (OMEGA_EINVAL naming it). tmp is gone either way. */
int omega__file_commit(const char *tmp, const char *path, bool replace);
/* Read a snapshot: fills ix (initialised here) and ids (slot keys; the map of live ones). */
int omega__snapshot_read(const char *path, char name[128], omega_snap_meta_t *meta, omega_vindex_t *ix,
                         omega_idmap_t *ids);

/* The same on bytes in memory (`path` names them in errors): the fuzz targets' entry. */
int omega__snapshot_parse(const char *path, const unsigned char *data, size_t size, char name[128],
                          omega_snap_meta_t *meta, omega_vindex_t *ix, omega_idmap_t *ids);

/* A vector the index may hold: finite, with a norm of at most OMEGA_VECTOR_NORM_MAX.
 * Returns 0 and its squared norm in double (norm2 may be NULL), or OMEGA_EINVAL naming it as
 * "noun index" (e.g. "point 3"): no formatting on the path of vectors that pass. */
int omega__check_vector(const float *v, size_t dim, const char *noun, size_t index, double *norm2);

typedef enum { OMEGA_WAL_UPSERT = 1, OMEGA_WAL_DELETE = 2 } omega_wal_op_t;

/* Append one record to a growing buffer. */
int omega__wal_encode(char **buf, size_t *len, size_t *cap, omega_wal_op_t op, const unsigned char *key,
                      size_t key_len, const float *vec, size_t dim);

/* A log's header as read. */
typedef struct {
  uint32_t version, size; /* size: the header's bytes (OMEGA_WAL_HEADER_V1 or OMEGA_WAL_HEADER) */
  uint64_t generation, uid;
  uint64_t committed_len, committed_records; /* format 1: the header's size and 0 (nothing vouched for) */
  int slot;                                  /* the commit slot they were read from (the next write takes the other) */
} omega_wal_head_t;

/* The header of a new, empty log (both commit slots at its own length). */
void omega__wal_header(unsigned char out[OMEGA_WAL_HEADER], uint64_t generation, uint64_t uid);
/* Commit slot `slot` (0 or 1) saying len bytes and `records` records are acknowledged:
 * fills out and returns the offset to write it at. Writers alternate slots, so a write torn
 * by a power cut spoils only the slot being replaced, never the last good one. */
size_t omega__wal_slot(unsigned char out[OMEGA_WAL_SLOT], int slot, uint64_t generation, uint64_t uid, uint64_t len,
                       uint64_t records);
/* Read and check a log's header (either format). OMEGA_EFORMAT naming path when the file is
 * too short for one, not a log, or its checksums fail. */
int omega__wal_head(const char *path, const unsigned char *data, size_t size, omega_wal_head_t *h);

/* The part a log plays next to a snapshot. */
typedef enum { OMEGA_WAL_FOLLOWS, OMEGA_WAL_ABSORBED } omega_wal_role_t;
/* FOLLOWS: the log written after snapshot m (replay it). ABSORBED: the log m replaced, left
 * by a crash between a checkpoint's two renames (ignore it). Any other log is foreign:
 * OMEGA_EFORMAT naming path and both generations. */
int omega__wal_match(const char *path, const omega_snap_meta_t *m, const omega_wal_head_t *h, size_t size,
                     omega_wal_role_t *role);

/* Replay callback: one record. */
typedef int (*omega_wal_apply_fn)(void *user, omega_wal_op_t op, const unsigned char *key, size_t key_len,
                                  const float *vec);

typedef struct {
  size_t good_len;   /* where the last whole record ends: the log continues here */
  size_t records;    /* records applied */
  size_t torn_bytes; /* bytes after good_len cut as a torn tail (a write a crash interrupted) */
  size_t lost;       /* on OMEGA_EFORMAT: acknowledged records that are missing or unreadable */
  bool lost_unknown; /* on OMEGA_EFORMAT: how many were acknowledged is not known */
} omega_wal_result_t;

/* Apply the records of a log whose header is h. Inside the committed length every record
 * must be whole and good and the count must match: a log shorter than that, or damaged in
 * it, lost acknowledged writes (OMEGA_EFORMAT, out->lost says how many). After it, whole
 * records replay (written, perhaps not acknowledged) and a torn last record is cut
 * (out->torn_bytes); a bad record followed by good ones, or by more than one record's bytes
 * that are not zeros, is damage (OMEGA_EFORMAT). On OMEGA_EFORMAT the records before the
 * damage have been applied and out says where they end. */
int omega__wal_parse(const char *path, const unsigned char *data, size_t size, const omega_wal_head_t *h, size_t dim,
                     omega_wal_apply_fn fn, void *user, omega_wal_result_t *out);

#endif

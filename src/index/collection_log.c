/* A collection's durability: a write is appended to the log (and fsynced when the policy
 * says so) before the index changes and before it is acknowledged; a snapshot (written
 * atomically) periodically replaces the log; a background thread fsyncs interval-acknowledged
 * writes. Opening a folder checks its log against its snapshot and replays it. */
#include "index/collection_internal.h"

#include "core/clock.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

void omega__coll_path(const omega_collection_t *c, const char *file, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", c->dir, file);
}

/* ---- the log ---- */

/* A new log is written whole beside the folder's files, then renamed into place, so wal.log
 * exists from a collection's creation on and is never seen half-written: a missing or empty
 * wal.log next to a snapshot is damage, never a crash window. */
static int wal_create_tmp(omega_collection_t *c, uint64_t gen, int *out) {
  char p[1200];
  omega__coll_path(c, "wal.log.tmp", p, sizeof p);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return omega__seterr(OMEGA_EIO, "%s: %s", p, strerror(errno));
  unsigned char h[OMEGA_WAL_HEADER];
  omega__wal_header(h, gen, c->uid);
  if (write(fd, h, sizeof h) != (ssize_t)sizeof h || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(p);
    return omega__seterr(OMEGA_EIO, "%s: %s", p, strerror(e));
  }
  *out = fd;
  return 0;
}

/* Put a log created by wal_create_tmp in place as wal.log and append to it from now on. */
static int wal_install(omega_collection_t *c, int fd, uint64_t gen, bool replace) {
  char tmp[1200], p[1200];
  omega__coll_path(c, "wal.log.tmp", tmp, sizeof tmp);
  omega__coll_path(c, "wal.log", p, sizeof p);
  int rc = omega__file_commit(tmp, p, replace);
  if (rc) {
    close(fd);
    return rc;
  }
  if (c->wal_fd >= 0)
    close(c->wal_fd);
  c->wal_fd = fd;
  c->log_gen = gen;
  c->wal_bytes = c->committed_len = OMEGA_WAL_HEADER;
  c->wal_records = 0;
  c->wal_slot = 0;
  return 0;
}

/* A fresh log of the current generation in place of wal.log, which holds nothing the
 * snapshot lacks (it is the log the snapshot absorbed, or there is none). */
static int wal_start(omega_collection_t *c) {
  int fd;
  int rc = wal_create_tmp(c, c->generation, &fd);
  return rc ? rc : wal_install(c, fd, c->generation, true);
}

/* Record in the header that the log's first len bytes (records) are acknowledged, in the
 * commit slot not holding the last such record (a torn write then spoils only the one being
 * replaced). */
static int wal_mark_committed(omega_collection_t *c, size_t len, size_t records) {
  if (c->wal_fd < 0 || c->committed_len == len)
    return 0;
  unsigned char s[OMEGA_WAL_SLOT];
  const size_t at = omega__wal_slot(s, c->wal_slot ^ 1, c->log_gen, c->uid, len, records);
  if (pwrite(c->wal_fd, s, sizeof s, (off_t)at) != (ssize_t)sizeof s)
    return omega__seterr(OMEGA_EIO, "%s/wal.log: header write failed: %s", c->dir, strerror(errno));
  c->wal_slot ^= 1;
  c->committed_len = len;
  return 0;
}

int omega__coll_log_append(omega_collection_t *c, const char *buf, size_t len, size_t records) {
  if (c->wal_fd < 0) {
    if (!c->dir[0])
      return 0; /* in memory only */
    /* a checkpoint could not put its new log in place: do it now, or refuse the write */
    int rc = wal_start(c);
    if (rc)
      return rc;
  }
  /* at the log's known end, not the file offset: what a failed write left is overwritten */
  for (size_t off = 0; off < len;) {
    ssize_t w = pwrite(c->wal_fd, buf + off, len - off, (off_t)(c->wal_bytes + off));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = errno;
      if (ftruncate(c->wal_fd, (off_t)c->wal_bytes) != 0) { /* tidy only: a later append overwrites it */
      }
      return omega__seterr(OMEGA_EIO, "%s/wal.log: write failed: %s", c->dir, strerror(e));
    }
    off += (size_t)w;
  }
  c->wal_bytes += len;
  c->wal_records += records;
  if (c->opts.fsync_always) {
    /* One fdatasync makes the records and the header that counts them durable together. A
     * power cut during it may persist the header alone: the next open then reports records
     * lost that were never acknowledged (refused, not silent), the price of not paying a
     * second fdatasync per write. */
    int rc = wal_mark_committed(c, c->wal_bytes, c->wal_records);
    if (rc)
      return rc;
    if (fdatasync(c->wal_fd) != 0)
      return omega__seterr(OMEGA_EIO, "%s/wal.log: fsync failed: %s", c->dir, strerror(errno));
  } else {
    atomic_store(&c->dirty, 1);
  }
  return 0;
}

/* Background durability: fsync the records written so far, then count them in the header,
 * which the next round's fsync makes durable (so the header never runs ahead of records on
 * disk; an interval-acknowledged write may be lost within an interval anyway). */
static void sync_once(omega_collection_t *c) {
  pthread_rwlock_rdlock(&c->lock); /* no writer appends meanwhile; only this thread commits */
  if (c->wal_fd >= 0 && fdatasync(c->wal_fd) == 0 && c->committed_len != c->wal_bytes &&
      wal_mark_committed(c, c->wal_bytes, c->wal_records) == 0)
    atomic_store(&c->dirty, 1); /* the header, for the next round */
  pthread_rwlock_unlock(&c->lock);
}

static void *syncer(void *arg) {
  omega_collection_t *c = arg;
  pthread_mutex_lock(&c->sync_mu);
  while (!atomic_load(&c->stop)) {
    const struct timespec until = omega__wall_after_ms((long)c->opts.fsync_interval_ms);
    pthread_cond_timedwait(&c->sync_cv, &c->sync_mu, &until);
    if (atomic_exchange(&c->dirty, 0))
      sync_once(c);
  }
  pthread_mutex_unlock(&c->sync_mu);
  return NULL;
}

void omega__coll_log_init(omega_collection_t *c) {
  c->wal_fd = -1;
  pthread_mutex_init(&c->sync_mu, NULL);
  pthread_cond_init(&c->sync_cv, NULL);
}

void omega__coll_syncer_start(omega_collection_t *c) {
  if (c->dir[0] && !c->opts.fsync_always && c->opts.fsync_interval_ms &&
      pthread_create(&c->syncer, NULL, syncer, c) == 0)
    c->syncer_running = true;
}

void omega__coll_log_close(omega_collection_t *c) {
  if (c->syncer_running) {
    pthread_mutex_lock(&c->sync_mu);
    atomic_store(&c->stop, 1);
    pthread_cond_broadcast(&c->sync_cv);
    pthread_mutex_unlock(&c->sync_mu);
    pthread_join(c->syncer, NULL);
  }
  if (c->wal_fd >= 0) {
    wal_mark_committed(c, c->wal_bytes, c->wal_records);
    fdatasync(c->wal_fd);
    close(c->wal_fd);
  }
  pthread_mutex_destroy(&c->sync_mu);
  pthread_cond_destroy(&c->sync_cv);
}

/* ---- snapshots ---- */

/* The new log first (as wal.log.tmp), then the snapshot (the commit point: it records the
 * new log's generation and the old log's generation, length and records), then the new log
 * renamed over the old. A crash between the renames leaves the old log beside the new
 * snapshot, recognised exactly by what the snapshot recorded. `create`: the first
 * checkpoint, which must not replace any file. */
int omega__coll_checkpoint(omega_collection_t *c, bool create) {
  if (!c->dir[0])
    return 0;
  double t0 = omega__now_ns() / 1e6;
  char snap[1200];
  omega__coll_path(c, "snapshot.omg", snap, sizeof snap);
  const uint64_t gen = c->generation + 1;
  int fd;
  int rc = wal_create_tmp(c, gen, &fd);
  if (rc)
    return rc;
  const omega_snap_meta_t m = {.generation = gen,
                               .uid = c->uid,
                               .absorbed_gen = c->log_gen,
                               .absorbed_len = c->wal_bytes,
                               .absorbed_records = c->wal_records};
  if ((rc = omega__snapshot_write(snap, c->name, &m, &c->ix, &c->ids, !create))) {
    char tmp[1200];
    omega__coll_path(c, "wal.log.tmp", tmp, sizeof tmp);
    close(fd);
    unlink(tmp);
    return rc;
  }
  c->generation = gen;
  /* the snapshot holds everything the old log had: nothing more may go into it */
  if (c->wal_fd >= 0) {
    close(c->wal_fd);
    c->wal_fd = -1;
  }
  if ((rc = wal_install(c, fd, gen, !create))) {
    if (create)
      unlink(snap); /* a wal.log appeared under us: leave it, and no half-made collection */
    return rc;
  }
  c->snapshots++;
  c->last_snapshot_ms = omega__now_ns() / 1e6 - t0;
  return 0;
}

/* ---- opening ---- */

/* A log refusal (rc, with what the replay found): the open fails, or with accept_loss it
 * goes on from what was read, says what was lost, and writes a consistent snapshot and log
 * (the new snapshot records the damaged log as the one it absorbed). */
static int accept_or_refuse(omega_collection_t *c, int rc, const omega_wal_result_t *res) {
  if (rc != OMEGA_EFORMAT || !c->opts.accept_loss)
    return rc;
  char lost[64];
  if (res->lost_unknown)
    snprintf(lost, sizeof lost, "an unknown number of");
  else
    snprintf(lost, sizeof lost, "%zu", res->lost);
  omega__log(OMEGA_LOG_WARN, "collection %s: accepting the loss: %s; %zu records replayed, %s acknowledged records "
                            "lost; writing a new snapshot and log",
            c->name, omega_errmsg(), res->records, lost);
  return omega__coll_checkpoint(c, false);
}

/* A log to continue: cut what follows its last whole record and append after it. */
static int wal_continue(omega_collection_t *c, const char *wal, const omega_wal_head_t *h,
                        const omega_wal_result_t *res) {
  if (res->torn_bytes)
    omega__log(OMEGA_LOG_INFO, "%s: cut a torn tail of %zu bytes after byte %zu (a write a crash interrupted before it "
                              "was acknowledged)",
              wal, res->torn_bytes, res->good_len);
  int fd = open(wal, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)res->good_len) != 0) {
    if (fd >= 0)
      close(fd);
    return omega__seterr(OMEGA_EIO, "%s: cannot continue the log: %s", wal, strerror(errno));
  }
  c->wal_fd = fd;
  c->wal_bytes = res->good_len;
  c->committed_len = h->committed_len;
  c->wal_slot = h->slot;
  return h->version == 1 ? omega__coll_checkpoint(c, false) : 0; /* a format 1 log takes no commit slots: replace it */
}

/* No wal.log beside a format 2 snapshot: after a crash between the renames of a collection's
 * first checkpoint (or of one whose old log is gone) the new log is still wal.log.tmp, fresh
 * and of the snapshot's generation; anything else lost the writes the log held. */
static int wal_missing(omega_collection_t *c, const omega_snap_meta_t *m, const char *wal) {
  char tmp[1200];
  omega__coll_path(c, "wal.log.tmp", tmp, sizeof tmp);
  omega_map_t map;
  if (omega__map_file(tmp, &map) == 0) {
    omega_wal_head_t h;
    bool fresh = omega__wal_head(tmp, map.data, map.size, &h) == 0 && h.version > 1 && h.uid == m->uid &&
                 h.generation == m->generation && map.size == OMEGA_WAL_HEADER && h.committed_records == 0;
    omega__unmap_file(&map);
    if (fresh)
      return wal_start(c);
  }
  const omega_wal_result_t res = {.lost_unknown = true};
  int rc = omega__seterr(OMEGA_EFORMAT, "%s is missing: the writes acknowledged after the snapshot (generation %llu) "
                                        "are lost, how many is not known",
                         wal, (unsigned long long)m->generation);
  return accept_or_refuse(c, rc, &res);
}

/* After the snapshot: the log, checked against it, replayed, and continued or replaced. */
int omega__coll_log_open(omega_collection_t *c, const omega_snap_meta_t *m, omega_wal_apply_fn apply) {
  char wal[1200];
  omega__coll_path(c, "wal.log", wal, sizeof wal);
  c->log_gen = m->generation;
  /* format 1 made its log after the snapshot; a one-file index (no identity) never had one */
  if (!omega__is_file(wal))
    return m->version == 1 || !m->uid ? omega__coll_checkpoint(c, false) : wal_missing(c, m, wal);
  omega_map_t map;
  int rc = omega__map_file(wal, &map);
  if (rc)
    return rc;
  omega_wal_head_t h;
  omega_wal_role_t role = OMEGA_WAL_FOLLOWS;
  omega_wal_result_t res = {.lost_unknown = true};
  rc = omega__wal_head(wal, map.data, map.size, &h);
  if (rc && m->version == 1 && map.size < OMEGA_WAL_HEADER_V1) {
    rc = 0; /* format 1 made its log in place: one cut inside its header held nothing */
    role = OMEGA_WAL_ABSORBED;
  } else if (rc == 0) {
    rc = omega__wal_match(wal, m, &h, map.size, &role);
  }
  if (rc == 0 && role == OMEGA_WAL_FOLLOWS)
    rc = omega__wal_parse(wal, map.data, map.size, &h, c->ix.p.dim, apply, c, &res);
  /* what is at wal.log, for the snapshot that replaces it */
  c->log_gen = h.generation;
  c->wal_bytes = map.size;
  c->wal_records = res.records;
  omega__unmap_file(&map);
  if (rc)
    return accept_or_refuse(c, rc, &res);
  if (role == OMEGA_WAL_ABSORBED) {
    omega__log(OMEGA_LOG_INFO, "%s: the log the snapshot absorbed (a checkpoint was cut short): starting the next one",
              wal);
    return m->version == 1 ? omega__coll_checkpoint(c, false) : wal_start(c);
  }
  return wal_continue(c, wal, &h, &res);
}

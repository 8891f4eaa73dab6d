/* Collections: a vector index, external ids, and durability. A write is appended to the
 * log (and fsynced when the policy says so) before the index changes and before it is
 * acknowledged; a snapshot (written atomically) periodically replaces the log. Searches
 * share a read lock; writes take it exclusively. */
#include "core/clock.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/log.h"
#include "core/parallel.h"
#include "index/flat_amx.h"
#include "index/flat_proj.h"
#include "index/idmap.h"
#include "index/gpu_flat.h"
#include "index/persist.h"
#include "index/vindex.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static void path_in(const omega_collection_t *c, const char *file, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", c->dir, file);
}

/* ---- the log ---- */

/* A new log is written whole beside the folder's files, then renamed into place, so wal.log
 * exists from a collection's creation on and is never seen half-written: a missing or empty
 * wal.log next to a snapshot is damage, never a crash window. */
static int wal_create_tmp(omega_collection_t *c, uint64_t gen, int *out) {
  char p[1200];
  path_in(c, "wal.log.tmp", p, sizeof p);
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
  path_in(c, "wal.log.tmp", tmp, sizeof tmp);
  path_in(c, "wal.log", p, sizeof p);
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

static int wal_append(omega_collection_t *c, const char *buf, size_t len, size_t records) {
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

/* ---- snapshots ---- */

/* The new log first (as wal.log.tmp), then the snapshot (the commit point: it records the
 * new log's generation and the old log's generation, length and records), then the new log
 * renamed over the old. A crash between the renames leaves the old log beside the new
 * snapshot, recognised exactly by what the snapshot recorded. `create`: the first
 * checkpoint, which must not replace any file. */
static int checkpoint(omega_collection_t *c, bool create) {
  if (!c->dir[0])
    return 0;
  double t0 = omega__now_ns() / 1e6;
  char snap[1200];
  path_in(c, "snapshot.omg", snap, sizeof snap);
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
    path_in(c, "wal.log.tmp", tmp, sizeof tmp);
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

static int checkpoint_locked(omega_collection_t *c) { return checkpoint(c, false); }

/* ---- ties: the smaller external id first ---- */

static int64_t key_num(const unsigned char *k) {
  uint64_t v = 0;
  for (int i = 8; i >= 1; i--)
    v = (v << 8) | k[i];
  return (int64_t)v;
}

/* Integer ids before string ids; integers by value, strings by bytes (a prefix first). */
static int tie_by_id(const void *ctx, uint32_t a, uint32_t b) {
  const omega_idmap_t *ids = ctx;
  size_t la, lb;
  const unsigned char *ka = omega__idmap_key(ids, a, &la), *kb = omega__idmap_key(ids, b, &lb);
  if (ka[0] != kb[0])
    return ka[0] == 'i' ? -1 : 1;
  if (ka[0] == 'i') {
    int64_t x = key_num(ka), y = key_num(kb);
    if (x != y)
      return x < y ? -1 : 1;
  } else {
    int cmp = memcmp(ka + 1, kb + 1, (la < lb ? la : lb) - 1);
    if (cmp || la != lb)
      return cmp ? cmp : la < lb ? -1 : 1;
  }
  return a < b ? -1 : a > b; /* the same id: an old and a new slot */
}

static void bind_ties(omega_collection_t *c) {
  c->ix.tie = tie_by_id;
  c->ix.tie_ctx = &c->ids;
  /* a gpu_flat index gets its mirror whenever its vectors are (re)built */
  if (c->ix.p.kind == OMEGA_INDEX_GPU_FLAT && !c->gpu)
    omega__gpu_flat_create(&c->ix, &c->gpu);
  else if (c->gpu)
    omega__gpu_flat_reset(c->gpu);
}

/* ---- create / open / close ---- */

static omega_collection_t *alloc_collection(const char *name, const omega_collection_opts_t *o) {
  omega_collection_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  snprintf(c->name, sizeof c->name, "%s", name);
  if (o)
    c->opts = *o;
  if (!c->opts.wal_checkpoint_bytes)
    c->opts.wal_checkpoint_bytes = 64u << 20;
  if (o && o->dir)
    snprintf(c->dir, sizeof c->dir, "%s", o->dir);
  c->wal_fd = -1;
  pthread_rwlock_init(&c->lock, NULL);
  pthread_mutex_init(&c->sync_mu, NULL);
  pthread_cond_init(&c->sync_cv, NULL);
  return c;
}

static void start_syncer(omega_collection_t *c) {
  if (c->dir[0] && !c->opts.fsync_always && c->opts.fsync_interval_ms &&
      pthread_create(&c->syncer, NULL, syncer, c) == 0)
    c->syncer_running = true;
}

static void free_collection(omega_collection_t *c) {
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
  omega__gpu_flat_free(c->gpu);
  omega__vindex_free(&c->ix);
  omega__idmap_free(&c->ids);
  pthread_rwlock_destroy(&c->lock);
  pthread_mutex_destroy(&c->sync_mu);
  pthread_cond_destroy(&c->sync_cv);
  free(c);
}

static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
          ch == '.'))
      return 0;
  }
  return name[0] != '.';
}

static void decide_copy(omega_collection_t *c);

/* A collection's identity, so that a log of another collection is never replayed into it
 * (generations alone coincide: every collection counts from 1). Not a secret. */
static uint64_t new_uid(void) {
  uint64_t u = 0;
  if (getrandom(&u, sizeof u, 0) != (ssize_t)sizeof u) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    u = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid();
  }
  return u ? u : 1;
}

/* The files a collection folder may hold: the first two are the collection, the others what
 * a checkpoint cut short leaves (never needed to recover). */
static const char *const coll_files[] = {"snapshot.omg", "wal.log", "snapshot.omg.tmp", "wal.log.tmp"};

/* "snapshot.omg (1234 bytes), wal.log (72 bytes)": which of the collection's files dir holds. */
static size_t present_files(const char *dir, char *out, size_t cap) {
  size_t n = 0, len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < 2; i++) {
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, coll_files[i]);
    if (stat(p, &st) != 0)
      continue;
    int w = snprintf(out + len, cap - len, "%s%s (%lld bytes)", n ? ", " : "", coll_files[i], (long long)st.st_size);
    if (w > 0 && (size_t)w < cap - len)
      len += (size_t)w;
    n++;
  }
  return n;
}

int omega_collection_create(const char *name, const omega_index_params_t *p, const omega_collection_opts_t *o,
                            omega_collection_t **out) {
  if (!name || !valid_name(name))
    return omega__seterr(OMEGA_EINVAL, "collection name must be 1-64 characters of [A-Za-z0-9_.-], not starting with .");
  omega_collection_t *c = alloc_collection(name, o);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  c->uid = new_uid();
  int rc = omega__vindex_init(&c->ix, p);
  if (rc == 0)
    rc = omega__idmap_init(&c->ids);
  bind_ties(c);
  if (rc == 0 && c->dir[0]) {
    char files[512];
    if (mkdir(c->dir, 0755) != 0 && errno != EEXIST)
      rc = omega__seterr(OMEGA_EIO, "%s: %s", c->dir, strerror(errno));
    else if (present_files(c->dir, files, sizeof files))
      rc = omega__seterr(OMEGA_EINVAL, "%s already holds collection files (%s): they are left as they are", c->dir,
                         files);
    else
      rc = checkpoint(c, true); /* an empty snapshot and log: the collection exists from now on */
  }
  if (rc) {
    free_collection(c);
    return rc;
  }
  decide_copy(c);
  start_syncer(c);
  *out = c;
  return 0;
}


/* Apply one change to the index and the ids (write lock held; no logging). */
static int apply_upsert(omega_collection_t *c, const unsigned char *key, size_t klen, const float *vec, int threads);
static int apply_delete(omega_collection_t *c, const unsigned char *key, size_t klen);

static int replay_one(void *user, omega_wal_op_t op, const unsigned char *key, size_t klen, const float *vec) {
  omega_collection_t *c = user;
  return op == OMEGA_WAL_UPSERT ? apply_upsert(c, key, klen, vec, 1) : apply_delete(c, key, klen);
}

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
  omega_log(OMEGA_LOG_WARN, "collection %s: accepting the loss: %s; %zu records replayed, %s acknowledged records "
                            "lost; writing a new snapshot and log",
            c->name, omega_errmsg(), res->records, lost);
  return checkpoint_locked(c);
}

/* A log to continue: cut what follows its last whole record and append after it. */
static int wal_continue(omega_collection_t *c, const char *wal, const omega_wal_head_t *h,
                        const omega_wal_result_t *res) {
  if (res->torn_bytes)
    omega_log(OMEGA_LOG_INFO, "%s: cut a torn tail of %zu bytes after byte %zu (a write a crash interrupted before it "
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
  return h->version == 1 ? checkpoint_locked(c) : 0; /* a format 1 log takes no commit slots: replace it */
}

/* No wal.log beside a format 2 snapshot: after a crash between the renames of a collection's
 * first checkpoint (or of one whose old log is gone) the new log is still wal.log.tmp, fresh
 * and of the snapshot's generation; anything else lost the writes the log held. */
static int wal_missing(omega_collection_t *c, const omega_snap_meta_t *m, const char *wal) {
  char tmp[1200];
  path_in(c, "wal.log.tmp", tmp, sizeof tmp);
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
static int open_log(omega_collection_t *c, const omega_snap_meta_t *m) {
  char wal[1200];
  path_in(c, "wal.log", wal, sizeof wal);
  c->log_gen = m->generation;
  /* format 1 made its log after the snapshot; a one-file index (no identity) never had one */
  if (!omega__is_file(wal))
    return m->version == 1 || !m->uid ? checkpoint_locked(c) : wal_missing(c, m, wal);
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
    rc = omega__wal_parse(wal, map.data, map.size, &h, c->ix.p.dim, replay_one, c, &res);
  /* what is at wal.log, for the snapshot that replaces it */
  c->log_gen = h.generation;
  c->wal_bytes = map.size;
  c->wal_records = res.records;
  omega__unmap_file(&map);
  if (rc)
    return accept_or_refuse(c, rc, &res);
  if (role == OMEGA_WAL_ABSORBED) {
    omega_log(OMEGA_LOG_INFO, "%s: the log the snapshot absorbed (a checkpoint was cut short): starting the next one",
              wal);
    return m->version == 1 ? checkpoint_locked(c) : wal_start(c);
  }
  return wal_continue(c, wal, &h, &res);
}

/* No snapshot.omg: with a log beside it the collection lost its base, and the log alone
 * cannot rebuild it (it holds only the writes after the snapshot). */
static int snapshot_missing(const char *dir) {
  char files[512];
  if (!present_files(dir, files, sizeof files))
    return omega__seterr(OMEGA_ENOENT, "%s holds no collection (no snapshot.omg)", dir);
  return omega__seterr(OMEGA_ENOENT, "%s/snapshot.omg is missing, but the folder holds %s: the collection's snapshot "
                                     "is lost and the log cannot rebuild it (restore snapshot.omg, or move the folder "
                                     "away to give the collection up)",
                       dir, files);
}

int omega_collection_open(const char *dir, const omega_collection_opts_t *o, omega_collection_t **out) {
  omega_collection_opts_t opts = o ? *o : (omega_collection_opts_t){0};
  opts.dir = dir;
  omega_collection_t *c = alloc_collection("", &opts);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  char snap[1200];
  path_in(c, "snapshot.omg", snap, sizeof snap);
  omega_snap_meta_t m;
  int rc = omega__is_file(snap) ? omega__snapshot_read(snap, c->name, &m, &c->ix, &c->ids) : snapshot_missing(c->dir);
  if (rc == 0) {
    c->generation = m.generation;
    c->uid = m.uid ? m.uid : new_uid(); /* format 1 or a one-file index: its first checkpoint names it */
    bind_ties(c);
    rc = open_log(c, &m);
  }
  if (rc) {
    free_collection(c);
    return rc;
  }
  for (size_t i = 2; i < 4; i++) { /* what a checkpoint cut short left */
    char p[1200];
    path_in(c, coll_files[i], p, sizeof p);
    unlink(p);
  }
  decide_copy(c);
  start_syncer(c);
  *out = c;
  return 0;
}

void omega_collection_close(omega_collection_t *c) {
  if (!c)
    return;
  pthread_rwlock_wrlock(&c->lock);
  if (c->dir[0] && c->wal_bytes > OMEGA_WAL_HEADER)
    checkpoint_locked(c); /* a failed checkpoint leaves the log, which still has everything */
  pthread_rwlock_unlock(&c->lock);
  free_collection(c);
}

static void remove_files(const char *dir) {
  for (size_t i = 0; i < sizeof coll_files / sizeof coll_files[0]; i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, coll_files[i]);
    unlink(p);
  }
  rmdir(dir);
}

int omega_collection_drop(omega_collection_t *c) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", c->dir);
  free_collection(c);
  if (!dir[0])
    return 0;
  /* First out of the way in one rename (to a name no collection has), so that a crash
   * part-way never leaves a folder with a log and no snapshot, which an open refuses. */
  char a[1024], b[1024], gone[1200];
  snprintf(a, sizeof a, "%s", dir);
  snprintf(b, sizeof b, "%s", dir);
  snprintf(gone, sizeof gone, "%s/.%s.dropped", dirname(a), basename(b));
  remove_files(gone); /* one an earlier drop left */
  if (rename(dir, gone) != 0)
    return errno == ENOENT ? 0 : omega__seterr(OMEGA_EIO, "%s: %s", dir, strerror(errno));
  int pfd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd >= 0) {
    fsync(pfd);
    close(pfd);
  }
  remove_files(gone);
  return 0;
}

/* ---- writes ---- */

static int apply_upsert(omega_collection_t *c, const unsigned char *key, size_t klen, const float *vec, int threads) {
  uint32_t old = omega__idmap_get(&c->ids, key, klen);
  int rc = omega__vindex_add(&c->ix, vec, 1, threads, NULL, NULL);
  if (rc)
    return rc;
  if ((rc = omega__idmap_append_slot(&c->ids, key, klen)) || (rc = omega__idmap_put(&c->ids, (uint32_t)c->ix.n - 1)))
    return rc;
  if (old != UINT32_MAX)
    omega__vindex_delete(&c->ix, old);
  return 0;
}

static int apply_delete(omega_collection_t *c, const unsigned char *key, size_t klen) {
  uint32_t slot = omega__idmap_get(&c->ids, key, klen);
  if (slot == UINT32_MAX)
    return 0;
  omega__idmap_remove(&c->ids, key, klen);
  omega__vindex_delete(&c->ix, slot);
  return 0;
}

static size_t bytes_locked(const omega_collection_t *c) {
  return omega__vindex_bytes(&c->ix) + omega__idmap_bytes(&c->ids);
}

/* The index builds its copy of the vectors (flat: AMX tiles; HNSW: half precision for walks)
 * and the flat search's projection bounds on demand, under a read lock (warm, a search), so
 * whether it may is settled here, under the write lock, whenever the size changes: only while
 * they fit the memory limit with everything else, the copy first. Once built they count in the
 * bytes the limit checks inserts against. */
static void decide_copy(omega_collection_t *c) {
  const size_t limit = c->opts.memory_limit, build = omega__vindex_copy_bytes_to_build(&c->ix);
  size_t bytes = bytes_locked(c);
  c->ix.copy_off = limit && build && bytes + build > limit;
  if (!c->ix.copy_off)
    bytes += build;
  const size_t proj = omega__proj_bytes_to_build(&c->ix);
  c->ix.proj_off = limit && proj && bytes + proj > limit;
}

/* Before n more points (key_bytes of ids) go in under a memory limit: the exact bytes they
 * would bring the collection to (vectors, graph, ids, each with its growth). Where the usual
 * growth would pass the limit, the capacity grows only as far as the limit allows. Where
 * even that does not fit: OMEGA_ERANGE, and nothing has changed. */
static int fit_memory_limit(omega_collection_t *c, size_t n, size_t key_bytes) {
  const size_t limit = c->opts.memory_limit, need = c->ix.n + n;
  const size_t ids = omega__idmap_bytes_after(&c->ids, n, key_bytes);
  size_t cap = omega__vindex_grow_cap(&c->ix, need);
  if (cap > c->ix.cap && cap > need && omega__vindex_bytes_after(&c->ix, cap, n) + ids > limit) {
    /* past the current capacity, bytes grow linearly with it: the most slots the limit
     * leaves room for (at least `need`; if that does not fit either, the check below says so) */
    const size_t at_need = omega__vindex_bytes_after(&c->ix, need, n) + ids;
    const size_t per = omega__vindex_bytes_after(&c->ix, need + 1, n) + ids - at_need;
    const size_t fit = at_need < limit ? need + (limit - at_need) / per : need;
    cap = fit < cap ? fit : cap;
  }
  const size_t after = omega__vindex_bytes_after(&c->ix, cap, n) + ids;
  if (after > limit)
    return omega__seterr(OMEGA_ERANGE, "collection %s: inserting %zu vectors would pass its memory limit of %zu bytes "
                                       "(%zu in use, %zu after)",
                         c->name, n, limit, bytes_locked(c), after);
  return cap > c->ix.cap ? omega__vindex_reserve(&c->ix, cap) : 0;
}

int omega_collection_upsert(omega_collection_t *c, const omega_id_t *ids, const float *vecs, size_t n, int threads) {
  const size_t d = c->ix.p.dim;
  unsigned char (*keys)[OMEGA_KEY_MAX] = malloc((n ? n : 1) * sizeof *keys);
  size_t *klen = malloc((n ? n : 1) * sizeof *klen);
  if (!keys || !klen) {
    free(keys);
    free(klen);
    return omega__seterr(OMEGA_ENOMEM, "upsert: out of memory");
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (!(klen[i] = omega__id_key(&ids[i], keys[i])))
      rc = omega__seterr(OMEGA_EINVAL, "point %zu: string ids must have 1-%d bytes", i, OMEGA_ID_MAX);
    else
      rc = omega__check_vector(vecs + i * d, d, "point", i, NULL);
  }
  char *buf = NULL;
  size_t blen = 0, bcap = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = omega__wal_encode(&buf, &blen, &bcap, OMEGA_WAL_UPSERT, keys[i], klen[i], vecs + i * d, d);
  if (rc) {
    free(keys);
    free(klen);
    free(buf);
    return rc;
  }
  pthread_rwlock_wrlock(&c->lock);
  if (c->opts.memory_limit) {
    size_t key_bytes = 0;
    for (size_t i = 0; i < n; i++)
      key_bytes += klen[i];
    rc = fit_memory_limit(c, n, key_bytes);
    if (rc) {
      pthread_rwlock_unlock(&c->lock);
      free(keys);
      free(klen);
      free(buf);
      return rc;
    }
  }
  /* the memory the records need is allocated before they are logged: once they are, only
   * linking them into the HNSW graph can fail, and the rows stay stored with their ids (as
   * the log holds them; HNSW searches find a row left unlinked again after a compaction) */
  size_t key_bytes = 0, n_new = 0;
  for (size_t i = 0; i < n; i++) {
    key_bytes += klen[i];
    n_new += omega__idmap_get(&c->ids, keys[i], klen[i]) == UINT32_MAX;
  }
  if (!(rc = omega__vindex_reserve(&c->ix, omega__vindex_grow_cap(&c->ix, c->ix.n + n))) &&
      !(rc = omega__idmap_prepare(&c->ids, n, n_new, key_bytes)))
    rc = wal_append(c, buf, blen, n);
  if (rc == 0) {
    /* add all vectors in one go (a parallel graph build), then map the ids in order */
    size_t first = c->ix.n;
    rc = omega__vindex_add(&c->ix, vecs, n, threads, NULL, NULL);
    for (size_t i = 0; i < n && c->ix.n == first + n; i++) {
      uint32_t prev = omega__idmap_get(&c->ids, keys[i], klen[i]);
      int mrc;
      if ((mrc = omega__idmap_append_slot(&c->ids, keys[i], klen[i])) ||
          (mrc = omega__idmap_put(&c->ids, (uint32_t)(first + i)))) {
        rc = mrc;
        break;
      }
      if (prev != UINT32_MAX)
        omega__vindex_delete(&c->ix, prev);
    }
    if (rc == 0 && c->dir[0] && c->wal_bytes > c->opts.wal_checkpoint_bytes)
      checkpoint_locked(c); /* a failed checkpoint is retried next time; the log keeps everything */
  }
  decide_copy(c);
  pthread_rwlock_unlock(&c->lock);
  free(keys);
  free(klen);
  free(buf);
  return rc;
}

int omega_collection_delete(omega_collection_t *c, const omega_id_t *ids, size_t n, size_t *deleted) {
  char *buf = NULL;
  size_t blen = 0, bcap = 0, count = 0, logged = 0;
  int rc = 0;
  pthread_rwlock_wrlock(&c->lock);
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned char key[OMEGA_KEY_MAX];
    size_t kl = omega__id_key(&ids[i], key);
    if (!kl) {
      rc = omega__seterr(OMEGA_EINVAL, "id %zu: string ids must have 1-%d bytes", i, OMEGA_ID_MAX);
      break;
    }
    if (omega__idmap_get(&c->ids, key, kl) != UINT32_MAX) {
      rc = omega__wal_encode(&buf, &blen, &bcap, OMEGA_WAL_DELETE, key, kl, NULL, 0);
      logged++;
    }
  }
  if (rc == 0 && blen)
    rc = wal_append(c, buf, blen, logged);
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned char key[OMEGA_KEY_MAX];
    size_t kl = omega__id_key(&ids[i], key);
    if (omega__idmap_get(&c->ids, key, kl) != UINT32_MAX) {
      apply_delete(c, key, kl);
      count++;
    }
  }
  pthread_rwlock_unlock(&c->lock);
  free(buf);
  if (deleted)
    *deleted = count;
  return rc;
}

/* ---- searches ---- */

typedef struct {
  omega_collection_t *c;
  const float *qs;
  size_t nq, k, ef;
  const omega_allow_t *allow;
  omega_result_t *out;
  size_t *counts;
  atomic_size_t next;
} search_job_t;

static void fill_results(omega_collection_t *c, const omega_hit_t *hits, size_t n, omega_result_t *out) {
  for (size_t i = 0; i < n && n != OMEGA_SEARCH_NOMEM; i++) {
    size_t kl;
    const unsigned char *key = omega__idmap_key(&c->ids, hits[i].slot, &kl);
    omega__key_to_result(key, kl, &out[i]);
    out[i].score = omega__score(&c->ix, hits[i].dist);
  }
}

static void *search_worker(void *arg) {
  search_job_t *j = arg;
  const size_t d = j->c->ix.p.dim;
  float *q = malloc(d * sizeof *q);
  omega_hit_t *hits = malloc(j->k * sizeof *hits);
  for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->nq;) {
    if (!q || !hits) {
      j->counts[i] = OMEGA_SEARCH_NOMEM;
      continue;
    }
    omega__vindex_prepare_query(&j->c->ix, j->qs + i * d, q);
    size_t n = omega__vindex_search(&j->c->ix, q, j->k, j->ef, j->allow, hits);
    fill_results(j->c, hits, n, j->out + i * j->k);
    j->counts[i] = n;
  }
  free(q);
  free(hits);
  return NULL;
}

typedef struct {
  const omega_vindex_t *ix;
  const float *qs;
  size_t nq, k;
  omega_hit_t *hits;
  size_t *counts;
} batch_part_t;

static void *batch_part(void *arg) {
  const batch_part_t *b = arg;
  omega__flat_search_batch(b->ix, b->qs, b->nq, b->k, b->hits, b->counts);
  return NULL;
}

/* The queries split into `threads` contiguous shares of whole 64-query blocks. */
static void batch_threads(const omega_vindex_t *ix, const float *qs, size_t nq, size_t k, int threads,
                          omega_hit_t *hits, size_t *counts) {
  const size_t d = ix->p.dim;
  size_t parts = threads < OMEGA_JOBS_MAX ? (size_t)threads : OMEGA_JOBS_MAX;
  size_t per = (nq + parts - 1) / parts;
  per = (per + 63) / 64 * 64;
  batch_part_t b[OMEGA_JOBS_MAX];
  size_t n = 0;
  for (size_t q0 = 0; q0 < nq; q0 += per, n++)
    b[n] = (batch_part_t){ix, qs + q0 * d, nq - q0 < per ? nq - q0 : per, k, hits + q0 * k, counts + q0};
  omega__run_jobs(batch_part, b, sizeof b[0], n);
}

int omega_collection_search(omega_collection_t *c, const float *qs, size_t nq, const omega_search_opts_t *o,
                            omega_result_t *out, size_t *counts) {
  const size_t d = c->ix.p.dim, k = o->k;
  if (k == 0 || k > 10000)
    return omega__seterr(OMEGA_EINVAL, "k must be in [1, 10000]");
  for (size_t i = 0; i < nq; i++) {
    int rc = omega__check_vector(qs + i * d, d, "query", i, NULL);
    if (rc)
      return rc;
  }
  pthread_rwlock_rdlock(&c->lock);
  omega_allow_t allow = {0};
  uint8_t *bits = NULL;
  if (o->allow) {
    bits = calloc(c->ix.n / 8 + 1, 1);
    if (!bits) {
      pthread_rwlock_unlock(&c->lock);
      return omega__seterr(OMEGA_ENOMEM, "search: out of memory");
    }
    for (size_t i = 0; i < o->n_allow; i++) {
      unsigned char key[OMEGA_KEY_MAX];
      size_t kl = omega__id_key(&o->allow[i], key);
      uint32_t s = kl ? omega__idmap_get(&c->ids, key, kl) : UINT32_MAX;
      if (s != UINT32_MAX && !(bits[s >> 3] >> (s & 7) & 1)) {
        bits[s >> 3] |= (uint8_t)(1u << (s & 7));
        allow.count++;
      }
    }
    allow.bits = bits;
  }
  const int threads = o->threads > 0 ? o->threads : 1;
  int rc = 0;
  memset(counts, 0, nq * sizeof *counts);
  bool done = false;
  if (c->gpu) {
    /* gpu_flat: exact on the GPU; any failure (or no GPU) runs the CPU flat path below */
    float *prep = malloc(nq * d * sizeof *prep);
    omega_hit_t *hits = malloc(nq * k * sizeof *hits);
    int grc = prep && hits ? 0 : OMEGA_ENOMEM;
    for (size_t i = 0; grc == 0 && i < nq; i++)
      omega__vindex_prepare_query(&c->ix, qs + i * d, prep + i * d);
    if (grc == 0)
      grc = omega__gpu_flat_search(c->gpu, &c->ix, prep, nq, k, o->allow ? &allow : NULL, hits, counts);
    if (grc == 0) {
      for (size_t i = 0; i < nq; i++)
        fill_results(c, hits + i * k, counts[i], out + i * k);
      done = true;
    } else {
      omega__gpu_flat_count(c->gpu, nq, grc == OMEGA_EDEVICE); /* a GPU failure, or no GPU / k too large */
      memset(counts, 0, nq * sizeof *counts);
    }
    free(prep);
    free(hits);
  }
  const bool flat = c->ix.p.kind == OMEGA_INDEX_FLAT || c->ix.p.kind == OMEGA_INDEX_GPU_FLAT;
  if (!done && flat && !o->allow && nq >= 8) {
    /* many exact queries: GEMM blocks, the BLAS library's threads */
    float *prep = malloc(nq * d * sizeof *prep);
    omega_hit_t *hits = malloc(nq * k * sizeof *hits);
    if (!prep || !hits) {
      rc = omega__seterr(OMEGA_ENOMEM, "search: out of memory for %zu queries", nq);
    } else {
      for (size_t i = 0; i < nq; i++)
        omega__vindex_prepare_query(&c->ix, qs + i * d, prep + i * d);
      if (omega__flat_amx_useful(&c->ix)) {
        /* AMX scores: Omega's threads, each on a share of the queries */
        batch_threads(&c->ix, prep, nq, k, threads, hits, counts);
      } else {
        /* the BLAS thread count is process-wide (the embedding engine's GEMMs use it too):
         * change it only when the caller asks for a number */
        if (o->threads > 0)
          openblas_set_num_threads(threads);
        omega__flat_search_batch(&c->ix, prep, nq, k, hits, counts);
      }
      for (size_t i = 0; i < nq; i++)
        fill_results(c, hits + i * k, counts[i], out + i * k);
    }
    free(prep);
    free(hits);
  } else if (!done) {
    search_job_t j = {.c = c, .qs = qs, .nq = nq, .k = k, .ef = o->ef, .allow = o->allow ? &allow : NULL, .out = out, .counts = counts};
    atomic_init(&j.next, 0);
    pthread_t th[64];
    int started = 0;
    for (int t = 1; t < threads && t < 64 && (size_t)t < nq; t++)
      if (pthread_create(&th[started], NULL, search_worker, &j) == 0)
        started++;
    search_worker(&j);
    for (int t = 0; t < started; t++)
      pthread_join(th[t], NULL);
  }
  pthread_rwlock_unlock(&c->lock);
  free(bits);
  for (size_t i = 0; i < nq && rc == 0; i++)
    if (counts[i] == OMEGA_SEARCH_NOMEM)
      rc = omega__seterr(OMEGA_ENOMEM, "search: out of memory");
  return rc;
}

/* ---- maintenance ---- */

int omega_collection_warm(omega_collection_t *c) {
  pthread_rwlock_rdlock(&c->lock);
  int rc = 0;
  if (omega__proj_allowed(&c->ix))
    rc = omega__proj_prepare(&c->ix, c->ix.proj);
  if (rc == 0)
    rc = omega__vindex_prepare_copy(&c->ix);
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

int omega_collection_compact(omega_collection_t *c) {
  pthread_rwlock_wrlock(&c->lock);
  omega_vindex_t nix;
  omega_idmap_t nids;
  const size_t d = c->ix.p.dim, live = c->ix.n - c->ix.n_dead;
  int rc = omega__vindex_init(&nix, &c->ix.p);
  if (rc == 0)
    rc = omega__idmap_init(&nids);
  if (rc == 0 && live)
    rc = omega__vindex_reserve(&nix, live);
  float *vecs = rc == 0 ? malloc((live ? live : 1) * d * sizeof *vecs) : NULL;
  if (rc == 0 && !vecs)
    rc = omega__seterr(OMEGA_ENOMEM, "compaction: out of memory");
  size_t k = 0;
  for (uint32_t s = 0; s < c->ix.n && rc == 0; s++) {
    if (c->ix.dead[s])
      continue;
    memcpy(vecs + k * d, c->ix.vecs + (size_t)s * d, d * sizeof *vecs);
    size_t kl;
    const unsigned char *key = omega__idmap_key(&c->ids, s, &kl);
    if ((rc = omega__idmap_append_slot(&nids, key, kl)) || (rc = omega__idmap_put(&nids, (uint32_t)k)))
      break;
    k++;
  }
  /* the stored vectors as they are (cosine ones are normalised already) */
  if (rc == 0)
    rc = omega__vindex_add_stored(&nix, vecs, live, 1);
  free(vecs);
  if (rc == 0) {
    omega__vindex_free(&c->ix);
    omega__idmap_free(&c->ids);
    c->ix = nix;
    c->ids = nids;
    bind_ties(c);
    decide_copy(c);
    rc = checkpoint_locked(c);
  } else {
    omega__vindex_free(&nix);
    omega__idmap_free(&nids);
  }
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

int omega_collection_reserve(omega_collection_t *c, size_t n) {
  pthread_rwlock_wrlock(&c->lock);
  int rc = 0;
  if (n > c->ix.cap) {
    const size_t more = n - c->ix.n, key_bytes = more * 9; /* integer ids */
    if (c->opts.memory_limit) {
      size_t after = omega__vindex_bytes_after(&c->ix, n, more) + omega__idmap_bytes_after(&c->ids, more, key_bytes);
      if (after > c->opts.memory_limit)
        rc = omega__seterr(OMEGA_ERANGE, "collection %s: room for %zu vectors would pass its memory limit of %zu bytes",
                           c->name, n, c->opts.memory_limit);
    }
    if (rc == 0)
      rc = omega__vindex_reserve(&c->ix, n);
    if (rc == 0)
      rc = omega__idmap_reserve(&c->ids, n, c->ids.arena_len + key_bytes);
  }
  decide_copy(c);
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

int omega_collection_snapshot(omega_collection_t *c) {
  pthread_rwlock_wrlock(&c->lock);
  int rc = checkpoint_locked(c);
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

void omega_collection_stats(omega_collection_t *c, omega_collection_stats_t *st) {
  pthread_rwlock_rdlock(&c->lock);
  memset(st, 0, sizeof *st);
  snprintf(st->name, sizeof st->name, "%s", c->name);
  st->params = c->ix.p;
  st->slots = c->ix.n;
  st->deleted = c->ix.n_dead;
  st->count = c->ix.n - c->ix.n_dead;
  st->bytes = bytes_locked(c);
  st->wal_bytes = c->wal_fd >= 0 ? c->wal_bytes : 0;
  st->snapshots = c->snapshots;
  st->last_snapshot_ms = c->last_snapshot_ms;
  st->persistent = c->dir[0] != '\0';
  if (c->gpu) {
    omega_gpu_flat_stats_t g;
    omega__gpu_flat_stats(c->gpu, &g);
    st->gpu_active = g.active;
    snprintf(st->gpu_reason, sizeof st->gpu_reason, "%s", g.reason);
    st->gpu_bytes = g.gpu_bytes;
    st->queries_gpu = g.gpu_queries;
    st->queries_cpu = g.cpu_queries;
    st->queries_fallback = g.fallback_queries;
  }
  pthread_rwlock_unlock(&c->lock);
}

int omega_collection_save_file(omega_collection_t *c, const char *path) {
  pthread_rwlock_rdlock(&c->lock);
  /* a file of its own, tied to no log: no identity, so that one build gives the same bytes */
  const omega_snap_meta_t m = {.generation = c->generation};
  int rc = omega__snapshot_write(path, c->name, &m, &c->ix, &c->ids, true);
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

int omega_collection_load_file(const char *path, omega_collection_t **out) {
  omega_collection_t *c = alloc_collection("", NULL);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  omega_snap_meta_t m;
  int rc = omega__snapshot_read(path, c->name, &m, &c->ix, &c->ids);
  if (rc) {
    free_collection(c);
    return rc;
  }
  c->generation = m.generation;
  c->uid = m.uid ? m.uid : new_uid();
  bind_ties(c);
  *out = c;
  return 0;
}

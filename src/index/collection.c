/* Collections: a vector index, external ids, and durability. A write is appended to the
 * log (and fsynced when the policy says so) before the index changes and before it is
 * acknowledged; a snapshot (written atomically) periodically replaces the log. Searches
 * share a read lock; writes take it exclusively. */
#include "core/error_internal.h"
#include "core/file.h"
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
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  int wal_fd;
  size_t wal_bytes;
  uint64_t generation;
  unsigned long long snapshots;
  double last_snapshot_ms;
  /* background fsync */
  pthread_t syncer;
  bool syncer_running;
  atomic_int stop, dirty;
  pthread_mutex_t sync_mu;
  pthread_cond_t sync_cv;
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void path_in(const omega_collection_t *c, const char *file, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", c->dir, file);
}

/* ---- the log ---- */

static int wal_open_fresh(omega_collection_t *c) {
  char p[1200];
  path_in(c, "wal.log", p, sizeof p);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return omega__seterr(OMEGA_EIO, "%s: %s", p, strerror(errno));
  unsigned char h[OMEGA_WAL_HEADER];
  omega__wal_header(h, c->generation);
  if (write(fd, h, sizeof h) != (ssize_t)sizeof h || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return omega__seterr(OMEGA_EIO, "%s: %s", p, strerror(e));
  }
  if (c->wal_fd >= 0)
    close(c->wal_fd);
  c->wal_fd = fd;
  c->wal_bytes = sizeof h;
  return 0;
}

static int wal_append(omega_collection_t *c, const char *buf, size_t len) {
  if (c->wal_fd < 0) {
    if (!c->dir[0])
      return 0; /* in memory only */
    /* a checkpoint could not start a new log: start it now, or refuse the write */
    int rc = wal_open_fresh(c);
    if (rc)
      return rc;
  }
  for (size_t off = 0; off < len;) {
    ssize_t w = write(c->wal_fd, buf + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return omega__seterr(OMEGA_EIO, "%s/wal.log: write failed: %s", c->dir, strerror(errno));
    off += (size_t)w;
  }
  c->wal_bytes += len;
  if (c->opts.fsync_always) {
    if (fdatasync(c->wal_fd) != 0)
      return omega__seterr(OMEGA_EIO, "%s/wal.log: fsync failed: %s", c->dir, strerror(errno));
  } else {
    atomic_store(&c->dirty, 1);
  }
  return 0;
}

static void *syncer(void *arg) {
  omega_collection_t *c = arg;
  pthread_mutex_lock(&c->sync_mu);
  while (!atomic_load(&c->stop)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ms = c->opts.fsync_interval_ms;
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&c->sync_cv, &c->sync_mu, &until);
    if (atomic_exchange(&c->dirty, 0)) {
      pthread_rwlock_rdlock(&c->lock);
      if (c->wal_fd >= 0)
        fdatasync(c->wal_fd);
      pthread_rwlock_unlock(&c->lock);
    }
  }
  pthread_mutex_unlock(&c->sync_mu);
  return NULL;
}

/* ---- snapshots ---- */

static int checkpoint_locked(omega_collection_t *c) {
  if (!c->dir[0])
    return 0;
  double t0 = now_ms();
  char p[1200];
  path_in(c, "snapshot.omg", p, sizeof p);
  c->generation++;
  int rc = omega__snapshot_write(p, c->name, c->generation, &c->ix, &c->ids);
  if (rc) {
    c->generation--;
    return rc;
  }
  /* the snapshot holds everything the log had: start a new, empty log. If that fails, the
   * old log (of the previous generation) would be ignored by the next open, so nothing may
   * be appended to it: close it; the next write opens a new one or fails. */
  if ((rc = wal_open_fresh(c))) {
    if (c->wal_fd >= 0) {
      close(c->wal_fd);
      c->wal_fd = -1;
    }
    return rc;
  }
  c->snapshots++;
  c->last_snapshot_ms = now_ms() - t0;
  return 0;
}

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

int omega_collection_create(const char *name, const omega_index_params_t *p, const omega_collection_opts_t *o,
                            omega_collection_t **out) {
  if (!name || !valid_name(name))
    return omega__seterr(OMEGA_EINVAL, "collection name must be 1-64 characters of [A-Za-z0-9_.-], not starting with .");
  omega_collection_t *c = alloc_collection(name, o);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  int rc = omega__vindex_init(&c->ix, p);
  if (rc == 0)
    rc = omega__idmap_init(&c->ids);
  bind_ties(c);
  if (rc == 0 && c->dir[0]) {
    char snap[1200];
    path_in(c, "snapshot.omg", snap, sizeof snap);
    if (mkdir(c->dir, 0755) != 0 && errno != EEXIST)
      rc = omega__seterr(OMEGA_EIO, "%s: %s", c->dir, strerror(errno));
    else if (omega__is_file(snap))
      rc = omega__seterr(OMEGA_EINVAL, "%s already holds a collection", c->dir);
    else
      rc = checkpoint_locked(c); /* an empty snapshot: the collection exists from now on */
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

int omega_collection_open(const char *dir, const omega_collection_opts_t *o, omega_collection_t **out) {
  omega_collection_opts_t opts = o ? *o : (omega_collection_opts_t){0};
  opts.dir = dir;
  omega_collection_t *c = alloc_collection("", &opts);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  char snap[1200], wal[1200];
  path_in(c, "snapshot.omg", snap, sizeof snap);
  path_in(c, "wal.log", wal, sizeof wal);
  int rc = omega__snapshot_read(snap, c->name, &c->generation, &c->ix, &c->ids);
  if (rc) {
    free_collection(c);
    return rc;
  }
  bind_ties(c);
  size_t good = 0, records = 0;
  if (omega__is_file(wal)) {
    rc = omega__wal_replay(wal, c->generation, c->ix.p.dim, replay_one, c, &good, &records);
    if (rc) {
      free_collection(c);
      return rc;
    }
  }
  /* continue the log where the last complete record ends (a torn tail is cut off) */
  int fd = omega__is_file(wal) && good >= OMEGA_WAL_HEADER ? open(wal, O_WRONLY | O_CLOEXEC) : -1;
  if (fd >= 0 && ftruncate(fd, (off_t)good) == 0 && lseek(fd, 0, SEEK_END) >= 0) {
    c->wal_fd = fd;
    c->wal_bytes = good;
  } else {
    if (fd >= 0)
      close(fd);
    /* no usable log: snapshot what was replayed, start a new one */
    if ((rc = records ? checkpoint_locked(c) : wal_open_fresh(c))) {
      free_collection(c);
      return rc;
    }
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

int omega_collection_drop(omega_collection_t *c) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", c->dir);
  free_collection(c);
  if (!dir[0])
    return 0;
  static const char *const files[] = {"snapshot.omg", "snapshot.omg.tmp", "wal.log"};
  for (size_t i = 0; i < 3; i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    unlink(p);
  }
  if (rmdir(dir) != 0 && errno != ENOENT)
    return omega__seterr(OMEGA_EIO, "%s: %s", dir, strerror(errno));
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
    for (size_t k = 0; k < d && rc == 0; k++)
      if (!isfinite(vecs[i * d + k]))
        rc = omega__seterr(OMEGA_EINVAL, "point %zu: component %zu is not a finite number", i, k);
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
  rc = wal_append(c, buf, blen);
  if (rc == 0) {
    /* add all vectors in one go (a parallel graph build), then map the ids in order */
    size_t first = c->ix.n;
    rc = omega__vindex_add(&c->ix, vecs, n, threads, NULL, NULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
      uint32_t prev = omega__idmap_get(&c->ids, keys[i], klen[i]);
      if ((rc = omega__idmap_append_slot(&c->ids, keys[i], klen[i])) ||
          (rc = omega__idmap_put(&c->ids, (uint32_t)(first + i))))
        break;
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
  size_t blen = 0, bcap = 0, count = 0;
  int rc = 0;
  pthread_rwlock_wrlock(&c->lock);
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned char key[OMEGA_KEY_MAX];
    size_t kl = omega__id_key(&ids[i], key);
    if (!kl) {
      rc = omega__seterr(OMEGA_EINVAL, "id %zu: string ids must have 1-%d bytes", i, OMEGA_ID_MAX);
      break;
    }
    if (omega__idmap_get(&c->ids, key, kl) != UINT32_MAX)
      rc = omega__wal_encode(&buf, &blen, &bcap, OMEGA_WAL_DELETE, key, kl, NULL, 0);
  }
  if (rc == 0 && blen)
    rc = wal_append(c, buf, blen);
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
  for (size_t i = 0; i < n; i++) {
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
  for (size_t i; q && hits && (i = atomic_fetch_add(&j->next, 1)) < j->nq;) {
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
  for (size_t i = 0; i < nq * d; i++)
    if (!isfinite(qs[i]))
      return omega__seterr(OMEGA_EINVAL, "query %zu: component %zu is not a finite number", i / d, i % d);
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
  int rc = omega__snapshot_write(path, c->name, c->generation, &c->ix, &c->ids);
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

int omega_collection_load_file(const char *path, omega_collection_t **out) {
  omega_collection_t *c = alloc_collection("", NULL);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  int rc = omega__snapshot_read(path, c->name, &c->generation, &c->ix, &c->ids);
  if (rc) {
    free_collection(c);
    return rc;
  }
  bind_ties(c);
  *out = c;
  return 0;
}

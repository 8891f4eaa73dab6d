/* Collections: a vector index, external ids, and durability (collection_log.c). The
 * lifecycle (create, open, close, drop), writes, the memory limit and maintenance; searches
 * are collection_search.c. Searches share a read lock; writes take it exclusively. */
#include "index/collection_internal.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "index/flat_proj.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Rows in one upsert from which it counts as a build: the search structures are warmed after it. */
#define WARM_AFTER_ROWS 1024

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
  omega_collection_t *c = omega__calloc(1, sizeof *c);
  if (!c)
    return NULL;
  snprintf(c->name, sizeof c->name, "%s", name);
  if (o)
    c->opts = *o;
  if (!c->opts.wal_checkpoint_bytes)
    c->opts.wal_checkpoint_bytes = 64u << 20;
  if (o && o->dir)
    snprintf(c->dir, sizeof c->dir, "%s", o->dir);
  pthread_rwlock_init(&c->lock, NULL);
  omega__coll_log_init(c);
  return c;
}

static void free_collection(omega_collection_t *c) {
  omega__coll_log_close(c);
  omega__gpu_flat_free(c->gpu);
  omega__vindex_free(&c->ix);
  omega__idmap_free(&c->ids);
  pthread_rwlock_destroy(&c->lock);
  omega__free(c);
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
      rc = omega__coll_checkpoint(c, true); /* an empty snapshot and log: the collection exists from now on */
  }
  if (rc) {
    free_collection(c);
    return rc;
  }
  decide_copy(c);
  omega__coll_syncer_start(c);
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
  omega__coll_path(c, "snapshot.omg", snap, sizeof snap);
  omega_snap_meta_t m;
  int rc = omega__is_file(snap) ? omega__snapshot_read(snap, c->name, &m, &c->ix, &c->ids) : snapshot_missing(c->dir);
  if (rc == 0) {
    c->generation = m.generation;
    c->uid = m.uid ? m.uid : new_uid(); /* format 1 or a one-file index: its first checkpoint names it */
    bind_ties(c);
    rc = omega__coll_log_open(c, &m, replay_one);
  }
  if (rc) {
    free_collection(c);
    return rc;
  }
  for (size_t i = 2; i < 4; i++) { /* what a checkpoint cut short left */
    char p[1200];
    omega__coll_path(c, coll_files[i], p, sizeof p);
    unlink(p);
  }
  decide_copy(c);
  omega__coll_syncer_start(c);
  *out = c;
  return 0;
}

void omega_collection_close(omega_collection_t *c) {
  if (!c)
    return;
  pthread_rwlock_wrlock(&c->lock);
  if (c->dir[0] && c->wal_bytes > OMEGA_WAL_HEADER)
    omega__coll_checkpoint(c, false); /* a failed checkpoint leaves the log, which still has everything */
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
  unsigned char (*keys)[OMEGA_KEY_MAX] = omega__malloc((n ? n : 1) * sizeof *keys);
  size_t *klen = omega__malloc((n ? n : 1) * sizeof *klen);
  if (!keys || !klen) {
    omega__free(keys);
    omega__free(klen);
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
    omega__free(keys);
    omega__free(klen);
    omega__free(buf);
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
      omega__free(keys);
      omega__free(klen);
      omega__free(buf);
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
    rc = omega__coll_log_append(c, buf, blen, n);
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
      omega__coll_checkpoint(c, false); /* a failed checkpoint is retried next time; the log keeps everything */
  }
  decide_copy(c);
  /* after a build-sized batch, what the first search would set up (the copy only where
   * decide_copy left room for it), so that search is as fast as the next; a failure leaves
   * it to that search */
  if (rc == 0 && n >= WARM_AFTER_ROWS && c->ix.g)
    (void)omega__vindex_prepare_copy(&c->ix);
  pthread_rwlock_unlock(&c->lock);
  omega__free(keys);
  omega__free(klen);
  omega__free(buf);
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
    rc = omega__coll_log_append(c, buf, blen, logged);
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned char key[OMEGA_KEY_MAX];
    size_t kl = omega__id_key(&ids[i], key);
    if (omega__idmap_get(&c->ids, key, kl) != UINT32_MAX) {
      apply_delete(c, key, kl);
      count++;
    }
  }
  pthread_rwlock_unlock(&c->lock);
  omega__free(buf);
  if (deleted)
    *deleted = count;
  return rc;
}

/* ---- maintenance ---- */

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
  float *vecs = rc == 0 ? omega__malloc((live ? live : 1) * d * sizeof *vecs) : NULL;
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
  omega__free(vecs);
  if (rc == 0) {
    omega__vindex_free(&c->ix);
    omega__idmap_free(&c->ids);
    c->ix = nix;
    c->ids = nids;
    bind_ties(c);
    decide_copy(c);
    rc = omega__coll_checkpoint(c, false);
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
  int rc = omega__coll_checkpoint(c, false);
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

/* The registry of the server's collections, their folders, and their metrics. */
#include "server/collections.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_CREATING, ST_READY, ST_DROPPING };

struct omega_colls {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a reference was put back */
  omega_coll_t *head;
  char root[1100]; /* DATA_DIR/collections, or "" in memory */
  omega_collection_opts_t opts;
  omega_family_t *vectors, *bytes, *wal, *snapshot_s, *latency, *queries;
};

static const double latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 10};
static const double snapshot_buckets[] = {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300};

static omega_coll_t *find(omega_colls_t *r, const char *name) {
  for (omega_coll_t *e = r->head; e; e = e->next)
    if (strcmp(e->name, name) == 0)
      return e;
  return NULL;
}

static void unlink_entry(omega_colls_t *r, omega_coll_t *e) {
  for (omega_coll_t **pp = &r->head; *pp; pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      return;
    }
}

/* Gauges from the cached stats: a scrape must not wait behind a long write holding a
 * collection's lock. */
static void collect(void *user) {
  omega_colls_t *r = user;
  pthread_mutex_lock(&r->mu);
  for (omega_coll_t *e = r->head; e; e = e->next) {
    if (e->state != ST_READY)
      continue;
    omega__series_set(omega__series(r->vectors, e->name, NULL, NULL), (double)e->count);
    omega__series_set(omega__series(r->bytes, e->name, NULL, NULL), (double)e->bytes);
    omega__series_set(omega__series(r->wal, e->name, NULL, NULL), (double)e->wal_bytes);
  }
  pthread_mutex_unlock(&r->mu);
}

static const char *const coll[] = {"collection", NULL}, *const kind_route[] = {"kind", "route", NULL};
/* the series that must exist from the first scrape: (kind, route) pairs */
static const char *const query_series[] = {"flat", "cpu", "hnsw", "cpu", "gpu_flat", "gpu", "gpu_flat", "cpu",
                                           "gpu_flat", "fallback", NULL};

#define SLOT(field) offsetof(omega_colls_t, field)

static const omega_family_def_t families[] = {
    {SLOT(latency), "omega_search_latency_seconds",
     "Vector search time per request (all its queries), text embedding excluded.", .type = OMEGA_METRIC_HISTOGRAM,
     .buckets = latency_buckets, .n_buckets = sizeof latency_buckets / sizeof latency_buckets[0],
     .series = OMEGA_METRICS_UNLABELLED},
    {SLOT(queries), "omega_search_queries_total",
     "Search queries by index kind and the device that ran them (gpu, cpu, fallback = CPU after a GPU failure).",
     .type = OMEGA_METRIC_COUNTER, .labels = kind_route, .series = query_series},
    {SLOT(vectors), "omega_index_vectors", "Live vectors per collection.", .type = OMEGA_METRIC_GAUGE, .labels = coll},
    {SLOT(bytes), "omega_index_bytes", "Memory used per collection (vectors, graph, ids).", .type = OMEGA_METRIC_GAUGE,
     .labels = coll},
    {SLOT(wal), "omega_index_wal_bytes", "Write-ahead log size per collection.", .type = OMEGA_METRIC_GAUGE,
     .labels = coll},
    {SLOT(snapshot_s), "omega_index_snapshot_seconds",
     "Duration of collection snapshots (explicit, compaction, log checkpoints).", .type = OMEGA_METRIC_HISTOGRAM,
     .buckets = snapshot_buckets, .n_buckets = sizeof snapshot_buckets / sizeof snapshot_buckets[0],
     .series = OMEGA_METRICS_UNLABELLED},
};

static void metrics_init(omega_colls_t *r, omega_metrics_t *m) {
  omega__metrics_register(m, families, sizeof families / sizeof families[0], r);
  omega__metrics_on_collect(m, collect, r);
}

void omega__coll_refresh(omega_colls_t *r, omega_coll_t *e, omega_collection_stats_t *out) {
  omega_collection_stats_t st;
  omega_collection_stats(e->c, &st);
  pthread_mutex_lock(&r->mu);
  e->count = st.count;
  e->bytes = st.bytes;
  e->wal_bytes = st.wal_bytes;
  /* snapshots happen inside upserts (log checkpoints) too; only the last duration is known */
  if (st.snapshots > e->snapshots_seen) {
    e->snapshots_seen = st.snapshots;
    omega__series_observe(omega__series(r->snapshot_s, NULL, NULL, NULL), st.last_snapshot_ms / 1e3);
  }
  /* only the library knows which device ran a gpu_flat query; its counts only grow, but
   * two refreshes may read them in either order */
  const unsigned long long routes[3] = {st.queries_gpu, st.queries_cpu, st.queries_fallback};
  static const char *const route_names[3] = {"gpu", "cpu", "fallback"};
  for (int i = 0; i < 3 && st.params.kind == OMEGA_INDEX_GPU_FLAT; i++)
    if (routes[i] > e->routes_seen[i]) {
      omega__series_add(omega__series(r->queries, "gpu_flat", route_names[i], NULL),
                       (double)(routes[i] - e->routes_seen[i]));
      e->routes_seen[i] = routes[i];
    }
  pthread_mutex_unlock(&r->mu);
  if (out)
    *out = st;
}

static omega_coll_t *new_entry(const char *name) {
  omega_coll_t *e = omega__calloc(1, sizeof *e);
  if (e)
    snprintf(e->name, sizeof e->name, "%s", name);
  return e;
}

static int dir_of(const omega_colls_t *r, const char *name, char *out, size_t cap) {
  return omega__path_join(out, cap, r->root, name);
}

/* Whether OMEGA_INDEX_ACCEPT_LOSS (names, comma-separated, or *) names this collection. */
static bool accepts_loss(const char *list, const char *name) {
  const size_t n = strlen(name);
  for (const char *p = list; *p;) {
    p += strspn(p, " ,");
    const size_t len = strcspn(p, ",");
    size_t l = len;
    while (l && p[l - 1] == ' ')
      l--;
    if ((l == 1 && p[0] == '*') || (l == n && l && memcmp(p, name, n) == 0))
      return true;
    p += len;
  }
  return false;
}

/* Open one collection folder found at start-up. A folder that holds a collection's files
 * but cannot be opened stops the start-up (never skipped: the next create of its name would
 * meet those files). */
static int open_one(omega_colls_t *r, const omega_settings_t *set, const char *name) {
  char dir[1200], snap[1300], wal[1300];
  if (dir_of(r, name, dir, sizeof dir) || !omega__is_dir(dir))
    return 0;
  snprintf(snap, sizeof snap, "%s/snapshot.omg", dir);
  snprintf(wal, sizeof wal, "%s/wal.log", dir);
  if (!omega__is_file(snap) && !omega__is_file(wal)) {
    /* a create cut short before its snapshot: it was never acknowledged */
    omega__log(OMEGA_LOG_WARN, "collections: skipping %s, which holds no snapshot.omg or wal.log", dir);
    return 0;
  }
  if (strlen(name) >= sizeof ((omega_coll_t *)0)->name)
    return omega__seterr(OMEGA_EINVAL, "collections: folder name %s is too long", dir);
  omega_collection_opts_t o = r->opts;
  o.dir = dir;
  o.accept_loss = accepts_loss(set->omega_index_accept_loss, name);
  omega_collection_t *c;
  int rc = omega_collection_open(dir, &o, &c);
  if (rc) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", omega_errmsg());
    if (rc == OMEGA_EFORMAT && omega__is_file(snap) && !o.accept_loss)
      return omega__seterr(rc, "collection %s: %s (restore the collection's files; or, where it is the log that lost "
                               "writes and losing them is acceptable, start once with OMEGA_INDEX_ACCEPT_LOSS=%s)",
                           name, msg, name);
    return omega__seterr(rc, "collection %s: %s", name, msg);
  }
  omega_coll_t *e = new_entry(name);
  if (!e) {
    omega_collection_close(c);
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  }
  e->c = c;
  /* search structures now, so the first search after a restart is not the slow one */
  if (omega_collection_warm(c) != 0)
    omega__log(OMEGA_LOG_WARN, "collection %s: %s (searches will build it)", name, omega_errmsg());
  omega_collection_stats_t st;
  omega__coll_refresh(r, e, &st);
  pthread_mutex_lock(&r->mu); /* /metrics may already be scraping */
  e->params = st.params;
  e->state = ST_READY;
  e->next = r->head;
  r->head = e;
  pthread_mutex_unlock(&r->mu);
  omega__log(OMEGA_LOG_INFO, "collection %s: %zu vectors (%s, %s, dim %zu), log of %zu bytes", name, st.count,
            omega_index_kind_name(st.params.kind), omega_metric_name(st.params.metric), st.params.dim, st.wal_bytes);
  return 0;
}

int omega__colls_open(const omega_settings_t *set, omega_metrics_t *m, omega_colls_t **out) {
  omega_colls_t *r = omega__calloc(1, sizeof *r);
  if (!r)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->opts.fsync_always = set->omega_index_fsync == OMEGA_CFG_FSYNC_ALWAYS;
  r->opts.fsync_interval_ms = (unsigned)set->omega_index_fsync_interval_ms;
  r->opts.memory_limit = (size_t)set->omega_index_memory_limit_mb << 20;
  metrics_init(r, m);
  *out = r;
  if (!set->omega_data_dir[0])
    return 0;
  int rc = omega__path_join(r->root, sizeof r->root, set->omega_data_dir, "collections");
  if (rc || (rc = omega__mkdir_p(r->root)))
    return omega__prefixerr(rc ? rc : OMEGA_EIO, "OMEGA_DATA_DIR");
  DIR *d = opendir(r->root);
  if (!d)
    return omega__seterr(OMEGA_EIO, "OMEGA_DATA_DIR: cannot read %s: %s", r->root, strerror(errno));
  struct dirent *de;
  while (rc == 0 && (de = readdir(d)) != NULL)
    if (de->d_name[0] != '.')
      rc = open_one(r, set, de->d_name);
  closedir(d);
  return rc;
}

void omega__colls_close(omega_colls_t *r) {
  if (!r)
    return;
  for (omega_coll_t *e = r->head, *n; e; e = n) {
    n = e->next;
    if (e->c)
      omega_collection_close(e->c);
    omega__free(e);
  }
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  omega__free(r);
}

size_t omega__colls_count(omega_colls_t *r) {
  size_t n = 0;
  pthread_mutex_lock(&r->mu);
  for (omega_coll_t *e = r->head; e; e = e->next)
    n += e->state == ST_READY;
  pthread_mutex_unlock(&r->mu);
  return n;
}

size_t omega__colls_memory_limit(const omega_colls_t *r) { return r->opts.memory_limit; }

int omega__colls_create(omega_colls_t *r, const char *name, const omega_index_params_t *p, bool *exists,
                        omega_coll_t **out) {
  *exists = false;
  *out = NULL;
  char dir[1200] = "";
  if (strlen(name) >= sizeof ((omega_coll_t *)0)->name || (r->root[0] && dir_of(r, name, dir, sizeof dir)))
    return omega__seterr(OMEGA_EINVAL, "collection name must be 1-64 characters of [A-Za-z0-9_.-], not starting with .");
  /* a placeholder holds the name while the files are written outside the lock */
  pthread_mutex_lock(&r->mu);
  if (find(r, name)) {
    pthread_mutex_unlock(&r->mu);
    *exists = true;
    return 0;
  }
  omega_coll_t *e = new_entry(name);
  if (!e) {
    pthread_mutex_unlock(&r->mu);
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  }
  e->state = ST_CREATING;
  e->refs = 1;
  e->next = r->head;
  r->head = e;
  pthread_mutex_unlock(&r->mu);
  omega_collection_opts_t o = r->opts;
  o.dir = dir[0] ? dir : NULL;
  int rc = omega_collection_create(name, p, &o, &e->c);
  if (rc) {
    pthread_mutex_lock(&r->mu);
    unlink_entry(r, e);
    pthread_mutex_unlock(&r->mu);
    omega__free(e);
    return rc;
  }
  omega_collection_stats_t st;
  omega__coll_refresh(r, e, &st);
  pthread_mutex_lock(&r->mu);
  e->params = st.params;
  e->state = ST_READY;
  pthread_mutex_unlock(&r->mu);
  *out = e;
  return 0;
}

omega_coll_t *omega__colls_get(omega_colls_t *r, const char *name) {
  pthread_mutex_lock(&r->mu);
  omega_coll_t *e = find(r, name);
  if (e && e->state == ST_READY)
    e->refs++;
  else
    e = NULL;
  pthread_mutex_unlock(&r->mu);
  return e;
}

void omega__colls_put(omega_colls_t *r, omega_coll_t *e) {
  if (!e)
    return;
  pthread_mutex_lock(&r->mu);
  if (--e->refs == 0)
    pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

int omega__colls_drop(omega_colls_t *r, const char *name, bool *found) {
  pthread_mutex_lock(&r->mu);
  omega_coll_t *e = find(r, name);
  *found = e && e->state == ST_READY;
  if (!*found) {
    pthread_mutex_unlock(&r->mu);
    return 0;
  }
  /* new requests see no collection from here on; wait for the ones using it */
  e->state = ST_DROPPING;
  while (e->refs > 0)
    pthread_cond_wait(&r->cv, &r->mu);
  pthread_mutex_unlock(&r->mu);
  int rc = omega_collection_drop(e->c);
  pthread_mutex_lock(&r->mu);
  unlink_entry(r, e);
  omega__series_remove(r->vectors, name, NULL, NULL);
  omega__series_remove(r->bytes, name, NULL, NULL);
  omega__series_remove(r->wal, name, NULL, NULL);
  pthread_mutex_unlock(&r->mu);
  omega__free(e);
  return rc;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(omega_coll_t *const *)a)->name, (*(omega_coll_t *const *)b)->name);
}

size_t omega__colls_list(omega_colls_t *r, omega_coll_t ***out) {
  pthread_mutex_lock(&r->mu);
  size_t n = 0;
  for (omega_coll_t *e = r->head; e; e = e->next)
    n += e->state == ST_READY;
  omega_coll_t **v = omega__malloc((n ? n : 1) * sizeof *v);
  size_t k = 0;
  for (omega_coll_t *e = r->head; v && e; e = e->next)
    if (e->state == ST_READY) {
      e->refs++;
      v[k++] = e;
    }
  pthread_mutex_unlock(&r->mu);
  if (v)
    qsort(v, k, sizeof *v, by_name);
  *out = v;
  return k;
}

void omega__colls_observe_search(omega_colls_t *r, omega_coll_t *e, size_t nq, double seconds) {
  omega__series_observe(omega__series(r->latency, NULL, NULL, NULL), seconds);
  if (e->params.kind == OMEGA_INDEX_GPU_FLAT)
    omega__coll_refresh(r, e, NULL); /* the library counted them by route */
  else
    omega__series_add(omega__series(r->queries, omega_index_kind_name(e->params.kind), "cpu", NULL), (double)nq);
}

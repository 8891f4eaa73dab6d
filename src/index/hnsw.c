/* HNSW (Malkov & Yashunin): a navigable small-world graph per level. Level 0 holds every
 * node with up to 2M links, upper levels fewer nodes with up to M. Inserts search the graph
 * with a beam of ef_construction and keep neighbours by the paper's heuristic; builds run on
 * several threads with striped node locks. Queries descend greedily, then beam-search level
 * 0; tombstoned and filtered-out nodes are traversed but never returned. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/parallel.h"
#include "index/heap.h"
#include "index/hnsw.h"
#include "index/walk16.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define PREFETCH(p) __builtin_prefetch(p)
#endif

#define LOCK_STRIPES 65536
#define MAX_LEVEL 31

struct omega_hnsw {
  size_t M, M0, cap;
  double mult;
  int32_t *links0;  /* [cap][1 + M0]: count, then neighbours */
  int32_t **upper;  /* per node: NULL or [level][1 + M] */
  uint8_t *level;
  _Atomic int32_t entry;
  _Atomic int max_level;
  pthread_mutex_t global;
  pthread_mutex_t stripes[LOCK_STRIPES];
  /* visited lists for queries and builds, reused */
  pthread_mutex_t pool_mu;
  struct visited *pool;
};

/* The slots a walk has seen: one bit each (a million slots in 125 KB, so the check stays in
 * the core's cache), and the words it set, so clearing costs what the walk touched. */
typedef struct visited {
  uint64_t *bits;
  size_t words;
  uint32_t *touched;
  size_t n_touched, touched_cap;
  bool overflow; /* a touched word could not be recorded: clear every word */
  omega_heap_t top, cand; /* a query's heaps and scaled copy, kept with its visited list for the next one */
  float *q16;
  size_t q16_cap;
  struct visited *next;
} visited_t;

/* ---- small helpers ---- */

static inline float dist(const omega_vindex_t *ix, const float *q, uint32_t slot) {
  const float *v = ix->vecs + (size_t)slot * ix->p.dim;
  if (ix->p.metric == OMEGA_METRIC_L2)
    return ix->simd->l2sq(q, v, ix->p.dim);
  return -ix->simd->dot(q, v, ix->p.dim);
}

/* The rows a walk reads: the fp32 vectors, or their half-precision copy (then the query is
 * scaled like it). */
typedef struct {
  const char *base;
  size_t row_bytes;
  bool half; /* base holds half-precision rows */
} rows_t;

static rows_t rows_fp32(const omega_vindex_t *ix) {
  return (rows_t){(const char *)ix->vecs, ix->p.dim * sizeof(float), false};
}

static inline float walk_dist(const omega_vindex_t *ix, const rows_t *r, const float *q, uint32_t slot) {
  if (!r->half)
    return dist(ix, q, slot);
  const uint16_t *v = (const uint16_t *)r->base + (size_t)slot * ix->p.dim;
  if (ix->p.metric == OMEGA_METRIC_L2)
    return ix->simd->l2sq_f16(q, v, ix->p.dim);
  return -ix->simd->dot_f16(q, v, ix->p.dim);
}

/* The rest of a row past its first line (which the caller prefetched with the others). */
static inline void prefetch_rest(const rows_t *r, uint32_t slot) {
  const char *v = r->base + slot * r->row_bytes;
  for (size_t o = 64; o < r->row_bytes; o += 64)
    PREFETCH(v + o);
}

/* out[i] = walk_dist of slot s[i], four half-precision rows at a time where the kernels have
 * it; the rest of the rows of the next group are fetched while a group is scored. */
static void walk_dists(const omega_vindex_t *ix, const rows_t *r, const float *q, const uint32_t *s, int32_t n,
                       float *out) {
  int32_t i = 0;
  const size_t d = ix->p.dim;
  const bool l2 = ix->p.metric == OMEGA_METRIC_L2;
  void (*x4)(const float *, const uint16_t *const[4], size_t, float[4]) =
      !r->half ? NULL : l2 ? ix->simd->l2sq_f16_x4 : ix->simd->dot_f16_x4;
  for (int32_t j = 0; j < n && j < 4; j++)
    prefetch_rest(r, s[j]);
  if (x4)
    for (; i + 4 <= n; i += 4) {
      for (int32_t j = i + 4; j < n && j < i + 8; j++)
        prefetch_rest(r, s[j]);
      const uint16_t *const base = (const uint16_t *)r->base;
      const uint16_t *const x[4] = {base + s[i] * d, base + s[i + 1] * d, base + s[i + 2] * d, base + s[i + 3] * d};
      x4(q, x, d, out + i);
      if (!l2)
        for (int j = 0; j < 4; j++)
          out[i + j] = -out[i + j];
    }
  for (; i < n; i++) {
    if (i + 2 < n) /* the rest of a vector two ahead */
      prefetch_rest(r, s[i + 2]);
    out[i] = walk_dist(ix, r, q, s[i]);
  }
}

static inline int32_t *links_of(omega_hnsw_t *g, uint32_t node, int l) {
  if (l == 0)
    return g->links0 + (size_t)node * (1 + g->M0);
  return g->upper[node] + (size_t)(l - 1) * (1 + g->M);
}

static inline size_t max_links(const omega_hnsw_t *g, int l) { return l == 0 ? g->M0 : g->M; }

/* Mark slot s seen; true when it already was. */
static inline bool seen(visited_t *v, uint32_t s) {
  uint64_t *w = v->bits + (s >> 6);
  const uint64_t m = 1ull << (s & 63);
  if (*w & m)
    return true;
  if (!*w) {
    if (v->n_touched == v->touched_cap) {
      const size_t c = v->touched_cap ? 2 * v->touched_cap : 1024;
      uint32_t *t = v->overflow ? NULL : omega__realloc(v->touched, c * sizeof *t);
      if (t) {
        v->touched = t;
        v->touched_cap = c;
      } else {
        v->overflow = true;
      }
    }
    if (!v->overflow)
      v->touched[v->n_touched++] = s >> 6;
  }
  *w |= m;
  return false;
}

static void visited_clear(visited_t *v) {
  if (v->overflow)
    memset(v->bits, 0, v->words * sizeof *v->bits);
  else
    for (size_t i = 0; i < v->n_touched; i++)
      v->bits[v->touched[i]] = 0;
  v->n_touched = 0;
  v->overflow = false;
}

static void visited_free(visited_t *v) {
  omega__free(v->bits);
  omega__free(v->touched);
  omega__heap_free(&v->top);
  omega__heap_free(&v->cand);
  omega__free(v->q16);
  omega__free(v);
}

/* A cleared set for n slots, from the pool when one is there. */
static visited_t *visited_get(omega_hnsw_t *g, size_t n) {
  pthread_mutex_lock(&g->pool_mu);
  visited_t *v = g->pool;
  if (v)
    g->pool = v->next;
  pthread_mutex_unlock(&g->pool_mu);
  if (!v && !(v = omega__calloc(1, sizeof *v)))
    return NULL;
  const size_t words = (n + 63) / 64;
  if (v->words < words) {
    const size_t w = words + words / 4 + 16;
    uint64_t *b = omega__malloc(w * sizeof *b);
    if (!b) {
      visited_free(v);
      return NULL;
    }
    memset(b, 0, w * sizeof *b); /* the pages faulted in here, not one by one in the walk */
    omega__free(v->bits);
    v->bits = b;
    v->words = w;
    v->n_touched = 0;
    v->overflow = false;
  }
  return v;
}

static void visited_put(omega_hnsw_t *g, visited_t *v) {
  visited_clear(v);
  pthread_mutex_lock(&g->pool_mu);
  v->next = g->pool;
  g->pool = v;
  pthread_mutex_unlock(&g->pool_mu);
}

/* ---- lifecycle ---- */

int omega__hnsw_create(omega_vindex_t *ix) {
  omega_hnsw_t *g = omega__calloc(1, sizeof *g);
  if (!g)
    return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
  g->M = ix->p.m;
  g->M0 = 2 * ix->p.m;
  g->mult = 1.0 / log((double)(ix->p.m > 1 ? ix->p.m : 2));
  atomic_init(&g->entry, -1);
  atomic_init(&g->max_level, -1);
  pthread_mutex_init(&g->global, NULL);
  pthread_mutex_init(&g->pool_mu, NULL);
  for (size_t i = 0; i < LOCK_STRIPES; i++)
    pthread_mutex_init(&g->stripes[i], NULL);
  ix->g = g;
  return 0;
}

void omega__hnsw_free(omega_hnsw_t *g) {
  if (!g)
    return;
  for (size_t i = 0; i < g->cap && g->upper; i++)
    omega__free(g->upper[i]);
  omega__free(g->upper);
  omega__free(g->links0);
  omega__free(g->level);
  for (visited_t *v = g->pool, *n; v; v = n) {
    n = v->next;
    visited_free(v);
  }
  for (size_t i = 0; i < LOCK_STRIPES; i++)
    pthread_mutex_destroy(&g->stripes[i]);
  pthread_mutex_destroy(&g->global);
  pthread_mutex_destroy(&g->pool_mu);
  omega__free(g);
}

int omega__hnsw_reserve(omega_vindex_t *ix, size_t cap) {
  omega_hnsw_t *g = ix->g;
  if (cap <= g->cap)
    return 0;
  int32_t *l0 = omega__realloc(g->links0, cap * (1 + g->M0) * sizeof *l0);
  if (!l0)
    return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory for %zu nodes", cap);
  g->links0 = l0;
  int32_t **up = omega__realloc(g->upper, cap * sizeof *up);
  if (!up)
    return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory for %zu nodes", cap);
  g->upper = up;
  uint8_t *lv = omega__realloc(g->level, cap);
  if (!lv)
    return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory for %zu nodes", cap);
  g->level = lv;
  /* whole lists zeroed: the unused tail of a list is written to snapshots too */
  memset(l0 + g->cap * (1 + g->M0), 0, (cap - g->cap) * (1 + g->M0) * sizeof *l0);
  for (size_t i = g->cap; i < cap; i++) {
    up[i] = NULL;
    lv[i] = 0;
  }
  g->cap = cap;
  return 0;
}

size_t omega__hnsw_bytes_per_slot(const omega_hnsw_t *g) {
  return (1 + g->M0) * sizeof(int32_t) + sizeof(int32_t *) + 1;
}

size_t omega__hnsw_cap(const omega_hnsw_t *g) { return g->cap; }

size_t omega__hnsw_upper_bytes_now(const omega_hnsw_t *g) {
  size_t b = 0;
  for (size_t i = 0; i < g->cap; i++)
    if (g->upper[i])
      b += (size_t)g->level[i] * (1 + g->M) * sizeof(int32_t);
  return b;
}

size_t omega__hnsw_bytes(const omega_hnsw_t *g) {
  return g->cap * omega__hnsw_bytes_per_slot(g) + omega__hnsw_upper_bytes_now(g);
}

/* Level of a node: -ln(U) * mult with U drawn from a hash of (seed, node), so a parallel
 * build gives the same graph shape whatever the thread order. */
static int draw_level(const omega_vindex_t *ix, uint32_t node) {
  uint64_t z = ix->p.seed + 0x9E3779B97F4A7C15ull * (node + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  double u = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
  int l = (int)(-log(u) * ix->g->mult);
  return l > MAX_LEVEL ? MAX_LEVEL : l;
}

size_t omega__hnsw_upper_bytes(const omega_vindex_t *ix, size_t from, size_t to) {
  size_t b = 0;
  for (size_t i = from; i < to; i++)
    b += (size_t)draw_level(ix, (uint32_t)i) * (1 + ix->g->M) * sizeof(int32_t);
  return b;
}

/* ---- the search of one level ---- */

/* Beam search of level l from ep, beam ef. Results (best ef) go to `top` as a max-heap.
 * locked: read link lists under their stripe lock (builds); queries run without writers. */
static int search_layer(const omega_vindex_t *ix, const rows_t *rows, const float *q, uint32_t ep, size_t ef, int l,
                        bool locked, const omega_allow_t *allow, bool skip_dead, omega_heap_t *top,
                        omega_heap_t *cand, visited_t *vis) {
  omega_hnsw_t *g = ix->g;
  top->n = cand->n = 0;
  float d = walk_dist(ix, rows, q, ep);
  bool ok = (!skip_dead || !ix->dead[ep]) && (!allow || (allow->bits[ep >> 3] >> (ep & 7) & 1));
  float bound = INFINITY;
  if (ok) {
    if (omega__heap_push_max(top, d, ep))
      return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
    bound = d;
  }
  if (omega__heap_push_min(cand, d, ep))
    return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
  seen(vis, ep);
  int32_t buf[1 + 2 * 256];
  while (cand->n) {
    omega_hit_t c = cand->v[0];
    if (c.dist > bound && top->n >= ef)
      break;
    omega__heap_pop_min(cand);
    const int32_t *lk;
    if (locked) {
      pthread_mutex_t *m = &g->stripes[c.slot % LOCK_STRIPES];
      pthread_mutex_lock(m);
      const int32_t *src = links_of(g, c.slot, l);
      memcpy(buf, src, (size_t)(1 + src[0]) * sizeof *buf);
      pthread_mutex_unlock(m);
      lk = buf;
    } else {
      lk = links_of(g, c.slot, l);
    }
    /* The walk is bound by memory latency: first pick the unvisited neighbours and start
     * fetching every one of their vectors, so the misses overlap, then score them. */
    const int32_t cnt = lk[0];
    uint32_t todo[2 * 256];
    int32_t nt = 0;
    for (int32_t i = 1; i <= cnt; i++) {
      const uint32_t nb = (uint32_t)lk[i];
      if (seen(vis, nb))
        continue;
      PREFETCH(rows->base + nb * rows->row_bytes);
      todo[nt++] = nb;
    }
    if (!locked && cand->n) /* the next candidate's links, likely the next ones read */
      PREFETCH(links_of(g, cand->v[0].slot, l));
    float dd[2 * 256];
    walk_dists(ix, rows, q, todo, nt, dd);
    for (int32_t i = 0; i < nt; i++) {
      const uint32_t nb = todo[i];
      const float dn = dd[i];
      if (top->n < ef || dn < bound) {
        if (omega__heap_push_min(cand, dn, nb))
          return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
        bool admit = (!skip_dead || !ix->dead[nb]) && (!allow || (allow->bits[nb >> 3] >> (nb & 7) & 1));
        if (admit) {
          if (omega__heap_push_max(top, dn, nb))
            return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
          if (top->n > ef)
            omega__heap_pop_max(top);
          bound = top->v[0].dist;
        }
      }
    }
  }
  return 0;
}

/* Greedy descent on one level: the closest node reachable from cur. */
static uint32_t greedy(const omega_vindex_t *ix, const rows_t *rows, const float *q, uint32_t cur, float *cur_d, int l,
                       bool locked) {
  omega_hnsw_t *g = ix->g;
  int32_t buf[1 + 2 * 256];
  for (bool changed = true; changed;) {
    changed = false;
    const int32_t *lk;
    if (locked) {
      pthread_mutex_lock(&g->stripes[cur % LOCK_STRIPES]);
      const int32_t *src = links_of(g, cur, l);
      memcpy(buf, src, (size_t)(1 + src[0]) * sizeof *buf);
      pthread_mutex_unlock(&g->stripes[cur % LOCK_STRIPES]);
      lk = buf;
    } else {
      lk = links_of(g, cur, l);
    }
    for (int32_t i = 1; i <= lk[0]; i++) {
      float d = walk_dist(ix, rows, q, (uint32_t)lk[i]);
      if (d < *cur_d) {
        *cur_d = d;
        cur = (uint32_t)lk[i];
        changed = true;
      }
    }
  }
  return cur;
}

/* ---- neighbour selection ---- */

static int cmp_hit(const void *a, const void *b) {
  const omega_hit_t *x = a, *y = b;
  if (x->dist != y->dist)
    return x->dist < y->dist ? -1 : 1;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* The paper's heuristic: take candidates closest first, keep one only if it is closer to
 * the new node than to every neighbour kept so far. cand is sorted in place; returns count. */
static size_t select_neighbours(const omega_vindex_t *ix, omega_hit_t *cand, size_t n, size_t M, uint32_t *out) {
  qsort(cand, n, sizeof *cand, cmp_hit);
  size_t k = 0;
  for (size_t i = 0; i < n && k < M; i++) {
    bool good = true;
    const float *cv = ix->vecs + (size_t)cand[i].slot * ix->p.dim;
    for (size_t j = 0; j < k && good; j++) {
      float d = ix->p.metric == OMEGA_METRIC_L2 ? ix->simd->l2sq(cv, ix->vecs + (size_t)out[j] * ix->p.dim, ix->p.dim)
                                                : -ix->simd->dot(cv, ix->vecs + (size_t)out[j] * ix->p.dim, ix->p.dim);
      if (d < cand[i].dist)
        good = false;
    }
    if (good)
      out[k++] = cand[i].slot;
  }
  return k;
}

/* Add `node` to nb's links on level l, pruning by the heuristic when full (stripe locked). */
static void link_back(const omega_vindex_t *ix, uint32_t nb, uint32_t node, int l) {
  omega_hnsw_t *g = ix->g;
  const size_t cap = max_links(g, l);
  int32_t *lk = links_of(g, nb, l);
  for (int32_t i = 1; i <= lk[0]; i++)
    if ((uint32_t)lk[i] == node)
      return;
  if ((size_t)lk[0] < cap) {
    lk[++lk[0]] = (int32_t)node;
    return;
  }
  omega_hit_t cand[2 * 256 + 1];
  const float *nv = ix->vecs + (size_t)nb * ix->p.dim;
  size_t n = 0;
  for (int32_t i = 1; i <= lk[0]; i++)
    cand[n++] = (omega_hit_t){dist(ix, nv, (uint32_t)lk[i]), (uint32_t)lk[i]};
  cand[n++] = (omega_hit_t){dist(ix, nv, node), node};
  uint32_t keep[2 * 256];
  size_t k = select_neighbours(ix, cand, n, cap, keep);
  lk[0] = (int32_t)k;
  for (size_t i = 0; i < k; i++)
    lk[1 + i] = (int32_t)keep[i];
}

/* ---- insertion ---- */

typedef struct {
  omega_heap_t top, cand;
  uint32_t *nbrs; /* the neighbours chosen on each level, linked back once all are chosen */
  size_t nbrs_cap;
} scratch_t;

static void scratch_free(scratch_t *s) {
  omega__heap_free(&s->top);
  omega__heap_free(&s->cand);
  omega__free(s->nbrs);
}

/* Insert one node. Its own lists are written level by level as the descent finds them; the
 * links back to it are added only once every level is done. Until then nobody can reach
 * the node, so nobody adds links to its lists that its own writes would overwrite (a
 * concurrent insert that found it on level l would otherwise link to it on level l-1 and
 * lose that link when this insert writes its level l-1 list, leaving nodes unreachable). */
static int insert(omega_vindex_t *ix, uint32_t node, scratch_t *s) {
  omega_hnsw_t *g = ix->g;
  const float *q = ix->vecs + (size_t)node * ix->p.dim;
  const int level = draw_level(ix, node);
  if (level > 0) {
    g->upper[node] = omega__calloc((size_t)level * (1 + g->M), sizeof(int32_t));
    if (!g->upper[node])
      return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
  }
  g->level[node] = (uint8_t)level;
  /* a node that raises the top level holds the global lock through its insert */
  pthread_mutex_lock(&g->global);
  int top_level = atomic_load(&g->max_level);
  int32_t ep = atomic_load(&g->entry);
  if (ep < 0) {
    atomic_store(&g->entry, (int32_t)node);
    atomic_store(&g->max_level, level);
    pthread_mutex_unlock(&g->global);
    return 0;
  }
  bool raise = level > top_level;
  if (!raise)
    pthread_mutex_unlock(&g->global);
  uint32_t cur = (uint32_t)ep;
  float cur_d = dist(ix, q, cur);
  const rows_t rows = rows_fp32(ix); /* builds walk the exact vectors */
  for (int l = top_level; l > level; l--)
    cur = greedy(ix, &rows, q, cur, &cur_d, l, true);
  const int first = level < top_level ? level : top_level;
  const size_t need = (size_t)(first + 1) * g->M;
  if (s->nbrs_cap < need) {
    uint32_t *nb = omega__realloc(s->nbrs, need * sizeof *nb);
    if (!nb) {
      if (raise)
        pthread_mutex_unlock(&g->global);
      return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
    }
    s->nbrs = nb;
    s->nbrs_cap = need;
  }
  size_t counts[MAX_LEVEL + 1] = {0};
  visited_t *vis = visited_get(g, ix->n);
  int rc = vis ? 0 : omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
  for (int l = first; l >= 0 && rc == 0; l--) {
    visited_clear(vis);
    if ((rc = search_layer(ix, &rows, q, cur, ix->p.ef_construction, l, true, NULL, false, &s->top, &s->cand, vis)))
      break;
    /* the closest found is where the next level down starts */
    omega_hit_t best = s->top.v[0];
    for (size_t i = 1; i < s->top.n; i++)
      if (omega__hit_less(s->top.v[i], best))
        best = s->top.v[i];
    uint32_t *nbrs = s->nbrs + (size_t)l * g->M;
    size_t k = select_neighbours(ix, s->top.v, s->top.n, g->M, nbrs);
    counts[l] = k;
    pthread_mutex_lock(&g->stripes[node % LOCK_STRIPES]);
    int32_t *mine = links_of(g, node, l);
    mine[0] = (int32_t)k;
    for (size_t i = 0; i < k; i++)
      mine[1 + i] = (int32_t)nbrs[i];
    pthread_mutex_unlock(&g->stripes[node % LOCK_STRIPES]);
    cur = best.slot;
  }
  if (vis)
    visited_put(g, vis);
  for (int l = first; l >= 0 && rc == 0; l--) {
    const uint32_t *nbrs = s->nbrs + (size_t)l * g->M;
    for (size_t i = 0; i < counts[l]; i++) {
      pthread_mutex_lock(&g->stripes[nbrs[i] % LOCK_STRIPES]);
      link_back(ix, nbrs[i], node, l);
      pthread_mutex_unlock(&g->stripes[nbrs[i] % LOCK_STRIPES]);
    }
  }
  if (raise) {
    atomic_store(&g->entry, (int32_t)node);
    atomic_store(&g->max_level, level);
    pthread_mutex_unlock(&g->global);
  }
  return rc;
}

typedef struct {
  omega_vindex_t *ix;
  size_t from, to, total;
  atomic_size_t next, done;
  atomic_int rc;
  char errmsg[256]; /* the first failure's detail, written on its thread */
  void (*progress)(size_t, size_t, void *);
  void *user;
  pthread_mutex_t progress_mu;
} build_t;

static void *build_worker(void *arg) {
  build_t *b = arg;
  scratch_t s = {{0}, {0}, NULL, 0};
  for (;;) {
    size_t i = atomic_fetch_add(&b->next, 1);
    if (i >= b->to || atomic_load(&b->rc))
      break;
    int rc = insert(b->ix, (uint32_t)i, &s), first = 0;
    if (rc) {
      if (atomic_compare_exchange_strong(&b->rc, &first, rc))
        snprintf(b->errmsg, sizeof b->errmsg, "%s", omega_errmsg());
      break;
    }
    size_t d = atomic_fetch_add(&b->done, 1) + 1;
    if (b->progress && (d % 1024 == 0 || d == b->total)) {
      pthread_mutex_lock(&b->progress_mu);
      b->progress(d, b->total, b->user);
      pthread_mutex_unlock(&b->progress_mu);
    }
  }
  scratch_free(&s);
  return NULL;
}

int omega__hnsw_insert_range(omega_vindex_t *ix, size_t from, size_t to, int threads,
                             void (*progress)(size_t, size_t, void *), void *user) {
  build_t b = {.ix = ix, .from = from, .to = to, .total = to - from, .progress = progress, .user = user};
  atomic_init(&b.next, from);
  atomic_init(&b.done, 0);
  atomic_init(&b.rc, 0);
  pthread_mutex_init(&b.progress_mu, NULL);
  if (threads < 1)
    threads = 1;
  /* the first node of an empty graph goes alone: it becomes the entry point */
  if (atomic_load(&ix->g->entry) < 0 && from < to) {
    scratch_t s = {{0}, {0}, NULL, 0};
    int rc = insert(ix, (uint32_t)from, &s);
    scratch_free(&s);
    if (rc)
      return rc;
    atomic_store(&b.next, from + 1);
    atomic_store(&b.done, 1);
  }
  omega__run_workers(build_worker, &b, (size_t)threads);
  pthread_mutex_destroy(&b.progress_mu);
  const int rc = atomic_load(&b.rc);
  return rc ? omega__seterr(rc, "%s", b.errmsg) : 0;
}

/* ---- queries ---- */

/* q scaled for the half-precision copy into vis->q16; false where that would leave the
 * range of the copy's arithmetic (a query far larger than every vector): walk fp32 then. */
static bool scale_query(const float *q, size_t d, float scale, visited_t *vis) {
  if (vis->q16_cap < d) {
    float *b = omega__realloc(vis->q16, d * sizeof *b);
    if (!b)
      return false;
    vis->q16 = b;
    vis->q16_cap = d;
  }
  for (size_t i = 0; i < d; i++) {
    vis->q16[i] = q[i] * scale;
    if (!(fabsf(vis->q16[i]) < 0x1p40f))
      return false;
  }
  return true;
}

size_t omega__hnsw_search(const omega_vindex_t *ix, const float *q, size_t k, size_t ef, const omega_allow_t *allow,
                          omega_hit_t *out) {
  omega_hnsw_t *g = ix->g;
  int32_t ep = atomic_load(&g->entry);
  if (ep < 0 || k == 0)
    return 0;
  if (ef < k)
    ef = k;
  visited_t *vis = visited_get(g, ix->n);
  if (!vis)
    return OMEGA_SEARCH_NOMEM;
  rows_t rows = rows_fp32(ix);
  const float *qw = q;
  const bool half = omega__walk16_useful(ix) && omega__walk16_prepare(ix, ix->w16) == 0;
  if (half) {
    float scale;
    const uint16_t *h = omega__walk16_acquire(ix->w16, &scale);
    if (h && scale_query(q, ix->p.dim, scale, vis)) {
      rows = (rows_t){(const char *)h, ix->p.dim * sizeof *h, true};
      qw = vis->q16;
    }
  }
  uint32_t cur = (uint32_t)ep;
  float cur_d = walk_dist(ix, &rows, qw, cur);
  for (int l = atomic_load(&g->max_level); l > 0; l--)
    cur = greedy(ix, &rows, qw, cur, &cur_d, l, false);
  omega_heap_t *top = &vis->top;
  size_t n = 0;
  const int rc = search_layer(ix, &rows, qw, cur, ef, 0, false, allow, true, top, &vis->cand, vis);
  if (half)
    omega__walk16_release(ix->w16);
  if (rc == 0 && rows.half) {
    /* the finalists measured again exactly, then the best k in order */
    for (size_t i = 0; i < top->n; i++)
      top->v[i].dist = dist(ix, q, top->v[i].slot);
    /* nothing found (an empty graph layer, every node filtered) leaves the heap unallocated */
    if (top->n > 1)
      qsort(top->v, top->n, sizeof *top->v, cmp_hit);
    n = top->n < k ? top->n : k;
    if (n)
      memcpy(out, top->v, n * sizeof *out);
  } else if (rc == 0) {
    /* pop the max-heap into ascending order, keep the best k */
    while (top->n > k)
      omega__heap_pop_max(top);
    n = top->n;
    for (size_t i = n; i-- > 0;) {
      out[i] = top->v[0];
      omega__heap_pop_max(top);
    }
  }
  visited_put(g, vis);
  return rc ? OMEGA_SEARCH_NOMEM : n;
}

int omega__hnsw_warm(const omega_vindex_t *ix) {
  if (omega__walk16_useful(ix)) {
    const int rc = omega__walk16_prepare(ix, ix->w16);
    if (rc)
      return rc;
  }
  visited_t *v = visited_get(ix->g, ix->n);
  if (!v)
    return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
  /* the default beam: ef results (one more before a pop) and a frontier of at least one
   * expansion past them; a wider search grows them as usual */
  const size_t ef = ix->p.ef_search > 16 ? ix->p.ef_search : 16;
  int rc = omega__heap_reserve(&v->top, ef + 1) || omega__heap_reserve(&v->cand, ef + ix->g->M0 + 1);
  if (!rc && v->q16_cap < ix->p.dim) {
    float *b = omega__realloc(v->q16, ix->p.dim * sizeof *b);
    rc = !b;
    if (b) {
      v->q16 = b;
      v->q16_cap = ix->p.dim;
    }
  }
  visited_put(ix->g, v);
  return rc ? omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory") : 0;
}

/* ---- persistence ---- */

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* One list: its count, its neighbours, zeros for the unused rest (so a snapshot holds no
 * stale links and the same graph always gives the same bytes). */
static unsigned char *put_list(unsigned char *p, const int32_t *lk, size_t cap) {
  const size_t cnt = lk[0] < 0 ? 0 : (size_t)lk[0] > cap ? cap : (size_t)lk[0];
  put32(p, (uint32_t)cnt);
  p += 4;
  for (size_t j = 1; j <= cap; j++, p += 4)
    put32(p, j <= cnt ? (uint32_t)lk[j] : 0);
  return p;
}

/* Layout: M, M0, entry, max_level (u32 each), levels[n] (u8), level-0 lists [n][1 + M0],
 * then for each node above level 0, its upper lists [level][1 + M]. */
int omega__hnsw_serialize(const omega_vindex_t *ix, unsigned char **out, size_t *len) {
  const omega_hnsw_t *g = ix->g;
  const size_t n = ix->n;
  size_t total = 16 + n + n * (1 + g->M0) * 4;
  for (size_t i = 0; i < n; i++)
    total += (size_t)g->level[i] * (1 + g->M) * 4;
  unsigned char *b = omega__malloc(total ? total : 1), *p = b;
  if (!b)
    return omega__seterr(OMEGA_ENOMEM, "hnsw: cannot serialise the graph (%zu bytes)", total);
  put32(p, (uint32_t)g->M);
  put32(p + 4, (uint32_t)g->M0);
  put32(p + 8, (uint32_t)atomic_load(&((omega_hnsw_t *)g)->entry));
  put32(p + 12, (uint32_t)atomic_load(&((omega_hnsw_t *)g)->max_level));
  p += 16;
  if (n)
    memcpy(p, g->level, n);
  p += n;
  for (size_t i = 0; i < n; i++)
    p = put_list(p, g->links0 + i * (1 + g->M0), g->M0);
  for (size_t i = 0; i < n; i++)
    for (int l = 1; l <= g->level[i]; l++)
      p = put_list(p, g->upper[i] + (size_t)(l - 1) * (1 + g->M), g->M);
  *out = b;
  *len = total;
  return 0;
}

static int bad_graph(const char *what) { return omega__seterr(OMEGA_EFORMAT, "HNSW graph section: %s", what); }

/* Every list is checked: counts within capacity, neighbours within the index and present
 * on the list's level (a search reads a neighbour's list of that level). */
static int check_list(const omega_hnsw_t *g, const int32_t *lk, size_t cap, size_t n, int level) {
  if (lk[0] < 0 || (size_t)lk[0] > cap)
    return bad_graph("a neighbour count exceeds the node's capacity");
  for (int32_t i = 1; i <= lk[0]; i++) {
    if (lk[i] < 0 || (size_t)lk[i] >= n)
      return bad_graph("a neighbour id is out of range");
    if (g->level[lk[i]] < level)
      return bad_graph("a link goes to a node that is not on its level");
  }
  return 0;
}

int omega__hnsw_read(omega_vindex_t *ix, const unsigned char *d, size_t len) {
  omega_hnsw_t *g = ix->g;
  const size_t n = ix->n;
  if (len < 16)
    return bad_graph("truncated");
  if (get32(d) != g->M || get32(d + 4) != g->M0)
    return bad_graph("M does not match the header");
  int32_t entry = (int32_t)get32(d + 8), max_level = (int32_t)get32(d + 12);
  if ((n == 0) != (entry < 0) || (entry >= 0 && (size_t)entry >= n) || max_level > MAX_LEVEL ||
      (n == 0 && max_level != -1))
    return bad_graph("bad entry point or level");
  const unsigned char *p = d + 16, *end = d + len;
  if ((size_t)(end - p) < n + n * (1 + g->M0) * 4)
    return bad_graph("truncated");
  if (n)
    memcpy(g->level, p, n);
  p += n;
  for (size_t i = 0; i < n; i++)
    if (g->level[i] > max_level)
      return bad_graph("a node is above the top level");
  if (n && g->level[entry] != max_level)
    return bad_graph("the entry point is not on the top level");
  for (size_t i = 0; i < n * (1 + g->M0); i++, p += 4)
    g->links0[i] = (int32_t)get32(p);
  for (size_t i = 0; i < n; i++) {
    int rc = check_list(g, g->links0 + i * (1 + g->M0), g->M0, n, 0);
    if (rc)
      return rc;
    if (!g->level[i])
      continue;
    size_t cnt = (size_t)g->level[i] * (1 + g->M);
    if ((size_t)(end - p) < cnt * 4)
      return bad_graph("truncated");
    if (!(g->upper[i] = omega__malloc(cnt * sizeof(int32_t))))
      return omega__seterr(OMEGA_ENOMEM, "hnsw: out of memory");
    for (size_t j = 0; j < cnt; j++, p += 4)
      g->upper[i][j] = (int32_t)get32(p);
    for (int l = 1; l <= g->level[i]; l++)
      if ((rc = check_list(g, links_of(g, (uint32_t)i, l), g->M, n, l)))
        return rc;
  }
  if (p != end)
    return bad_graph("trailing bytes");
  atomic_store(&g->entry, entry);
  atomic_store(&g->max_level, max_level);
  return 0;
}

#include "index/gpu_flat.h"

#include "backend/gpu/gpu.h"
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/fault.h"
#include "core/log.h"
#include "index/exact.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Candidates asked of the GPU per query: enough past k that the rounding-error proof
 * nearly always succeeds, within the plugin's limit. */
#define GPU_MAX_K 1024

struct omega_gpu_flat {
  pthread_mutex_t mu; /* the plugin's index serves one call at a time */
  const ocu_api_t *api;
  void *fl;
  size_t synced; /* slots mirrored so far */
  int dim, metric;
  bool dead_gpu; /* a sticky failure: never again */
  omega_gpu_flat_stats_t st;
};

static void set_reason(omega_gpu_flat_t *g, const char *why) {
  snprintf(g->st.reason, sizeof g->st.reason, "%s", why);
}

int omega__gpu_flat_create(const omega_vindex_t *ix, omega_gpu_flat_t **out) {
  omega_gpu_flat_t *g = omega__calloc(1, sizeof *g);
  if (!g)
    return omega__seterr(OMEGA_ENOMEM, "gpu flat: out of memory");
  pthread_mutex_init(&g->mu, NULL);
  g->dim = (int)ix->p.dim;
  g->metric = ix->p.metric == OMEGA_METRIC_L2 ? 0 : 1; /* cosine vectors are stored normalised: IP */
  char why[512];
  if (omega__cuda_load(NULL, &g->api, why, sizeof why) != 0 && omega__fault_get(OMEGA_FAULT_GPU_SIM))
    g->api = omega__cuda_sim_api();
  if (g->api) {
    g->st.active = 1;
  } else {
    set_reason(g, why);
  }
  *out = g;
  return 0;
}

static void drop_mirror(omega_gpu_flat_t *g) {
  if (g->fl)
    g->api->flat_destroy(g->fl);
  g->fl = NULL;
  g->synced = 0;
}

void omega__gpu_flat_free(omega_gpu_flat_t *g) {
  if (!g)
    return;
  if (!g->dead_gpu)
    drop_mirror(g);
  pthread_mutex_destroy(&g->mu);
  omega__free(g);
}

void omega__gpu_flat_reset(omega_gpu_flat_t *g) {
  pthread_mutex_lock(&g->mu);
  if (!g->dead_gpu)
    drop_mirror(g);
  pthread_mutex_unlock(&g->mu);
}

/* A failure of the plugin: OOM drops the mirror (rebuilt on the next search), a sticky
 * error retires the GPU for this index. Mutex held. */
static int gpu_failed(omega_gpu_flat_t *g, int st, const char *err) {
  char msg[300];
  snprintf(msg, sizeof msg, "%s", err);
  set_reason(g, msg);
  if (st == OCU_STICKY) {
    g->dead_gpu = true;
    g->st.active = 0;
    g->fl = NULL; /* a corrupted context cannot be cleaned up */
    omega__log(OMEGA_LOG_ERROR, "GPU flat index: sticky GPU error (%s): searching on the CPU from now on", msg);
  } else {
    drop_mirror(g);
    omega__log(OMEGA_LOG_WARN, "GPU flat index: %s: searching on the CPU", msg);
  }
  return OMEGA_EDEVICE;
}

static int sync_mirror(omega_gpu_flat_t *g, const omega_vindex_t *ix) {
  char err[256] = "";
  int st = OCU_OK;
  if (!g->fl)
    st = g->api->flat_create(0, g->dim, g->metric, 0, &g->fl, err, sizeof err);
  if (st == OCU_OK && g->synced < ix->n)
    st = g->api->flat_add(g->fl, ix->vecs + g->synced * (size_t)g->dim, ix->n - g->synced, err, sizeof err);
  if (st != OCU_OK)
    return gpu_failed(g, st, err);
  g->synced = ix->n;
  return 0;
}

static double exact_dist(const omega_vindex_t *ix, const float *q, uint32_t s) {
  const float *x = ix->vecs + (size_t)s * ix->p.dim;
  double acc = 0;
  for (size_t i = 0; i < ix->p.dim; i++)
    acc += ix->p.metric == OMEGA_METRIC_L2 ? ((double)q[i] - x[i]) * ((double)q[i] - x[i]) : -(double)q[i] * x[i];
  return acc;
}

typedef struct {
  double d;
  uint32_t slot;
} cand_t;

static _Thread_local const omega_vindex_t *cmp_ix;
static int cmp_cand(const void *a, const void *b) {
  const cand_t *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  if (cmp_ix->tie)
    return cmp_ix->tie(cmp_ix->tie_ctx, x->slot, y->slot);
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

int omega__gpu_flat_search(omega_gpu_flat_t *g, const omega_vindex_t *ix, const float *prep, size_t nq, size_t k,
                           const omega_allow_t *allow, omega_hit_t *out, size_t *counts) {
  if (!g->api || g->dead_gpu || k > GPU_MAX_K)
    return OMEGA_EUNSUPPORTED;
  const size_t n = ix->n, d = ix->p.dim;
  size_t eligible = 0;
  uint8_t *mask = NULL;
  if (ix->n_dead || allow) {
    mask = omega__malloc(n ? n : 1);
    if (!mask)
      return OMEGA_ENOMEM;
    for (size_t s = 0; s < n; s++) {
      mask[s] = !ix->dead[s] && (!allow || (allow->bits[s >> 3] >> (s & 7) & 1));
      eligible += mask[s];
    }
  } else {
    eligible = n;
  }
  const size_t kc = eligible < k * 2 + 32 ? eligible : (k * 2 + 32 < GPU_MAX_K ? k * 2 + 32 : GPU_MAX_K);
  if (eligible == 0 || kc == 0) {
    for (size_t i = 0; i < nq; i++)
      counts[i] = 0;
    omega__free(mask);
    pthread_mutex_lock(&g->mu);
    g->st.gpu_queries += nq;
    pthread_mutex_unlock(&g->mu);
    return 0;
  }
  float *sc = omega__malloc(nq * kc * sizeof *sc);
  int64_t *pos = omega__malloc(nq * kc * sizeof *pos);
  cand_t *cand = omega__malloc(kc * sizeof *cand);
  if (!sc || !pos || !cand) {
    omega__free(mask);
    omega__free(sc);
    omega__free(pos);
    omega__free(cand);
    return OMEGA_ENOMEM;
  }
  pthread_mutex_lock(&g->mu);
  int rc = sync_mirror(g, ix);
  if (rc == 0) {
    char err[256] = "";
    int st;
    if (omega__fault_roll(OMEGA_FAULT_CUDA_OOM)) {
      st = OCU_OOM;
      snprintf(err, sizeof err, "injected fault: out of memory (cudaErrorMemoryAllocation)");
    } else {
      st = g->api->flat_search(g->fl, prep, nq, (int)kc, mask, sc, pos, err, sizeof err);
    }
    if (st != OCU_OK)
      rc = gpu_failed(g, st, err);
  }
  size_t proven = 0, redone = 0;
  if (rc == 0) {
    /* Float scores from the GPU are within err of the truth: a candidate list whose last
     * GPU distance is more than 2 err beyond the exact k-th distance holds the exact top k. */
    double max_norm2 = ix->max_norm2;
    cmp_ix = ix;
    for (size_t qi = 0; qi < nq; qi++) {
      const float *q = prep + qi * d;
      double qn2 = 0;
      for (size_t i = 0; i < d; i++)
        qn2 += (double)q[i] * q[i];
      const double err = 4.0 * ((double)d + 4) * FLT_EPSILON * (qn2 + max_norm2 + 1e-30);
      size_t m = 0;
      for (size_t j = 0; j < kc; j++) {
        const int64_t p = pos[qi * kc + j];
        if (p >= 0 && (size_t)p < n)
          cand[m++] = (cand_t){exact_dist(ix, q, (uint32_t)p), (uint32_t)p};
      }
      qsort(cand, m, sizeof *cand, cmp_cand);
      const size_t kk = m < k ? m : k;
      bool exact = m == eligible; /* every eligible slot was a candidate */
      if (!exact && m == kc && kk > 0) {
        /* the GPU's distance of its last candidate, in "lower is better" form */
        const double s_last = sc[qi * kc + kc - 1];
        double g_last = ix->p.metric == OMEGA_METRIC_L2 ? s_last : -s_last;
        exact = g_last - 2 * err > cand[kk - 1].d;
      }
      if (exact) {
        for (size_t j = 0; j < kk; j++)
          out[qi * k + j] = (omega_hit_t){(float)cand[j].d, cand[j].slot};
        counts[qi] = kk;
        proven++;
      } else {
        counts[qi] = omega__vindex_search_exact(ix, q, k, allow, out + qi * k);
        redone++;
      }
    }
    g->st.gpu_queries += proven;
    g->st.cpu_queries += redone;
  }
  g->st.gpu_bytes = g->fl ? g->api->flat_bytes(g->fl) : 0;
  pthread_mutex_unlock(&g->mu);
  omega__free(mask);
  omega__free(sc);
  omega__free(pos);
  omega__free(cand);
  return rc;
}

void omega__gpu_flat_count(omega_gpu_flat_t *g, size_t nq, int fallback) {
  pthread_mutex_lock(&g->mu);
  if (fallback)
    g->st.fallback_queries += nq;
  else
    g->st.cpu_queries += nq;
  pthread_mutex_unlock(&g->mu);
}

void omega__gpu_flat_stats(omega_gpu_flat_t *g, omega_gpu_flat_stats_t *st) {
  pthread_mutex_lock(&g->mu);
  *st = g->st;
  pthread_mutex_unlock(&g->mu);
}

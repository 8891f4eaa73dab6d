/* The simulated CUDA device: the plugin ABI implemented with the CPU reference kernels.
 * It exists so the GPU route (slots, fault injection, OOM fallback, sticky failure) and
 * the GPU flat index's fallback are exercised in CI, where there is no GPU. Selected by
 * OMEGA_FAULT_INJECT=gpu_sim:1; never chosen otherwise. */
#include "backend/cpu/encoder.h"
#include "backend/gpu/gpu.h"
#include "core/alloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the simulated card has: an allocation past it is the OOM a real card would give
 * (and is refused before the host allocator sees it). */
#define SIM_VRAM_TOTAL (16ull << 30)

typedef struct {
  omega_model_t model; /* a view: pointers into the host's weights */
  omega_encoder_ws_t *ws;
  int slots;
  pthread_mutex_t mu; /* guards stats (slots run on different threads) */
  ocu_encoder_stats_t stats;
} sim_enc_t;

static int sim_probe(int *n, int *drv, int *rt, char *err, size_t errn) {
  *n = 1;
  *drv = 0;
  *rt = 0;
  return OCU_OK;
}

static int sim_info(int device, ocu_device_t *o, char *err, size_t errn) {
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "simulated GPU (CPU reference kernels)");
  o->mem_total = SIM_VRAM_TOTAL;
  o->mem_free = SIM_VRAM_TOTAL - (1ull << 30);
  o->sm_count = 1;
  return OCU_OK;
}

static int sim_enc_create(const ocu_model_t *m, int device, ocu_dtype_t dtype, int slots, void **out, char *err,
                          size_t errn) {
  sim_enc_t *s = omega__calloc(1, sizeof *s);
  if (!s || !(s->ws = omega__calloc((size_t)slots, sizeof *s->ws))) {
    omega__free(s);
    snprintf(err, errn, "out of memory");
    return OCU_OOM;
  }
  omega_model_t *v = &s->model;
  v->cfg.hidden_size = m->hidden;
  v->cfg.num_layers = m->layers;
  v->cfg.num_heads = m->heads;
  v->cfg.intermediate_size = m->intermediate;
  v->cfg.vocab_size = m->vocab;
  v->cfg.max_position_embeddings = m->max_pos;
  v->cfg.layer_norm_eps = m->eps;
  v->cfg.act = (omega_act_t)m->act;
  v->st.pooling = m->pooling;
  v->word_emb = m->word_emb;
  v->pos_emb = m->pos_emb;
  v->type_emb = m->type_emb;
  v->emb_ln_g = m->emb_ln_g;
  v->emb_ln_b = m->emb_ln_b;
  /* ocu_layer_t mirrors omega_bert_layer_t field for field; the caller's array is
   * temporary (a real device copies the weights), so keep a copy of the pointers */
  _Static_assert(sizeof(ocu_layer_t) == sizeof(omega_bert_layer_t), "layer layouts differ");
  if (!(v->layers = omega__malloc((size_t)m->layers * sizeof *v->layers))) {
    omega__free(s->ws);
    omega__free(s);
    return OCU_OOM;
  }
  memcpy(v->layers, m->layer, (size_t)m->layers * sizeof *v->layers);
  s->slots = slots;
  pthread_mutex_init(&s->mu, NULL);
  *out = s;
  return OCU_OK;
}

/* The slot's activation bytes, as the real device would count them (fp32 CPU buffers). */
static size_t sim_ws_bytes(const sim_enc_t *s, const omega_encoder_ws_t *ws) {
  const omega_bert_config_t *c = &s->model.cfg;
  return ws->cap_tokens * (size_t)(6 * c->hidden_size + c->intermediate_size) * sizeof(float);
}

/* Grow the slot's workspace the way the device grows its buffers; a growth a batch caused
 * (not a preparation) is counted. */
static int sim_reserve(sim_enc_t *s, int slot, size_t tokens, int by_batch) {
  omega_encoder_ws_t *ws = &s->ws[slot];
  const size_t before = ws->cap_tokens, bytes0 = sim_ws_bytes(s, ws);
  if (omega__encoder_ws_reserve(ws, &s->model.cfg, tokens) != 0)
    return OCU_OOM;
  if (ws->cap_tokens != before) {
    pthread_mutex_lock(&s->mu);
    s->stats.buffer_growths += by_batch != 0;
    s->stats.buffer_bytes += sim_ws_bytes(s, ws) - bytes0;
    pthread_mutex_unlock(&s->mu);
  }
  return OCU_OK;
}

static int sim_enc_run(void *h, int slot, const int32_t *ids, const uint32_t *offsets, size_t n_seq, float *out,
                       char *err, size_t errn) {
  sim_enc_t *s = h;
  omega_batch_t b = {ids, offsets, n_seq};
  omega_cpu_ctx_t ctx = {0};
  if (sim_reserve(s, slot, offsets[n_seq], 1) != OCU_OK) {
    snprintf(err, errn, "simulated device: out of memory for %u tokens", offsets[n_seq]);
    return OCU_OOM;
  }
  int rc = omega__encoder_run(&s->model, &omega__cpu_ops_ref, &ctx, &s->ws[slot], &b, 0, out);
  if (rc) {
    snprintf(err, errn, "simulated device: encoder failed (%d)", rc);
    return OCU_ERROR;
  }
  return OCU_OK;
}

static int sim_enc_prepare(void *h, int slot, size_t tokens, size_t seqs, char *err, size_t errn) {
  (void)seqs;
  if (sim_reserve(h, slot, tokens, 0) != OCU_OK) {
    snprintf(err, errn, "simulated device: out of memory for %zu tokens", tokens);
    return OCU_OOM;
  }
  const int32_t ids[2] = {0, 0};
  const uint32_t off[2] = {0, 2};
  const omega_model_t *m = &((sim_enc_t *)h)->model;
  float *out = omega__malloc((size_t)m->cfg.hidden_size * (size_t)__builtin_popcount(m->st.pooling) * sizeof *out);
  int rc = out ? sim_enc_run(h, slot, ids, off, 1, out, err, errn) : OCU_OOM;
  omega__free(out);
  return rc;
}

/* Graphs are the device's business; the simulated one runs every batch directly. */
static void sim_enc_set_graphs(void *h, int max_tokens) { (void)h, (void)max_tokens; }

static void sim_enc_stats(void *h, ocu_encoder_stats_t *out) {
  sim_enc_t *s = h;
  pthread_mutex_lock(&s->mu);
  *out = s->stats;
  pthread_mutex_unlock(&s->mu);
}

static int sim_mem(void *h, size_t *f, size_t *t) {
  *t = 16ull << 30;
  *f = 15ull << 30;
  return OCU_OK;
}

static void sim_enc_destroy(void *h) {
  sim_enc_t *s = h;
  if (!s)
    return;
  for (int i = 0; i < s->slots; i++)
    omega__encoder_ws_free(&s->ws[i]);
  omega__free(s->ws);
  omega__free(s->model.layers);
  pthread_mutex_destroy(&s->mu);
  omega__free(s);
}

/* ---- flat index: brute force in double precision ---- */

typedef struct {
  int dim, metric;
  size_t n, cap;
  float *x;
} sim_flat_t;

static int sim_flat_create(int device, int dim, int metric, int fp16, void **out, char *err, size_t errn) {
  sim_flat_t *f = omega__calloc(1, sizeof *f);
  if (!f)
    return OCU_OOM;
  f->dim = dim;
  f->metric = metric;
  *out = f;
  return OCU_OK;
}

static int sim_flat_add(void *h, const float *x, size_t n, char *err, size_t errn) {
  sim_flat_t *f = h;
  const size_t row = (size_t)f->dim * sizeof *x;
  if (n > SIM_VRAM_TOTAL / row || f->n + n > SIM_VRAM_TOTAL / row) {
    snprintf(err, errn, "out of memory: %zu vectors of %d dimensions do not fit the simulated %llu GiB", f->n + n,
             f->dim, SIM_VRAM_TOTAL >> 30);
    return OCU_OOM;
  }
  if (f->n + n > f->cap) {
    size_t cap = f->cap ? f->cap : 1024;
    while (cap < f->n + n)
      cap *= 2;
    float *nx = omega__realloc(f->x, cap * (size_t)f->dim * sizeof *nx);
    if (!nx)
      return OCU_OOM;
    f->x = nx;
    f->cap = cap;
  }
  memcpy(f->x + f->n * (size_t)f->dim, x, n * (size_t)f->dim * sizeof *x);
  f->n += n;
  return OCU_OK;
}

static int sim_flat_set(void *h, const int64_t *pos, const float *x, size_t n, char *err, size_t errn) {
  sim_flat_t *f = h;
  for (size_t i = 0; i < n; i++) {
    if (pos[i] < 0 || (size_t)pos[i] >= f->n)
      return OCU_ERROR;
    memcpy(f->x + (size_t)pos[i] * (size_t)f->dim, x + i * (size_t)f->dim, (size_t)f->dim * sizeof *x);
  }
  return OCU_OK;
}

static int sim_flat_search(void *h, const float *q, size_t nq, int k, const uint8_t *mask, float *score, int64_t *pos,
                           char *err, size_t errn) {
  sim_flat_t *f = h;
  const size_t d = (size_t)f->dim;
  for (size_t qi = 0; qi < nq; qi++) {
    float *sc = score + qi * (size_t)k;
    int64_t *ps = pos + qi * (size_t)k;
    int have = 0;
    for (size_t i = 0; i < f->n; i++) {
      if (mask && !mask[i])
        continue;
      double s = 0;
      for (size_t j = 0; j < d; j++) {
        const double a = q[qi * d + j], b = f->x[i * d + j];
        s += f->metric == 0 ? (a - b) * (a - b) : a * b;
      }
      /* insertion into the sorted top-k (better first, ties by position) */
      int at = have;
      while (at > 0 && (f->metric == 0 ? s < sc[at - 1] : s > sc[at - 1]))
        at--;
      if (at >= k)
        continue;
      if (have < k)
        have++;
      for (int j = have - 1; j > at; j--) {
        sc[j] = sc[j - 1];
        ps[j] = ps[j - 1];
      }
      sc[at] = (float)s;
      ps[at] = (int64_t)i;
    }
    for (int j = have; j < k; j++) {
      sc[j] = 0;
      ps[j] = -1;
    }
  }
  return OCU_OK;
}

static size_t sim_flat_bytes(void *h) {
  sim_flat_t *f = h;
  return f->cap * (size_t)f->dim * sizeof(float);
}

static void sim_flat_destroy(void *h) {
  sim_flat_t *f = h;
  if (f)
    omega__free(f->x);
  omega__free(f);
}

static const ocu_api_t sim_api = {
    OCU_ABI_VERSION, "simulated (CPU reference)", sim_probe,     sim_info,        sim_enc_create,
    sim_enc_run,     sim_enc_prepare,             sim_enc_set_graphs, sim_enc_stats, sim_mem,
    sim_enc_destroy, sim_flat_create,             sim_flat_add,  sim_flat_set,    sim_flat_search,
    sim_flat_bytes,  sim_flat_destroy,
};

const ocu_api_t *omega__cuda_sim_api(void) { return &sim_api; }

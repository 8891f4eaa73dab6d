/* The GPU backend: the plugin's encoder behind the backend table. It runs batches on its
 * slots and reports how they failed: out of memory (the device still works), a sticky error
 * (the device is lost: `usable` says 0 from then on, and every later batch must go
 * elsewhere), or another device error; the router (src/engine/route.c) decides what runs
 * them instead. Faults can be injected here, at the boundary, on any machine. */
#include "backend/gpu/gpu.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/fault.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above this share of device memory in use, the engine shrinks its batches. */
#define PRESSURE_USED_FRACTION 0.90

/* Counters and state (all monotonic except the flag and the memory). */
typedef struct {
  bool healthy; /* false after a sticky error */
  char last_error[256];
  unsigned long long oom, sticky, errors, pressure_events;
  size_t mem_free, mem_total; /* at the last batch */
} gpu_state_t;

typedef struct {
  omega_backend_t base;
  const ocu_api_t *api;
  void *enc;
  pthread_mutex_t mu; /* guards st */
  gpu_state_t st;
  atomic_bool healthy;
} gpu_backend_t;

static int gpu_encode(omega_backend_t *base, int slot, const omega_batch_t *b, float *out) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  char err[256] = "";
  int st;
  if (omega__fault_take(OMEGA_FAULT_CUDA_STICKY)) {
    st = OCU_STICKY;
    snprintf(err, sizeof err, "injected fault: an illegal memory access was encountered (cudaErrorIllegalAddress)");
  } else if (omega__fault_roll(OMEGA_FAULT_CUDA_OOM)) {
    st = OCU_OOM;
    snprintf(err, sizeof err, "injected fault: out of memory (cudaErrorMemoryAllocation)");
  } else {
    st = g->api->encoder_run(g->enc, slot, b->ids, b->offsets, b->n_seq, out, err, sizeof err);
  }
  if (st == OCU_OK)
    return 0;
  pthread_mutex_lock(&g->mu);
  snprintf(g->st.last_error, sizeof g->st.last_error, "%s", err);
  if (st == OCU_OOM) {
    g->st.oom++;
  } else if (st == OCU_STICKY) {
    g->st.sticky++;
    g->st.healthy = false;
    atomic_store(&g->healthy, false);
  } else {
    g->st.errors++;
  }
  pthread_mutex_unlock(&g->mu);
  return omega__seterr(st == OCU_OOM ? OMEGA_EDEVICE_OOM : OMEGA_EDEVICE, "%s", err);
}

static int gpu_usable(omega_backend_t *base) { return atomic_load(&((gpu_backend_t *)base)->healthy); }

static int gpu_pressure(omega_backend_t *base) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  if (!atomic_load(&g->healthy))
    return 0;
  size_t fr = 0, tot = 0;
  if (g->api->mem_info(g->enc, &fr, &tot) != OCU_OK || tot == 0)
    return 0;
  const int hot = (double)(tot - fr) > PRESSURE_USED_FRACTION * (double)tot || omega__fault_get(OMEGA_FAULT_GPU_MEM_FULL);
  pthread_mutex_lock(&g->mu);
  g->st.mem_free = fr;
  g->st.mem_total = tot;
  if (hot)
    g->st.pressure_events++;
  pthread_mutex_unlock(&g->mu);
  return hot;
}

static int gpu_prepare(omega_backend_t *base, int slot, size_t tokens, size_t seqs) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  if (!atomic_load(&g->healthy))
    return 0;
  char err[256] = "";
  const int st = g->api->encoder_prepare(g->enc, slot, tokens, seqs, err, sizeof err);
  if (st == OCU_OK)
    return 0;
  /* not fatal: the slot grows its buffers with the batches instead */
  omega__log(OMEGA_LOG_WARN, "GPU slot %d could not be prepared for %zu tokens (%s)", slot, tokens, err);
  if (st == OCU_STICKY) {
    pthread_mutex_lock(&g->mu);
    snprintf(g->st.last_error, sizeof g->st.last_error, "%s", err);
    g->st.sticky++;
    g->st.healthy = false;
    atomic_store(&g->healthy, false);
    pthread_mutex_unlock(&g->mu);
  }
  return omega__seterr(st == OCU_OOM ? OMEGA_EDEVICE_OOM : OMEGA_EDEVICE, "GPU slot %d: %s", slot, err);
}

static void gpu_accel(omega_backend_t *base, omega_engine_accel_t *a) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  pthread_mutex_lock(&g->mu);
  const gpu_state_t st = g->st;
  pthread_mutex_unlock(&g->mu);
  ocu_encoder_stats_t enc;
  g->api->encoder_stats(g->enc, &enc); /* host-side counters: safe after a sticky error too */
  a->healthy = st.healthy;
  a->needs_restart = !st.healthy;
  snprintf(a->last_error, sizeof a->last_error, "%s", st.last_error);
  a->oom = st.oom;
  a->sticky = st.sticky;
  a->errors = st.errors;
  a->pressure_events = st.pressure_events;
  a->graph_captures = enc.graph_captures;
  a->graph_replays = enc.graph_replays;
  a->graph_failures = enc.graph_failures;
  a->buffer_growths = enc.buffer_growths;
  a->buffer_bytes = enc.buffer_bytes;
  if (st.mem_total) {
    a->mem_free = st.mem_free;
    a->mem_total = st.mem_total;
  }
}

static void gpu_tune(omega_backend_t *base, const omega_engine_tuning_t *t) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  const unsigned tokens = t->cuda_graph_tokens;
  g->api->encoder_set_graphs(g->enc, tokens > (1u << 20) ? 1 << 20 : (int)tokens);
}

static void gpu_destroy(omega_backend_t *base) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  /* a corrupted CUDA context cannot be cleaned up safely; the simulated one always can */
  if (atomic_load(&g->healthy) || g->api == omega__cuda_sim_api())
    g->api->encoder_destroy(g->enc);
  pthread_mutex_destroy(&g->mu);
  omega__free(g);
}

int omega__gpu_backend_create(const omega_model_t *m, const omega_gpu_backend_opts_t *o, omega_backend_t **out) {
  gpu_backend_t *g = omega__calloc(1, sizeof *g);
  if (!g)
    return omega__seterr(OMEGA_ENOMEM, "gpu backend: out of memory");
  const omega_bert_config_t *c = &m->cfg;
  if (m->rel_bias) { /* the plugin's attention has no bias term yet: the CPU runs MPNet */
    omega__free(g);
    return omega__seterr(OMEGA_EUNSUPPORTED, "GPU encoder: %s's relative attention bias runs on the CPU only",
                         c->model_type);
  }
  if (c->head.present) { /* the plugin reads token type 0 only: pairs need the CPU's embeddings */
    omega__free(g);
    return omega__seterr(OMEGA_EUNSUPPORTED, "GPU encoder: %s (a cross-encoder) runs on the CPU only",
                         c->head.architecture);
  }
  ocu_layer_t *layers = omega__calloc((size_t)c->num_layers, sizeof *layers);
  if (!layers) {
    omega__free(g);
    return omega__seterr(OMEGA_ENOMEM, "gpu backend: out of memory");
  }
  for (int l = 0; l < c->num_layers; l++) {
    const omega_bert_layer_t *s = &m->layers[l];
    layers[l] = (ocu_layer_t){s->qkv_w, s->qkv_b, s->ao_w,  s->ao_b,  s->ln1_g, s->ln1_b,
                              s->ff1_w, s->ff1_b, s->ff2_w, s->ff2_b, s->ln2_g, s->ln2_b};
  }
  ocu_model_t om = {c->hidden_size,
                    c->num_layers,
                    c->num_heads,
                    c->intermediate_size,
                    c->vocab_size,
                    c->max_position_embeddings,
                    (float)c->layer_norm_eps,
                    (ocu_act_t)c->act,
                    m->st.pooling,
                    m->word_emb,
                    m->pos_emb,
                    m->type_emb,
                    m->emb_ln_g,
                    m->emb_ln_b,
                    layers};
  char err[256] = "";
  int st = o->api->encoder_create(&om, o->device, o->dtype, o->slots, &g->enc, err, sizeof err);
  omega__free(layers); /* the device copied what it needs */
  if (st != OCU_OK) {
    omega__free(g);
    return omega__seterr(st == OCU_OOM ? OMEGA_EDEVICE_OOM : OMEGA_EDEVICE, "GPU encoder on %s: %s",
                         o->device_name ? o->device_name : "the GPU", err);
  }
  g->base.name = "gpu";
  g->base.slots = o->slots;
  g->base.encode = gpu_encode;
  g->base.usable = gpu_usable;
  g->base.pressure = gpu_pressure;
  g->base.prepare = gpu_prepare;
  g->base.tune = gpu_tune;
  g->base.accel = gpu_accel;
  g->base.destroy = gpu_destroy;
  g->api = o->api;
  g->st.healthy = true;
  atomic_store(&g->healthy, true);
  pthread_mutex_init(&g->mu, NULL);
  *out = &g->base;
  return 0;
}

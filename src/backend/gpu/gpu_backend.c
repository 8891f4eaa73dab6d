/* The GPU backend: the plugin's encoder behind the backend table, with the failure policy
 * of the service. An out-of-memory batch is retried on the CPU (when allowed) and the GPU
 * keeps serving; a sticky error marks the GPU unhealthy and sends every later batch to
 * the CPU; other device errors retry on the CPU too, so no request is lost to the GPU.
 * Faults can be injected here, at the boundary, on any machine. */
#include "backend/gpu/gpu.h"

#include "core/error_internal.h"
#include "core/fault.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above this share of device memory in use, the engine shrinks its batches. */
#define PRESSURE_USED_FRACTION 0.90

typedef struct {
  omega_backend_t base;
  const ocu_api_t *api;
  void *enc;
  omega_backend_t *cpu;
  pthread_mutex_t *cpu_mu; /* the CPU backend runs one batch at a time */
  pthread_mutex_t mu;     /* guards the state below */
  omega_gpu_state_t st;
  atomic_bool healthy;
  atomic_bool fallback;
} gpu_backend_t;

static int run_cpu(gpu_backend_t *g, const omega_batch_t *b, float *out) {
  const char *ignored;
  pthread_mutex_lock(g->cpu_mu);
  int rc = g->cpu->encode(g->cpu, 0, b, out, &ignored);
  pthread_mutex_unlock(g->cpu_mu);
  return rc;
}

static int gpu_encode(omega_backend_t *base, int slot, const omega_batch_t *b, float *out, const char **route) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  if (!atomic_load(&g->healthy)) {
    *route = "fallback";
    pthread_mutex_lock(&g->mu);
    g->st.fallback_batches++;
    pthread_mutex_unlock(&g->mu);
    return run_cpu(g, b, out);
  }
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
  if (st == OCU_OK) {
    *route = "gpu";
    return 0;
  }
  bool retry = true;
  pthread_mutex_lock(&g->mu);
  snprintf(g->st.last_error, sizeof g->st.last_error, "%s", err);
  if (st == OCU_OOM) {
    g->st.oom++;
    retry = atomic_load(&g->fallback);
  } else if (st == OCU_STICKY) {
    g->st.sticky++;
    g->st.healthy = false;
    atomic_store(&g->healthy, false);
  } else {
    g->st.errors++;
  }
  if (retry)
    g->st.fallback_batches++;
  pthread_mutex_unlock(&g->mu);
  if (st == OCU_STICKY)
    omega_log(OMEGA_LOG_ERROR, "GPU failed with a sticky error (%s): serving on the CPU from now on; restart the "
                               "process to use the GPU again",
              err);
  else
    omega_log(OMEGA_LOG_WARN, "GPU batch of %zu sequences failed (%s)%s", b->n_seq, err,
              retry ? ": retrying on the CPU" : "");
  if (!retry) {
    *route = "gpu";
    return omega__seterr(OMEGA_EDEVICE_OOM, "GPU out of memory and ACCEL_OOM_CPU_FALLBACK is off: %s", err);
  }
  *route = "fallback";
  return run_cpu(g, b, out);
}

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
  omega_log(OMEGA_LOG_WARN, "GPU slot %d could not be prepared for %zu tokens (%s)", slot, tokens, err);
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

static void gpu_destroy(omega_backend_t *base) {
  gpu_backend_t *g = (gpu_backend_t *)base;
  /* a corrupted CUDA context cannot be cleaned up safely; the simulated one always can */
  if (atomic_load(&g->healthy) || g->api == omega__cuda_sim_api())
    g->api->encoder_destroy(g->enc);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

int omega__gpu_backend_create(const omega_model_t *m, const omega_gpu_backend_opts_t *o, omega_backend_t **out) {
  gpu_backend_t *g = calloc(1, sizeof *g);
  if (!g)
    return omega__seterr(OMEGA_ENOMEM, "gpu backend: out of memory");
  const omega_bert_config_t *c = &m->cfg;
  ocu_layer_t *layers = calloc((size_t)c->num_layers, sizeof *layers);
  if (!layers) {
    free(g);
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
  free(layers); /* the device copied what it needs */
  if (st != OCU_OK) {
    free(g);
    return omega__seterr(st == OCU_OOM ? OMEGA_EDEVICE_OOM : OMEGA_EDEVICE, "GPU encoder on %s: %s",
                         o->device_name ? o->device_name : "the GPU", err);
  }
  g->base.name = "gpu";
  g->base.slots = o->slots;
  g->base.encode = gpu_encode;
  g->base.pressure = gpu_pressure;
  g->base.prepare = gpu_prepare;
  g->base.destroy = gpu_destroy;
  g->api = o->api;
  g->cpu = o->cpu;
  g->st.healthy = true;
  atomic_store(&g->healthy, true);
  atomic_store(&g->fallback, true);
  g->cpu_mu = o->cpu_mu;
  pthread_mutex_init(&g->mu, NULL);
  *out = &g->base;
  return 0;
}

void omega__gpu_backend_state(omega_backend_t *b, omega_gpu_state_t *st) {
  gpu_backend_t *g = (gpu_backend_t *)b;
  pthread_mutex_lock(&g->mu);
  *st = g->st;
  pthread_mutex_unlock(&g->mu);
  g->api->encoder_stats(g->enc, &st->enc); /* host-side counters: safe after a sticky error too */
}

void omega__gpu_backend_set_graphs(omega_backend_t *b, unsigned tokens) {
  gpu_backend_t *g = (gpu_backend_t *)b;
  g->api->encoder_set_graphs(g->enc, tokens > (1u << 20) ? 1 << 20 : (int)tokens);
}

void omega__gpu_backend_set_fallback(omega_backend_t *b, bool on) { atomic_store(&((gpu_backend_t *)b)->fallback, on); }

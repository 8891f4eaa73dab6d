/* The engine's lifecycle: open (model, backends, runners, batcher), tune, close, and what it
 * reports (info, stats, the accelerator). The work itself is in job.c (requests into jobs)
 * and batcher.c (jobs into batches); route.c decides where a batch runs. */
#include "core/alloc.h"
#include "core/vecmath.h"
#include "engine/cpu_auto.h"
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

void omega_engine_opts_init(omega_engine_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->tuning.max_batch = OMEGA_ENGINE_MAX_BATCH_DEFAULT;
  o->tuning.max_batch_tokens = OMEGA_ENGINE_MAX_BATCH_TOKENS_DEFAULT;
  o->tuning.batch_window_ms = OMEGA_ENGINE_BATCH_WINDOW_MS_DEFAULT;
  o->tuning.adaptive = 1;
  o->tuning.target_latency_ms = OMEGA_ENGINE_TARGET_LATENCY_MS_DEFAULT;
  o->tuning.gpu_slots = OMEGA_ENGINE_GPU_SLOTS_DEFAULT;
  o->tuning.prefer_gpu = 1;
  o->tuning.oom_cpu_fallback = 1;
  o->tuning.cuda_graph_tokens = OMEGA_ENGINE_CUDA_GRAPH_TOKENS_DEFAULT;
  o->cpu_auto_min_cosine = OMEGA_ENGINE_CPU_AUTO_MIN_COSINE_DEFAULT;
  o->accel.mode = OMEGA_ACCEL_AUTO;
  o->accel.max_slots = OMEGA_ENGINE_MAX_SLOTS_DEFAULT;
}

static int check_tuning(const omega_engine_tuning_t *t) {
  /* The settings table's bounds; queue_capacity 0 (unbounded) and gpu_slots 0 (one) stay
   * open to library callers. */
  const struct {
    const char *name;
    unsigned long long v, lo, hi;
  } f[] = {
      {"max_batch", t->max_batch, OMEGA_ENGINE_MAX_BATCH_MIN, OMEGA_ENGINE_MAX_BATCH_MAX},
      {"max_batch_tokens", t->max_batch_tokens, OMEGA_ENGINE_MAX_BATCH_TOKENS_MIN, OMEGA_ENGINE_MAX_BATCH_TOKENS_MAX},
      {"batch_window_ms", t->batch_window_ms, OMEGA_ENGINE_BATCH_WINDOW_MS_MIN, OMEGA_ENGINE_BATCH_WINDOW_MS_MAX},
      {"target_latency_ms", t->target_latency_ms, OMEGA_ENGINE_TARGET_LATENCY_MS_MIN,
       OMEGA_ENGINE_TARGET_LATENCY_MS_MAX},
      {"queue_capacity", t->queue_capacity, 0, OMEGA_ENGINE_QUEUE_CAPACITY_MAX},
      {"gpu_slots", t->gpu_slots, 0, OMEGA_ENGINE_GPU_SLOTS_MAX},
      {"cuda_graph_tokens", t->cuda_graph_tokens, OMEGA_ENGINE_CUDA_GRAPH_TOKENS_MIN,
       OMEGA_ENGINE_CUDA_GRAPH_TOKENS_MAX},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (f[i].v < f[i].lo || f[i].v > f[i].hi)
      return omega__seterr(OMEGA_EINVAL, "%s %llu is outside [%llu, %llu]", f[i].name, f[i].v, f[i].lo, f[i].hi);
  return 0;
}

int omega_engine_tune(omega_engine_t *e, const omega_engine_tuning_t *t) {
  int rc = check_tuning(t);
  if (rc)
    return rc;
  pthread_mutex_lock(&e->mu);
  const bool bounds = t->max_batch != e->tuning.max_batch || t->max_batch_tokens != e->tuning.max_batch_tokens ||
                      t->gpu_slots != e->tuning.gpu_slots;
  e->tuning = *t;
  omega__controller_configure(&e->ctl, t->max_batch, t->adaptive != 0, t->target_latency_ms);
  omega__router_tune(&e->router, t);
  if (bounds) /* the slots prepare for the new bounds as soon as they are idle */
    omega__runners_rebound(e);
  pthread_cond_broadcast(&e->cv);
  pthread_cond_broadcast(&e->runner_cv); /* more slots may have opened */
  pthread_mutex_unlock(&e->mu);
  return 0;
}

/* Everything open built, in reverse; open's failure path and close both end here. The
 * batcher, when running, drains the queue first: every submitted job completes. */
static void engine_free(omega_engine_t *e) {
  if (e->batcher_started) {
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
  }
  if (e->runners)
    omega__runners_stop(e);
  omega__router_destroy(&e->router);
  omega__model_free(e->model);
  omega__pool_destroy(e->tok_pool);
  omega__free(e->win);
  pthread_mutex_destroy(&e->mu);
  pthread_mutex_destroy(&e->tok_mu);
  pthread_cond_destroy(&e->cv);
  pthread_cond_destroy(&e->runner_cv);
  omega__free(e);
}

int omega_engine_open(const char *model_dir, const omega_engine_opts_t *opts, omega_engine_t **out) {
  if (!model_dir || !out)
    return omega__seterr(OMEGA_EINVAL, "omega_engine_open: NULL argument");
  omega__clearerr();
  omega_engine_opts_t o;
  if (opts)
    o = *opts;
  else
    omega_engine_opts_init(&o);
  int rc = check_tuning(&o.tuning);
  if (rc)
    return rc;
  omega_engine_t *e = omega__calloc(1, sizeof *e);
  if (!e)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  e->threads = o.threads;
  if (e->threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    e->threads = n > 0 ? (int)n : 1;
  }
  e->tuning = o.tuning;
  omega__controller_init(&e->ctl, o.tuning.max_batch, o.tuning.adaptive != 0, o.tuning.target_latency_ms);
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  pthread_cond_init(&e->runner_cv, NULL);
  pthread_mutex_init(&e->tok_mu, NULL);
  omega__router_init(&e->router);
  if (e->threads > 1 && (rc = omega__pool_create(e->threads, &e->tok_pool)))
    goto fail;
  if ((rc = omega__model_load(model_dir, o.pooling, &e->model)))
    goto fail;
  e->max_len = e->model->st.max_seq_length;
  e->cpu_auto_used = o.cpu_precision == OMEGA_CPU_AUTO;
  if ((rc = e->cpu_auto_used ? omega__cpu_auto_open(e->model, e->threads, o.cpu_auto_min_cosine,
                                                    o.cpu_auto_cache_dir, &e->router.cpu, &e->cpu_auto)
                             : omega__cpu_backend_create(e->model, e->threads, o.cpu_precision, &e->router.cpu)) ||
      (rc = omega__gpu_backend_open(e->model, &o.accel, &e->router.gpu, &e->accel)))
    goto fail;
  omega__router_tune(&e->router, &o.tuning);
  e->prep_gen = 1;
  if ((rc = omega__runners_start(e)))
    goto fail;
  omega__runners_wait_prepared(e);
  if (pthread_create(&e->thread, NULL, omega__batcher_main, e) != 0) {
    rc = omega__seterr(OMEGA_ENOMEM, "cannot start the batcher thread");
    goto fail;
  }
  e->batcher_started = true;
  *out = e;
  return 0;
fail:
  engine_free(e);
  return rc;
}

void omega_engine_close(omega_engine_t *e) {
  if (e)
    engine_free(e);
}

void omega_engine_info(const omega_engine_t *e, omega_engine_info_t *info) {
  static _Thread_local char pool_name[64];
  const omega_model_t *m = e->model;
  memset(info, 0, sizeof *info);
  info->model_dir = m->dir;
  info->architecture = m->cfg.model_type;
  info->hidden_size = m->cfg.hidden_size;
  info->num_layers = m->cfg.num_layers;
  info->num_heads = m->cfg.num_heads;
  info->intermediate_size = m->cfg.intermediate_size;
  info->vocab_size = m->cfg.vocab_size;
  info->max_position_embeddings = m->cfg.max_position_embeddings;
  info->max_seq_length = m->st.max_seq_length;
  info->dim = m->dim;
  info->pooling = omega__pool_name(m->st.pooling, pool_name, sizeof pool_name);
  info->normalize = m->st.normalize;
  info->weight_dtype = m->weight_dtype;
  info->activation = m->cfg.act_name;
  info->n_params = m->n_params;
  info->backend = omega__router_primary(&e->router)->name;
  info->threads = e->threads;
  info->cpu_precision = omega_cpu_precision_name(omega__cpu_backend_precision(e->router.cpu));
  info->cpu_auto = e->cpu_auto_used ? &e->cpu_auto : NULL;
  info->n_prompts = m->st.n_prompts;
  info->default_prompt_name = m->st.default_prompt >= 0 ? m->st.prompts[m->st.default_prompt].name : NULL;
  info->tokenizer = omega_tokenizer_model_type(m->tok);
  if (m->cfg.head.present) {
    static const char *const acts[] = {"identity", "sigmoid", "softmax", "tanh"};
    info->classifier = m->cfg.head.architecture;
    info->score_activation = acts[m->cfg.head.act];
  }
}

void omega_engine_activate(const omega_engine_t *e, float *x, size_t rows) {
  const omega_head_config_t *h = &e->model->cfg.head;
  if (!h->present)
    return;
  const size_t n = (size_t)h->num_labels;
  for (size_t r = 0; r < rows; r++) {
    float *row = x + r * n;
    if (h->act == OMEGA_SCORE_SOFTMAX) {
      omega__softmax(row, n);
      continue;
    }
    for (size_t i = 0; i < n; i++)
      row[i] = h->act == OMEGA_SCORE_SIGMOID ? 1.0f / (1.0f + expf(-row[i]))
               : h->act == OMEGA_SCORE_TANH  ? tanhf(row[i])
                                             : row[i];
  }
}

const char *omega_engine_label(const omega_engine_t *e, size_t i) {
  const omega_head_config_t *h = &e->model->cfg.head;
  return h->present && i < (size_t)h->num_labels ? h->labels[i] : NULL;
}

const omega_tokenizer_t *omega_engine_tokenizer(const omega_engine_t *e) { return e->model->tok; }

int omega_engine_prompt(const omega_engine_t *e, size_t i, const char **name, const char **text) {
  if (!e || i >= e->model->st.n_prompts)
    return omega__seterr(OMEGA_ERANGE, "the model has %zu prompts", e ? e->model->st.n_prompts : 0);
  if (name)
    *name = e->model->st.prompts[i].name;
  if (text)
    *text = e->model->st.prompts[i].text;
  return 0;
}

void omega_engine_stats(const omega_engine_t *e, omega_engine_stats_t *st) {
  omega_engine_t *m = (omega_engine_t *)e;
  pthread_mutex_lock(&m->mu);
  *st = m->stats;
  st->queued_seqs = m->queued_seqs;
  st->queued_jobs = m->queued_jobs;
  st->inflight_seqs = m->inflight_seqs;
  st->batch_ceiling = m->ctl.ceiling;
  st->p95_ms = m->ctl.last_p95_ms;
  st->run_p95_ms = m->ctl.last_run_p95_ms;
  st->ceiling_up = m->ctl.ups;
  st->ceiling_down = m->ctl.downs;
  pthread_mutex_unlock(&m->mu);
}

void omega_engine_accel(const omega_engine_t *e, omega_engine_accel_t *out) {
  *out = e->accel;
  omega__router_accel(&e->router, out);
}

void omega_engine_set_observer(omega_engine_t *e, omega_batch_observer_fn fn, void *user) {
  pthread_mutex_lock(&e->mu);
  e->observer = fn;
  e->observer_user = user;
  pthread_mutex_unlock(&e->mu);
}

#include "config/library_opts.h"

#include "omega/cpu.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The XDG base directory rule for caches; "" where neither variable is set (no cache). */
static char default_cache[PATH_MAX];
static pthread_once_t default_cache_once = PTHREAD_ONCE_INIT;

static void find_default_cache(void) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && xdg[0] == '/')
    snprintf(default_cache, sizeof default_cache, "%s/omega", xdg);
  else if (home && home[0] == '/')
    snprintf(default_cache, sizeof default_cache, "%s/.cache/omega", home);
}

const char *omega__config_cpu_auto_cache(const omega_settings_t *s) {
  if (strcmp(s->embed_cpu_auto_cache_dir, "off") == 0)
    return NULL;
  if (s->embed_cpu_auto_cache_dir[0])
    return s->embed_cpu_auto_cache_dir;
  pthread_once(&default_cache_once, find_default_cache);
  return default_cache[0] ? default_cache : NULL;
}

void omega__config_engine_tuning(const omega_settings_t *s, omega_engine_tuning_t *t) {
  *t = (omega_engine_tuning_t){
      .max_batch = (size_t)s->embed_max_batch,
      .max_batch_tokens = (size_t)s->embed_max_batch_tokens,
      .batch_window_ms = (unsigned)s->embed_batch_window_ms,
      .adaptive = s->embed_adaptive_batching,
      .target_latency_ms = (unsigned)s->accel_target_lat_ms,
      .queue_capacity = (size_t)s->embed_queue_capacity,
      .gpu_slots = (unsigned)s->embed_gpu_slots,
      .prefer_gpu = s->embed_prefer_gpu,
      .oom_cpu_fallback = s->accel_oom_cpu_fallback,
      .cuda_graph_tokens = (unsigned)s->embed_cuda_graph_tokens,
  };
}

void omega__config_engine_opts(const omega_settings_t *boot, const omega_settings_t *now, omega_engine_opts_t *o) {
  omega_engine_opts_init(o);
  o->threads = (int)boot->embed_threads;
  o->cpu_precision = boot->embed_cpu_precision;
  o->cpu_auto_min_cosine = boot->embed_cpu_auto_min_cosine;
  o->cpu_auto_cache_dir = omega__config_cpu_auto_cache(boot);
  o->pooling = boot->embed_pooling[0] ? boot->embed_pooling : NULL;
  omega__config_engine_tuning(now, &o->tuning);
  o->accel.mode = boot->omega_accel;
  o->accel.plugin = boot->omega_cuda_plugin;
  o->accel.device = (int)boot->omega_gpu_device;
  o->accel.dtype = boot->embed_gpu_dtype;
  o->accel.max_slots = (int)(boot->embed_gpu_max_slots > now->embed_gpu_slots ? boot->embed_gpu_max_slots
                                                                              : now->embed_gpu_slots);
}

int omega__config_force_cpu(const omega_settings_t *s) {
  int rc = omega_cpu_isa_force(s->omega_cpu_isa);
  return rc ? rc : omega_simd_force(s->omega_simd);
}

/* The routing policy (route.h): every choice between the GPU, the CPU and a fallback is made
 * here, from what the backends report. */
#include "engine/route.h"

#include "core/error_internal.h"
#include "core/log.h"

#include <stdio.h>

void omega__router_init(omega_router_t *r) {
  r->cpu = NULL;
  r->gpu = NULL;
  pthread_mutex_init(&r->cpu_mu, NULL);
  atomic_init(&r->prefer_gpu, true);
  atomic_init(&r->oom_cpu_fallback, true);
  atomic_init(&r->lost_logged, false);
  atomic_init(&r->fallback_batches, 0);
}

void omega__router_destroy(omega_router_t *r) {
  if (r->gpu)
    r->gpu->destroy(r->gpu);
  if (r->cpu)
    r->cpu->destroy(r->cpu);
  pthread_mutex_destroy(&r->cpu_mu);
}

void omega__router_tune(omega_router_t *r, const omega_engine_tuning_t *t) {
  atomic_store(&r->prefer_gpu, t->prefer_gpu != 0);
  atomic_store(&r->oom_cpu_fallback, t->oom_cpu_fallback != 0);
  if (r->gpu && r->gpu->tune)
    r->gpu->tune(r->gpu, t);
}

static bool to_gpu(const omega_router_t *r) { return r->gpu && atomic_load(&r->prefer_gpu); }

int omega__router_slots(const omega_router_t *r, unsigned gpu_slots, int n_runners) {
  if (!to_gpu(r))
    return 1;
  const int n = (int)gpu_slots;
  return n < 1 ? 1 : n > n_runners ? n_runners : n;
}

static int run_cpu(omega_router_t *r, const omega_batch_t *b, float *out) {
  pthread_mutex_lock(&r->cpu_mu);
  const int rc = r->cpu->encode(r->cpu, 0, b, out);
  pthread_mutex_unlock(&r->cpu_mu);
  return rc;
}

static int fallback(omega_router_t *r, const omega_batch_t *b, float *out, omega_route_t *route) {
  atomic_fetch_add(&r->fallback_batches, 1);
  *route = OMEGA_ROUTE_FALLBACK;
  return run_cpu(r, b, out);
}

static bool usable(omega_backend_t *b) { return !b->usable || b->usable(b); }

int omega__router_run(omega_router_t *r, int slot, const omega_batch_t *b, float *out, omega_route_t *route) {
  if (!to_gpu(r)) {
    *route = OMEGA_ROUTE_CPU;
    return run_cpu(r, b, out);
  }
  if (!usable(r->gpu))
    return fallback(r, b, out, route);
  *route = OMEGA_ROUTE_GPU;
  const int rc = r->gpu->encode(r->gpu, slot, b, out);
  if (rc == 0)
    return 0;
  char err[256];
  snprintf(err, sizeof err, "%s", omega_errmsg());
  if (!usable(r->gpu)) {
    if (!atomic_exchange(&r->lost_logged, true))
      omega__log(OMEGA_LOG_ERROR,
                "GPU failed with a sticky error (%s): serving on the CPU from now on; restart the process to use the "
                "GPU again",
                err);
    return fallback(r, b, out, route);
  }
  const bool retry = rc != OMEGA_EDEVICE_OOM || atomic_load(&r->oom_cpu_fallback);
  omega__log(OMEGA_LOG_WARN, "GPU batch of %zu sequences failed (%s)%s", b->n_seq, err,
            retry ? ": retrying on the CPU" : "");
  if (!retry)
    return omega__seterr(OMEGA_EDEVICE_OOM, "GPU out of memory and ACCEL_OOM_CPU_FALLBACK is off: %s", err);
  return fallback(r, b, out, route);
}

omega_route_t omega__route_worst(omega_route_t a, omega_route_t b) {
  static const int sickness[OMEGA_ROUTE_COUNT] = {
      [OMEGA_ROUTE_GPU] = 0, [OMEGA_ROUTE_CPU] = 1, [OMEGA_ROUTE_FALLBACK] = 2};
  return sickness[b] > sickness[a] ? b : a;
}

void omega__router_accel(const omega_router_t *r, omega_engine_accel_t *a) {
  if (r->gpu && r->gpu->accel)
    r->gpu->accel(r->gpu, a);
  a->fallback_batches = atomic_load(&r->fallback_batches);
}

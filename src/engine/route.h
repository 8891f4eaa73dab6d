/* Routing: which backend runs a batch. This is the one place where GPU, CPU and fallback are
 * decided; the backends only run batches and report how they failed (the policy apart from
 * the mechanism, as controller.c is for the batch size):
 * - with no GPU backend, or EMBED_PREFER_GPU off, a batch runs on the CPU (route cpu);
 * - a GPU that failed for good (a sticky error; its `usable` says 0) sends every batch to the
 *   CPU (route fallback);
 * - a GPU batch that fails is run again on the CPU (route fallback), except out of memory
 *   with ACCEL_OOM_CPU_FALLBACK off, which fails the batch (route gpu).
 * The CPU backend runs one batch at a time, whoever sends it. */
#ifndef OMEGA_ENGINE_ROUTE_H
#define OMEGA_ENGINE_ROUTE_H

#include "backend/backend.h"
#include "omega/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct {
  omega_backend_t *cpu; /* always there once the engine is open */
  omega_backend_t *gpu; /* NULL when the CPU serves alone */
  pthread_mutex_t cpu_mu;
  atomic_bool prefer_gpu, oom_cpu_fallback;
  atomic_bool lost_logged; /* the GPU's permanent failure was logged */
  atomic_ullong fallback_batches;
} omega_router_t;

/* No backends yet: the engine creates them into r->cpu and r->gpu. */
void omega__router_init(omega_router_t *r);
/* Destroys the backends it holds. */
void omega__router_destroy(omega_router_t *r);
/* The hot settings: EMBED_PREFER_GPU, ACCEL_OOM_CPU_FALLBACK, and the GPU's own. */
void omega__router_tune(omega_router_t *r, const omega_engine_tuning_t *t);

/* The backend whose slots the runners use: the GPU when there is one, else the CPU. */
static inline omega_backend_t *omega__router_primary(const omega_router_t *r) { return r->gpu ? r->gpu : r->cpu; }
/* Batches that may run at once: gpu_slots (within 1..n_runners) when batches go to the GPU, else 1. */
int omega__router_slots(const omega_router_t *r, unsigned gpu_slots, int n_runners);
/* Run a batch on `slot` where the policy says; *route says where it ran. */
int omega__router_run(omega_router_t *r, int slot, const omega_batch_t *b, float *out, omega_route_t *route);
/* A job served by several batches reports its least healthy route: fallback, then cpu, then gpu. */
omega_route_t omega__route_worst(omega_route_t a, omega_route_t b);
/* The live part of the accelerator's state: the GPU's health and counters, the fallbacks. */
void omega__router_accel(const omega_router_t *r, omega_engine_accel_t *a);

#endif

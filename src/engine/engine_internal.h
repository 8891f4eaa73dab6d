/* The engine's shared state, private to src/engine: the job (job.c), the batcher and its
 * runners (batcher.c) and the lifecycle (engine.c) all read it. Locks: `mu` guards what is
 * marked so; a job's status is published under its own `mu`. */
#ifndef OMEGA_ENGINE_ENGINE_INTERNAL_H
#define OMEGA_ENGINE_ENGINE_INTERNAL_H

#include "omega/engine.h"

#include "core/error_internal.h"
#include "core/parallel.h"
#include "engine/controller.h"
#include "engine/route.h"
#include "model/model.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct omega_job {
  atomic_int refs;
  omega_engine_t *eng;
  int32_t *ids;
  uint32_t *offsets; /* n + 1 */
  size_t n, dim;
  unsigned flags;
  size_t next_seq;  /* next sequence to schedule (engine lock) */
  size_t remaining; /* sequences not yet finished or dropped (batcher thread) */
  int err;          /* first failure (engine lock) */
  /* err's detail, written with it on the thread that found the failure: a job carries its
   * own message because the thread that answers for it is not the one that failed it */
  char errmsg[512];
  atomic_int canceled;
  int64_t submit_ns, deadline_ns, first_start_ns;
  double tokenize_ms, infer_ms;
  omega_route_t route; /* valid once `routed` (engine lock) */
  bool routed;
  float *out;
  bool own_out;
  int status; /* OMEGA_EAGAIN while pending (job lock) */
  omega_job_cb cb;
  void *user;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct omega_job *next_in_queue;
};

typedef struct {
  omega_job_t *job;
  size_t seq;
  uint32_t len;
  uint32_t order; /* position in the window, for a stable sort */
} omega_item_t;

/* A runner executes one batch at a time on one backend slot; with the GPU there are
 * EMBED_GPU_SLOTS of them so several batches are in flight, with the CPU only one. */
typedef struct {
  omega_engine_t *e;
  int slot;
  pthread_t thread;
  bool busy, has_work, started;
  unsigned prep_gen; /* the engine's prep_gen this slot was last prepared for */
  pthread_cond_t cv;
  omega_item_t *items;
  size_t k, tokens, item_cap, tok_cap;
  int32_t *ids;
  uint32_t *off;
  float *out;
} omega_runner_t;

struct omega_engine {
  omega_model_t *model;
  omega_router_t router;  /* the backends, and which one runs a batch */
  omega_pool_t *tok_pool; /* tokenizes large requests in parallel (one request at a time) */
  pthread_mutex_t tok_mu;
  omega_engine_accel_t accel; /* the device chosen at open */
  omega_cpu_auto_t cpu_auto;  /* what EMBED_CPU_PRECISION=auto measured (cpu_auto_used) */
  bool cpu_auto_used;
  int threads;
  int max_len;
  pthread_t thread;
  bool batcher_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* under mu */
  omega_engine_tuning_t tuning;
  omega_job_t *head, *tail;
  size_t queued_seqs, queued_jobs, inflight_seqs;
  bool stop;
  omega_controller_t ctl;
  omega_engine_stats_t stats;
  omega_batch_observer_fn observer;
  void *observer_user;
  omega_runner_t *runners; /* n_runners threads; the first active_runners() take work */
  int n_runners;
  pthread_cond_t runner_cv; /* a runner became idle */
  bool runners_stop;
  unsigned prep_gen; /* bumped when the batch bounds or the slot count change */
  /* batcher thread only */
  omega_item_t *win;
  size_t win_cap;
};

/* job.c */
/* Record the job's first failure with its detail (engine lock held, or the job not shared
 * yet). An empty detail leaves the message to omega__job_complete, which names the code. */
void omega__job_fail(omega_job_t *j, int rc, const char *fmt, ...) OMEGA_PRINTF(3, 4);
/* Publish the job's status, count it, run its callback and drop the engine's reference
 * (batcher or runner thread, no engine lock held). */
void omega__job_complete(omega_engine_t *e, omega_job_t *j);

/* batcher.c */
/* Start one runner per slot of the primary backend, each preparing its slot. */
int omega__runners_start(omega_engine_t *e);
/* Block until the active slots are prepared for the current batch bounds. */
void omega__runners_wait_prepared(omega_engine_t *e);
/* The batch bounds or the slot count changed: the idle slots prepare again (lock held). */
void omega__runners_rebound(omega_engine_t *e);
/* After the batcher has drained: wait for the runners to go idle, then end them. */
void omega__runners_stop(omega_engine_t *e);
/* The batcher thread: queue -> sorted window -> batches -> runners, until stop and drained. */
void *omega__batcher_main(void *arg);

#endif

#include "core/alloc.h"
#include "core/parallel.h"

#include "core/clock.h"
#include "core/error_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* How long a thread polls before sleeping on a condition variable: 1 ms, longer than the
 * gaps inside one forward pass (the serial steps between kernels, and between the requests of
 * a busy server), so the loops do not pay a futex wake-up each (tens of microseconds on a VM,
 * measured as 12% of single-sentence p95 with a 50 us spin), while an idle pool still sleeps.
 * ONNX Runtime's and OpenMP's default thread pools spin the same way. Measured in time, as the
 * cost of a pause instruction differs tenfold between CPUs. */
#define SPIN_NS 1000000L

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Polls until done(arg) or SPIN_NS have passed; true when done. */
static bool spin_until(bool (*done)(omega_pool_t *, unsigned long), omega_pool_t *p, unsigned long seen) {
  const long t0 = omega__now_ns();
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (done(p, seen))
        return true;
      cpu_relax();
    }
    if (omega__now_ns() - t0 > SPIN_NS)
      return false;
  }
}

struct omega_pool {
  int n_workers; /* threads besides the caller */
  pthread_t *th;
  pthread_mutex_t mu;
  pthread_cond_t start_cv, done_cv;
  atomic_ulong generation; /* written under mu, polled without it */
  atomic_bool stop;
  /* the current loop */
  omega_range_fn fn;
  void *ctx;
  size_t n, grain;
  atomic_size_t next;
  atomic_int running; /* workers still inside the current loop; decremented under mu */
  atomic_int started; /* workers that have taken their index */
};

static _Thread_local int worker_index; /* omega__pool_worker() */

int omega__pool_worker(void) { return worker_index; }

static void work(omega_pool_t *p) {
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    size_t b = i * p->grain;
    if (b >= p->n)
      return;
    size_t e = b + p->grain < p->n ? b + p->grain : p->n;
    p->fn(p->ctx, b, e);
  }
}

static bool has_work(omega_pool_t *p, unsigned long seen) {
  return atomic_load(&p->stop) || atomic_load(&p->generation) != seen;
}

static bool all_done(omega_pool_t *p, unsigned long seen) {
  (void)seen;
  return atomic_load(&p->running) == 0;
}

static void *worker(void *arg) {
  omega_pool_t *p = arg;
  unsigned long seen = 0;
  worker_index = 1 + atomic_fetch_add(&p->started, 1);
  for (;;) {
    spin_until(has_work, p, seen);
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->generation == seen)
      pthread_cond_wait(&p->start_cv, &p->mu);
    if (p->stop)
      break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    work(p);
    pthread_mutex_lock(&p->mu);
    if (atomic_fetch_sub(&p->running, 1) == 1)
      pthread_cond_signal(&p->done_cv);
    pthread_mutex_unlock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int omega__pool_create(int threads, omega_pool_t **out) {
  omega_pool_t *p = omega__calloc(1, sizeof *p);
  if (!p)
    return omega__seterr(OMEGA_ENOMEM, "thread pool: out of memory");
  p->n_workers = threads > 1 ? threads - 1 : 0;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->start_cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  p->th = omega__calloc((size_t)p->n_workers + 1, sizeof *p->th);
  if (!p->th) {
    omega__free(p);
    return omega__seterr(OMEGA_ENOMEM, "thread pool: out of memory");
  }
  for (int i = 0; i < p->n_workers; i++)
    if (pthread_create(&p->th[i], NULL, worker, p) != 0) {
      p->n_workers = i;
      omega__pool_destroy(p);
      return omega__seterr(OMEGA_ENOMEM, "thread pool: cannot create thread %d", i);
    }
  *out = p;
  return 0;
}

void omega__pool_destroy(omega_pool_t *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_broadcast(&p->start_cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n_workers; i++)
    pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->start_cv);
  pthread_cond_destroy(&p->done_cv);
  omega__free(p->th);
  omega__free(p);
}

int omega__pool_threads(const omega_pool_t *p) { return p ? p->n_workers + 1 : 1; }

void omega__pool_for(omega_pool_t *p, size_t n, size_t grain, omega_range_fn fn, void *ctx) {
  if (grain == 0)
    grain = 1;
  /* The caller is thread 0 of this loop, even when it is a worker of another pool's. */
  const int outer_index = worker_index;
  worker_index = 0;
  if (!p || p->n_workers == 0 || n <= grain) {
    if (n)
      fn(ctx, 0, n);
    worker_index = outer_index;
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->grain = grain;
  atomic_store(&p->next, 0);
  p->running = p->n_workers;
  p->generation++;
  pthread_cond_broadcast(&p->start_cv);
  pthread_mutex_unlock(&p->mu);
  work(p);
  spin_until(all_done, p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->running > 0)
    pthread_cond_wait(&p->done_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  worker_index = outer_index;
}

void omega__run_jobs(void *(*fn)(void *), void *jobs, size_t job_size, size_t n) {
  pthread_t th[OMEGA_JOBS_MAX];
  bool started[OMEGA_JOBS_MAX] = {false};
  char *j = jobs;
  for (size_t i = 1; i < n && i < OMEGA_JOBS_MAX; i++)
    started[i] = pthread_create(&th[i], NULL, fn, j + i * job_size) == 0;
  if (n)
    fn(j);
  for (size_t i = 1; i < n; i++) {
    if (i < OMEGA_JOBS_MAX && started[i])
      pthread_join(th[i], NULL);
    else
      fn(j + i * job_size); /* no thread to spare: in this one */
  }
}

void omega__run_workers(void *(*fn)(void *), void *arg, size_t n) {
  omega__run_jobs(fn, arg, 0, n); /* job size 0: every job is arg itself */
}

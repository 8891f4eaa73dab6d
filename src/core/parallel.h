/* A small persistent thread pool for data-parallel loops (the caller works too). */
#ifndef OMEGA_CORE_PARALLEL_H
#define OMEGA_CORE_PARALLEL_H

#include <stddef.h>

typedef struct omega_pool omega_pool_t;
/* fn(ctx, begin, end) processes items [begin, end). */
typedef void (*omega_range_fn)(void *ctx, size_t begin, size_t end);

int omega__pool_create(int threads, omega_pool_t **out);
void omega__pool_destroy(omega_pool_t *p);
int omega__pool_threads(const omega_pool_t *p);
/* Run fn over [0, n) in chunks of `grain` items, handed out dynamically; returns when done.
 * A NULL pool runs inline. Not reentrant: one loop at a time per pool. */
void omega__pool_for(omega_pool_t *p, size_t n, size_t grain, omega_range_fn fn, void *ctx);
/* Inside a loop's fn: which of the pool's threads runs it, in [0, omega__pool_threads()), the
 * caller being 0 (also for inline runs). Lets a kernel use per-thread scratch allocated before
 * the loop instead of allocating in the loop, where a failure could not be returned. */
int omega__pool_worker(void);

/* One short-lived thread per job but the first, which the caller runs; waits for all. A job
 * whose thread cannot be created runs in the caller. n <= OMEGA_JOBS_MAX. For fan-outs whose
 * thread count changes per call and that may run concurrently on one structure (searches
 * sharing a read lock), which a pool (one loop at a time) would serialise. */
#define OMEGA_JOBS_MAX 256
void omega__run_jobs(void *(*fn)(void *), void *jobs, size_t job_size, size_t n);
/* fn(arg) on n threads at once, the caller among them: workers sharing one counter in arg,
 * each taking the next item until none is left. One whose thread cannot be created runs in
 * the caller after the others, and finds nothing left. n <= OMEGA_JOBS_MAX. */
void omega__run_workers(void *(*fn)(void *), void *arg, size_t n);

#endif

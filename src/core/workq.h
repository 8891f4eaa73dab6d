/* A bounded work queue with a fixed set of worker threads, for the blocking work of the
 * server (HMAC, JSON parsing, tokenisation, JSON encoding) so I/O threads never block. */
#ifndef OMEGA_CORE_WORKQ_H
#define OMEGA_CORE_WORKQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct omega_workq omega_workq_t;
typedef void (*omega_task_fn)(void *arg);

int omega__workq_create(int threads, size_t capacity, omega_workq_t **out);
/* Runs every queued task, then stops the threads. */
void omega__workq_destroy(omega_workq_t *q);
/* Queue a task; OMEGA_EAGAIN when `capacity` tasks are already waiting, unless `force`
 * (for the second half of work already admitted, which must not be dropped). */
int omega__workq_submit(omega_workq_t *q, omega_task_fn fn, void *arg, bool force);
void omega__workq_stats(omega_workq_t *q, size_t *busy, size_t *queued, unsigned long long *rejected);

#endif

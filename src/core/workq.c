#include "core/alloc.h"
#include "core/workq.h"

#include "core/error_internal.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct task {
  omega_task_fn fn;
  void *arg;
  struct task *next;
} task_t;

struct omega_workq {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  task_t *head, *tail;
  size_t queued, busy, capacity;
  unsigned long long rejected;
  bool stop;
  int n_threads;
  pthread_t *th;
};

static void *worker(void *arg) {
  omega_workq_t *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!q->head && !q->stop)
      pthread_cond_wait(&q->cv, &q->mu);
    if (!q->head)
      break;
    task_t *t = q->head;
    q->head = t->next;
    if (!q->head)
      q->tail = NULL;
    q->queued--;
    q->busy++;
    pthread_mutex_unlock(&q->mu);
    /* a task that fails without recording a detail must not report the previous task's */
    omega__clearerr();
    t->fn(t->arg);
    omega__free(t);
    pthread_mutex_lock(&q->mu);
    q->busy--;
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

int omega__workq_create(int threads, size_t capacity, omega_workq_t **out) {
  omega_workq_t *q = omega__calloc(1, sizeof *q);
  if (!q || !(q->th = omega__calloc((size_t)threads, sizeof *q->th))) {
    omega__free(q);
    return omega__seterr(OMEGA_ENOMEM, "worker pool: out of memory");
  }
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  q->capacity = capacity;
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&q->th[i], NULL, worker, q) != 0) {
      omega__workq_destroy(q);
      return omega__seterr(OMEGA_ENOMEM, "worker pool: cannot start thread %d", i);
    }
    q->n_threads++;
  }
  *out = q;
  return 0;
}

void omega__workq_destroy(omega_workq_t *q) {
  if (!q)
    return;
  pthread_mutex_lock(&q->mu);
  q->stop = true;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  for (int i = 0; i < q->n_threads; i++)
    pthread_join(q->th[i], NULL);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  omega__free(q->th);
  omega__free(q);
}

int omega__workq_submit(omega_workq_t *q, omega_task_fn fn, void *arg, bool force) {
  task_t *t = omega__malloc(sizeof *t);
  if (!t)
    return omega__seterr(OMEGA_ENOMEM, "worker pool: out of memory");
  t->fn = fn;
  t->arg = arg;
  t->next = NULL;
  pthread_mutex_lock(&q->mu);
  if (!force && q->queued >= q->capacity) {
    q->rejected++;
    pthread_mutex_unlock(&q->mu);
    omega__free(t);
    return omega__seterr(OMEGA_EAGAIN, "worker pool busy: %zu tasks waiting", q->capacity);
  }
  if (q->tail)
    q->tail->next = t;
  else
    q->head = t;
  q->tail = t;
  q->queued++;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

void omega__workq_stats(omega_workq_t *q, size_t *busy, size_t *queued, unsigned long long *rejected) {
  pthread_mutex_lock(&q->mu);
  *busy = q->busy;
  *queued = q->queued;
  *rejected = q->rejected;
  pthread_mutex_unlock(&q->mu);
}

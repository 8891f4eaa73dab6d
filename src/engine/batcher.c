/* The batcher and its runners. The batcher thread takes a window of queued sequences (across
 * jobs), sorts it by length, cuts it into batches under the current ceiling and token budget
 * and hands each to an idle runner; a runner runs its batch where the router says
 * (route.c), writes the rows into the jobs and completes the jobs it finished. The latency
 * controller (controller.c) moves the ceiling. Memory the batcher cannot get fails the jobs
 * it was for, with a message, so no thread ever waits for memory. */
#include "engine/engine_internal.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/fault.h"
#include "core/vecmath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int reserve_window(omega_engine_t *e, size_t items) {
  if (items > e->win_cap) {
    omega_item_t *nw = omega__realloc(e->win, items * sizeof *nw);
    if (!nw)
      return OMEGA_ENOMEM;
    e->win = nw;
    e->win_cap = items;
  }
  return 0;
}

static int runner_reserve(omega_runner_t *r, size_t items, size_t tokens, size_t dim) {
  if (tokens > r->tok_cap) {
    int32_t *ni = omega__realloc(r->ids, tokens * sizeof *ni);
    if (!ni)
      return OMEGA_ENOMEM;
    r->ids = ni;
    r->tok_cap = tokens;
  }
  if (items > r->item_cap) {
    uint32_t *no = omega__realloc(r->off, (items + 1) * sizeof *no);
    if (no)
      r->off = no;
    float *nb = omega__realloc(r->out, items * dim * sizeof *nb);
    if (nb)
      r->out = nb;
    omega_item_t *ni = omega__realloc(r->items, items * sizeof *ni);
    if (ni)
      r->items = ni;
    if (!no || !nb || !ni)
      return OMEGA_ENOMEM;
    r->item_cap = items;
  }
  return 0;
}

/* Move up to max sequences from the queue into the window (engine lock held). Jobs that
 * were canceled or passed their deadline have their unstarted sequences dropped; so have
 * those the window was for when it could not be allocated (no_room: the message, else
 * NULL). Jobs left with nothing to wait for are returned in *done for completion. */
static size_t take_window(omega_engine_t *e, size_t max, const char *no_room, omega_job_t **done, size_t *n_done,
                          size_t done_cap) {
  size_t k = 0, failed = 0;
  const int64_t t = omega__now_ns();
  while (e->head && k + failed < max && *n_done < done_cap) {
    omega_job_t *j = e->head;
    bool cancel = atomic_load(&j->canceled), late = j->deadline_ns && t > j->deadline_ns;
    if (cancel || late || no_room) {
      size_t dropped = j->n - j->next_seq;
      e->queued_seqs -= dropped;
      j->remaining -= dropped;
      j->next_seq = j->n;
      if (late)
        omega__job_fail(j, OMEGA_ETIMEDOUT, "deadline exceeded: %zu of %zu inputs had not started", dropped, j->n);
      else if (cancel)
        omega__job_fail(j, OMEGA_ECANCELED, "canceled: %zu of %zu inputs had not started", dropped, j->n);
      else
        omega__job_fail(j, OMEGA_ENOMEM, "%s", no_room);
      if (no_room)
        failed += dropped;
    } else {
      while (j->next_seq < j->n && k < max) {
        size_t s = j->next_seq++;
        e->win[k] = (omega_item_t){j, s, j->offsets[s + 1] - j->offsets[s], (uint32_t)k};
        k++;
        e->queued_seqs--;
      }
    }
    if (j->next_seq == j->n) {
      e->head = j->next_in_queue;
      if (!e->head)
        e->tail = NULL;
      e->queued_jobs--;
      if (j->remaining == 0)
        done[(*n_done)++] = j;
    }
  }
  e->inflight_seqs += k;
  return k;
}

static int cmp_len(const void *a, const void *b) {
  const omega_item_t *x = a, *y = b;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Settle items[0..k) of a batch that ended with rc (engine lock held): the jobs' failure
 * with its detail, their route and run time (route NULL: the batch never ran), and the jobs
 * it finished into `finished`; returns how many. */
static size_t settle(omega_engine_t *e, const omega_item_t *items, size_t k, int rc, const char *detail,
                     const omega_route_t *route, double ms, omega_job_t **finished) {
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    if (rc)
      omega__job_fail(j, rc, "%s", detail);
    if (!route)
      continue;
    j->route = j->routed ? omega__route_worst(j->route, *route) : *route;
    j->routed = true;
    bool seen = false; /* each job counts this batch's time once */
    for (size_t p = 0; p < i && !seen; p++)
      seen = items[p].job == j;
    if (!seen)
      j->infer_ms += ms;
  }
  size_t n_fin = 0;
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    if (--j->remaining == 0 && j->next_seq == j->n)
      finished[n_fin++] = j;
  }
  e->inflight_seqs -= k;
  return n_fin;
}

/* Runner thread: run the batch the batcher filled in, then finish its jobs' bookkeeping. */
static void run_batch(omega_engine_t *e, omega_runner_t *r) {
  const omega_item_t *items = r->items;
  const size_t k = r->k, tokens = r->tokens;
  const int64_t t0 = omega__now_ns();
  /* an injected delay stands for a slow model: it counts as run time */
  long delay = omega__fault_get(OMEGA_FAULT_BATCH_DELAY_MS);
  if (delay) {
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  omega_batch_t b = {r->ids, r->off, k};
  omega_route_t route;
  /* the backend reports its detail in this thread's message: it must not be an older batch's */
  omega__clearerr();
  const int rc = omega__router_run(&e->router, r->slot, &b, r->out, &route);
  const double ms = (double)(omega__now_ns() - t0) / 1e6;
  char detail[sizeof items->job->errmsg] = "";
  if (rc)
    snprintf(detail, sizeof detail, "%s", omega_errmsg());
  const omega_model_t *m = e->model;
  const size_t dim = (size_t)m->dim, pool_dim = (size_t)m->pool_dim;
  float post_tmp[omega__model_has_post(m) ? omega__model_post_scratch(m) : 1]; /* Dense chain or head */
  for (size_t i = 0; i < k && rc == 0; i++) {
    const omega_job_t *j = items[i].job;
    float *row = j->out + items[i].seq * dim; /* rows are disjoint: no lock */
    if (omega__model_has_post(m))
      omega__model_post(m, r->out + i * pool_dim, row, post_tmp);
    else
      memcpy(row, r->out + i * dim, dim * sizeof *row);
    bool norm = (j->flags & OMEGA_EMBED_NORMALIZE) ||
                (e->model->st.normalize && !(j->flags & OMEGA_EMBED_NO_NORMALIZE));
    if (norm)
      omega__l2_normalize(row, dim);
  }
  omega_job_t *finished[k ? k : 1];
  pthread_mutex_lock(&e->mu);
  const size_t n_fin = settle(e, items, k, rc, detail, &route, ms, finished);
  e->stats.batches++;
  e->stats.sequences += k;
  e->stats.tokens += tokens;
  omega__controller_batch(&e->ctl, k, ms);
  omega_batch_observer_fn obs = e->observer;
  void *obs_user = e->observer_user;
  pthread_mutex_unlock(&e->mu);
  if (obs) {
    omega_batch_info_t bi = {k, tokens, ms, route, rc};
    obs(&bi, obs_user);
  }
  for (size_t i = 0; i < n_fin; i++)
    omega__job_complete(e, finished[i]);
}

/* Runners allowed to take work now (lock held). */
static int active_runners(const omega_engine_t *e) {
  return omega__router_slots(&e->router, e->tuning.gpu_slots, e->n_runners);
}

/* An idle active slot not yet prepared for the current batch bounds (lock held). */
static bool needs_prep(const omega_engine_t *e, const omega_runner_t *r) {
  return omega__router_primary(&e->router)->prepare && !r->busy && !e->runners_stop && r->prep_gen != e->prep_gen &&
         r->slot < active_runners(e);
}

/* Allocate the slot's buffers for the largest batch the bounds allow (lock held, released
 * meanwhile; the runner counts as busy so the batcher leaves it alone). */
static void prepare_runner(omega_engine_t *e, omega_runner_t *r) {
  const unsigned gen = e->prep_gen;
  const size_t len = (size_t)e->max_len, seqs = e->tuning.max_batch;
  size_t tokens = e->tuning.max_batch_tokens;
  if (seqs * len < tokens)
    tokens = seqs * len;
  if (tokens < len) /* a sequence longer than the budget still runs alone */
    tokens = len;
  r->busy = true;
  pthread_mutex_unlock(&e->mu);
  omega_backend_t *b = omega__router_primary(&e->router);
  (void)b->prepare(b, r->slot, tokens, seqs < tokens ? seqs : tokens);
  pthread_mutex_lock(&e->mu);
  r->prep_gen = gen;
  r->busy = false;
  pthread_cond_broadcast(&e->runner_cv);
}

static void *runner_main(void *arg) {
  omega_runner_t *r = arg;
  omega_engine_t *e = r->e;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (!r->has_work && !e->runners_stop && !needs_prep(e, r))
      pthread_cond_wait(&r->cv, &e->mu);
    if (!r->has_work && needs_prep(e, r)) {
      prepare_runner(e, r);
      continue;
    }
    if (!r->has_work)
      break;
    pthread_mutex_unlock(&e->mu);
    run_batch(e, r);
    pthread_mutex_lock(&e->mu);
    r->has_work = false;
    r->busy = false;
    pthread_cond_broadcast(&e->runner_cv);
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

static bool idle_runner(const omega_engine_t *e) {
  const int n = active_runners(e);
  for (int i = 0; i < n; i++)
    if (!e->runners[i].busy)
      return true;
  return false;
}

/* Batcher thread: the runner had no memory for the batch's buffers. Its jobs fail now, with
 * the reason: waiting for memory would hold every later request behind it. */
static void fail_unrun(omega_engine_t *e, omega_runner_t *r, const omega_item_t *items, size_t k, size_t tokens) {
  char detail[160];
  snprintf(detail, sizeof detail,
           "out of memory: a batch runner could not allocate its buffers for %zu sequences of %zu tokens", k, tokens);
  omega_job_t *finished[k ? k : 1];
  pthread_mutex_lock(&e->mu);
  const size_t n_fin = settle(e, items, k, OMEGA_ENOMEM, detail, NULL, 0, finished);
  r->busy = false;
  pthread_cond_broadcast(&e->runner_cv);
  pthread_mutex_unlock(&e->mu);
  for (size_t i = 0; i < n_fin; i++)
    omega__job_complete(e, finished[i]);
}

/* Batcher thread: hand items[0..k) to an idle runner, waiting for one if need be. */
static void dispatch(omega_engine_t *e, omega_item_t *items, size_t k, size_t tokens) {
  omega_runner_t *r = NULL;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    const int n = active_runners(e);
    for (int i = 0; i < n && !r; i++)
      if (!e->runners[i].busy)
        r = &e->runners[i];
    if (r)
      break;
    pthread_cond_wait(&e->runner_cv, &e->mu);
  }
  r->busy = true;
  pthread_mutex_unlock(&e->mu);
  if (omega__fault_take(OMEGA_FAULT_BATCH_BUFFERS_OOM) || runner_reserve(r, k, tokens, (size_t)e->model->pool_dim) != 0) {
    fail_unrun(e, r, items, k, tokens);
    return;
  }
  const int64_t t0 = omega__now_ns();
  r->off[0] = 0;
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    r->items[i] = items[i];
    memcpy(r->ids + r->off[i], j->ids + j->offsets[items[i].seq], items[i].len * sizeof *r->ids);
    r->off[i + 1] = r->off[i] + items[i].len;
    if (!j->first_start_ns)
      j->first_start_ns = t0;
  }
  r->k = k;
  r->tokens = tokens;
  pthread_mutex_lock(&e->mu);
  r->has_work = true;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&e->mu);
}

/* Wait up to the batch window for the queue to reach the ceiling (lock held). */
static void batch_window(omega_engine_t *e) {
  const unsigned ms = e->tuning.batch_window_ms;
  if (!ms || e->stop || e->queued_seqs >= e->ctl.ceiling)
    return;
  const struct timespec until = omega__wall_after_ms((long)ms);
  while (!e->stop && e->queued_seqs < e->ctl.ceiling)
    if (pthread_cond_timedwait(&e->cv, &e->mu, &until) != 0)
      break;
}

void *omega__batcher_main(void *arg) {
  omega_engine_t *e = arg;
  omega_job_t *done[256];
  char no_room[128];
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (!e->head && !e->stop)
      pthread_cond_wait(&e->cv, &e->mu);
    if (!e->head)
      break; /* stopping and drained */
    batch_window(e);
    /* Take work off the queue only when a runner can start it: queued work is where
     * deadlines and cancellation still apply. */
    while (!idle_runner(e))
      pthread_cond_wait(&e->runner_cv, &e->mu);
    const size_t ceiling = e->ctl.ceiling, budget = e->tuning.max_batch_tokens;
    /* a window of several batches, so sorting by length groups similar sequences */
    const size_t want = ceiling * 4;
    const bool room = !omega__fault_take(OMEGA_FAULT_BATCH_WINDOW_OOM) && reserve_window(e, want) == 0;
    if (!room) /* the jobs it was for fail now: waiting for memory would hold every later request */
      snprintf(no_room, sizeof no_room, "out of memory: the batcher could not allocate its window of %zu sequences",
               want);
    size_t n_done = 0;
    size_t k = take_window(e, want, room ? NULL : no_room, done, &n_done, sizeof done / sizeof done[0]);
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < n_done; i++)
      omega__job_complete(e, done[i]);
    if (k > 1)
      qsort(e->win, k, sizeof *e->win, cmp_len);
    size_t cap = ceiling;
    omega_backend_t *dev = omega__router_primary(&e->router);
    if (dev->pressure && dev->pressure(dev)) {
      /* device memory nearly full: halve this window's batches and the ceiling */
      cap = ceiling / 2 ? ceiling / 2 : 1;
      pthread_mutex_lock(&e->mu);
      omega__controller_pressure(&e->ctl, omega__now_ns());
      e->stats.memory_pressure++;
      pthread_mutex_unlock(&e->mu);
    }
    for (size_t i = 0; i < k;) {
      size_t n = 0, tokens = 0;
      while (i + n < k && n < cap && (n == 0 || tokens + e->win[i + n].len <= budget))
        tokens += e->win[i + n++].len;
      dispatch(e, e->win + i, n, tokens);
      i += n;
    }
    pthread_mutex_lock(&e->mu);
    omega__controller_step(&e->ctl, omega__now_ns());
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

int omega__runners_start(omega_engine_t *e) {
  const int n = omega__router_primary(&e->router)->slots;
  e->runners = omega__calloc((size_t)n, sizeof *e->runners);
  if (!e->runners)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  e->n_runners = n;
  for (int i = 0; i < n; i++) {
    omega_runner_t *r = &e->runners[i];
    r->e = e;
    r->slot = i;
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, runner_main, r) != 0)
      return omega__seterr(OMEGA_ENOMEM, "cannot start a batch runner thread");
    r->started = true;
  }
  return 0;
}

/* Open returns with the active slots prepared, so the first batches allocate nothing. */
void omega__runners_wait_prepared(omega_engine_t *e) {
  if (!omega__router_primary(&e->router)->prepare)
    return;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    bool pending = false;
    for (int i = 0; i < active_runners(e); i++)
      pending |= e->runners[i].prep_gen != e->prep_gen;
    if (!pending)
      break;
    pthread_cond_wait(&e->runner_cv, &e->mu);
  }
  pthread_mutex_unlock(&e->mu);
}

void omega__runners_rebound(omega_engine_t *e) {
  e->prep_gen++;
  for (int i = 0; i < e->n_runners; i++)
    pthread_cond_signal(&e->runners[i].cv);
}

void omega__runners_stop(omega_engine_t *e) {
  pthread_mutex_lock(&e->mu);
  for (;;) {
    bool busy = false;
    for (int i = 0; i < e->n_runners; i++)
      busy |= e->runners[i].busy;
    if (!busy)
      break;
    pthread_cond_wait(&e->runner_cv, &e->mu);
  }
  e->runners_stop = true;
  for (int i = 0; i < e->n_runners; i++)
    pthread_cond_broadcast(&e->runners[i].cv);
  pthread_mutex_unlock(&e->mu);
  for (int i = 0; i < e->n_runners; i++) {
    omega_runner_t *r = &e->runners[i];
    if (r->started)
      pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    omega__free(r->items);
    omega__free(r->ids);
    omega__free(r->off);
    omega__free(r->out);
  }
  omega__free(e->runners);
  e->runners = NULL;
  e->n_runners = 0;
}

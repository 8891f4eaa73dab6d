/* The engine: jobs are tokenized in the submitting thread and queued; the batcher thread
 * takes a window of queued sequences (across jobs), sorts it by length, cuts it into
 * batches under the current ceiling and token budget, runs them on the backend and
 * completes the jobs. The latency controller (controller.c) moves the ceiling. */
#include "omega/engine.h"

#include "backend/backend.h"
#include "backend/gpu/gpu.h"
#include "core/clock.h"
#include "core/error_internal.h"
#include "core/fault.h"
#include "core/log.h"
#include "core/parallel.h"
#include "core/vecmath.h"
#include "engine/controller.h"
#include "model/model.h"
#include "text/tokenizer_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
  const char *route;
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
} item_t;

/* A runner executes one batch at a time on one backend slot; with the GPU there are
 * EMBED_GPU_SLOTS of them so several batches are in flight, with the CPU only one. */
typedef struct {
  omega_engine_t *e;
  int slot;
  pthread_t thread;
  bool busy, has_work, started;
  unsigned prep_gen; /* the engine's prep_gen this slot was last prepared for */
  pthread_cond_t cv;
  item_t *items;
  size_t k, tokens, item_cap, tok_cap;
  int32_t *ids;
  uint32_t *off;
  float *out;
} runner_t;

struct omega_engine {
  omega_model_t *model;
  omega_backend_t *backend; /* the primary: the GPU when in use, else the CPU */
  omega_backend_t *cpu;     /* always there: CPU batches, and the GPU's fallback */
  pthread_mutex_t cpu_mu;   /* the CPU backend runs one batch at a time */
  omega_pool_t *tok_pool;   /* tokenizes large requests in parallel (one request at a time) */
  pthread_mutex_t tok_mu;
  omega_engine_accel_t accel;
  int threads;
  int max_len;
  pthread_t thread;
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
  runner_t *runners; /* n_runners threads; the first active_runners() take work */
  int n_runners;
  pthread_cond_t runner_cv; /* a runner became idle */
  bool runners_stop;
  unsigned prep_gen; /* bumped when the batch bounds or the slot count change */
  /* batcher thread only */
  item_t *win;
  size_t win_cap;
};

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
  o->accel.mode = "auto";
  o->accel.max_slots = OMEGA_ENGINE_MAX_SLOTS_DEFAULT;
}

/* ---- jobs ---- */

void omega_job_release(omega_job_t *j) {
  if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
    return;
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j->ids);
  free(j->offsets);
  if (j->own_out)
    free(j->out);
  free(j);
}

int omega_job_wait(omega_job_t *j) {
  pthread_mutex_lock(&j->mu);
  while (j->status == OMEGA_EAGAIN)
    pthread_cond_wait(&j->cv, &j->mu);
  int s = j->status;
  pthread_mutex_unlock(&j->mu);
  return s;
}

int omega_job_status(const omega_job_t *j) {
  omega_job_t *m = (omega_job_t *)j;
  pthread_mutex_lock(&m->mu);
  int s = m->status;
  pthread_mutex_unlock(&m->mu);
  return s;
}

void omega_job_cancel(omega_job_t *j) {
  atomic_store(&j->canceled, 1);
  omega_engine_t *e = j->eng;
  pthread_mutex_lock(&e->mu);
  pthread_cond_broadcast(&e->cv); /* a batcher waiting in its batch window re-checks */
  pthread_mutex_unlock(&e->mu);
}

const float *omega_job_embeddings(const omega_job_t *j, size_t *n, size_t *dim) {
  if (n)
    *n = j->n;
  if (dim)
    *dim = j->dim;
  return j->out;
}

size_t omega_job_tokens(const omega_job_t *j) { return j->offsets[j->n]; }

const int32_t *omega_job_ids(const omega_job_t *j, size_t i, size_t *len) {
  if (i >= j->n)
    return NULL;
  *len = j->offsets[i + 1] - j->offsets[i];
  return j->ids + j->offsets[i];
}

void omega_job_timing(const omega_job_t *j, double *tokenize_ms, double *queue_ms, double *infer_ms) {
  if (tokenize_ms)
    *tokenize_ms = j->tokenize_ms;
  if (queue_ms)
    *queue_ms = j->first_start_ns ? (double)(j->first_start_ns - j->submit_ns) / 1e6 : 0;
  if (infer_ms)
    *infer_ms = j->infer_ms;
}

const char *omega_job_route(const omega_job_t *j) { return j->route ? j->route : "cpu"; }

const char *omega_job_errmsg(const omega_job_t *j) {
  /* errmsg is complete once status is published (under the job lock), never before */
  return omega_job_status(j) == OMEGA_EAGAIN ? "" : j->errmsg;
}

/* Record the job's first failure with its detail (engine lock held, or the job not shared
 * yet). An empty detail leaves the message to job_complete, which names the code. */
static void job_fail(omega_job_t *j, int rc, const char *fmt, ...) OMEGA_PRINTF(3, 4);
static void job_fail(omega_job_t *j, int rc, const char *fmt, ...) {
  if (j->err)
    return;
  j->err = rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->errmsg, sizeof j->errmsg, fmt, ap);
  va_end(ap);
}

/* Batcher thread, no engine lock held. */
static void job_complete(omega_engine_t *e, omega_job_t *j) {
  int64_t t = omega__now_ns();
  if (j->err == 0 && j->deadline_ns && t > j->deadline_ns)
    job_fail(j, OMEGA_ETIMEDOUT, "deadline exceeded: its inputs finished %.0f ms after it",
             (double)(t - j->deadline_ns) / 1e6);
  const int status = j->err;
  if (status && !j->errmsg[0])
    snprintf(j->errmsg, sizeof j->errmsg, "%s", omega_strerror(status));
  pthread_mutex_lock(&e->mu);
  if (status == 0) {
    e->stats.jobs_ok++;
    omega__controller_sample(&e->ctl, (double)(t - j->submit_ns) / 1e6);
  } else if (status == OMEGA_ETIMEDOUT) {
    e->stats.jobs_timed_out++;
  } else if (status == OMEGA_ECANCELED) {
    e->stats.jobs_canceled++;
  } else {
    e->stats.jobs_failed++;
  }
  pthread_mutex_unlock(&e->mu);
  pthread_mutex_lock(&j->mu);
  j->status = status;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  if (j->cb)
    j->cb(j, j->user);
  omega_job_release(j); /* the engine's reference */
}

static int grow_ids(omega_job_t *j, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 256;
  while (nc < need)
    nc *= 2;
  int32_t *ni = realloc(j->ids, nc * sizeof *ni);
  if (!ni)
    return omega__seterr(OMEGA_ENOMEM, "out of memory for %zu inputs", j->n);
  j->ids = ni;
  *cap = nc;
  return 0;
}

typedef struct {
  const omega_tokenizer_t *tok;
  const omega_request_t *r;
  size_t limit;
  omega_idvec_t *vecs;
  int *rcs;
} tok_par_t;

static void tok_range(void *arg, size_t begin, size_t end) {
  tok_par_t *p = arg;
  for (size_t i = begin; i < end; i++) {
    const omega_text_t *t = &p->r->texts[i];
    p->rcs[i] = omega__tokenizer_encode_vec(p->tok, t->ptr ? t->ptr : "", t->len, p->limit, p->r->flags, &p->vecs[i]);
  }
}

/* Large text requests are tokenized on the engine's tokenizer pool (a GPU encodes tens of
 * thousands of sentences a second: one thread cannot tokenize that fast). Returns 1 when it
 * filled the job, 0 to let the sequential path do it (pool busy, or an input failed: the
 * sequential path then reports the first failure with its message). */
static int job_fill_parallel(omega_engine_t *e, omega_job_t *j, const omega_request_t *r) {
  if (!r->texts || r->n < 64 || !e->tok_pool || pthread_mutex_trylock(&e->tok_mu) != 0)
    return 0;
  tok_par_t p = {e->model->tok, r, (r->flags & OMEGA_EMBED_NO_TRUNCATE) ? 0 : (size_t)e->max_len,
                 calloc(r->n, sizeof(omega_idvec_t)), calloc(r->n, sizeof(int))};
  int ok = p.vecs && p.rcs;
  if (ok)
    omega__pool_for(e->tok_pool, r->n, 16, tok_range, &p);
  pthread_mutex_unlock(&e->tok_mu);
  size_t total = 0;
  for (size_t i = 0; ok && i < r->n; i++) {
    ok = p.rcs[i] == 0 && p.vecs[i].n <= (size_t)e->max_len;
    total += ok ? p.vecs[i].n : 0;
  }
  if (ok && !(j->ids = malloc((total ? total : 1) * sizeof *j->ids)))
    ok = 0;
  size_t used = 0;
  j->offsets[0] = 0;
  for (size_t i = 0; ok && i < r->n; i++) {
    memcpy(j->ids + used, p.vecs[i].v, p.vecs[i].n * sizeof *j->ids);
    used += p.vecs[i].n;
    j->offsets[i + 1] = (uint32_t)used;
  }
  for (size_t i = 0; p.vecs && i < r->n; i++)
    free(p.vecs[i].v);
  free(p.vecs);
  free(p.rcs);
  if (!ok) {
    free(j->ids);
    j->ids = NULL;
  }
  return ok;
}

/* Tokenize texts (or copy and check ids) into one packed array. */
static int job_fill(omega_engine_t *e, omega_job_t *j, const omega_request_t *r) {
  if (job_fill_parallel(e, j, r))
    return 0;
  const omega_tokenizer_t *tok = e->model->tok;
  omega_idvec_t iv = {0};
  size_t cap = 0, used = 0;
  int rc = 0;
  j->offsets[0] = 0;
  for (size_t i = 0; i < j->n && rc == 0; i++) {
    const int32_t *src;
    size_t len;
    if (r->texts) {
      const size_t limit = (r->flags & OMEGA_EMBED_NO_TRUNCATE) ? 0 : (size_t)e->max_len;
      const omega_text_t *t = &r->texts[i];
      if ((rc = omega__tokenizer_encode_vec(tok, t->ptr ? t->ptr : "", t->len, limit, r->flags, &iv))) {
        char detail[900];
        snprintf(detail, sizeof detail, "%s", omega_errmsg()[0] ? omega_errmsg() : omega_strerror(rc));
        rc = omega__seterr(rc, "input %zu: %s", i, detail);
        break;
      }
      src = iv.v;
      len = iv.n;
    } else {
      src = r->ids[i];
      len = r->id_lens[i];
      if (len == 0) {
        rc = omega__seterr(OMEGA_EINVAL, "input %zu: empty token id list", i);
        break;
      }
      for (size_t k = 0; k < len; k++)
        if (src[k] < 0 || src[k] >= e->model->cfg.vocab_size) {
          rc = omega__seterr(OMEGA_EINVAL, "input %zu: token id %d is outside the vocabulary [0, %d)", i, src[k],
                             e->model->cfg.vocab_size);
          break;
        }
      if (rc)
        break;
    }
    if (len > (size_t)e->max_len) {
      rc = omega__seterr(OMEGA_ERANGE, "input %zu: %zu tokens, more than the model's max_seq_length %d", i, len,
                         e->max_len);
      break;
    }
    if ((rc = grow_ids(j, &cap, used + len)))
      break;
    memcpy(j->ids + used, src, len * sizeof *src);
    used += len;
    j->offsets[i + 1] = (uint32_t)used;
  }
  free(iv.v);
  return rc;
}

int omega_engine_submit_request(omega_engine_t *e, const omega_request_t *r, omega_job_cb cb, void *user,
                                omega_job_t **job_out) {
  if (!e || !r || (r->n && !r->texts && (!r->ids || !r->id_lens)))
    return omega__seterr(OMEGA_EINVAL, "omega_engine_submit: NULL argument");
  /* a failure here is reported in this thread's message, which must then be this call's */
  omega__clearerr();
  omega_job_t *j = calloc(1, sizeof *j);
  if (!j)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  atomic_init(&j->refs, 1 + (job_out != NULL));
  atomic_init(&j->canceled, 0);
  j->eng = e;
  j->n = r->n;
  j->remaining = r->n;
  j->flags = r->flags;
  j->dim = (size_t)e->model->dim;
  j->status = OMEGA_EAGAIN;
  j->cb = cb;
  j->user = user;
  j->submit_ns = omega__now_ns();
  j->deadline_ns = r->timeout_ms ? j->submit_ns + (int64_t)r->timeout_ms * 1000000 : 0;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->offsets = malloc((r->n + 1) * sizeof *j->offsets);
  j->out = malloc((r->n ? r->n : 1) * j->dim * sizeof *j->out);
  j->own_out = true;
  int rc = (!j->offsets || !j->out) ? omega__seterr(OMEGA_ENOMEM, "out of memory") : job_fill(e, j, r);
  j->tokenize_ms = (double)(omega__now_ns() - j->submit_ns) / 1e6;
  pthread_mutex_lock(&e->mu);
  if (rc == 0 && e->stop)
    rc = omega__seterr(OMEGA_ESHUTDOWN, "the engine is shutting down");
  const size_t qcap = e->tuning.queue_capacity;
  if (rc == 0 && qcap && r->n > qcap)
    rc = omega__seterr(OMEGA_EINVAL, "%zu inputs in one request, more than the queue capacity %zu", r->n, qcap);
  else if (rc == 0 && qcap && e->queued_seqs + r->n > qcap)
    rc = omega__seterr(OMEGA_EAGAIN, "queue full: %zu inputs waiting, capacity %zu", e->queued_seqs, qcap);
  if (rc) {
    pthread_mutex_unlock(&e->mu);
    atomic_store(&j->refs, 1);
    omega_job_release(j);
    return rc;
  }
  if (cb)
    e->stats.jobs_async++;
  else
    e->stats.jobs_sync++;
  if (job_out)
    *job_out = j;
  if (r->n == 0) {
    pthread_mutex_unlock(&e->mu);
    job_complete(e, j);
    return 0;
  }
  if (e->tail)
    e->tail->next_in_queue = j;
  else
    e->head = j;
  e->tail = j;
  e->queued_seqs += r->n;
  e->queued_jobs++;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  return 0;
}

int omega_engine_submit(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, omega_job_cb cb,
                        void *user, omega_job_t **job_out) {
  omega_request_t r = {.texts = texts, .n = n, .flags = flags};
  if (n && !texts)
    return omega__seterr(OMEGA_EINVAL, "omega_engine_submit: NULL texts");
  return omega_engine_submit_request(e, &r, cb, user, job_out);
}

int omega_engine_embed(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, float *out) {
  if (!out && n)
    return omega__seterr(OMEGA_EINVAL, "omega_engine_embed: NULL output");
  omega_job_t *j;
  int rc = omega_engine_submit(e, texts, n, flags, NULL, NULL, &j);
  if (rc)
    return rc;
  rc = omega_job_wait(j);
  if (rc == 0)
    memcpy(out, j->out, n * j->dim * sizeof *out);
  else
    omega__seterr(rc, "%s", j->errmsg);
  omega_job_release(j);
  return rc;
}

/* ---- batcher ---- */

static int reserve_window(omega_engine_t *e, size_t items) {
  if (items > e->win_cap) {
    item_t *nw = realloc(e->win, items * sizeof *nw);
    if (!nw)
      return omega__seterr(OMEGA_ENOMEM, "engine: out of memory for a window of %zu sequences", items);
    e->win = nw;
    e->win_cap = items;
  }
  return 0;
}

static int runner_reserve(runner_t *r, size_t items, size_t tokens, size_t dim) {
  if (tokens > r->tok_cap) {
    int32_t *ni = realloc(r->ids, tokens * sizeof *ni);
    if (!ni)
      return OMEGA_ENOMEM;
    r->ids = ni;
    r->tok_cap = tokens;
  }
  if (items > r->item_cap) {
    uint32_t *no = realloc(r->off, (items + 1) * sizeof *no);
    if (no)
      r->off = no;
    float *nb = realloc(r->out, items * dim * sizeof *nb);
    if (nb)
      r->out = nb;
    item_t *ni = realloc(r->items, items * sizeof *ni);
    if (ni)
      r->items = ni;
    if (!no || !nb || !ni)
      return OMEGA_ENOMEM;
    r->item_cap = items;
  }
  return 0;
}

/* Move up to max sequences from the queue into the window (engine lock held). Jobs that
 * were canceled or passed their deadline have their unstarted sequences dropped; jobs
 * left with nothing to wait for are returned in *done for completion. */
static size_t take_window(omega_engine_t *e, size_t max, omega_job_t **done, size_t *n_done, size_t done_cap) {
  size_t k = 0;
  const int64_t t = omega__now_ns();
  while (e->head && k < max && *n_done < done_cap) {
    omega_job_t *j = e->head;
    bool cancel = atomic_load(&j->canceled), late = j->deadline_ns && t > j->deadline_ns;
    if (cancel || late) {
      size_t dropped = j->n - j->next_seq;
      e->queued_seqs -= dropped;
      j->remaining -= dropped;
      j->next_seq = j->n;
      if (late)
        job_fail(j, OMEGA_ETIMEDOUT, "deadline exceeded: %zu of %zu inputs had not started", dropped, j->n);
      else
        job_fail(j, OMEGA_ECANCELED, "canceled: %zu of %zu inputs had not started", dropped, j->n);
    } else {
      while (j->next_seq < j->n && k < max) {
        size_t s = j->next_seq++;
        e->win[k] = (item_t){j, s, j->offsets[s + 1] - j->offsets[s], (uint32_t)k};
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
  const item_t *x = a, *y = b;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Runner thread: run the batch the batcher filled in, then finish its jobs' bookkeeping. */
/* Count items[0..k) done and collect the jobs they finish (lock held). */
static size_t settle_items(omega_engine_t *e, const item_t *items, size_t k, omega_job_t **finished) {
  size_t n_fin = 0;
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    if (--j->remaining == 0 && j->next_seq == j->n)
      finished[n_fin++] = j;
  }
  e->inflight_seqs -= k;
  return n_fin;
}

static void run_batch(omega_engine_t *e, runner_t *r) {
  const item_t *items = r->items;
  const size_t k = r->k, tokens = r->tokens;
  const int64_t t0 = omega__now_ns();
  /* an injected delay stands for a slow model: it counts as run time */
  long delay = omega__fault_get(OMEGA_FAULT_BATCH_DELAY_MS);
  if (delay) {
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  omega_batch_t b = {r->ids, r->off, k};
  const char *route = "cpu";
  int rc;
  pthread_mutex_lock(&e->mu);
  const bool use_cpu = e->backend == e->cpu || !e->tuning.prefer_gpu;
  pthread_mutex_unlock(&e->mu);
  /* the backend reports its detail in this thread's message: it must not be an older batch's */
  omega__clearerr();
  if (use_cpu) {
    pthread_mutex_lock(&e->cpu_mu);
    rc = e->cpu->encode(e->cpu, 0, &b, r->out, &route);
    pthread_mutex_unlock(&e->cpu_mu);
  } else {
    rc = e->backend->encode(e->backend, r->slot, &b, r->out, &route);
  }
  const double ms = (double)(omega__now_ns() - t0) / 1e6;
  char detail[sizeof items->job->errmsg] = "";
  if (rc)
    snprintf(detail, sizeof detail, "%s", omega_errmsg());
  const size_t dim = (size_t)e->model->dim;
  for (size_t i = 0; i < k && rc == 0; i++) {
    const omega_job_t *j = items[i].job;
    float *row = j->out + items[i].seq * dim; /* rows are disjoint: no lock */
    memcpy(row, r->out + i * dim, dim * sizeof *row);
    bool norm = (j->flags & OMEGA_EMBED_NORMALIZE) ||
                (e->model->st.normalize && !(j->flags & OMEGA_EMBED_NO_NORMALIZE));
    if (norm)
      omega__l2_normalize(row, dim);
  }
  omega_job_t *finished[k ? k : 1];
  size_t n_fin = 0;
  pthread_mutex_lock(&e->mu);
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    if (rc)
      job_fail(j, rc, "%s", detail);
    /* a job served by more than one route reports the least healthy one */
    if (!j->route || strcmp(route, "fallback") == 0 || (strcmp(j->route, "gpu") == 0 && strcmp(route, "cpu") == 0))
      j->route = route;
    bool seen = false; /* each job counts this batch's time once */
    for (size_t p = 0; p < i && !seen; p++)
      seen = items[p].job == j;
    if (!seen)
      j->infer_ms += ms;
  }
  n_fin = settle_items(e, items, k, finished);
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
    job_complete(e, finished[i]);
}

static int active_runners(const omega_engine_t *e);

/* Batcher thread: items that cannot run (no memory for their batch) fail their jobs. */
static void fail_items(omega_engine_t *e, const item_t *items, size_t k) {
  omega_job_t *finished[k ? k : 1];
  pthread_mutex_lock(&e->mu);
  for (size_t i = 0; i < k; i++)
    job_fail(items[i].job, OMEGA_ENOMEM, "engine: out of memory for a batch of %zu sequences", k);
  const size_t n_fin = settle_items(e, items, k, finished);
  pthread_mutex_unlock(&e->mu);
  for (size_t i = 0; i < n_fin; i++)
    job_complete(e, finished[i]);
}

/* An idle active slot not yet prepared for the current batch bounds (lock held). */
static bool needs_prep(const omega_engine_t *e, const runner_t *r) {
  return e->backend->prepare && !r->busy && !e->runners_stop && r->prep_gen != e->prep_gen &&
         r->slot < active_runners(e);
}

/* Allocate the slot's buffers for the largest batch the bounds allow (lock held, released
 * meanwhile; the runner counts as busy so the batcher leaves it alone). */
static void prepare_runner(omega_engine_t *e, runner_t *r) {
  const unsigned gen = e->prep_gen;
  const size_t len = (size_t)e->max_len, seqs = e->tuning.max_batch;
  size_t tokens = e->tuning.max_batch_tokens;
  if (seqs * len < tokens)
    tokens = seqs * len;
  if (tokens < len) /* a sequence longer than the budget still runs alone */
    tokens = len;
  r->busy = true;
  pthread_mutex_unlock(&e->mu);
  (void)e->backend->prepare(e->backend, r->slot, tokens, seqs < tokens ? seqs : tokens);
  pthread_mutex_lock(&e->mu);
  r->prep_gen = gen;
  r->busy = false;
  pthread_cond_broadcast(&e->runner_cv);
}

static void *runner_main(void *arg) {
  runner_t *r = arg;
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

/* Runners allowed to take work now (lock held): the GPU's slot setting, else one. */
static int active_runners(const omega_engine_t *e) {
  if (e->backend == e->cpu || !e->tuning.prefer_gpu)
    return 1;
  int n = (int)e->tuning.gpu_slots;
  return n < 1 ? 1 : n > e->n_runners ? e->n_runners : n;
}

static bool idle_runner(const omega_engine_t *e) {
  const int n = active_runners(e);
  for (int i = 0; i < n; i++)
    if (!e->runners[i].busy)
      return true;
  return false;
}

/* Batcher thread: hand items[0..k) to an idle runner, waiting for one if need be. */
static void dispatch(omega_engine_t *e, item_t *items, size_t k, size_t tokens) {
  runner_t *r = NULL;
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
  if (runner_reserve(r, k, tokens, (size_t)e->model->dim) != 0) {
    pthread_mutex_lock(&e->mu);
    r->busy = false;
    pthread_cond_broadcast(&e->runner_cv);
    pthread_mutex_unlock(&e->mu);
    fail_items(e, items, k);
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

static void *batcher(void *arg) {
  omega_engine_t *e = arg;
  omega_job_t *done[256];
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
    size_t want = ceiling * 4;
    if (reserve_window(e, want) != 0)
      want = e->win_cap; /* out of memory: the smaller window there is (open made one) */
    size_t n_done = 0;
    size_t k = take_window(e, want, done, &n_done, sizeof done / sizeof done[0]);
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < n_done; i++)
      job_complete(e, done[i]);
    qsort(e->win, k, sizeof *e->win, cmp_len);
    size_t cap = ceiling;
    if (e->backend->pressure && e->backend != e->cpu && e->backend->pressure(e->backend)) {
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

/* ---- lifecycle ---- */

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
  if (e->backend != e->cpu) {
    omega__gpu_backend_set_fallback(e->backend, t->oom_cpu_fallback != 0);
    omega__gpu_backend_set_graphs(e->backend, t->cuda_graph_tokens);
  }
  if (bounds) { /* the slots prepare for the new bounds as soon as they are idle */
    e->prep_gen++;
    for (int i = 0; i < e->n_runners; i++)
      pthread_cond_signal(&e->runners[i].cv);
  }
  pthread_cond_broadcast(&e->cv);
  pthread_cond_broadcast(&e->runner_cv); /* more slots may have opened */
  pthread_mutex_unlock(&e->mu);
  return 0;
}

static const char *dtype_name(ocu_dtype_t d) {
  static const char *const names[] = {"fp32", "tf32", "fp16", "bf16"};
  return names[d];
}

/* Pick the device: the GPU through the plugin (or the simulated device under fault
 * injection) when usable, else the CPU with the reason recorded. Only mode "gpu" turns a
 * missing GPU into an error. */
static int accel_setup(omega_engine_t *e, const omega_accel_opts_t *o) {
  omega_engine_accel_t *a = &e->accel;
  const char *mode = o->mode && *o->mode ? o->mode : "auto";
  if (strcmp(mode, "auto") && strcmp(mode, "gpu") && strcmp(mode, "cpu"))
    return omega__seterr(OMEGA_EINVAL, "accelerator mode \"%s\" is not auto, gpu or cpu", mode);
  a->mode = strcmp(mode, "auto") == 0 ? "auto" : strcmp(mode, "gpu") == 0 ? "gpu" : "cpu";
  a->device = "cpu";
  a->healthy = 1;
  e->backend = e->cpu;
  if (strcmp(mode, "cpu") == 0) {
    snprintf(a->reason, sizeof a->reason, "OMEGA_ACCEL=cpu");
    return 0;
  }
  const ocu_api_t *api = NULL;
  char why[512] = "";
  omega__cuda_load(o->plugin, &api, why, sizeof why);
  if (!api && omega__fault_get(OMEGA_FAULT_GPU_SIM)) {
    api = omega__cuda_sim_api();
    a->simulated = 1;
  }
  ocu_device_t di = {0};
  char err[384] = "";
  if (api && api->device_info(o->device, &di, err, sizeof err) != OCU_OK) {
    snprintf(why, sizeof why, "CUDA device %d: %s", o->device, err);
    api = NULL;
  }
  int rc = 0;
  ocu_dtype_t dt = di.cc_major >= 8 ? OCU_DTYPE_BF16 : OCU_DTYPE_FP16;
  if (a->simulated)
    dt = OCU_DTYPE_FP32;
  const char *want = o->dtype && *o->dtype && strcmp(o->dtype, "auto") ? o->dtype : NULL;
  if (want) {
    static const char *const names[] = {"fp32", "tf32", "fp16", "bf16"};
    int found = -1;
    for (int i = 0; i < 4; i++)
      if (strcmp(want, names[i]) == 0)
        found = i;
    if (found < 0)
      return omega__seterr(OMEGA_EINVAL, "GPU dtype \"%s\" is not bf16, fp16, fp32 or tf32", want);
    dt = (ocu_dtype_t)found;
    if (api && !a->simulated && dt == OCU_DTYPE_BF16 && di.cc_major < 8)
      return omega__seterr(OMEGA_EUNSUPPORTED, "bf16 needs a GPU of compute capability 8.0 or newer; %s is %d.%d",
                           di.name, di.cc_major, di.cc_minor);
  }
  if (api) {
    const int slots = o->max_slots > 0 ? (o->max_slots > 64 ? 64 : o->max_slots) : 8;
    omega_gpu_backend_opts_t go = {api, o->device, dt, slots, e->cpu, &e->cpu_mu, di.name};
    if ((rc = omega__gpu_backend_create(e->model, &go, &e->backend)) == 0) {
      a->device = "gpu";
      a->reason[0] = 0;
      snprintf(a->gpu_name, sizeof a->gpu_name, "%s", di.name);
      a->cc_major = di.cc_major;
      a->cc_minor = di.cc_minor;
      a->dtype = dtype_name(dt);
      a->plugin = api->build;
      a->slots_max = slots;
      a->mem_total = di.mem_total;
      a->mem_free = di.mem_free;
      omega_log(OMEGA_LOG_INFO, "accelerator: %s, %s (compute %d.%d, %zu MiB), %s, %d slots%s", a->mode, di.name,
                di.cc_major, di.cc_minor, di.mem_total >> 20, a->dtype, slots,
                a->simulated ? " [simulated device]" : "");
      return 0;
    }
    e->backend = e->cpu;
    snprintf(why, sizeof why, "%s", omega_errmsg());
  }
  snprintf(a->reason, sizeof a->reason, "%s", why);
  if (strcmp(mode, "gpu") == 0)
    return omega__seterr(OMEGA_EDEVICE, "OMEGA_ACCEL=gpu but no usable GPU: %s", why);
  omega_log(OMEGA_LOG_INFO, "accelerator: auto, using the CPU (%s)", why);
  return 0;
}

static int start_runners(omega_engine_t *e) {
  const int n = e->backend == e->cpu ? 1 : e->backend->slots;
  e->runners = calloc((size_t)n, sizeof *e->runners);
  if (!e->runners)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  e->n_runners = n;
  for (int i = 0; i < n; i++) {
    runner_t *r = &e->runners[i];
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
static void wait_prepared(omega_engine_t *e) {
  if (!e->backend->prepare)
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

/* After the batcher has drained: wait for the runners to go idle, then end them. */
static void stop_runners(omega_engine_t *e) {
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
    runner_t *r = &e->runners[i];
    if (r->started)
      pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    free(r->items);
    free(r->ids);
    free(r->off);
    free(r->out);
  }
  free(e->runners);
  e->runners = NULL;
  e->n_runners = 0;
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
  omega_engine_t *e = calloc(1, sizeof *e);
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
  pthread_mutex_init(&e->cpu_mu, NULL);
  pthread_mutex_init(&e->tok_mu, NULL);
  if (e->threads > 1 && (rc = omega__pool_create(e->threads, &e->tok_pool)))
    goto fail;
  if ((rc = omega__model_load(model_dir, &e->model)))
    goto fail;
  e->max_len = e->model->st.max_seq_length;
  if ((rc = omega__cpu_backend_create(e->model, e->threads, o.cpu_precision, &e->cpu)) ||
      (rc = accel_setup(e, &o.accel)))
    goto fail;
  if (e->backend != e->cpu) {
    omega__gpu_backend_set_fallback(e->backend, o.tuning.oom_cpu_fallback != 0);
    omega__gpu_backend_set_graphs(e->backend, o.tuning.cuda_graph_tokens);
  }
  e->prep_gen = 1;
  if ((rc = reserve_window(e, e->ctl.ceiling * 4)) || (rc = start_runners(e)))
    goto fail;
  wait_prepared(e);
  if (pthread_create(&e->thread, NULL, batcher, e) != 0) {
    rc = omega__seterr(OMEGA_ENOMEM, "cannot start the batcher thread");
    goto fail;
  }
  *out = e;
  return 0;
fail:
  if (e->runners)
    stop_runners(e);
  if (e->backend && e->backend != e->cpu)
    e->backend->destroy(e->backend);
  if (e->cpu)
    e->cpu->destroy(e->cpu);
  omega__model_free(e->model);
  omega__pool_destroy(e->tok_pool);
  free(e->win);
  pthread_mutex_destroy(&e->mu);
  pthread_mutex_destroy(&e->cpu_mu);
  pthread_mutex_destroy(&e->tok_mu);
  pthread_cond_destroy(&e->cv);
  pthread_cond_destroy(&e->runner_cv);
  free(e);
  return rc;
}

void omega_engine_close(omega_engine_t *e) {
  if (!e)
    return;
  pthread_mutex_lock(&e->mu);
  e->stop = true;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  pthread_join(e->thread, NULL);
  stop_runners(e);
  if (e->backend != e->cpu)
    e->backend->destroy(e->backend);
  e->cpu->destroy(e->cpu);
  omega__model_free(e->model);
  omega__pool_destroy(e->tok_pool);
  free(e->win);
  pthread_mutex_destroy(&e->mu);
  pthread_mutex_destroy(&e->cpu_mu);
  pthread_mutex_destroy(&e->tok_mu);
  pthread_cond_destroy(&e->cv);
  pthread_cond_destroy(&e->runner_cv);
  free(e);
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
  info->backend = e->backend->name;
  info->threads = e->threads;
  info->cpu_precision = omega__cpu_backend_precision(e->cpu);
}

const omega_tokenizer_t *omega_engine_tokenizer(const omega_engine_t *e) { return e->model->tok; }

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
  if (e->backend == e->cpu)
    return;
  omega_gpu_state_t g;
  omega__gpu_backend_state(e->backend, &g);
  out->healthy = g.healthy;
  out->needs_restart = !g.healthy;
  snprintf(out->last_error, sizeof out->last_error, "%s", g.last_error);
  out->oom = g.oom;
  out->sticky = g.sticky;
  out->errors = g.errors;
  out->fallback_batches = g.fallback_batches;
  out->pressure_events = g.pressure_events;
  out->graph_captures = g.enc.graph_captures;
  out->graph_replays = g.enc.graph_replays;
  out->graph_failures = g.enc.graph_failures;
  out->buffer_growths = g.enc.buffer_growths;
  out->buffer_bytes = g.enc.buffer_bytes;
  if (g.mem_total) {
    out->mem_free = g.mem_free;
    out->mem_total = g.mem_total;
  }
}

void omega_engine_set_observer(omega_engine_t *e, omega_batch_observer_fn fn, void *user) {
  pthread_mutex_lock(&e->mu);
  e->observer = fn;
  e->observer_user = user;
  pthread_mutex_unlock(&e->mu);
}

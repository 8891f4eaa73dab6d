/* The engine: jobs are tokenized in the submitting thread and queued; the batcher thread
 * takes a window of queued sequences (across jobs), sorts it by length, cuts it into
 * batches under the current ceiling and token budget, runs them on the backend and
 * completes the jobs. The latency controller (controller.c) moves the ceiling. */
#include "omega/engine.h"

#include "backend/backend.h"
#include "core/error_internal.h"
#include "core/fault.h"
#include "engine/controller.h"
#include "model/model.h"
#include "text/tokenizer_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
  int err;          /* first failure (batcher thread) */
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

struct omega_engine {
  omega_model_t *model;
  omega_backend_t *backend;
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
  /* batcher thread only */
  item_t *win;
  size_t win_cap;
  int32_t *b_ids;
  uint32_t *b_off;
  float *b_out;
  size_t b_tok_cap, b_seq_cap;
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void omega_engine_opts_init(omega_engine_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->tuning.max_batch = 32;
  o->tuning.max_batch_tokens = 16384;
  o->tuning.adaptive = 1;
  o->tuning.target_latency_ms = 100;
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

/* Batcher thread, no engine lock held. */
static void job_complete(omega_engine_t *e, omega_job_t *j) {
  int status = j->err;
  int64_t t = now_ns();
  if (status == 0 && j->deadline_ns && t > j->deadline_ns)
    status = OMEGA_ETIMEDOUT;
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

/* Tokenize texts (or copy and check ids) into one packed array. */
static int job_fill(omega_engine_t *e, omega_job_t *j, const omega_request_t *r) {
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
        snprintf(detail, sizeof detail, "%s", omega_errmsg());
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
  j->submit_ns = now_ns();
  j->deadline_ns = r->timeout_ms ? j->submit_ns + (int64_t)r->timeout_ms * 1000000 : 0;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->offsets = malloc((r->n + 1) * sizeof *j->offsets);
  j->out = malloc((r->n ? r->n : 1) * j->dim * sizeof *j->out);
  j->own_out = true;
  int rc = (!j->offsets || !j->out) ? omega__seterr(OMEGA_ENOMEM, "out of memory") : job_fill(e, j, r);
  j->tokenize_ms = (double)(now_ns() - j->submit_ns) / 1e6;
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
    omega__seterr(rc, "%s", omega_strerror(rc));
  omega_job_release(j);
  return rc;
}

/* ---- batcher ---- */

static int reserve(omega_engine_t *e, size_t items, size_t tokens) {
  if (items > e->win_cap) {
    item_t *nw = realloc(e->win, items * sizeof *nw);
    if (!nw)
      return OMEGA_ENOMEM;
    e->win = nw;
    e->win_cap = items;
  }
  if (tokens > e->b_tok_cap) {
    int32_t *ni = realloc(e->b_ids, tokens * sizeof *ni);
    if (!ni)
      return OMEGA_ENOMEM;
    e->b_ids = ni;
    e->b_tok_cap = tokens;
  }
  if (items > e->b_seq_cap) {
    uint32_t *no = realloc(e->b_off, (items + 1) * sizeof *no);
    float *nb = realloc(e->b_out, items * (size_t)e->model->dim * sizeof *nb);
    if (no)
      e->b_off = no;
    if (nb)
      e->b_out = nb;
    if (!no || !nb)
      return OMEGA_ENOMEM;
    e->b_seq_cap = items;
  }
  return 0;
}

/* Move up to max sequences from the queue into the window (engine lock held). Jobs that
 * were canceled or passed their deadline have their unstarted sequences dropped; jobs
 * left with nothing to wait for are returned in *done for completion. */
static size_t take_window(omega_engine_t *e, size_t max, omega_job_t **done, size_t *n_done, size_t done_cap) {
  size_t k = 0;
  const int64_t t = now_ns();
  while (e->head && k < max && *n_done < done_cap) {
    omega_job_t *j = e->head;
    bool cancel = atomic_load(&j->canceled), late = j->deadline_ns && t > j->deadline_ns;
    if (cancel || late) {
      size_t dropped = j->n - j->next_seq;
      e->queued_seqs -= dropped;
      j->remaining -= dropped;
      j->next_seq = j->n;
      if (!j->err)
        j->err = late ? OMEGA_ETIMEDOUT : OMEGA_ECANCELED;
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

static void normalize_row(float *v, size_t dim) {
  double ss = 0;
  for (size_t i = 0; i < dim; i++)
    ss += (double)v[i] * v[i];
  const double n = sqrt(ss);
  const float inv = (float)(1.0 / (n > 1e-12 ? n : 1e-12));
  for (size_t i = 0; i < dim; i++)
    v[i] *= inv;
}

static void run_batch(omega_engine_t *e, item_t *items, size_t k, size_t tokens) {
  int rc = 0;
  long delay = omega__fault_get(OMEGA_FAULT_BATCH_DELAY_MS);
  if (delay) {
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  e->b_off[0] = 0;
  for (size_t i = 0; i < k; i++) {
    const omega_job_t *j = items[i].job;
    memcpy(e->b_ids + e->b_off[i], j->ids + j->offsets[items[i].seq], items[i].len * sizeof *e->b_ids);
    e->b_off[i + 1] = e->b_off[i] + items[i].len;
  }
  const int64_t t0 = now_ns();
  for (size_t i = 0; i < k; i++)
    if (!items[i].job->first_start_ns)
      items[i].job->first_start_ns = t0;
  omega_batch_t b = {e->b_ids, e->b_off, k};
  rc = e->backend->encode(e->backend, &b, e->b_out);
  const double ms = (double)(now_ns() - t0) / 1e6;
  const size_t dim = (size_t)e->model->dim;
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    if (rc == 0) {
      float *row = j->out + items[i].seq * dim;
      memcpy(row, e->b_out + i * dim, dim * sizeof *row);
      bool norm = (j->flags & OMEGA_EMBED_NORMALIZE) ||
                  (e->model->st.normalize && !(j->flags & OMEGA_EMBED_NO_NORMALIZE));
      if (norm)
        normalize_row(row, dim);
    } else if (!j->err) {
      j->err = rc;
    }
    j->route = e->backend->name;
  }
  /* each job counts this batch's time once */
  for (size_t i = 0; i < k; i++) {
    bool seen = false;
    for (size_t p = 0; p < i && !seen; p++)
      seen = items[p].job == items[i].job;
    if (!seen)
      items[i].job->infer_ms += ms;
  }
  pthread_mutex_lock(&e->mu);
  e->inflight_seqs -= k;
  e->stats.batches++;
  e->stats.sequences += k;
  e->stats.tokens += tokens;
  omega__controller_batch(&e->ctl, k, ms);
  omega_batch_observer_fn obs = e->observer;
  void *obs_user = e->observer_user;
  pthread_mutex_unlock(&e->mu);
  if (obs) {
    omega_batch_info_t bi = {k, tokens, ms, e->backend->name, rc};
    obs(&bi, obs_user);
  }
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = items[i].job;
    if (--j->remaining == 0 && j->next_seq == j->n)
      job_complete(e, j);
  }
}

/* Wait up to the batch window for the queue to reach the ceiling (lock held). */
static void batch_window(omega_engine_t *e) {
  const unsigned ms = e->tuning.batch_window_ms;
  if (!ms || e->stop || e->queued_seqs >= e->ctl.ceiling)
    return;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += (long)ms * 1000000;
  until.tv_sec += until.tv_nsec / 1000000000;
  until.tv_nsec %= 1000000000;
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
    const size_t ceiling = e->ctl.ceiling, budget = e->tuning.max_batch_tokens;
    /* a window of several batches, so sorting by length groups similar sequences */
    const size_t want = ceiling * 4;
    if (reserve(e, want, budget > (size_t)e->max_len ? budget : (size_t)e->max_len) != 0) {
      pthread_mutex_unlock(&e->mu);
      sleep(1); /* out of memory: let in-flight work finish and retry */
      pthread_mutex_lock(&e->mu);
      continue;
    }
    size_t n_done = 0;
    size_t k = take_window(e, want, done, &n_done, sizeof done / sizeof done[0]);
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < n_done; i++)
      job_complete(e, done[i]);
    qsort(e->win, k, sizeof *e->win, cmp_len);
    for (size_t i = 0; i < k;) {
      size_t n = 0, tokens = 0;
      while (i + n < k && n < ceiling && (n == 0 || tokens + e->win[i + n].len <= budget))
        tokens += e->win[i + n++].len;
      run_batch(e, e->win + i, n, tokens);
      i += n;
    }
    pthread_mutex_lock(&e->mu);
    omega__controller_step(&e->ctl, now_ns());
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

/* ---- lifecycle ---- */

static int check_tuning(const omega_engine_tuning_t *t) {
  if (t->max_batch == 0 || t->max_batch_tokens == 0 || t->target_latency_ms == 0)
    return omega__seterr(OMEGA_EINVAL, "max_batch, max_batch_tokens and target_latency_ms must be positive");
  if (t->max_batch > (1u << 20))
    return omega__seterr(OMEGA_EINVAL, "max_batch %zu is too large", t->max_batch);
  return 0;
}

int omega_engine_tune(omega_engine_t *e, const omega_engine_tuning_t *t) {
  int rc = check_tuning(t);
  if (rc)
    return rc;
  pthread_mutex_lock(&e->mu);
  e->tuning = *t;
  omega__controller_configure(&e->ctl, t->max_batch, t->adaptive != 0, t->target_latency_ms);
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  return 0;
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
  if ((rc = omega__model_load(model_dir, &e->model)))
    goto fail;
  e->max_len = e->model->st.max_seq_length;
  if ((rc = omega__cpu_backend_create(e->model, e->threads, &e->backend)))
    goto fail;
  if (pthread_create(&e->thread, NULL, batcher, e) != 0) {
    rc = omega__seterr(OMEGA_ENOMEM, "cannot start the batcher thread");
    goto fail;
  }
  *out = e;
  return 0;
fail:
  if (e->backend)
    e->backend->destroy(e->backend);
  omega__model_free(e->model);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
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
  e->backend->destroy(e->backend);
  omega__model_free(e->model);
  free(e->win);
  free(e->b_ids);
  free(e->b_off);
  free(e->b_out);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
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

void omega_engine_set_observer(omega_engine_t *e, omega_batch_observer_fn fn, void *user) {
  pthread_mutex_lock(&e->mu);
  e->observer = fn;
  e->observer_user = user;
  pthread_mutex_unlock(&e->mu);
}

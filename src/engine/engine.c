/* The engine: jobs are tokenized in the submitting thread, queued, and a batcher thread
 * packs sequences from the head of the queue (across jobs) into batches under a
 * sequence and token budget, runs them on the backend, and completes the jobs. */
#include "omega/engine.h"

#include "backend/backend.h"
#include "core/error_internal.h"
#include "model/model.h"
#include "text/tokenizer_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct omega_job {
  atomic_int refs;
  omega_engine_t *eng;
  int32_t *ids;
  uint32_t *offsets; /* n + 1 */
  size_t n, dim;
  size_t next_seq; /* next sequence to schedule (under the engine lock) */
  size_t done;     /* sequences finished (batcher thread only) */
  int err;         /* first batch failure (batcher thread only) */
  float *out;
  bool own_out;
  int status; /* OMEGA_EAGAIN while pending */
  omega_job_cb cb;
  void *user;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct omega_job *next_in_queue;
};

struct omega_engine {
  omega_model_t *model;
  omega_backend_t *backend;
  omega_engine_opts_t opts;
  int max_len;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  omega_job_t *head, *tail;
  size_t queued_seqs;
  bool stop;
  /* batch buffers, batcher thread only */
  int32_t *b_ids;
  uint32_t *b_off;
  float *b_out;
  omega_job_t **b_job;
  size_t *b_seq;
  size_t b_tok_cap;
};

void omega_engine_opts_init(omega_engine_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->max_batch = 32;
  o->max_batch_tokens = 16384;
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

const float *omega_job_embeddings(const omega_job_t *j, size_t *n, size_t *dim) {
  if (n)
    *n = j->n;
  if (dim)
    *dim = j->dim;
  return j->out;
}

size_t omega_job_tokens(const omega_job_t *j) { return j->offsets[j->n]; }

static void job_complete(omega_job_t *j, int status) {
  pthread_mutex_lock(&j->mu);
  j->status = status;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  if (j->cb)
    j->cb(j, j->user);
  omega_job_release(j); /* the engine's reference */
}

/* Tokenize the texts into one packed id array. */
static int job_tokenize(omega_engine_t *e, omega_job_t *j, const omega_text_t *texts, unsigned flags) {
  const omega_tokenizer_t *tok = e->model->tok;
  omega_idvec_t iv = {0};
  size_t cap = 0, used = 0;
  int rc = 0;
  j->offsets[0] = 0;
  for (size_t i = 0; i < j->n; i++) {
    const size_t limit = (flags & OMEGA_EMBED_NO_TRUNCATE) ? 0 : (size_t)e->max_len;
    if ((rc = omega__tokenizer_encode_vec(tok, texts[i].ptr ? texts[i].ptr : "", texts[i].len, limit, flags, &iv))) {
      omega__prefixerr(rc, "input %zu", i);
      break;
    }
    if (iv.n > (size_t)e->max_len) {
      rc = omega__seterr(OMEGA_ERANGE, "input %zu: %zu tokens, more than the model's max_seq_length %d", i, iv.n,
                         e->max_len);
      break;
    }
    if (used + iv.n > cap) {
      size_t nc = cap ? cap * 2 : 256;
      while (nc < used + iv.n)
        nc *= 2;
      int32_t *ni = realloc(j->ids, nc * sizeof *ni);
      if (!ni) {
        rc = omega__seterr(OMEGA_ENOMEM, "out of memory tokenizing %zu inputs", j->n);
        break;
      }
      j->ids = ni;
      cap = nc;
    }
    memcpy(j->ids + used, iv.v, iv.n * sizeof *iv.v);
    used += iv.n;
    j->offsets[i + 1] = (uint32_t)used;
  }
  free(iv.v);
  return rc;
}

static int submit(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, omega_job_cb cb,
                  void *user, float *out, omega_job_t **job_out) {
  if (!e || (n && !texts))
    return omega__seterr(OMEGA_EINVAL, "omega_engine_submit: NULL argument");
  if (e->opts.queue_capacity && n > e->opts.queue_capacity)
    return omega__seterr(OMEGA_EINVAL, "%zu inputs in one request, more than the queue capacity %zu", n,
                         e->opts.queue_capacity);
  omega_job_t *j = calloc(1, sizeof *j);
  if (!j)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  atomic_init(&j->refs, 1 + (job_out != NULL));
  j->eng = e;
  j->n = n;
  j->dim = (size_t)e->model->dim;
  j->status = OMEGA_EAGAIN;
  j->cb = cb;
  j->user = user;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->offsets = malloc((n + 1) * sizeof *j->offsets);
  j->out = out ? out : malloc((n ? n : 1) * j->dim * sizeof *j->out);
  j->own_out = out == NULL;
  int rc = (!j->offsets || !j->out) ? omega__seterr(OMEGA_ENOMEM, "out of memory") : job_tokenize(e, j, texts, flags);
  if (rc) {
    atomic_store(&j->refs, 1);
    omega_job_release(j);
    return rc;
  }
  pthread_mutex_lock(&e->mu);
  if (e->stop) {
    pthread_mutex_unlock(&e->mu);
    atomic_store(&j->refs, 1);
    omega_job_release(j);
    return omega__seterr(OMEGA_ESHUTDOWN, "the engine is shutting down");
  }
  if (e->opts.queue_capacity && e->queued_seqs + n > e->opts.queue_capacity) {
    size_t q = e->queued_seqs;
    pthread_mutex_unlock(&e->mu);
    atomic_store(&j->refs, 1);
    omega_job_release(j);
    return omega__seterr(OMEGA_EAGAIN, "queue full: %zu inputs waiting, capacity %zu", q, e->opts.queue_capacity);
  }
  if (job_out)
    *job_out = j;
  if (n == 0) {
    pthread_mutex_unlock(&e->mu);
    job_complete(j, 0);
    return 0;
  }
  if (e->tail)
    e->tail->next_in_queue = j;
  else
    e->head = j;
  e->tail = j;
  e->queued_seqs += n;
  pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
  return 0;
}

int omega_engine_submit(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, omega_job_cb cb,
                        void *user, omega_job_t **job_out) {
  return submit(e, texts, n, flags, cb, user, NULL, job_out);
}

int omega_engine_embed(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, float *out) {
  if (!out && n)
    return omega__seterr(OMEGA_EINVAL, "omega_engine_embed: NULL output");
  omega_job_t *j;
  int rc = submit(e, texts, n, flags, NULL, NULL, out, &j);
  if (rc)
    return rc;
  rc = omega_job_wait(j);
  omega_job_release(j);
  if (rc && !omega_errmsg()[0])
    omega__seterr(rc, "%s", omega_strerror(rc));
  return rc;
}

/* ---- batcher ---- */

static int reserve_batch(omega_engine_t *e, size_t tokens) {
  if (tokens <= e->b_tok_cap)
    return 0;
  int32_t *ni = realloc(e->b_ids, tokens * sizeof *ni);
  if (!ni)
    return OMEGA_ENOMEM;
  e->b_ids = ni;
  e->b_tok_cap = tokens;
  return 0;
}

/* Take sequences from the queue head into the batch buffers (engine lock held). */
static size_t take_batch(omega_engine_t *e, size_t *tokens_out) {
  size_t k = 0, tokens = 0;
  while (e->head && k < e->opts.max_batch) {
    omega_job_t *j = e->head;
    size_t L = j->offsets[j->next_seq + 1] - j->offsets[j->next_seq];
    if (k > 0 && tokens + L > e->opts.max_batch_tokens)
      break;
    e->b_job[k] = j;
    e->b_seq[k] = j->next_seq;
    tokens += L;
    k++;
    if (++j->next_seq == j->n) {
      e->head = j->next_in_queue;
      if (!e->head)
        e->tail = NULL;
    }
  }
  e->queued_seqs -= k;
  *tokens_out = tokens;
  return k;
}

static void run_batch(omega_engine_t *e, size_t k, size_t tokens) {
  int rc = reserve_batch(e, tokens) ? OMEGA_ENOMEM : 0;
  if (rc == 0) {
    e->b_off[0] = 0;
    for (size_t i = 0; i < k; i++) {
      const omega_job_t *j = e->b_job[i];
      size_t s = e->b_seq[i], L = j->offsets[s + 1] - j->offsets[s];
      memcpy(e->b_ids + e->b_off[i], j->ids + j->offsets[s], L * sizeof *e->b_ids);
      e->b_off[i + 1] = e->b_off[i] + (uint32_t)L;
    }
    omega_batch_t b = {e->b_ids, e->b_off, k};
    rc = e->backend->encode(e->backend, &b, e->b_out);
  }
  const size_t dim = (size_t)e->model->dim;
  for (size_t i = 0; i < k; i++) {
    omega_job_t *j = e->b_job[i];
    if (rc == 0)
      memcpy(j->out + e->b_seq[i] * dim, e->b_out + i * dim, dim * sizeof *j->out);
    else if (!j->err)
      j->err = rc;
    if (++j->done == j->n)
      job_complete(j, j->err);
  }
}

static void *batcher(void *arg) {
  omega_engine_t *e = arg;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (!e->head && !e->stop)
      pthread_cond_wait(&e->cv, &e->mu);
    if (!e->head)
      break; /* stopping and drained */
    size_t tokens;
    size_t k = take_batch(e, &tokens);
    pthread_mutex_unlock(&e->mu);
    run_batch(e, k, tokens);
    pthread_mutex_lock(&e->mu);
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

/* ---- lifecycle ---- */

int omega_engine_open(const char *model_dir, const omega_engine_opts_t *opts, omega_engine_t **out) {
  if (!model_dir || !out)
    return omega__seterr(OMEGA_EINVAL, "omega_engine_open: NULL argument");
  omega__clearerr();
  omega_engine_t *e = calloc(1, sizeof *e);
  if (!e)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  if (opts)
    e->opts = *opts;
  else
    omega_engine_opts_init(&e->opts);
  if (e->opts.threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    e->opts.threads = n > 0 ? (int)n : 1;
  }
  if (e->opts.max_batch == 0 || e->opts.max_batch_tokens == 0) {
    free(e);
    return omega__seterr(OMEGA_EINVAL, "max_batch and max_batch_tokens must be positive");
  }
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  int rc = omega__model_load(model_dir, &e->model);
  if (rc)
    goto fail;
  e->max_len = e->model->st.max_seq_length;
  if ((rc = omega__cpu_backend_create(e->model, e->opts.threads, &e->backend)))
    goto fail;
  const size_t mb = e->opts.max_batch;
  e->b_off = malloc((mb + 1) * sizeof *e->b_off);
  e->b_out = malloc(mb * (size_t)e->model->dim * sizeof *e->b_out);
  e->b_job = malloc(mb * sizeof *e->b_job);
  e->b_seq = malloc(mb * sizeof *e->b_seq);
  if (!e->b_off || !e->b_out || !e->b_job || !e->b_seq) {
    rc = omega__seterr(OMEGA_ENOMEM, "out of memory");
    goto fail;
  }
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
  free(e->b_off);
  free(e->b_out);
  free(e->b_job);
  free(e->b_seq);
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
  free(e->b_ids);
  free(e->b_off);
  free(e->b_out);
  free(e->b_job);
  free(e->b_seq);
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
  info->threads = e->opts.threads;
}

const omega_tokenizer_t *omega_engine_tokenizer(const omega_engine_t *e) { return e->model->tok; }

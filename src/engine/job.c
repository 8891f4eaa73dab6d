/* Jobs: a request is tokenized (or its ids checked) in the submitting thread into one packed
 * array, queued for the batcher, and completed with its status, its own error message and
 * its embeddings; the omega_job_* accessors read the result. */
#include "engine/engine_internal.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "text/tokenizer_internal.h"
#include "text/utf8.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void omega_job_release(omega_job_t *j) {
  if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
    return;
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  omega__free(j->ids);
  omega__free(j->offsets);
  if (j->own_out)
    omega__free(j->out);
  omega__free(j);
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

omega_route_t omega_job_route(const omega_job_t *j) { return j->routed ? j->route : OMEGA_ROUTE_CPU; }

const char *omega_job_errmsg(const omega_job_t *j) {
  /* errmsg is complete once status is published (under the job lock), never before */
  return omega_job_status(j) == OMEGA_EAGAIN ? "" : j->errmsg;
}

void omega__job_fail(omega_job_t *j, int rc, const char *fmt, ...) {
  if (j->err)
    return;
  j->err = rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->errmsg, sizeof j->errmsg, fmt, ap);
  va_end(ap);
}

void omega__job_complete(omega_engine_t *e, omega_job_t *j) {
  int64_t t = omega__now_ns();
  if (j->err == 0 && j->deadline_ns && t > j->deadline_ns)
    omega__job_fail(j, OMEGA_ETIMEDOUT, "deadline exceeded: its inputs finished %.0f ms after it",
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
  int32_t *ni = omega__realloc(j->ids, nc * sizeof *ni);
  if (!ni)
    return omega__seterr(OMEGA_ENOMEM, "out of memory for %zu inputs", j->n);
  j->ids = ni;
  *cap = nc;
  return 0;
}

/* The prompt in front of every text of the request: its own, its named one, else the
 * model's default (sentence-transformers' order); NULL for none. */
static int resolve_prompt(const omega_engine_t *e, const omega_request_t *r, const char **out) {
  const omega_st_config_t *st = &e->model->st;
  *out = NULL;
  if ((r->prompt || r->prompt_name) && !r->texts)
    return omega__seterr(OMEGA_EINVAL, "a prompt applies to texts, not to token ids");
  if ((r->prompt || r->prompt_name) && r->texts_b)
    return omega__seterr(OMEGA_EINVAL, "a prompt applies to single texts, not to pairs");
  if (r->texts_b)
    return 0;
  if (r->prompt) {
    size_t len = strlen(r->prompt);
    if (omega__utf8_validate((const unsigned char *)r->prompt, len) != len)
      return omega__seterr(OMEGA_EUTF8, "the prompt is not valid UTF-8");
    *out = r->prompt;
    return 0;
  }
  if (r->prompt_name) {
    if (!(*out = omega__st_prompt(st, r->prompt_name))) {
      char names[512] = "";
      size_t k = 0;
      for (size_t i = 0; i < st->n_prompts && k < sizeof names - 1; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s\"%s\"", i ? ", " : "", st->prompts[i].name);
      return omega__seterr(OMEGA_EINVAL, "unknown prompt_name \"%.80s\" (%s%s)", r->prompt_name,
                           st->n_prompts ? "the model's prompts: " : "the model defines no prompts", names);
    }
    return 0;
  }
  if (r->texts && st->default_prompt >= 0)
    *out = st->prompts[st->default_prompt].text;
  return 0;
}

typedef struct {
  const omega_tokenizer_t *tok;
  const omega_request_t *r;
  const char *prompt;
  size_t prompt_len;
  size_t limit;
  omega_idvec_t *vecs;
  int *rcs;
} tok_par_t;

static void tok_range(void *arg, size_t begin, size_t end) {
  tok_par_t *p = arg;
  for (size_t i = begin; i < end; i++) {
    const omega_text_t *t = &p->r->texts[i];
    p->rcs[i] = omega__tokenizer_encode_prompted_vec(p->tok, p->prompt, p->prompt_len, t->ptr ? t->ptr : "", t->len,
                                                     p->limit, p->r->flags, &p->vecs[i]);
  }
}

/* Large text requests are tokenized on the engine's tokenizer pool (a GPU encodes tens of
 * thousands of sentences a second: one thread cannot tokenize that fast). Returns 1 when it
 * filled the job, 0 to let the sequential path do it (pool busy, or an input failed: the
 * sequential path then reports the first failure with its message). */
static int job_fill_parallel(omega_engine_t *e, omega_job_t *j, const omega_request_t *r, const char *prompt) {
  if (!r->texts || r->texts_b || r->n < 64 || !e->tok_pool || pthread_mutex_trylock(&e->tok_mu) != 0)
    return 0;
  tok_par_t p = {e->model->tok,
                 r,
                 prompt,
                 prompt ? strlen(prompt) : 0,
                 (r->flags & OMEGA_EMBED_NO_TRUNCATE) ? 0 : (size_t)e->max_len,
                 omega__calloc(r->n, sizeof(omega_idvec_t)),
                 omega__calloc(r->n, sizeof(int))};
  int ok = p.vecs && p.rcs;
  if (ok)
    omega__pool_for(e->tok_pool, r->n, 16, tok_range, &p);
  pthread_mutex_unlock(&e->tok_mu);
  size_t total = 0;
  for (size_t i = 0; ok && i < r->n; i++) {
    ok = p.rcs[i] == 0 && p.vecs[i].n <= (size_t)e->max_len;
    total += ok ? p.vecs[i].n : 0;
  }
  if (ok && !(j->ids = omega__malloc((total ? total : 1) * sizeof *j->ids)))
    ok = 0;
  size_t used = 0;
  j->offsets[0] = 0;
  for (size_t i = 0; ok && i < r->n; i++) {
    memcpy(j->ids + used, p.vecs[i].v, p.vecs[i].n * sizeof *j->ids);
    used += p.vecs[i].n;
    j->offsets[i + 1] = (uint32_t)used;
  }
  for (size_t i = 0; p.vecs && i < r->n; i++)
    omega__free(p.vecs[i].v);
  omega__free(p.vecs);
  omega__free(p.rcs);
  if (!ok) {
    omega__free(j->ids);
    j->ids = NULL;
  }
  return ok;
}

/* Tokenize texts (or copy and check ids) into one packed array. */
static int job_fill(omega_engine_t *e, omega_job_t *j, const omega_request_t *r) {
  const char *prompt;
  int prc = resolve_prompt(e, r, &prompt);
  if (prc)
    return prc;
  const size_t plen = prompt ? strlen(prompt) : 0;
  if (job_fill_parallel(e, j, r, prompt))
    return 0;
  const omega_tokenizer_t *tok = e->model->tok;
  omega_idvec_t iv = {0}, tv = {0};
  size_t cap = 0, used = 0;
  int rc = 0;
  j->offsets[0] = 0;
  for (size_t i = 0; i < j->n && rc == 0; i++) {
    const int32_t *src;
    size_t len;
    if (r->texts) {
      const size_t limit = (r->flags & OMEGA_EMBED_NO_TRUNCATE) ? 0 : (size_t)e->max_len;
      const omega_text_t *t = &r->texts[i], *b = r->texts_b ? &r->texts_b[i] : NULL;
      rc = b ? omega__tokenizer_encode_pair_vec(tok, t->ptr ? t->ptr : "", t->len, b->ptr ? b->ptr : "", b->len,
                                                limit, OMEGA_TRUNCATE_LONGEST_FIRST, r->flags, &iv, &tv)
             : omega__tokenizer_encode_prompted_vec(tok, prompt, plen, t->ptr ? t->ptr : "", t->len, limit, r->flags,
                                                    &iv);
      /* the type rides in the id's high bits; a model with one type row or none (RoBERTa,
       * DistilBERT, MPNet) is not fed types, as its tokenizer's model_input_names has none */
      const bool typed = b && e->model->cfg.type_vocab_size > 1;
      for (size_t k = 0; rc == 0 && typed && k < iv.n; k++) {
        if (tv.v[k] < 0 || tv.v[k] > 127)
          rc = omega__seterr(OMEGA_EINVAL, "token type %d of the pair template is out of range", tv.v[k]);
        else
          iv.v[k] |= tv.v[k] << OMEGA_ID_BITS;
      }
      if (rc) {
        char detail[900];
        snprintf(detail, sizeof detail, "%s", omega_errmsg()[0] ? omega_errmsg() : omega_strerror(rc));
        rc = omega__seterr(rc, "input %zu: %s", i, detail);
        break;
      }
      src = iv.v;
      len = iv.n;
    } else {
      assert(r->ids && r->id_lens); /* omega_engine_submit_request refuses a request with neither */
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
  omega__free(iv.v);
  omega__free(tv.v);
  return rc;
}

int omega_engine_submit_request(omega_engine_t *e, const omega_request_t *r, omega_job_cb cb, void *user,
                                omega_job_t **job_out) {
  if (!e || !r || (r->n && !r->texts && (!r->ids || !r->id_lens)))
    return omega__seterr(OMEGA_EINVAL, "omega_engine_submit: NULL argument");
  /* a failure here is reported in this thread's message, which must then be this call's */
  omega__clearerr();
  omega_job_t *j = omega__calloc(1, sizeof *j);
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
  j->offsets = omega__malloc((r->n + 1) * sizeof *j->offsets);
  j->out = omega__malloc((r->n ? r->n : 1) * j->dim * sizeof *j->out);
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
    omega__job_complete(e, j);
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
  if (rc == 0 && n)
    memcpy(out, j->out, n * j->dim * sizeof *out);
  else
    omega__seterr(rc, "%s", j->errmsg);
  omega_job_release(j);
  return rc;
}

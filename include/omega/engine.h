/* The embedding engine: a model folder in, sentence embeddings out, synchronously or
 * asynchronously (the C form of "maybe-async": a caller may block on a job or take a
 * completion callback). Concurrent submissions are coalesced into batches. */
#ifndef OMEGA_ENGINE_H
#define OMEGA_ENGINE_H

#include "omega/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct omega_engine omega_engine_t;
typedef struct omega_job omega_job_t;

typedef struct {
  int threads;             /* CPU threads; 0 = every online CPU */
  size_t max_batch;        /* sequences per forward pass (default 32) */
  size_t max_batch_tokens; /* tokens per forward pass (default 16384) */
  size_t queue_capacity;   /* sequences waiting at most; past it submit fails with OMEGA_EAGAIN (0 = unbounded) */
} omega_engine_opts_t;

typedef struct {
  const char *ptr;
  size_t len;
} omega_text_t;

typedef struct {
  const char *model_dir;
  const char *architecture; /* "bert" */
  int hidden_size, num_layers, num_heads, intermediate_size, vocab_size;
  int max_position_embeddings, max_seq_length;
  int dim;                  /* output dimension */
  const char *pooling;      /* "mean", "cls", "cls+max", ... */
  int normalize;            /* the model ends with a Normalize module */
  const char *weight_dtype; /* checkpoint dtype: F32, F16, BF16 */
  const char *activation;   /* hidden_act */
  size_t n_params;
  const char *backend;      /* "cpu" */
  int threads;
} omega_engine_info_t;

/* Embedding flags (OMEGA_TOK_UTF8_REPLACE also applies). */
enum {
  /* Fail with OMEGA_ERANGE instead of truncating a text longer than max_seq_length. */
  OMEGA_EMBED_NO_TRUNCATE = 1u << 8,
};

void omega_engine_opts_init(omega_engine_opts_t *o);
int omega_engine_open(const char *model_dir, const omega_engine_opts_t *opts, omega_engine_t **out);
/* Finishes every submitted job (callbacks included), then frees the engine. */
void omega_engine_close(omega_engine_t *e);
void omega_engine_info(const omega_engine_t *e, omega_engine_info_t *info);
const omega_tokenizer_t *omega_engine_tokenizer(const omega_engine_t *e);

/* Embed n texts into out[n * dim] (row-major), blocking until done. */
int omega_engine_embed(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, float *out);

/* Called once per job from an engine thread when it completes (successfully or not);
 * the job is valid for the duration of the call. Must not block for long. */
typedef void (*omega_job_cb)(omega_job_t *job, void *user);

/* Submit n texts (tokenized now, in the caller's thread; the texts need not outlive the
 * call). cb may be NULL. If job_out is not NULL the caller owns a reference and must
 * call omega_job_release. Errors in the input (invalid UTF-8, too long with
 * OMEGA_EMBED_NO_TRUNCATE) and a full queue (OMEGA_EAGAIN) are returned here and no
 * callback runs. */
int omega_engine_submit(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, omega_job_cb cb,
                        void *user, omega_job_t **job_out);
/* Block until the job completes; returns its status (0 or an OMEGA_E* code). */
int omega_job_wait(omega_job_t *job);
/* Status of a completed job; OMEGA_EAGAIN while it is still pending. */
int omega_job_status(const omega_job_t *job);
/* Embeddings of a completed job: n rows of dim floats. Valid until the job is released. */
const float *omega_job_embeddings(const omega_job_t *job, size_t *n, size_t *dim);
/* Number of tokens the job's texts were encoded to (after truncation). */
size_t omega_job_tokens(const omega_job_t *job);
void omega_job_release(omega_job_t *job);

#ifdef __cplusplus
}
#endif
#endif

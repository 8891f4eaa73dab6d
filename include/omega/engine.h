/* The embedding engine: a model folder in, sentence embeddings out, synchronously or
 * asynchronously (the C form of "maybe-async": a caller may block on a job or take a
 * completion callback). Concurrent submissions are coalesced into batches by an adaptive
 * batcher that steers the batch ceiling by measured p95 latency against a target. */
#ifndef OMEGA_ENGINE_H
#define OMEGA_ENGINE_H

#include "omega/export.h"
#include "omega/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct omega_engine omega_engine_t;
typedef struct omega_job omega_job_t;

/* The enum choices of the engine's options; each has a lower-case name (the setting's value
 * in the config table, and what /info reports): omega_*_name() gives it, omega_*_parse()
 * reads it back (OMEGA_EINVAL for an unknown name). */
typedef enum { OMEGA_ACCEL_AUTO, OMEGA_ACCEL_GPU, OMEGA_ACCEL_CPU, OMEGA_ACCEL_COUNT } omega_accel_mode_t;
typedef enum {
  OMEGA_GPU_DTYPE_AUTO, /* bf16 on compute capability 8.0+, else fp16 */
  OMEGA_GPU_DTYPE_BF16,
  OMEGA_GPU_DTYPE_FP16,
  OMEGA_GPU_DTYPE_FP32,
  OMEGA_GPU_DTYPE_TF32,
  OMEGA_GPU_DTYPE_COUNT
} omega_gpu_dtype_t;
typedef enum {
  OMEGA_CPU_FP32,
  OMEGA_CPU_BF16,
  OMEGA_CPU_BF16X3,
  OMEGA_CPU_INT8,
  OMEGA_CPU_AUTO, /* measured at open: one of the modes above (omega_cpu_auto_t) */
  OMEGA_CPU_PRECISION_COUNT
} omega_cpu_precision_t;
/* The modes that have kernels (the ones before OMEGA_CPU_AUTO). */
#define OMEGA_CPU_KERNEL_PRECISIONS OMEGA_CPU_AUTO
/* Which backend served a batch: "cpu", "gpu", or "fallback" (the CPU after a GPU failure). */
typedef enum { OMEGA_ROUTE_CPU, OMEGA_ROUTE_GPU, OMEGA_ROUTE_FALLBACK, OMEGA_ROUTE_COUNT } omega_route_t;

/* The names themselves, indexed by the enum and NULL-terminated (the settings' choices). */
OMEGA_API extern const char *const omega_accel_mode_names[OMEGA_ACCEL_COUNT + 1];
OMEGA_API extern const char *const omega_gpu_dtype_names[OMEGA_GPU_DTYPE_COUNT + 1];
OMEGA_API extern const char *const omega_cpu_precision_names[OMEGA_CPU_PRECISION_COUNT + 1];

OMEGA_API const char *omega_accel_mode_name(omega_accel_mode_t m);
OMEGA_API int omega_accel_mode_parse(const char *name, omega_accel_mode_t *out);
OMEGA_API const char *omega_gpu_dtype_name(omega_gpu_dtype_t d);
OMEGA_API int omega_gpu_dtype_parse(const char *name, omega_gpu_dtype_t *out);
OMEGA_API const char *omega_cpu_precision_name(omega_cpu_precision_t p);
OMEGA_API int omega_cpu_precision_parse(const char *name, omega_cpu_precision_t *out);
OMEGA_API const char *omega_route_name(omega_route_t r);

/* Defaults (omega_engine_opts_init) and bounds (omega_engine_open, omega_engine_tune) of the
 * options, shared with the omega program's settings table (EMBED_MAX_BATCH, ...), so the two
 * cannot disagree. Defaults are plain numbers: the table shows them as text. */
#define OMEGA_ENGINE_MAX_BATCH_DEFAULT 64
#define OMEGA_ENGINE_MAX_BATCH_MIN 1
#define OMEGA_ENGINE_MAX_BATCH_MAX 4096
#define OMEGA_ENGINE_MAX_BATCH_TOKENS_DEFAULT 16384
#define OMEGA_ENGINE_MAX_BATCH_TOKENS_MIN 16
#define OMEGA_ENGINE_MAX_BATCH_TOKENS_MAX (1 << 22)
#define OMEGA_ENGINE_BATCH_WINDOW_MS_DEFAULT 0
#define OMEGA_ENGINE_BATCH_WINDOW_MS_MIN 0
#define OMEGA_ENGINE_BATCH_WINDOW_MS_MAX 1000
#define OMEGA_ENGINE_TARGET_LATENCY_MS_DEFAULT 100
#define OMEGA_ENGINE_TARGET_LATENCY_MS_MIN 1
#define OMEGA_ENGINE_TARGET_LATENCY_MS_MAX 600000
#define OMEGA_ENGINE_QUEUE_CAPACITY_MIN 1 /* the engine also takes 0: unbounded */
#define OMEGA_ENGINE_QUEUE_CAPACITY_MAX (1 << 24)
#define OMEGA_ENGINE_GPU_SLOTS_DEFAULT 2
#define OMEGA_ENGINE_GPU_SLOTS_MIN 1 /* the engine also takes 0: one */
#define OMEGA_ENGINE_GPU_SLOTS_MAX 64
#define OMEGA_ENGINE_CUDA_GRAPH_TOKENS_DEFAULT 256
#define OMEGA_ENGINE_CUDA_GRAPH_TOKENS_MIN 0
#define OMEGA_ENGINE_CUDA_GRAPH_TOKENS_MAX (1 << 20)
#define OMEGA_ENGINE_MAX_SLOTS_DEFAULT 8
#define OMEGA_ENGINE_MAX_SLOTS_MIN 1
#define OMEGA_ENGINE_MAX_SLOTS_MAX 64
#define OMEGA_ENGINE_CPU_AUTO_MIN_COSINE_DEFAULT 0.9999

/* Settings that can change while the engine runs (omega_engine_tune); defaults and bounds
 * are the OMEGA_ENGINE_* macros above. */
typedef struct {
  size_t max_batch;           /* upper bound of sequences per forward pass (default 64) */
  size_t max_batch_tokens;    /* tokens per forward pass (default 16384) */
  unsigned batch_window_ms;   /* wait this long for more work before a batch below the ceiling (default 0) */
  int adaptive;               /* steer the ceiling by p95 latency (default 1) */
  unsigned target_latency_ms; /* the p95 target of the controller (default 100) */
  size_t queue_capacity;      /* sequences waiting at most; past it OMEGA_EAGAIN (default 0 = unbounded) */
  unsigned gpu_slots;         /* GPU batches in flight at once (default 2; at most accel.max_slots) */
  int prefer_gpu;             /* send batches to the GPU when one is in use (default 1) */
  int oom_cpu_fallback;       /* retry a batch that ran out of GPU memory on the CPU (default 1) */
  unsigned cuda_graph_tokens; /* GPU batches of at most this many tokens replay CUDA graphs (default 256; 0: off) */
} omega_engine_tuning_t;

/* Device choice, fixed for the engine's life. */
typedef struct {
  omega_accel_mode_t mode; /* AUTO (GPU when usable, default), GPU (fail without one), CPU */
  const char *plugin;      /* libomega-cuda.so to load; NULL/"": next to the executable, ../lib, library path */
  int device;              /* CUDA device index */
  omega_gpu_dtype_t dtype; /* AUTO (default): bf16 on sm_80+, else fp16 */
  int max_slots;           /* streams created on the GPU (default 8): the most gpu_slots can reach */
} omega_accel_opts_t;

typedef struct {
  int threads; /* CPU threads; 0 = every online CPU */
  /* Precision of the CPU backend's linear layers: FP32 (default: the exact reference), BF16
   * (needs AVX512-BF16), BF16X3 (fp32-class accuracy from three bf16 products; needs AMX),
   * INT8 (dynamic quantisation; AMX, VNNI or AVX2), or AUTO: each mode this CPU has is timed
   * on the model at open and the fastest within cpu_auto_min_cosine of fp32 runs. Weights
   * are packed once at open; a mode the CPU cannot run fails the open with OMEGA_EINVAL. */
  omega_cpu_precision_t cpu_precision;
  /* AUTO's accuracy bound: a mode's embeddings of the probe texts must each have at least this
   * cosine with fp32's (a classifier's scores: this correlation per label). Default 0.9999. */
  double cpu_auto_min_cosine;
  /* AUTO keeps its choice in this folder per (CPU, threads, model folder, bound, version), so
   * that a restart does not measure again; NULL or "": not kept. Created when missing. */
  const char *cpu_auto_cache_dir;
  /* Pooling instead of the folder's ("cls", "mean", "max", "mean_sqrt_len", "weightedmean",
   * "lasttoken", or several joined by '+'); NULL: the folder's. */
  const char *pooling;
  omega_engine_tuning_t tuning;
  omega_accel_opts_t accel;
} omega_engine_opts_t;

/* One mode's measurement by the AUTO precision. */
typedef struct {
  omega_cpu_precision_t precision;
  double ms;         /* the probe batch's forward pass, fastest of several runs */
  double min_cosine; /* lowest cosine with fp32 over the probe texts (1 for fp32) */
  int accepted;      /* met the bound */
} omega_cpu_trial_t;

/* What AUTO measured and chose (omega_engine_info's cpu_auto). */
typedef struct {
  omega_cpu_precision_t chosen;
  double min_cosine;                  /* the bound */
  int cached;                         /* read from the cache folder, not measured at this open */
  size_t probe_texts, probe_tokens;   /* the probe batch */
  size_t n_trials;                    /* the modes this CPU has, fp32 first */
  omega_cpu_trial_t trials[OMEGA_CPU_KERNEL_PRECISIONS];
  char cache[512];                    /* the cache file, or why there is none */
} omega_cpu_auto_t;

/* Where the engine runs and how the GPU is doing. */
typedef struct {
  const char *mode;       /* as requested: omega_accel_mode_name() */
  const char *device;     /* "gpu" or "cpu" */
  char reason[512];       /* why the CPU serves ("" when on the GPU) */
  char gpu_name[96];
  int cc_major, cc_minor;
  const char *dtype;      /* GPU precision in use: omega_gpu_dtype_name(), never "auto" */
  const char *plugin;     /* the plugin's build description */
  int simulated;          /* the simulated device (fault-injection tests) */
  int healthy;            /* 0 after a sticky error */
  int needs_restart;      /* the GPU failed for good: restart to use it again */
  char last_error[256];
  unsigned long long oom, sticky, errors, fallback_batches, pressure_events;
  size_t mem_free, mem_total;
  int slots_max;
  unsigned long long graph_captures, graph_replays, graph_failures; /* CUDA graphs of small batches */
  unsigned long long buffer_growths; /* GPU slots reallocating activations after start-up preparation */
  size_t buffer_bytes;               /* GPU activation memory held by the slots */
} omega_engine_accel_t;

typedef struct {
  const char *ptr;
  size_t len;
} omega_text_t;

typedef struct {
  const char *model_dir;
  const char *architecture; /* config.json's model_type: "bert", "xlm-roberta", "mpnet", ... */
  int hidden_size, num_layers, num_heads, intermediate_size, vocab_size;
  int max_position_embeddings, max_seq_length;
  int dim;                  /* output dimension */
  const char *pooling;      /* "mean", "cls", "cls+max", ... */
  int normalize;            /* the model ends with a Normalize module */
  const char *weight_dtype; /* checkpoint dtype: F32, F16, BF16 */
  const char *activation;   /* hidden_act */
  size_t n_params;
  const char *backend;      /* "gpu" or "cpu" */
  int threads;
  const char *cpu_precision; /* what the CPU backend runs: omega_cpu_precision_name(), never "auto" */
  const omega_cpu_auto_t *cpu_auto; /* AUTO's measurements; NULL when the precision was chosen by the caller */
  size_t n_prompts;                /* config_sentence_transformers.json's prompts (omega_engine_prompt) */
  const char *default_prompt_name; /* NULL: none */
  const char *tokenizer;           /* the tokenizer's model: "WordPiece", "BPE", "Unigram" */
  /* A *ForSequenceClassification model (a cross-encoder): dim is its number of labels, a row
   * is raw logits, and requests are pairs (omega_request_t.texts_b) or texts to classify. */
  const char *classifier;          /* its architecture, NULL for an embedding model */
  const char *score_activation;    /* CrossEncoder's: "sigmoid", "identity", "softmax", "tanh" */
} omega_engine_info_t;

/* Embedding flags (OMEGA_TOK_UTF8_REPLACE also applies). */
enum {
  /* Fail with OMEGA_ERANGE instead of truncating a text longer than max_seq_length. */
  OMEGA_EMBED_NO_TRUNCATE = 1u << 8,
  /* L2-normalise the output even when the model has no Normalize module. */
  OMEGA_EMBED_NORMALIZE = 1u << 9,
  /* Return the pooled output without normalising, even when the model has a Normalize module. */
  OMEGA_EMBED_NO_NORMALIZE = 1u << 10,
};

OMEGA_API void omega_engine_opts_init(omega_engine_opts_t *o);
OMEGA_API int omega_engine_open(const char *model_dir, const omega_engine_opts_t *opts, omega_engine_t **out);
/* Finishes every submitted job (callbacks included), then frees the engine. */
OMEGA_API void omega_engine_close(omega_engine_t *e);
OMEGA_API void omega_engine_info(const omega_engine_t *e, omega_engine_info_t *info);
OMEGA_API void omega_engine_accel(const omega_engine_t *e, omega_engine_accel_t *out);
OMEGA_API const omega_tokenizer_t *omega_engine_tokenizer(const omega_engine_t *e);
/* Apply a classifier model's CrossEncoder activation to rows x dim logits in place (sigmoid,
 * softmax over each row, tanh, or nothing); an embedding model's rows are left alone. */
OMEGA_API void omega_engine_activate(const omega_engine_t *e, float *logits, size_t rows);
/* Label i (< info.dim) of a classifier model (id2label); NULL otherwise. */
OMEGA_API const char *omega_engine_label(const omega_engine_t *e, size_t i);
/* Prompt i (< info.n_prompts) of the model: its name and text; OMEGA_ERANGE past the last. */
OMEGA_API int omega_engine_prompt(const omega_engine_t *e, size_t i, const char **name, const char **text);
/* Change the tuning while running; invalid values (zero batch sizes) give OMEGA_EINVAL. */
OMEGA_API int omega_engine_tune(omega_engine_t *e, const omega_engine_tuning_t *t);

/* Embed n texts into out[n * dim] (row-major), blocking until done. */
OMEGA_API int omega_engine_embed(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags, float *out);

/* Called once per job from an engine thread when it completes (successfully or not);
 * the job is valid for the duration of the call. Must not block for long. */
typedef void (*omega_job_cb)(omega_job_t *job, void *user);

/* One request: either texts (tokenized at submission, in the caller's thread; they need
 * not outlive the call) or pre-tokenized input ids (used as the model's input as they
 * are, special tokens included). */
typedef struct {
  const omega_text_t *texts;
  const int32_t *const *ids;
  const size_t *id_lens;
  size_t n;
  unsigned flags;
  unsigned timeout_ms; /* 0: none. Past it, unstarted work is dropped and the job fails with OMEGA_ETIMEDOUT */
  /* Text put in front of every input (sentence-transformers' prompts, e.g. "query: "): `prompt`
   * itself, else the model's prompt named `prompt_name` (unknown: OMEGA_EINVAL), else the
   * model's default_prompt_name if it has one. Texts only: a prompt with ids is OMEGA_EINVAL. */
  const char *prompt;
  const char *prompt_name;
  /* Pairs for a cross-encoder (reranker, pair classifier): texts[i] with texts_b[i] (a query
   * and a passage), in the tokenizer's pair template with its type ids, cut by longest_first
   * to max_seq_length. Each output row is the head's raw logits. NULL: single texts. */
  const omega_text_t *texts_b;
} omega_request_t;

/* Submit a request. cb may be NULL. If job_out is not NULL the caller owns a reference and
 * must call omega_job_release. Errors in the input (invalid UTF-8, an id outside the
 * vocabulary, too long with OMEGA_EMBED_NO_TRUNCATE) and a full queue (OMEGA_EAGAIN) are
 * returned here, naming the input ("input 3: ..."), and no callback runs. */
OMEGA_API int omega_engine_submit_request(omega_engine_t *e, const omega_request_t *req, omega_job_cb cb,
                                          void *user, omega_job_t **job_out);
/* Texts only, no deadline. */
OMEGA_API int omega_engine_submit(omega_engine_t *e, const omega_text_t *texts, size_t n, unsigned flags,
                                  omega_job_cb cb, void *user, omega_job_t **job_out);
/* Block until the job completes; returns its status (0 or an OMEGA_E* code). */
OMEGA_API int omega_job_wait(omega_job_t *job);
/* Status of a completed job; OMEGA_EAGAIN while it is still pending. */
OMEGA_API int omega_job_status(const omega_job_t *job);
/* Detail of a failed job's status, naming its own input or cause ("input 2: 40 tokens, more
 * than the model's max_seq_length 32", "GPU out of memory and ACCEL_OOM_CPU_FALLBACK is off:
 * ..."); the code's description when nothing more is known. "" while pending or after
 * success; never NULL; valid until the job is released. Unlike omega_errmsg() it does not
 * depend on the thread that asks: the batch runner that failed the job is not the thread
 * that answers for it. */
OMEGA_API const char *omega_job_errmsg(const omega_job_t *job);
/* Drop the job's work that has not started; it completes with OMEGA_ECANCELED. */
OMEGA_API void omega_job_cancel(omega_job_t *job);
/* Embeddings of a completed job: n rows of dim floats. Valid until the job is released. */
OMEGA_API const float *omega_job_embeddings(const omega_job_t *job, size_t *n, size_t *dim);
/* Number of tokens the job's inputs were encoded to (after truncation). */
OMEGA_API size_t omega_job_tokens(const omega_job_t *job);
/* Token ids of input i (special tokens included), valid until the job is released. */
OMEGA_API const int32_t *omega_job_ids(const omega_job_t *job, size_t i, size_t *len);
/* Milliseconds spent tokenizing at submission, waiting from submission to the job's first
 * batch, and running the batches it was in (summed). Any pointer may be NULL. */
OMEGA_API void omega_job_timing(const omega_job_t *job, double *tokenize_ms, double *queue_ms, double *infer_ms);
/* The backend that served the job (the least healthy one when its inputs took several
 * batches: fallback, then cpu, then gpu); OMEGA_ROUTE_CPU for a job with no inputs. */
OMEGA_API omega_route_t omega_job_route(const omega_job_t *job);
OMEGA_API void omega_job_release(omega_job_t *job);

/* A snapshot of the batcher. */
typedef struct {
  size_t queued_seqs, queued_jobs, inflight_seqs;
  size_t batch_ceiling;
  double p95_ms;     /* request latency p95 in the controller's window (0 until it has samples) */
  double run_p95_ms; /* batch run time p95 in the controller's window */
  unsigned long long batches, sequences, tokens;
  unsigned long long jobs_ok, jobs_failed, jobs_timed_out, jobs_canceled;
  unsigned long long jobs_sync, jobs_async; /* waited on vs completed by callback only */
  unsigned long long ceiling_up, ceiling_down;
  unsigned long long memory_pressure; /* windows whose batches were shrunk for device memory */
} omega_engine_stats_t;
OMEGA_API void omega_engine_stats(const omega_engine_t *e, omega_engine_stats_t *st);

/* Observer of every batch run (called from the batcher thread). */
typedef struct {
  size_t n_seq, tokens;
  double infer_ms;
  omega_route_t route;
  int status;
} omega_batch_info_t;
typedef void (*omega_batch_observer_fn)(const omega_batch_info_t *b, void *user);
OMEGA_API void omega_engine_set_observer(omega_engine_t *e, omega_batch_observer_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif

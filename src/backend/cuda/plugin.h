/* The ABI between libomega and the CUDA plugin (libomega-cuda.so). Plain C, no CUDA
 * types, so the host side compiles without the CUDA toolkit and loads the plugin with
 * dlopen. The host passes the model's canonical fp32 weights; the plugin keeps its own
 * copies in VRAM. Every call reports failures as an ocu_status_t plus a message. */
#ifndef OMEGA_BACKEND_CUDA_PLUGIN_H
#define OMEGA_BACKEND_CUDA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OCU_ABI_VERSION 2
#define OCU_ENTRY "omega_cuda_plugin_v1"

typedef enum {
  OCU_OK = 0,
  OCU_OOM = 1,    /* cudaErrorMemoryAllocation or CUBLAS_STATUS_ALLOC_FAILED: retry elsewhere, GPU stays usable */
  OCU_STICKY = 2, /* the context is corrupted (illegal address, launch failure...): the GPU must not be used again */
  OCU_ERROR = 3,  /* any other failure of this call */
  OCU_NODEV = 4,  /* no driver or no device */
} ocu_status_t;

typedef enum { OCU_DTYPE_FP32 = 0, OCU_DTYPE_TF32 = 1, OCU_DTYPE_FP16 = 2, OCU_DTYPE_BF16 = 3 } ocu_dtype_t;
typedef enum { OCU_ACT_GELU = 0, OCU_ACT_GELU_TANH = 1, OCU_ACT_RELU = 2 } ocu_act_t;

typedef struct {
  const float *qkv_w, *qkv_b; /* [3H, H], [3H] */
  const float *ao_w, *ao_b;   /* [H, H], [H] */
  const float *ln1_g, *ln1_b;
  const float *ff1_w, *ff1_b; /* [I, H], [I] */
  const float *ff2_w, *ff2_b; /* [H, I], [H] */
  const float *ln2_g, *ln2_b;
} ocu_layer_t;

typedef struct {
  int hidden, layers, heads, intermediate, vocab, max_pos;
  float eps;
  ocu_act_t act;
  unsigned pooling; /* OMEGA_POOL_* bits (model/config.h), concatenated in sentence-transformers' order */
  const float *word_emb, *pos_emb, *type_emb, *emb_ln_g, *emb_ln_b;
  const ocu_layer_t *layer;
} ocu_model_t;

typedef struct {
  char name[96];
  int cc_major, cc_minor;
  size_t mem_total, mem_free;
  int sm_count;
} ocu_device_t;

/* What the encoder did, for /accel/health and the tests (monotonic except the bytes). */
typedef struct {
  unsigned long long graph_captures;  /* CUDA graphs captured and instantiated */
  unsigned long long graph_replays;   /* batches run by replaying one */
  unsigned long long graph_failures;  /* captures that failed (the batch then ran directly) */
  unsigned long long buffer_growths;  /* times a slot had to reallocate its activations */
  size_t buffer_bytes;                /* device activation memory held by all slots */
} ocu_encoder_stats_t;

typedef struct {
  int abi;
  const char *build; /* toolkit and architectures the plugin was compiled for */
  /* Number of devices and the driver/runtime versions; OCU_NODEV with a reason when none. */
  int (*probe)(int *n_devices, int *driver_version, int *runtime_version, char *err, size_t errn);
  int (*device_info)(int device, ocu_device_t *out, char *err, size_t errn);

  /* Encoder: weights uploaded once; `slots` independent streams + workspaces, so up to
   * `slots` batches may run at once from different threads (each on its own slot). */
  int (*encoder_create)(const ocu_model_t *m, int device, ocu_dtype_t dtype, int slots, void **out, char *err,
                        size_t errn);
  /* Packed sequences (ids[offsets[s]..offsets[s+1])) -> pooled, unnormalised out[n_seq, dim]. */
  int (*encoder_run)(void *enc, int slot, const int32_t *ids, const uint32_t *offsets, size_t n_seq, float *out,
                     char *err, size_t errn);
  /* Make `slot` ready for batches of up to `tokens` tokens in `seqs` sequences: activations
   * allocated now (fewer tokens where the device has not the room: at most a quarter of its
   * free memory) and one short batch run, so kernels are loaded before the first request. */
  int (*encoder_prepare)(void *enc, int slot, size_t tokens, size_t seqs, char *err, size_t errn);
  /* Batches of at most max_tokens tokens are padded with filler sequences to one of a few
   * shapes (tokens, sequences) and replay a CUDA graph captured for that shape from its
   * second sighting on; 0: no graphs. May be called while batches run. */
  void (*encoder_set_graphs)(void *enc, int max_tokens);
  void (*encoder_stats)(void *enc, ocu_encoder_stats_t *out);
  /* Device memory as cudaMemGetInfo reports it for the encoder's device. */
  int (*mem_info)(void *enc, size_t *free_bytes, size_t *total_bytes);
  void (*encoder_destroy)(void *enc);

  /* Exact flat index: vectors resident in VRAM (fp32 or fp16), GEMM + top-k.
   * metric: 0 L2 (squared distance, lower is better), 1 inner product (higher is better);
   * cosine is inner product over vectors the host normalised. */
  int (*flat_create)(int device, int dim, int metric, int fp16, void **out, char *err, size_t errn);
  /* Append n vectors; their positions are the running count. */
  int (*flat_add)(void *fl, const float *x, size_t n, char *err, size_t errn);
  /* Overwrite vectors at positions pos[i] (upsert of an existing id). */
  int (*flat_set)(void *fl, const int64_t *pos, const float *x, size_t n, char *err, size_t errn);
  /* Best k per query over positions whose mask byte is 1 (mask may be NULL: all);
   * score[nq, k] and pos[nq, k] (-1 past the count). k <= 1024. */
  int (*flat_search)(void *fl, const float *q, size_t nq, int k, const uint8_t *mask, float *score, int64_t *pos,
                     char *err, size_t errn);
  size_t (*flat_bytes)(void *fl);
  void (*flat_destroy)(void *fl);
} ocu_api_t;

typedef const ocu_api_t *(*ocu_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif

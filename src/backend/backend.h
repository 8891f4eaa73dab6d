/* The backend interface (ggml style: a small table of functions). The engine tries
 * backends in order; the CPU backend is always last, so a fallback runs the same code
 * as the normal CPU path. A CUDA plugin (src/backend/cuda, loaded with dlopen)
 * provides the same table. */
#ifndef OMEGA_BACKEND_BACKEND_H
#define OMEGA_BACKEND_BACKEND_H

#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

/* Sequences of one batch, packed without padding: sequence s is
 * ids[offsets[s] .. offsets[s+1]). */
typedef struct {
  const int32_t *ids;
  const uint32_t *offsets; /* n_seq + 1 entries, offsets[0] == 0 */
  size_t n_seq;
} omega_batch_t;

typedef struct omega_backend omega_backend_t;
struct omega_backend {
  const char *name;
  int slots; /* batches that may run at once, each on its own slot 0..slots-1 */
  /* Encode a batch into out[n_seq, model->dim]: pooled, not normalised (the engine
   * normalises per request). Concurrent calls only on different slots. *route says who
   * ran it: "cpu", "gpu", or "fallback" (the CPU after a GPU failure). */
  int (*encode)(omega_backend_t *b, int slot, const omega_batch_t *batch, float *out, const char **route);
  /* Optional: make `slot` ready for batches up to `tokens` tokens in `seqs` sequences
   * (buffers allocated, kernels loaded) before they come; a failure leaves it to grow later. */
  int (*prepare)(omega_backend_t *b, int slot, size_t tokens, size_t seqs);
  /* Optional: 1 when the device's memory is above its pressure mark (batches should shrink). */
  int (*pressure)(omega_backend_t *b);
  void (*destroy)(omega_backend_t *b);
};

/* threads: total CPU threads to use (GEMM library and Omega's pool), >= 1. precision:
 * "fp32" (NULL or ""), "bf16" or "int8"; a mode this CPU has no kernels for is refused
 * with OMEGA_EINVAL and a message that says why. */
int omega__cpu_backend_create(const omega_model_t *m, int threads, const char *precision, omega_backend_t **out);
/* The precision a CPU backend's weights were packed in ("fp32", "bf16", "bf16x3", "int8"). */
const char *omega__cpu_backend_precision(const omega_backend_t *cpu);

#endif

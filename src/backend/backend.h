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
  /* Encode a batch into out[n_seq, model->dim]: pooled, not normalised (the engine
   * normalises per request). Not reentrant: one batch at a time per backend instance. */
  int (*encode)(omega_backend_t *b, const omega_batch_t *batch, float *out);
  void (*destroy)(omega_backend_t *b);
};

/* threads: total CPU threads to use (GEMM library and Omega's pool), >= 1. */
int omega__cpu_backend_create(const omega_model_t *m, int threads, omega_backend_t **out);

#endif

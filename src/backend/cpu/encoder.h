/* The BERT encoder forward pass over packed sequences, generic over a kernel table so
 * the same graph runs with reference and optimised kernels. */
#ifndef OMEGA_BACKEND_CPU_ENCODER_H
#define OMEGA_BACKEND_CPU_ENCODER_H

#include "backend/backend.h"
#include "backend/cpu/ops.h"

typedef struct {
  float *x, *qkv, *ctx, *tmp, *ff;
  size_t cap_tokens;
  void *scratch; /* activations converted for packed linears */
  size_t scratch_cap;
  float *att; /* attention's per-thread scratch */
  size_t att_cap; /* floats */
  float *rel;     /* MPNet: the batch's relative attention bias [heads][2 Lmax - 1] */
  size_t rel_cap; /* floats */
} omega_encoder_ws_t;

/* Check a batch against the model (ids in the vocabulary, lengths within the positions). */
int omega__encoder_check(const omega_model_t *m, const omega_batch_t *batch);
/* Full forward + pooling into out[n_seq, m->dim], L2-normalised when `normalize`. */
int omega__encoder_run(const omega_model_t *m, const omega_cpu_ops_t *ops, omega_cpu_ctx_t *c,
                       omega_encoder_ws_t *ws, const omega_batch_t *batch, int normalize, float *out);
/* Hidden states only: x[T, H] after the last layer (for tests and pooling). */
int omega__encoder_hidden(const omega_model_t *m, const omega_cpu_ops_t *ops, omega_cpu_ctx_t *c,
                          omega_encoder_ws_t *ws, const omega_batch_t *batch);
/* sentence-transformers pooling of hidden x[T, H] per sequence, then optional L2 norm. */
void omega__pool_and_normalize(const float *x, size_t H, const uint32_t *offsets, size_t n_seq, unsigned modes,
                               int normalize, float *out);
/* Activations for T tokens (powers of two from 256; kept when already large enough). */
int omega__encoder_ws_reserve(omega_encoder_ws_t *ws, const omega_bert_config_t *c, size_t T);
void omega__encoder_ws_free(omega_encoder_ws_t *ws);

#endif

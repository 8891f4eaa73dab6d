#include "backend/backend.h"
#include "backend/cpu/encoder.h"
#include "backend/cpu/packed.h"
#include "core/alloc.h"
#include "core/error_internal.h"

#include <cblas.h>
#include <stdlib.h>

typedef struct {
  omega_backend_t base;
  const omega_model_t *model;
  omega_cpu_ctx_t ctx;
  omega_cpu_packed_t *packed;
  omega_encoder_ws_t ws;
} cpu_backend_t;

/* A batch past this many tokens runs as consecutive sub-batches of whole sequences, each
 * through all the layers: the activations of ~1k tokens stay in L2 and L3 between kernels,
 * where those of a 128-sentence batch (3.4k tokens, 21 MB for FFN-up alone in MiniLM-L6) went
 * to memory; the weights are still read at least a thousand rows at a time. */
#define CPU_CHUNK_TOKENS 1024

static int cpu_encode(omega_backend_t *b, int slot, const omega_batch_t *batch, float *out) {
  cpu_backend_t *cb = (cpu_backend_t *)b;
  const uint32_t *o = batch->offsets;
  if (o[batch->n_seq] <= CPU_CHUNK_TOKENS)
    return omega__encoder_run(cb->model, &omega__cpu_ops_fast, &cb->ctx, &cb->ws, batch, 0, out);
  uint32_t *off = omega__malloc((batch->n_seq + 1) * sizeof *off);
  if (!off)
    return omega__seterr(OMEGA_ENOMEM, "cpu backend: out of memory");
  int rc = 0;
  for (size_t s0 = 0, s1; s0 < batch->n_seq && !rc; s0 = s1) {
    for (s1 = s0 + 1; s1 < batch->n_seq && o[s1 + 1] - o[s0] <= CPU_CHUNK_TOKENS; s1++)
      ;
    for (size_t s = s0; s <= s1; s++)
      off[s - s0] = o[s] - o[s0];
    const omega_batch_t sub = {batch->ids + o[s0], off, s1 - s0};
    rc = omega__encoder_run(cb->model, &omega__cpu_ops_fast, &cb->ctx, &cb->ws, &sub, 0,
                            out + s0 * (size_t)cb->model->pool_dim);
  }
  omega__free(off);
  return rc;
}

omega_cpu_precision_t omega__cpu_backend_precision(const omega_backend_t *cpu) {
  return ((const cpu_backend_t *)cpu)->packed->prec;
}

static void cpu_destroy(omega_backend_t *b) {
  cpu_backend_t *cb = (cpu_backend_t *)b;
  omega__encoder_ws_free(&cb->ws);
  omega__pool_destroy(cb->ctx.pool);
  omega__cpu_packed_free(cb->packed);
  omega__free(cb);
}

int omega__cpu_backend_create(const omega_model_t *m, int threads, omega_cpu_precision_t prec, omega_backend_t **out) {
  if ((unsigned)prec >= OMEGA_CPU_KERNEL_PRECISIONS)
    return omega__seterr(OMEGA_EINVAL, "CPU precision %d is not fp32, bf16, bf16x3 or int8", (int)prec);
  cpu_backend_t *cb = omega__calloc(1, sizeof *cb);
  if (!cb)
    return omega__seterr(OMEGA_ENOMEM, "cpu backend: out of memory");
  cb->base.name = "cpu";
  cb->base.slots = 1;
  cb->base.encode = cpu_encode;
  cb->base.destroy = cpu_destroy;
  cb->model = m;
  /* Every batch uses the pool, one sentence included: with its threads polling between
   * kernels, splitting even a 26-token GEMM over two cores halves the latency
   * (docs/CPU.md). */
  int rc = omega__pool_create(threads, &cb->ctx.pool);
  if (!rc)
    rc = omega__cpu_packed_create(m, prec, omega__cpu_isa(), &cb->packed);
  if (rc) {
    cpu_destroy(&cb->base);
    return rc;
  }
  cb->ctx.packed = cb->packed;
  /* The packed kernels run the encoder's GEMMs; the BLAS library only serves the fp32
   * table's `linear` (reference checks), one thread per call with Omega's pool splitting the
   * columns, so its own threads never spin against Omega's. */
  openblas_set_num_threads(1);
  *out = &cb->base;
  return 0;
}

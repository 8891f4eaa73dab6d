#include "backend/backend.h"
#include "backend/cpu/encoder.h"
#include "backend/cpu/packed.h"
#include "core/error_internal.h"

#include <cblas.h>
#include <stdlib.h>

/* Batches of at most this many tokens run on the calling thread alone: their GEMMs are
 * too small to repay handing halves to another core (measured in bench/RESULTS.md). */
#define SMALL_BATCH_TOKENS 64

typedef struct {
  omega_backend_t base;
  const omega_model_t *model;
  omega_cpu_ctx_t ctx;
  omega_pool_t *pool;
  omega_cpu_packed_t *packed;
  omega_encoder_ws_t ws;
} cpu_backend_t;

static int cpu_encode(omega_backend_t *b, int slot, const omega_batch_t *batch, float *out, const char **route) {
  cpu_backend_t *cb = (cpu_backend_t *)b;
  *route = "cpu";
  cb->ctx.pool = batch->offsets[batch->n_seq] <= SMALL_BATCH_TOKENS ? NULL : cb->pool;
  return omega__encoder_run(cb->model, &omega__cpu_ops_fast, &cb->ctx, &cb->ws, batch, 0, out);
}

static void cpu_destroy(omega_backend_t *b) {
  cpu_backend_t *cb = (cpu_backend_t *)b;
  omega__encoder_ws_free(&cb->ws);
  omega__pool_destroy(cb->pool);
  omega__cpu_packed_free(cb->packed);
  free(cb);
}

int omega__cpu_backend_create(const omega_model_t *m, int threads, const char *precision, omega_backend_t **out) {
  omega_precision_t prec = OMEGA_PREC_FP32;
  if (precision && *precision && omega__precision_parse(precision, &prec))
    return omega__seterr(OMEGA_EINVAL, "CPU precision \"%s\" is not fp32, bf16 or int8", precision);
  cpu_backend_t *cb = calloc(1, sizeof *cb);
  if (!cb)
    return omega__seterr(OMEGA_ENOMEM, "cpu backend: out of memory");
  cb->base.name = "cpu";
  cb->base.slots = 1;
  cb->base.encode = cpu_encode;
  cb->base.destroy = cpu_destroy;
  cb->model = m;
  int rc = omega__pool_create(threads, &cb->pool);
  if (!rc)
    rc = omega__cpu_packed_create(m, prec, omega__cpu_isa(), &cb->packed);
  if (rc) {
    cpu_destroy(&cb->base);
    return rc;
  }
  cb->ctx.packed = cb->packed;
  /* Omega's pool owns the cores: GEMMs are split into column slices there and the BLAS
   * library runs each slice single-threaded, so its own threads never spin against ours. */
  openblas_set_num_threads(1);
  *out = &cb->base;
  return 0;
}

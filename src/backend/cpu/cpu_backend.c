#include "backend/backend.h"
#include "backend/cpu/encoder.h"
#include "backend/cpu/packed.h"
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

static int cpu_encode(omega_backend_t *b, int slot, const omega_batch_t *batch, float *out, const char **route) {
  cpu_backend_t *cb = (cpu_backend_t *)b;
  *route = "cpu";
  return omega__encoder_run(cb->model, &omega__cpu_ops_fast, &cb->ctx, &cb->ws, batch, 0, out);
}

static void cpu_destroy(omega_backend_t *b) {
  cpu_backend_t *cb = (cpu_backend_t *)b;
  omega__encoder_ws_free(&cb->ws);
  omega__pool_destroy(cb->ctx.pool);
  omega__cpu_packed_free(cb->packed);
  free(cb);
}

int omega__cpu_backend_create(const omega_model_t *m, int threads, const char *precision, omega_backend_t **out) {
  omega_precision_t prec = OMEGA_PREC_FP32;
  if (precision && *precision && omega__precision_parse(precision, &prec))
    return omega__seterr(OMEGA_EINVAL, "CPU precision \"%s\" is not fp32, bf16, bf16x3 or int8", precision);
  cpu_backend_t *cb = calloc(1, sizeof *cb);
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

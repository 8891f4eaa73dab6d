#include "backend/backend.h"
#include "backend/cpu/encoder.h"
#include "core/error_internal.h"

#include <cblas.h>
#include <stdlib.h>

typedef struct {
  omega_backend_t base;
  const omega_model_t *model;
  omega_cpu_ctx_t ctx;
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
  free(cb);
}

int omega__cpu_backend_create(const omega_model_t *m, int threads, omega_backend_t **out) {
  cpu_backend_t *cb = calloc(1, sizeof *cb);
  if (!cb)
    return omega__seterr(OMEGA_ENOMEM, "cpu backend: out of memory");
  cb->base.name = "cpu";
  cb->base.slots = 1;
  cb->base.encode = cpu_encode;
  cb->base.destroy = cpu_destroy;
  cb->model = m;
  int rc = omega__pool_create(threads, &cb->ctx.pool);
  if (rc) {
    free(cb);
    return rc;
  }
  /* GEMMs use the BLAS library's threads; Omega's pool runs the other kernels in between. */
  openblas_set_num_threads(threads);
  *out = &cb->base;
  return 0;
}

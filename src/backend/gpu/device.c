/* Choosing the device: the GPU through the CUDA plugin (or the simulated device under fault
 * injection) when one is usable, its dtype, and the GPU backend on it; else the CPU with the
 * reason recorded. Only mode gpu turns a missing GPU into an error. */
#include "backend/gpu/gpu.h"

#include "core/error_internal.h"
#include "core/fault.h"
#include "core/log.h"

#include <stdbool.h>
#include <stdio.h>

/* The plugin's dtype for each concrete public one (the plugin ABI keeps its own order). */
static const ocu_dtype_t ocu_dtype_of[OMEGA_GPU_DTYPE_COUNT] = {
    [OMEGA_GPU_DTYPE_BF16] = OCU_DTYPE_BF16,
    [OMEGA_GPU_DTYPE_FP16] = OCU_DTYPE_FP16,
    [OMEGA_GPU_DTYPE_FP32] = OCU_DTYPE_FP32,
    [OMEGA_GPU_DTYPE_TF32] = OCU_DTYPE_TF32,
};

/* The dtype to run: the one asked for, or for AUTO bf16 on compute capability 8.0+, else
 * fp16 (fp32 on the simulated device). */
static int choose_dtype(const omega_accel_opts_t *o, const ocu_device_t *di, bool have_gpu, bool simulated,
                        omega_gpu_dtype_t *out) {
  if ((unsigned)o->dtype >= OMEGA_GPU_DTYPE_COUNT)
    return omega__seterr(OMEGA_EINVAL, "GPU dtype %d is not bf16, fp16, fp32 or tf32", (int)o->dtype);
  if (o->dtype == OMEGA_GPU_DTYPE_AUTO) {
    *out = simulated ? OMEGA_GPU_DTYPE_FP32 : di->cc_major >= 8 ? OMEGA_GPU_DTYPE_BF16 : OMEGA_GPU_DTYPE_FP16;
    return 0;
  }
  if (have_gpu && !simulated && o->dtype == OMEGA_GPU_DTYPE_BF16 && di->cc_major < 8)
    return omega__seterr(OMEGA_EUNSUPPORTED, "bf16 needs a GPU of compute capability 8.0 or newer; %s is %d.%d",
                         di->name, di->cc_major, di->cc_minor);
  *out = o->dtype;
  return 0;
}

int omega__gpu_backend_open(const omega_model_t *m, const omega_accel_opts_t *o, omega_backend_t **out,
                            omega_engine_accel_t *a) {
  *out = NULL;
  if ((unsigned)o->mode >= OMEGA_ACCEL_COUNT)
    return omega__seterr(OMEGA_EINVAL, "accelerator mode %d is not auto, gpu or cpu", (int)o->mode);
  a->mode = omega_accel_mode_name(o->mode);
  a->device = "cpu";
  a->healthy = 1;
  if (o->mode == OMEGA_ACCEL_CPU) {
    snprintf(a->reason, sizeof a->reason, "OMEGA_ACCEL=cpu");
    return 0;
  }
  const ocu_api_t *api = NULL;
  char why[512] = "";
  omega__cuda_load(o->plugin, &api, why, sizeof why);
  if (!api && omega__fault_get(OMEGA_FAULT_GPU_SIM)) {
    api = omega__cuda_sim_api();
    a->simulated = 1;
  }
  ocu_device_t di = {0};
  char err[384] = "";
  if (api && api->device_info(o->device, &di, err, sizeof err) != OCU_OK) {
    snprintf(why, sizeof why, "CUDA device %d: %s", o->device, err);
    api = NULL;
  }
  omega_gpu_dtype_t dt = OMEGA_GPU_DTYPE_AUTO;
  int rc = choose_dtype(o, &di, api != NULL, a->simulated, &dt);
  if (rc)
    return rc;
  if (api) {
    const int slots = o->max_slots > 0 ? (o->max_slots > 64 ? 64 : o->max_slots) : 8;
    omega_gpu_backend_opts_t go = {api, o->device, ocu_dtype_of[dt], slots, di.name};
    if ((rc = omega__gpu_backend_create(m, &go, out)) == 0) {
      a->device = "gpu";
      a->reason[0] = 0;
      snprintf(a->gpu_name, sizeof a->gpu_name, "%s", di.name);
      a->cc_major = di.cc_major;
      a->cc_minor = di.cc_minor;
      a->dtype = omega_gpu_dtype_name(dt);
      a->plugin = api->build;
      a->slots_max = slots;
      a->mem_total = di.mem_total;
      a->mem_free = di.mem_free;
      omega__log(OMEGA_LOG_INFO, "accelerator: %s, %s (compute %d.%d, %zu MiB), %s, %d slots%s", a->mode, di.name,
                di.cc_major, di.cc_minor, di.mem_total >> 20, a->dtype, slots,
                a->simulated ? " [simulated device]" : "");
      return 0;
    }
    snprintf(why, sizeof why, "%s", omega_errmsg());
  }
  snprintf(a->reason, sizeof a->reason, "%s", why);
  if (o->mode == OMEGA_ACCEL_GPU)
    return omega__seterr(OMEGA_EDEVICE, "OMEGA_ACCEL=gpu but no usable GPU: %s", why);
  omega__log(OMEGA_LOG_INFO, "accelerator: auto, using the CPU (%s)", why);
  return 0;
}

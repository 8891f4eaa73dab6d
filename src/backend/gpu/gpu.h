/* The host side of GPU support: finding and loading the CUDA plugin (dlopen), a
 * simulated device for tests on machines without a GPU, NVML statistics, choosing the
 * device and its dtype (device.c, omega__gpu_backend_open in backend.h), and the GPU
 * backend that wraps the plugin's encoder with slots and fault injection. */
#ifndef OMEGA_BACKEND_GPU_GPU_H
#define OMEGA_BACKEND_GPU_GPU_H

#include "backend/backend.h"
#include "backend/cuda/plugin.h"

#include <stddef.h>

/* Load the plugin and probe for devices once per process. path: an explicit plugin file,
 * or NULL/"" to look next to the executable, in ../lib from it, then the loader's path.
 * On failure *api is NULL and `why` says what was missing (plugin, driver, device). */
int omega__cuda_load(const char *path, const ocu_api_t **api, char *why, size_t why_n);
/* The simulated device: the same ABI run by CPU code (the fp32 reference path), so the
 * GPU route, its fault injection and its fallback are tested without a GPU. */
const ocu_api_t *omega__cuda_sim_api(void);

/* NVML through dlopen (libnvidia-ml.so.1); all zero when absent. */
typedef struct {
  char name[96];
  unsigned long long mem_used, mem_total; /* bytes */
  unsigned util_gpu, util_mem;            /* percent */
  unsigned temperature_c;
  unsigned power_mw;
} omega_nvml_gpu_t;
/* Number of GPUs NVML sees (0 when NVML is absent), filling up to cap entries. */
int omega__nvml_query(omega_nvml_gpu_t *out, int cap);

typedef struct {
  const ocu_api_t *api;
  int device;
  ocu_dtype_t dtype;
  int slots; /* streams created (the most EMBED_GPU_SLOTS can be raised to) */
  const char *device_name;
} omega_gpu_backend_opts_t;

int omega__gpu_backend_create(const omega_model_t *m, const omega_gpu_backend_opts_t *o, omega_backend_t **out);

#endif

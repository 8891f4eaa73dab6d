/* NVML through dlopen: the driver's management library reports what CUDA does not
 * (utilisation, temperature, power, memory used by every process). Declared here by hand
 * so the build needs no NVIDIA headers; these entry points are stable across drivers. */
#include "backend/gpu/gpu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef void *nvml_dev_t;
typedef struct {
  unsigned long long total, free, used;
} nvml_mem_t;
typedef struct {
  unsigned gpu, memory;
} nvml_util_t;

static struct {
  int ok;
  int (*init)(void);
  int (*count)(unsigned *);
  int (*handle)(unsigned, nvml_dev_t *);
  int (*name)(nvml_dev_t, char *, unsigned);
  int (*mem)(nvml_dev_t, nvml_mem_t *);
  int (*util)(nvml_dev_t, nvml_util_t *);
  int (*temp)(nvml_dev_t, int, unsigned *);
  int (*power)(nvml_dev_t, unsigned *);
} nv;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h)
    return;
#define SYM(field, name) *(void **)&nv.field = dlsym(h, name)
  SYM(init, "nvmlInit_v2");
  SYM(count, "nvmlDeviceGetCount_v2");
  SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
  SYM(name, "nvmlDeviceGetName");
  SYM(mem, "nvmlDeviceGetMemoryInfo");
  SYM(util, "nvmlDeviceGetUtilizationRates");
  SYM(temp, "nvmlDeviceGetTemperature");
  SYM(power, "nvmlDeviceGetPowerUsage");
#undef SYM
  nv.ok = nv.init && nv.count && nv.handle && nv.init() == 0;
}

int omega__nvml_query(omega_nvml_gpu_t *out, int cap) {
  pthread_once(&once, load);
  unsigned n = 0;
  if (!nv.ok || nv.count(&n) != 0)
    return 0;
  for (unsigned i = 0; i < n && (int)i < cap; i++) {
    omega_nvml_gpu_t *g = &out[i];
    memset(g, 0, sizeof *g);
    nvml_dev_t d;
    if (nv.handle(i, &d) != 0)
      continue;
    if (nv.name)
      nv.name(d, g->name, sizeof g->name);
    nvml_mem_t m;
    if (nv.mem && nv.mem(d, &m) == 0) {
      g->mem_used = m.used;
      g->mem_total = m.total;
    }
    nvml_util_t u;
    if (nv.util && nv.util(d, &u) == 0) {
      g->util_gpu = u.gpu;
      g->util_mem = u.memory;
    }
    if (nv.temp)
      nv.temp(d, 0 /* NVML_TEMPERATURE_GPU */, &g->temperature_c);
    if (nv.power)
      nv.power(d, &g->power_mw);
  }
  return (int)n;
}

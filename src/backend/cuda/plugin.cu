// The plugin's one exported symbol: the table of entry points libomega resolves with dlsym.
#include "backend/cuda/common.cuh"

using namespace ocu;

extern "C" int ocu_encoder_create(const ocu_model_t *, int, ocu_dtype_t, int, void **, char *, size_t);
extern "C" int ocu_encoder_run(void *, int, const int32_t *, const uint32_t *, size_t, float *, char *, size_t);
extern "C" int ocu_encoder_prepare(void *, int, size_t, size_t, char *, size_t);
extern "C" void ocu_encoder_set_graphs(void *, int);
extern "C" void ocu_encoder_stats(void *, ocu_encoder_stats_t *);
extern "C" int ocu_mem_info(void *, size_t *, size_t *);
extern "C" void ocu_encoder_destroy(void *);
extern "C" int ocu_flat_create(int, int, int, int, void **, char *, size_t);
extern "C" int ocu_flat_add(void *, const float *, size_t, char *, size_t);
extern "C" int ocu_flat_set(void *, const int64_t *, const float *, size_t, char *, size_t);
extern "C" int ocu_flat_search(void *, const float *, size_t, int, const uint8_t *, float *, int64_t *, char *, size_t);
extern "C" size_t ocu_flat_bytes(void *);
extern "C" void ocu_flat_destroy(void *);

static int probe(int *n_devices, int *driver_version, int *runtime_version, char *err, size_t n) {
  *n_devices = 0;
  *driver_version = 0;
  *runtime_version = 0;
  cudaError_t e = cudaDriverGetVersion(driver_version);
  if (e != cudaSuccess || *driver_version == 0)
    return fail(err, n, OCU_NODEV, "no CUDA driver (%s)", e == cudaSuccess ? "not installed" : cudaGetErrorString(e));
  cudaRuntimeGetVersion(runtime_version);
  e = cudaGetDeviceCount(n_devices);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    *n_devices = 0;
    return fail(err, n, OCU_NODEV, "no usable CUDA device: %s", cudaGetErrorString(e));
  }
  if (*n_devices == 0)
    return fail(err, n, OCU_NODEV, "no CUDA device");
  return OCU_OK;
}

static int device_info(int device, ocu_device_t *out, char *err, size_t n) {
  cudaDeviceProp p;
  int rc = from_cuda(cudaGetDeviceProperties(&p, device), err, n, "cudaGetDeviceProperties");
  if (rc)
    return rc;
  snprintf(out->name, sizeof out->name, "%.95s", p.name);
  out->cc_major = p.major;
  out->cc_minor = p.minor;
  out->sm_count = p.multiProcessorCount;
  if ((rc = from_cuda(cudaSetDevice(device), err, n, "cudaSetDevice")))
    return rc;
  return from_cuda(cudaMemGetInfo(&out->mem_free, &out->mem_total), err, n, "cudaMemGetInfo");
}

#define STR2(x) #x
#define STR(x) STR2(x)

static const ocu_api_t api = {
    OCU_ABI_VERSION,
    "CUDA " STR(__CUDACC_VER_MAJOR__) "." STR(__CUDACC_VER_MINOR__) ", " OMEGA_CUDA_ARCHS,
    probe,
    device_info,
    ocu_encoder_create,
    ocu_encoder_run,
    ocu_encoder_prepare,
    ocu_encoder_set_graphs,
    ocu_encoder_stats,
    ocu_mem_info,
    ocu_encoder_destroy,
    ocu_flat_create,
    ocu_flat_add,
    ocu_flat_set,
    ocu_flat_search,
    ocu_flat_bytes,
    ocu_flat_destroy,
};

extern "C" __attribute__((visibility("default"))) const ocu_api_t *omega_cuda_plugin_v1(void) { return &api; }

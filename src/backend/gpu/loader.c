/* Finding and loading libomega-cuda.so. Any missing piece (plugin file, libcublasLt, the
 * driver, a device) is a reason, not an error: the caller decides whether CPU is fine
 * (OMEGA_ACCEL=auto) or fatal (gpu). The result is cached: CUDA is probed once. */
#include "backend/gpu/gpu.h"
#include "core/error_internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int loaded; /* 0: not tried, 1: tried */
static const ocu_api_t *cached;
static char cached_why[512];
static char cached_path[PATH_MAX];

static void *try_open(const char *path, char *why, size_t n) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    snprintf(why, n, "%s", dlerror());
  return h;
}

static void *find_plugin(const char *explicit_path, char *why, size_t n) {
  if (explicit_path && *explicit_path) {
    snprintf(cached_path, sizeof cached_path, "%s", explicit_path);
    return try_open(explicit_path, why, n);
  }
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      /* installed: bin/../lib; build tree: the binary's folder, or its parent for tests/ and bench/ */
      const char *rel[] = {"/libomega-cuda.so", "/../lib/libomega-cuda.so", "/../libomega-cuda.so"};
      for (size_t i = 0; i < 3; i++) {
        snprintf(cached_path, sizeof cached_path, "%s%s", exe, rel[i]);
        if (access(cached_path, R_OK) == 0)
          return try_open(cached_path, why, n);
      }
    }
  }
  snprintf(cached_path, sizeof cached_path, "libomega-cuda.so");
  void *h = try_open("libomega-cuda.so", why, n);
  if (!h)
    snprintf(why, n, "CUDA plugin libomega-cuda.so not found next to the executable, in ../lib or .., or on the "
                     "library path (build with nvcc installed, or set OMEGA_CUDA_PLUGIN)");
  return h;
}

int omega__cuda_load(const char *path, const ocu_api_t **api, char *why, size_t why_n) {
  pthread_mutex_lock(&mu);
  if (!loaded) {
    loaded = 1;
    char err[512] = "";
    void *h = find_plugin(path, err, sizeof err);
    const ocu_api_t *a = NULL;
    if (h) {
      ocu_entry_fn entry;
      *(void **)&entry = dlsym(h, OCU_ENTRY);
      if (!entry)
        snprintf(err, sizeof err, "%s: no %s symbol (not an Omega CUDA plugin)", cached_path, OCU_ENTRY);
      else if (!(a = entry()) || a->abi != OCU_ABI_VERSION) {
        snprintf(err, sizeof err, "%s: plugin ABI %d, this build needs %d", cached_path, a ? a->abi : -1,
                 OCU_ABI_VERSION);
        a = NULL;
      } else {
        int n = 0, drv = 0, rt = 0;
        char perr[384] = "";
        if (a->probe(&n, &drv, &rt, perr, sizeof perr) != OCU_OK || n < 1) {
          snprintf(err, sizeof err, "%s", perr[0] ? perr : "no CUDA device");
          a = NULL;
        }
      }
      /* the plugin stays mapped for the life of the process either way: CUDA's runtime
       * does not support being unloaded */
    }
    cached = a;
    snprintf(cached_why, sizeof cached_why, "%s", a ? "" : err);
  }
  *api = cached;
  if (why && why_n)
    snprintf(why, why_n, "%s", cached_why);
  pthread_mutex_unlock(&mu);
  return cached ? 0 : OMEGA_EDEVICE;
}

/* Names of the engine's enum choices: the one list the config table and /info read. */
#include "omega/engine.h"
#include "omega/error.h"

#include "core/names.h"

const char *const omega_accel_mode_names[OMEGA_ACCEL_COUNT + 1] = {"auto", "gpu", "cpu", NULL};
const char *const omega_gpu_dtype_names[OMEGA_GPU_DTYPE_COUNT + 1] = {"auto", "bf16", "fp16", "fp32", "tf32", NULL};
const char *const omega_cpu_precision_names[OMEGA_CPU_PRECISION_COUNT + 1] = {"fp32", "bf16", "bf16x3", "int8", "auto",
                                                                                         NULL};
static const char *const route_names[OMEGA_ROUTE_COUNT] = {"cpu", "gpu", "fallback"};

static const char *name_of(const char *const *names, int n, int v) { return v >= 0 && v < n ? names[v] : "?"; }

static int parse(const char *const *names, const char *name, int *out) {
  *out = omega__name_index(names, name);
  return *out < 0 ? OMEGA_EINVAL : 0;
}

const char *omega_accel_mode_name(omega_accel_mode_t m) {
  return name_of(omega_accel_mode_names, OMEGA_ACCEL_COUNT, (int)m);
}
const char *omega_gpu_dtype_name(omega_gpu_dtype_t d) {
  return name_of(omega_gpu_dtype_names, OMEGA_GPU_DTYPE_COUNT, (int)d);
}
const char *omega_cpu_precision_name(omega_cpu_precision_t p) {
  return name_of(omega_cpu_precision_names, OMEGA_CPU_PRECISION_COUNT, (int)p);
}
const char *omega_route_name(omega_route_t r) { return name_of(route_names, OMEGA_ROUTE_COUNT, (int)r); }

int omega_accel_mode_parse(const char *name, omega_accel_mode_t *out) {
  int v, rc = parse(omega_accel_mode_names, name, &v);
  if (!rc)
    *out = (omega_accel_mode_t)v;
  return rc;
}

int omega_gpu_dtype_parse(const char *name, omega_gpu_dtype_t *out) {
  int v, rc = parse(omega_gpu_dtype_names, name, &v);
  if (!rc)
    *out = (omega_gpu_dtype_t)v;
  return rc;
}

int omega_cpu_precision_parse(const char *name, omega_cpu_precision_t *out) {
  int v, rc = parse(omega_cpu_precision_names, name, &v);
  if (!rc)
    *out = (omega_cpu_precision_t)v;
  return rc;
}

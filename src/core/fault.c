#include "core/fault.h"

#include "core/error_internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_INT, KIND_PROB, KIND_ONCE } kind_t;
static const struct {
  const char *name;
  kind_t kind;
} spec_of[OMEGA_FAULT_COUNT] = {
    {"load_delay_ms", KIND_INT}, {"batch_delay_ms", KIND_INT}, {"cuda_oom", KIND_PROB},
    {"cuda_sticky", KIND_ONCE},  {"gpu_sim", KIND_INT},        {"gpu_mem_full", KIND_INT},
    {"batch_window_oom", KIND_ONCE}, {"batch_buffers_oom", KIND_ONCE},
};
static atomic_long values[OMEGA_FAULT_COUNT];

static int parse_value(kind_t k, const char *s, size_t len, long *out) {
  char buf[32];
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, s, len);
  buf[len] = 0;
  char *end;
  if (k == KIND_ONCE) {
    *out = strcmp(buf, "once") == 0 ? 1 : -1;
    return *out == 1 ? 0 : -1;
  }
  if (k == KIND_PROB) {
    double p = strtod(buf, &end);
    if (*end || !(p >= 0 && p <= 1))
      return -1;
    *out = (long)(p * 1e6 + 0.5);
    return 0;
  }
  long v = strtol(buf, &end, 10);
  if (*end || v < 0 || v > 600000)
    return -1;
  *out = v;
  return 0;
}

int omega__fault_configure(const char *spec) {
  long next[OMEGA_FAULT_COUNT] = {0};
  const char *p = spec ? spec : "";
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    int which = -1;
    for (int i = 0; colon && i < OMEGA_FAULT_COUNT; i++)
      if (strlen(spec_of[i].name) == (size_t)(colon - p) && strncmp(p, spec_of[i].name, (size_t)(colon - p)) == 0)
        which = i;
    if (which < 0 || parse_value(spec_of[which].kind, colon + 1, len - (size_t)(colon + 1 - p), &next[which]) != 0)
      return omega__seterr(OMEGA_EINVAL,
                           "OMEGA_FAULT_INJECT: bad entry \"%.*s\" (known: load_delay_ms:N, batch_delay_ms:N, "
                           "cuda_oom:P with P in 0..1, cuda_sticky:once, gpu_sim:1, gpu_mem_full:1, batch_window_oom:once, "
                           "batch_buffers_oom:once)",
                           (int)len, p);
    p += len + (end ? 1 : 0);
  }
  for (int i = 0; i < OMEGA_FAULT_COUNT; i++)
    atomic_store(&values[i], next[i]);
  return 0;
}

long omega__fault_get(omega_fault_t f) { return atomic_load(&values[f]); }

bool omega__fault_roll(omega_fault_t f) {
  const long ppm = atomic_load(&values[f]);
  if (ppm <= 0)
    return false;
  static _Thread_local uint64_t s;
  if (!s)
    s = (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
  s ^= s << 13; /* xorshift64: cheap and per thread, good enough for fault draws */
  s ^= s >> 7;
  s ^= s << 17;
  return (long)(s % 1000000u) < ppm;
}

bool omega__fault_take(omega_fault_t f) {
  long one = 1; /* read first: the batcher and runners ask on every batch, and a fault is rarely set */
  return atomic_load_explicit(&values[f], memory_order_relaxed) == 1 &&
         atomic_compare_exchange_strong(&values[f], &one, 0);
}

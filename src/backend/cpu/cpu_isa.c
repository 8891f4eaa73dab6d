#include "backend/cpu/cpu_isa.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char *omega__isa_name(omega_isa_t level) {
  return level == OMEGA_ISA_AVX512 ? "avx512" : level == OMEGA_ISA_AVX2 ? "avx2" : "portable";
}

omega_cpu_isa_t omega__cpu_isa_capped(omega_isa_t cap) {
  omega_cpu_isa_t f = {OMEGA_ISA_PORTABLE, 0, 0};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    f.level = OMEGA_ISA_AVX2;
  /* The AVX-512 kernels use byte/word and 256-bit forms as well as the foundation. */
  if (f.level == OMEGA_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    f.level = OMEGA_ISA_AVX512;
    f.bf16 = __builtin_cpu_supports("avx512bf16");
    f.vnni = __builtin_cpu_supports("avx512vnni");
  }
#endif
  if (f.level > cap) {
    f.level = cap;
    f.bf16 = f.vnni = 0;
  }
  return f;
}

static omega_cpu_isa_t chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void) {
  omega_isa_t cap = OMEGA_ISA_AVX512;
  const char *force = getenv("OMEGA_CPU_ISA");
  if (force && strcmp(force, "avx2") == 0)
    cap = OMEGA_ISA_AVX2;
  else if (force && strcmp(force, "portable") == 0)
    cap = OMEGA_ISA_PORTABLE;
  chosen = omega__cpu_isa_capped(cap);
}

const omega_cpu_isa_t *omega__cpu_isa(void) {
  pthread_once(&once, choose);
  return &chosen;
}

void omega__cpu_isa_force(omega_isa_t cap) {
  pthread_once(&once, choose);
  chosen = omega__cpu_isa_capped(cap);
}

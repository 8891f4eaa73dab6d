/* Which instruction sets the CPU kernels may use. By default the library runs the best the
 * CPU has, chosen once per process; a program may cap that to run as a smaller CPU would (the
 * omega program does it from its OMEGA_CPU_ISA and OMEGA_SIMD settings; tests and benchmarks
 * to cover every path on one machine). The library itself reads no environment variable. */
#ifndef OMEGA_CPU_H
#define OMEGA_CPU_H

#include "omega/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A cap, best first; a CPU without the set named runs the best set it has below it (an ARM
 * CPU runs NEON under any x86 cap, and an x86 CPU portable C under the NEON cap). */
typedef enum {
  OMEGA_ISA_CAP_AUTO,     /* the best the CPU has */
  OMEGA_ISA_CAP_AMX,      /* AVX-512 with the AMX tiles (today the same as auto) */
  OMEGA_ISA_CAP_AVX512,   /* AVX-512 (BF16 and VNNI where present), the AMX tiles left alone */
  OMEGA_ISA_CAP_AVX2,     /* AVX2 with FMA */
  OMEGA_ISA_CAP_NEON,     /* ARM Advanced SIMD (every AArch64 CPU); x86 CPUs run portable */
  OMEGA_ISA_CAP_PORTABLE, /* plain C */
  OMEGA_ISA_CAP_COUNT
} omega_isa_cap_t;

/* "auto", "amx", "avx512", "avx2", "neon", "portable", indexed by the enum and NULL-terminated. */
OMEGA_API extern const char *const omega_isa_cap_names[OMEGA_ISA_CAP_COUNT + 1];
/* The cap of that name; OMEGA_EINVAL for an unknown name. */
OMEGA_API int omega_isa_cap_parse(const char *name, omega_isa_cap_t *out);

/* Cap the embedding kernels (the CPU backend's GEMMs and activations). Call it before opening
 * an engine: one already open keeps the kernels its weights were packed for. OMEGA_EINVAL for
 * a value outside the enum. */
OMEGA_API int omega_cpu_isa_force(omega_isa_cap_t cap);
/* Cap the vector search kernels (distances, the flat index's batch GEMM). Call it before
 * creating or opening an index or collection. OMEGA_EINVAL for a value outside the enum. */
OMEGA_API int omega_simd_force(omega_isa_cap_t cap);

#ifdef __cplusplus
}
#endif
#endif

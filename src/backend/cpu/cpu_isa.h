/* Which vector instructions the CPU kernels may use, chosen once at run time. A program caps
 * the choice with omega_cpu_isa_force (omega/cpu.h; the omega program's OMEGA_CPU_ISA setting)
 * to run the same binary as a smaller CPU would: avx512 is AVX-512 without the AMX tiles. */
#ifndef OMEGA_BACKEND_CPU_CPU_ISA_H
#define OMEGA_BACKEND_CPU_CPU_ISA_H

#include <stddef.h>

/* Levels index the kernel tables; NEON (AArch64) is not ordered against the x86 levels. */
typedef enum { OMEGA_ISA_PORTABLE = 0, OMEGA_ISA_AVX2 = 1, OMEGA_ISA_AVX512 = 2, OMEGA_ISA_NEON = 3 } omega_isa_t;
#define OMEGA_ISA_LEVELS 4

typedef struct {
  omega_isa_t level;
  int bf16; /* AVX512-BF16 usable (only with level AVX512) */
  int vnni; /* AVX512-VNNI usable (only with level AVX512) */
  int amx;  /* AMX tiles with BF16 and INT8, and the kernel let this process use them */
} omega_cpu_isa_t;

/* The CPU's features, capped by omega_cpu_isa_force; chosen once per process. */
const omega_cpu_isa_t *omega__cpu_isa(void);
/* The features of the CPU capped at `cap` (AMX included when cap is AVX512). An ARM CPU has
 * NEON under every cap but PORTABLE; an x86 CPU capped at NEON runs PORTABLE. */
omega_cpu_isa_t omega__cpu_isa_capped(omega_isa_t cap);
/* Tests: make omega__cpu_isa() answer the CPU capped at `cap` from now on (no engine may
 * be running, and backends already created keep the kernels they packed for). */
void omega__cpu_isa_force(omega_isa_t cap);
const char *omega__isa_name(omega_isa_t level);
/* The CPU's brand string ("AMD EPYC 9R45", ...; "unknown CPU" where it has none). */
void omega__cpu_brand(char *buf, size_t cap);

#endif

/* Which vector instructions the CPU kernels may use, chosen once at run time. The
 * environment variable OMEGA_CPU_ISA (avx512, avx2, portable) caps the choice so tests
 * and users can run the same binary as a smaller CPU would. */
#ifndef OMEGA_BACKEND_CPU_CPU_ISA_H
#define OMEGA_BACKEND_CPU_CPU_ISA_H

typedef enum { OMEGA_ISA_PORTABLE = 0, OMEGA_ISA_AVX2 = 1, OMEGA_ISA_AVX512 = 2 } omega_isa_t;

typedef struct {
  omega_isa_t level;
  int bf16; /* AVX512-BF16 usable (only with level AVX512) */
  int vnni; /* AVX512-VNNI usable (only with level AVX512) */
} omega_cpu_isa_t;

/* The CPU's features, capped by OMEGA_CPU_ISA; read once per process. */
const omega_cpu_isa_t *omega__cpu_isa(void);
/* The features of the CPU capped at `cap`. */
omega_cpu_isa_t omega__cpu_isa_capped(omega_isa_t cap);
/* Tests: make omega__cpu_isa() answer the CPU capped at `cap` from now on (no engine may
 * be running, and backends already created keep the kernels they packed for). */
void omega__cpu_isa_force(omega_isa_t cap);
const char *omega__isa_name(omega_isa_t level);

#endif

/* Distance kernels for vector search, one set per instruction set, chosen at run time
 * (AMX: the AVX-512 kernels plus the flat index's batch GEMM on AMX tiles; AVX-512, whose
 * batch GEMM runs on AVX512-BF16 where the CPU has it; AVX2+FMA; NEON on AArch64; portable C). omega_simd_force (omega/cpu.h; the omega program's OMEGA_SIMD setting) caps
 * the choice (never a set the CPU lacks), so tests run every path on one machine. */
#ifndef OMEGA_INDEX_SIMD_H
#define OMEGA_INDEX_SIMD_H

#include <stddef.h>
#include <stdint.h>

typedef float (*omega_vdist_fn)(const float *a, const float *b, size_t d);

typedef struct {
  const char *name;
  omega_vdist_fn l2sq; /* sum (a - b)^2 */
  omega_vdist_fn dot;  /* sum a * b */
  /* out[i] = l2sq or dot of q against n rows of `rows` (row stride d) */
  void (*l2sq_many)(const float *q, const float *rows, size_t n, size_t d, float *out);
  void (*dot_many)(const float *q, const float *rows, size_t n, size_t d, float *out);
  /* q against a row in IEEE half precision (the HNSW walk copy, walk16.h); NULL in sets
   * without half conversions in hardware (F16C, AArch64) */
  float (*l2sq_f16)(const float *q, const uint16_t *x, size_t d);
  float (*dot_f16)(const float *q, const uint16_t *x, size_t d);
  /* the same against four such rows at once (a graph walk's neighbours): the query's loads
   * are shared and the four sums reduced together; NULL where l2sq_f16 is */
  void (*l2sq_f16_x4)(const float *q, const uint16_t *const x[4], size_t d, float out[4]);
  void (*dot_f16_x4)(const float *q, const uint16_t *const x[4], size_t d, float out[4]);
} omega_simd_t;

/* The set in use: the best the CPU has, unless omega_simd_force said otherwise. */
const omega_simd_t *omega__simd(void);
/* A named set ("portable", "avx2", "avx512", "amx", "neon"), or NULL when this CPU cannot run it. */
const omega_simd_t *omega__simd_named(const char *name);

#endif

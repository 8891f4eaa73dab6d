/* CPU kernels of the BERT encoder. Each has a plain reference (ops_ref.c) and an
 * optimised version (ops_fast.c); tests/backend compares them on random inputs. */
#ifndef OMEGA_BACKEND_CPU_OPS_H
#define OMEGA_BACKEND_CPU_OPS_H

#include "core/parallel.h"
#include "model/config.h"

#include <stddef.h>
#include <stdint.h>

struct omega_cpu_packed;

/* An additive attention bias that depends only on key - query (MPNet's relative position
 * bias): head h, query i, key j adds v[h * stride + center + j - i]. */
typedef struct {
  const float *v;
  size_t stride, center;
} omega_attn_bias_t;

typedef struct {
  omega_pool_t *pool;                     /* NULL: single-threaded */
  const struct omega_cpu_packed *packed; /* NULL: fp32 linears through the table's `linear` */
} omega_cpu_ctx_t;

typedef struct {
  const char *name;
  /* C[M,N] = A[M,K] . W[N,K]^T + bias[N] (bias may be NULL): a torch Linear layer. */
  void (*linear)(omega_cpu_ctx_t *c, size_t M, size_t N, size_t K, const float *A, const float *W,
                 const float *bias, float *C);
  /* x[T,H] = LayerNorm(x + r) with gain g and bias b; r may be NULL. */
  void (*add_layernorm)(omega_cpu_ctx_t *c, size_t T, size_t H, float *x, const float *r, const float *g,
                        const float *b, float eps);
  /* x[n] = act(x) elementwise. */
  void (*activation)(omega_cpu_ctx_t *c, size_t n, float *x, omega_act_t act);
  /* Self-attention per sequence over packed tokens: qkv[T, 3H] holds q | k | v for each
   * token; ctx[T, H] gets softmax(q k^T / sqrt(d) + bias) v per head (bias may be NULL).
   * Sequence s covers tokens
   * offsets[s] .. offsets[s+1]; tokens never attend across sequences (the padding mask).
   * `scratch` (64-byte aligned) holds omega__attention_scratch(offsets, n_seq, head_dim)
   * floats for each of the pool's threads: kernels do not allocate, so they cannot fail. */
  void (*attention)(omega_cpu_ctx_t *c, const float *qkv, const uint32_t *offsets, size_t n_seq, int heads,
                    int head_dim, const omega_attn_bias_t *bias, float *ctx, float *scratch);
} omega_cpu_ops_t;

/* Floats of attention scratch per thread for this batch (its longest sequence decides; the
 * most either kernel table uses, padded). */
size_t omega__attention_scratch(const uint32_t *offsets, size_t n_seq, int head_dim);

/* x[r * ld + j] = act(x[r * ld + j]) for rows [0, M) and columns [j0, j1), with the kernels of
 * omega__cpu_isa(): a linear layer's activation applied to the block its GEMM kernel has just
 * written (packed.c), while the block is still in cache. */
void omega__act_block(omega_act_t act, float *x, size_t M, size_t ld, size_t j0, size_t j1);

extern const omega_cpu_ops_t omega__cpu_ops_ref;
extern const omega_cpu_ops_t omega__cpu_ops_fast;

#endif

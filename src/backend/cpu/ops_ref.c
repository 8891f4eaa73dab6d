/* Reference kernels: the plainest correct loops, double accumulation. Slow on purpose. */
#include "backend/cpu/ops.h"

#include <math.h>
#include <stdlib.h>

static void linear_ref(omega_cpu_ctx_t *c, size_t M, size_t N, size_t K, const float *A, const float *W,
                       const float *bias, float *C) {
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < N; j++) {
      double s = bias ? bias[j] : 0.0;
      for (size_t k = 0; k < K; k++)
        s += (double)A[i * K + k] * W[j * K + k];
      C[i * N + j] = (float)s;
    }
}

static void add_layernorm_ref(omega_cpu_ctx_t *c, size_t T, size_t H, float *x, const float *r, const float *g,
                              const float *b, float eps) {
  for (size_t t = 0; t < T; t++) {
    float *row = x + t * H;
    if (r)
      for (size_t i = 0; i < H; i++)
        row[i] += r[t * H + i];
    double mean = 0, var = 0;
    for (size_t i = 0; i < H; i++)
      mean += row[i];
    mean /= (double)H;
    for (size_t i = 0; i < H; i++)
      var += (row[i] - mean) * (row[i] - mean);
    var /= (double)H;
    double inv = 1.0 / sqrt(var + eps);
    for (size_t i = 0; i < H; i++)
      row[i] = (float)((row[i] - mean) * inv * g[i] + b[i]);
  }
}

static void activation_ref(omega_cpu_ctx_t *c, size_t n, float *x, omega_act_t act) {
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    switch (act) {
    case OMEGA_ACT_GELU:
      v = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
      break;
    case OMEGA_ACT_GELU_TANH:
      v = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      break;
    case OMEGA_ACT_RELU:
      v = v > 0 ? v : 0;
      break;
    }
    x[i] = (float)v;
  }
}

static void attention_ref(omega_cpu_ctx_t *c, const float *qkv, const uint32_t *offsets, size_t n_seq, int heads,
                          int d, const omega_attn_bias_t *bias, float *ctx, float *scratch) {
  const size_t H = (size_t)heads * d, ld = 3 * H;
  const double scale = 1.0 / sqrt((double)d);
  double *p = (double *)(void *)scratch; /* L doubles fit: 2L <= (d + 4) * L floats */
  for (size_t s = 0; s < n_seq; s++) {
    size_t t0 = offsets[s], L = offsets[s + 1] - t0;
    for (int h = 0; h < heads; h++)
      for (size_t i = 0; i < L; i++) {
        const float *q = qkv + (t0 + i) * ld + (size_t)h * d;
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < L; j++) {
          const float *k = qkv + (t0 + j) * ld + H + (size_t)h * d;
          double dot = 0;
          for (int e = 0; e < d; e++)
            dot += (double)q[e] * k[e];
          p[j] = dot * scale;
          if (bias)
            p[j] += bias->v[(size_t)h * bias->stride + bias->center + j - i];
          if (p[j] > mx)
            mx = p[j];
        }
        for (size_t j = 0; j < L; j++)
          sum += (p[j] = exp(p[j] - mx));
        for (int e = 0; e < d; e++) {
          double acc = 0;
          for (size_t j = 0; j < L; j++)
            acc += p[j] * qkv[(t0 + j) * ld + 2 * H + (size_t)h * d + e];
          ctx[(t0 + i) * H + (size_t)h * d + e] = (float)(acc / sum);
        }
      }
  }
}

const omega_cpu_ops_t omega__cpu_ops_ref = {"reference", linear_ref, add_layernorm_ref, activation_ref, attention_ref};

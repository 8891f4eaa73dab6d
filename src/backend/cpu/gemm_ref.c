/* Reference linears of the reduced precisions: inputs rounded exactly as the kernels
 * round them, then double accumulation over the unpacked fp32 weights. */
#include "backend/cpu/packed.h"
#include "core/alloc.h"

#include <stdlib.h>

void omega__linear_bf16_ref(size_t M, size_t N, size_t K, const float *A, const float *W, const float *bias,
                            float *C) {
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < N; j++) {
      double s = 0;
      for (size_t k = 0; k < K; k++)
        s += (double)omega__bf16_float(omega__bf16(A[i * K + k])) * omega__bf16_float(omega__bf16(W[j * K + k]));
      C[i * N + j] = (float)(s + (bias ? bias[j] : 0.0));
    }
}

void omega__linear_int8_ref(size_t M, size_t N, size_t K, const float *A, const float *W, const float *bias,
                            float *C) {
  int8_t *qa = omega__malloc(M * K + 1), *qw = omega__malloc(N * K + 1);
  float *sa = omega__malloc((M + 1) * sizeof *sa), *sw = omega__malloc((N + 1) * sizeof *sw);
  for (size_t i = 0; i < M; i++)
    sa[i] = omega__quant_row(A + i * K, K, qa + i * K);
  for (size_t j = 0; j < N; j++)
    sw[j] = omega__quant_row(W + j * K, K, qw + j * K);
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < N; j++) {
      long long s = 0;
      for (size_t k = 0; k < K; k++)
        s += (long long)qa[i * K + k] * qw[j * K + k];
      C[i * N + j] = (float)((double)s * sa[i] * sw[j] + (bias ? bias[j] : 0.0));
    }
  omega__free(qa), omega__free(qw), omega__free(sa), omega__free(sw);
}

static double bf16_value(float x) { return omega__bf16_float(omega__bf16(x)); }

void omega__linear_bf16x3_ref(size_t M, size_t N, size_t K, const float *A, const float *W, const float *bias,
                              float *C) {
  for (size_t i = 0; i < M; i++)
    for (size_t j = 0; j < N; j++) {
      double s = 0;
      for (size_t k = 0; k < K; k++) {
        const float a = A[i * K + k], w = W[j * K + k];
        const double ah = bf16_value(a), wh = bf16_value(w);
        const double al = bf16_value(a - (float)ah), wl = bf16_value(w - (float)wh);
        s += ah * wh + al * wh + ah * wl;
      }
      C[i * N + j] = (float)(s + (bias ? bias[j] : 0.0));
    }
}

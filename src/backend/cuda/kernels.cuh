// The encoder's own kernels (everything except the GEMMs). Activations stay in fp32 for
// the residual stream and LayerNorm statistics; only GEMM inputs are narrowed to T
// (bf16/fp16, or fp32 for the fp32/TF32 modes). Each kernel works on packed tokens.
#pragma once

#include "backend/cuda/common.cuh"

namespace ocu {

// Per-token layout uploaded with the ids: position in its sequence and sequence index.
struct TokMeta {
  int pos, seq;
};

// LayerNorm of one row v[H] held in registers-then-global (block per token).
template <typename T>
__device__ inline void ln_row(float *x, T *xh, int H, const float *g, const float *b, float eps, float *red) {
  float s = 0.f;
  for (int i = threadIdx.x; i < H; i += blockDim.x)
    s += x[i];
  const float mean = block_sum(s, red) / (float)H;
  float v = 0.f;
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    const float d = x[i] - mean;
    v += d * d;
  }
  const float rstd = rsqrtf(block_sum(v, red) / (float)H + eps);
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    const float y = (x[i] - mean) * rstd * g[i] + b[i];
    x[i] = y;
    xh[i] = dt<T>::from(y);
  }
}

// x = LN(word[id] + pos[p] + type[0]).
template <typename T>
__global__ void k_embed_ln(const int32_t *ids, const TokMeta *meta, const float *word, const float *pos,
                           const float *type, const float *g, const float *b, float eps, int H, float *x, T *xh) {
  __shared__ float red[32];
  const size_t t = blockIdx.x;
  const float *w = word + (size_t)ids[t] * H, *p = pos + (size_t)meta[t].pos * H;
  float *xr = x + t * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x)
    xr[i] = w[i] + p[i] + type[i];
  ln_row<T>(xr, xh + t * H, H, g, b, eps, red);
}

// x = LN(x + y + bias): the fused bias + residual + LayerNorm after each sub-layer.
template <typename T>
__global__ void k_bias_residual_ln(float *x, const float *y, const float *bias, const float *g, const float *b,
                                   float eps, int H, T *xh) {
  __shared__ float red[32];
  const size_t t = blockIdx.x;
  float *xr = x + t * H;
  const float *yr = y + t * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x)
    xr[i] += yr[i] + bias[i];
  ln_row<T>(xr, xh + t * H, H, g, b, eps, red);
}

__device__ inline float act_f(float v, int act) {
  if (act == OCU_ACT_GELU)
    return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
  if (act == OCU_ACT_GELU_TANH)
    return 0.5f * v * (1.f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  return v > 0.f ? v : 0.f;
}

// out = act(y + bias) narrowed to T, over [T, I].
template <typename T>
__global__ void k_bias_act(const float *y, const float *bias, int I, size_t n, int act, T *out) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (; i < n; i += stride)
    out[i] = dt<T>::from(act_f(y[i] + bias[i % (size_t)I], act));
}

// Self-attention for one (token, head): softmax(q k^T / sqrt(d)) v over the token's own
// sequence only (the padding mask without padding). qkv[T, 3H] comes from the GEMM
// without bias; the bias is added here. Dynamic shared memory: d + max_len floats.
template <typename T>
__global__ void k_attention(const float *qkv, const float *qkv_b, const TokMeta *meta, const uint32_t *offsets, int H,
                            int d, T *ctx) {
  extern __shared__ float sm[];
  __shared__ float red[32];
  const size_t t = blockIdx.x;
  const int h = blockIdx.y;
  const int s = meta[t].seq;
  const size_t start = offsets[s];
  const int L = (int)(offsets[s + 1] - start);
  float *q = sm, *sc = sm + d;
  const size_t row = (size_t)3 * H;
  const float scale = rsqrtf((float)d);
  for (int i = threadIdx.x; i < d; i += blockDim.x)
    q[i] = (qkv[t * row + h * d + i] + qkv_b[h * d + i]) * scale;
  __syncthreads();
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const float *kb = qkv_b + H + h * d;
  for (int j = w; j < L; j += nw) {
    const float *k = qkv + (start + j) * row + H + h * d;
    float acc = 0.f;
    for (int i = lane; i < d; i += 32)
      acc += q[i] * (k[i] + kb[i]);
    for (int o = 16; o > 0; o >>= 1)
      acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0)
      sc[j] = acc;
  }
  __syncthreads();
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < L; j += blockDim.x)
    mx = fmaxf(mx, sc[j]);
  mx = block_max(mx, red);
  float sum = 0.f;
  for (int j = threadIdx.x; j < L; j += blockDim.x) {
    const float e = __expf(sc[j] - mx);
    sc[j] = e;
    sum += e;
  }
  const float inv = 1.f / block_sum(sum, red); // block_sum synchronises, so sc[] is complete
  const float *vb = qkv_b + 2 * H + h * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    const float *v = qkv + start * row + 2 * H + h * d + i;
    float acc = 0.f;
    for (int j = 0; j < L; j++)
      acc += sc[j] * v[(size_t)j * row];
    ctx[t * H + h * d + i] = dt<T>::from(acc * inv + vb[i]); // softmax weights sum to 1: bias once
  }
}

// sentence-transformers pooling per sequence (block per sequence, threads over H), in
// its module order: cls, max, mean, mean_sqrt_len, weightedmean, lasttoken.
__global__ void k_pool(const float *x, const uint32_t *offsets, int H, unsigned modes, int dim, float *out) {
  const int s = blockIdx.x;
  const size_t t0 = offsets[s];
  const int L = (int)(offsets[s + 1] - t0);
  float *o = out + (size_t)s * dim;
  for (int i = threadIdx.x; i < H; i += blockDim.x) {
    int off = 0;
    const float *col = x + t0 * H + i;
    if (modes & 1u) { // cls
      o[off + i] = col[0];
      off += H;
    }
    if (modes & 2u) { // max
      float m = -INFINITY;
      for (int t = 0; t < L; t++)
        m = fmaxf(m, col[(size_t)t * H]);
      o[off + i] = m;
      off += H;
    }
    if (modes & (4u | 8u)) {
      double sum = 0;
      for (int t = 0; t < L; t++)
        sum += col[(size_t)t * H];
      if (modes & 4u) {
        o[off + i] = (float)(sum / L);
        off += H;
      }
      if (modes & 8u) {
        o[off + i] = (float)(sum / sqrt((double)L));
        off += H;
      }
    }
    if (modes & 16u) {
      double sum = 0;
      for (int t = 0; t < L; t++)
        sum += (double)(t + 1) * col[(size_t)t * H];
      o[off + i] = (float)(sum / ((double)L * (L + 1) / 2.0));
      off += H;
    }
    if (modes & 32u) {
      o[off + i] = col[(size_t)(L - 1) * H];
      off += H;
    }
  }
}

} // namespace ocu

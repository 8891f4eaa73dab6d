// Shared helpers of the CUDA plugin: error mapping to ocu_status_t and dtype traits.
#pragma once

#include "backend/cuda/plugin.h"

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdio.h>

namespace ocu {

// Errors after which the CUDA context cannot be trusted again (the process must restart
// to use the GPU); everything else is per-call.
inline bool is_sticky(cudaError_t e) {
  switch (e) {
  case cudaErrorIllegalAddress:
  case cudaErrorLaunchFailure:
  case cudaErrorHardwareStackError:
  case cudaErrorIllegalInstruction:
  case cudaErrorMisalignedAddress:
  case cudaErrorInvalidAddressSpace:
  case cudaErrorInvalidPc:
  case cudaErrorAssert:
  case cudaErrorECCUncorrectable:
  case cudaErrorLaunchTimeout:
  case cudaErrorUnknown:
    return true;
  default:
    return false;
  }
}

inline int fail(char *err, size_t n, int status, const char *fmt, ...) {
  if (err && n) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
  }
  return status;
}

inline int from_cuda(cudaError_t e, char *err, size_t n, const char *what) {
  if (e == cudaSuccess)
    return OCU_OK;
  (void)cudaGetLastError(); // clear the non-sticky error state
  int st = e == cudaErrorMemoryAllocation ? OCU_OOM
           : is_sticky(e)                 ? OCU_STICKY
           : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? OCU_NODEV
                                                                          : OCU_ERROR;
  return fail(err, n, st, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

inline int from_cublas(cublasStatus_t s, char *err, size_t n, const char *what) {
  if (s == CUBLAS_STATUS_SUCCESS)
    return OCU_OK;
  if (s == CUBLAS_STATUS_ALLOC_FAILED)
    return fail(err, n, OCU_OOM, "%s: cuBLASLt could not allocate memory", what);
  // An execution failure usually hides a CUDA error; report that one when there is one.
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    return from_cuda(e, err, n, what);
  return fail(err, n, OCU_ERROR, "%s: cuBLASLt status %d", what, (int)s);
}

template <typename T> struct dt;
template <> struct dt<float> {
  static constexpr cudaDataType_t cuda = CUDA_R_32F;
  __device__ static float from(float x) { return x; }
  __device__ static float to_f(float x) { return x; }
};
template <> struct dt<__half> {
  static constexpr cudaDataType_t cuda = CUDA_R_16F;
  __device__ static __half from(float x) { return __float2half_rn(x); }
  __device__ static float to_f(__half x) { return __half2float(x); }
};
template <> struct dt<__nv_bfloat16> {
  static constexpr cudaDataType_t cuda = CUDA_R_16BF;
  __device__ static __nv_bfloat16 from(float x) { return __float2bfloat16_rn(x); }
  __device__ static float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
};

// Convert n floats on the device into T (weights are uploaded as fp32 once, then narrowed).
template <typename T> __global__ void k_convert(const float *in, T *out, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  size_t stride = (size_t)gridDim.x * blockDim.x;
  for (; i < n; i += stride)
    out[i] = dt<T>::from(in[i]);
}

// Block-wide sum of one float per thread (blockDim.x a multiple of 32, <= 1024).
__device__ inline float block_sum(float v, float *smem32) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0)
    smem32[w] = v;
  __syncthreads();
  float r = lane < nw ? smem32[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1)
    r += __shfl_xor_sync(0xffffffffu, r, o);
  return r;
}

__device__ inline float block_max(float v, float *smem32) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0)
    smem32[w] = v;
  __syncthreads();
  float r = lane < nw ? smem32[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1)
    r = fmaxf(r, __shfl_xor_sync(0xffffffffu, r, o));
  return r;
}

// C[M,N] (fp32, row-major) = A[M,K] (row-major) . W[N,K]^T, through cuBLASLt with fp32
// accumulation. The heuristic query costs more than a small GEMM and M (the batch's token
// count) changes with every batch, so algorithms are cached per (N, K, bucket of M): the
// bucket's upper size picks the algorithm, which then runs at the real M. Should cuBLASLt
// refuse that algorithm at some M, that M gets its own query, uncached.
struct Gemm {
  cublasLtHandle_t lt = nullptr;
  void *ws = nullptr;
  size_t ws_bytes = 0;
  struct Entry {
    int n, k, m, ty, cp, used;
    cublasLtMatmulAlgo_t algo;
  };
  Entry cache[1024] = {};
  cublasLtMatmulAlgo_t uncached;

  int init(char *err, size_t n) {
    int st = from_cublas(cublasLtCreate(&lt), err, n, "cublasLtCreate");
    if (st)
      return st;
    ws_bytes = 32u << 20;
    return from_cuda(cudaMalloc(&ws, ws_bytes), err, n, "cuBLASLt workspace");
  }
  void destroy() {
    if (ws)
      cudaFree(ws);
    if (lt)
      cublasLtDestroy(lt);
    ws = nullptr;
    lt = nullptr;
  }

  // in_type: type of A and W; compute: CUBLAS_COMPUTE_32F or CUBLAS_COMPUTE_32F_FAST_TF32.
  // Buckets of M: 16, 20, 24, 28, 32, 40, 48, 56, 64, ... (four per power of two).
  static int bucket(int M) {
    if (M <= 16)
      return 16;
    int p = 16;
    while (p * 2 < M)
      p *= 2;
    for (int q = 1; q <= 4; q++)
      if (p + p * q / 4 >= M)
        return p + p * q / 4;
    return p * 2;
  }

  int run(cudaStream_t st, cudaDataType_t in_type, cublasComputeType_t compute, int M, int N, int K, const void *A,
          const void *W, float *C, char *err, size_t errn) {
    int rc = run_with(st, in_type, compute, M, bucket(M), N, K, A, W, C, err, errn, true);
    if (rc == -1) // the bucket's algorithm does not apply at this M
      rc = run_with(st, in_type, compute, M, M, N, K, A, W, C, err, errn, false);
    return rc;
  }

  int run_with(cudaStream_t st, cudaDataType_t in_type, cublasComputeType_t compute, int M, int MB, int N, int K,
               const void *A, const void *W, float *C, char *err, size_t errn, bool use_cache) {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr, lbq = nullptr, lcq = nullptr;
    int rc = OCU_OK;
    const cublasOperation_t tr = CUBLAS_OP_T;
    // Column-major view: C^T[N,M] = W^T'[N,K] . A^T[K,M], with W stored [N,K] row-major = [K,N] col-major.
    if ((rc = from_cublas(cublasLtMatmulDescCreate(&op, compute, CUDA_R_32F), err, errn, "matmul desc")) ||
        (rc = from_cublas(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &tr, sizeof tr), err,
                          errn, "matmul desc")) ||
        (rc = from_cublas(cublasLtMatrixLayoutCreate(&la, in_type, K, N, K), err, errn, "layout")) ||
        (rc = from_cublas(cublasLtMatrixLayoutCreate(&lb, in_type, K, M, K), err, errn, "layout")) ||
        (rc = from_cublas(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, N, M, N), err, errn, "layout")) ||
        (rc = from_cublas(cublasLtMatrixLayoutCreate(&lbq, in_type, K, MB, K), err, errn, "layout")) ||
        (rc = from_cublas(cublasLtMatrixLayoutCreate(&lcq, CUDA_R_32F, N, MB, N), err, errn, "layout")))
      goto done;
    {
      const cublasLtMatmulAlgo_t *algo = nullptr;
      unsigned h = ((unsigned)N * 2654435761u) ^ ((unsigned)K * 40503u) ^ ((unsigned)MB * 97u);
      h ^= (unsigned)in_type * 7919u + (unsigned)compute;
      Entry *slot = nullptr;
      for (int p = 0; p < 8 && use_cache; p++) {
        Entry *e = &cache[(h + p) & 1023];
        if (e->used && e->n == N && e->k == K && e->m == MB && e->ty == (int)in_type && e->cp == (int)compute) {
          algo = &e->algo;
          break;
        }
        if (!e->used && !slot)
          slot = e;
      }
      if (!algo) {
        cublasLtMatmulPreference_t pref = nullptr;
        cublasLtMatmulHeuristicResult_t res = {};
        int found = 0;
        rc = from_cublas(cublasLtMatmulPreferenceCreate(&pref), err, errn, "preference");
        if (!rc)
          rc = from_cublas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                &ws_bytes, sizeof ws_bytes),
                           err, errn, "preference");
        if (!rc)
          rc = from_cublas(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lbq, lcq, lcq, pref, 1, &res, &found), err,
                           errn, "heuristic");
        if (pref)
          cublasLtMatmulPreferenceDestroy(pref);
        if (rc)
          goto done;
        if (!found) {
          rc = fail(err, errn, OCU_ERROR, "cuBLASLt has no algorithm for %dx%dx%d", M, N, K);
          goto done;
        }
        if (!use_cache) {
          uncached = res.algo;
          algo = &uncached;
        } else {
          if (!slot) // the neighbourhood is full: evict its first entry
            slot = &cache[h & 1023];
          slot->used = 1;
          slot->n = N;
          slot->k = K;
          slot->m = MB;
          slot->ty = (int)in_type;
          slot->cp = (int)compute;
          slot->algo = res.algo;
          algo = &slot->algo;
        }
      }
      const float one = 1.f, zero = 0.f;
      const cublasStatus_t cs = cublasLtMatmul(lt, op, &one, W, la, A, lb, &zero, C, lc, C, lc, algo, ws, ws_bytes, st);
      if (use_cache && (cs == CUBLAS_STATUS_NOT_SUPPORTED || cs == CUBLAS_STATUS_INVALID_VALUE))
        rc = -1;
      else
        rc = from_cublas(cs, err, errn, "cublasLtMatmul");
    }
  done:
    if (lcq)
      cublasLtMatrixLayoutDestroy(lcq);
    if (lbq)
      cublasLtMatrixLayoutDestroy(lbq);
    if (lc)
      cublasLtMatrixLayoutDestroy(lc);
    if (lb)
      cublasLtMatrixLayoutDestroy(lb);
    if (la)
      cublasLtMatrixLayoutDestroy(la);
    if (op)
      cublasLtMatmulDescDestroy(op);
    return rc;
  }
};

} // namespace ocu

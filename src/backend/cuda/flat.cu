// Exact flat index in VRAM: scores by one cuBLASLt GEMM per query chunk, then an exact
// top-k per query in two stages: blocks of 8192 scores each select their k best by radix
// select on order-preserving keys in shared memory (ties by position), and one block per
// query merges those candidates and sorts the k winners (ties by the smaller position).
#include "backend/cuda/common.cuh"

#include <algorithm>
#include <stdlib.h>
#include <string.h>
#include <vector>

namespace ocu {

struct Flat {
  int device = 0, dim = 0, metric = 0, fp16 = 0;
  size_t count = 0, cap = 0;
  void *x = nullptr;      // [cap, dim] fp32 or fp16
  float *norms = nullptr; // [cap] squared norms (L2)
  cudaStream_t st = nullptr;
  Gemm gemm;
  // search scratch
  void *q = nullptr;
  float *qf = nullptr, *scores = nullptr, *out_s = nullptr;
  int64_t *out_p = nullptr;
  uint8_t *mask = nullptr;
  size_t cap_qf = 0, cap_qh = 0, cap_scores = 0, cap_mask = 0;
  uint32_t *cand_k = nullptr; // per query, per segment: k candidate keys and positions
  int64_t *cand_p = nullptr;
  size_t cap_cand_k = 0, cap_cand_p = 0;
};

// Smaller key = better result.
__device__ inline uint32_t order_key(float v) {
  uint32_t u = __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ inline uint32_t score_key(const float *row, const float *norms, int metric, size_t i, const uint8_t *mask) {
  if (mask && !mask[i])
    return 0xffffffffu;
  const float s = row[i];
  return order_key(metric == 0 ? norms[i] - 2.f * s : -s);
}

__global__ void k_add_norms(const float *x, size_t n, int dim, float *norms) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  float s = 0.f;
  for (int j = 0; j < dim; j++)
    s += x[i * dim + j] * x[i * dim + j];
  norms[i] = s;
}

constexpr int SEG = 8192;    // scores per stage-1 block, staged in shared memory as keys
constexpr int TK_THREADS = 256;

// Radix select over keys[0..n) (shared or global memory): the k-th smallest key, and how
// many keys equal to it belong to the k best. 4 passes of 8 bits; per-warp histograms with
// warp-aggregated increments, because score keys crowd into a few bins.
template <typename KeyAt>
__device__ void radix_select(KeyAt key_at, int n, int k, unsigned (*hist)[256], uint32_t *kth_out, int *need_out) {
  __shared__ uint32_t prefix_s;
  __shared__ int need_s;
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  uint32_t prefix = 0, pmask = 0;
  int need = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256 * nw; b += blockDim.x)
      hist[b >> 8][b & 255] = 0;
    __syncthreads();
    for (int i0 = 0; i0 < n; i0 += blockDim.x) {
      const int i = i0 + threadIdx.x;
      uint32_t key = 0;
      bool in = i < n;
      if (in) {
        key = key_at(i);
        in = (key & pmask) == prefix;
      }
      const unsigned act = __ballot_sync(0xffffffffu, in);
      if (in) {
        const unsigned bin = (key >> shift) & 255u;
        const unsigned peers = __match_any_sync(act, bin);
        if (lane == __ffs(peers) - 1)
          atomicAdd(&hist[w][bin], (unsigned)__popc(peers));
      }
    }
    __syncthreads();
    if (threadIdx.x < 32) { // one warp: fold the warp histograms, then scan for the bin
      unsigned c[8];
      for (int j = 0; j < 8; j++) {
        unsigned v = 0;
        for (int x = 0; x < nw; x++)
          v += hist[x][lane * 8 + j];
        c[j] = v;
      }
      unsigned mine = 0;
      for (int j = 0; j < 8; j++)
        mine += c[j];
      unsigned incl = mine;
      for (int o = 1; o < 32; o <<= 1) {
        const unsigned t = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o)
          incl += t;
      }
      const unsigned excl = incl - mine;
      const bool here = excl < (unsigned)need && incl >= (unsigned)need;
      if (here) {
        unsigned acc = excl;
        int j = 0;
        for (; j < 7 && acc + c[j] < (unsigned)need; j++)
          acc += c[j];
        prefix_s = prefix | ((uint32_t)(lane * 8 + j) << shift);
        need_s = need - (int)acc;
      }
    }
    __syncthreads();
    prefix = prefix_s;
    need = need_s;
    pmask |= 255u << shift;
    __syncthreads();
  }
  *kth_out = prefix;
  *need_out = need;
}

// Stage 1: block (segment, query) finds the k best of its segment (ties by position) and
// writes them, unsorted, to cand[query][segment][0..k) (padded with the worst key).
__global__ void k_topk_seg(const float *scores, size_t n, const float *norms, int metric, const uint8_t *mask, int k,
                           uint32_t *cand_k, int64_t *cand_p) {
  extern __shared__ uint32_t keys[];
  __shared__ unsigned hist[TK_THREADS / 32][256];
  __shared__ unsigned n_less, n_eq;
  __shared__ unsigned warp_cnt[TK_THREADS / 32];
  const size_t q = blockIdx.y, seg = blockIdx.x, base = seg * (size_t)SEG;
  const int len = (int)(n - base < (size_t)SEG ? n - base : (size_t)SEG);
  const float *row = scores + q * n;
  for (int i = threadIdx.x; i < len; i += blockDim.x)
    keys[i] = score_key(row, norms, metric, base + (size_t)i, mask);
  if (threadIdx.x == 0) {
    n_less = 0;
    n_eq = 0;
  }
  __syncthreads();
  const int kk = k < len ? k : len;
  uint32_t *ok = cand_k + (q * gridDim.x + seg) * (size_t)k;
  int64_t *op = cand_p + (q * gridDim.x + seg) * (size_t)k;
  for (int j = kk + threadIdx.x; j < k; j += blockDim.x) {
    ok[j] = 0xffffffffu;
    op[j] = -1;
  }
  uint32_t kth;
  int need;
  radix_select([&](int i) { return keys[i]; }, len, kk, hist, &kth, &need);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  for (int i0 = 0; i0 < len; i0 += blockDim.x) {
    const int i = i0 + threadIdx.x;
    const uint32_t key = i < len ? keys[i] : 0xffffffffu;
    if (i < len && key < kth) {
      const unsigned at = atomicAdd(&n_less, 1u);
      ok[at] = key;
      op[at] = (int64_t)(base + (size_t)i);
    }
    const bool eq = i < len && key == kth;
    const unsigned bal = __ballot_sync(0xffffffffu, eq);
    if (lane == 0)
      warp_cnt[w] = (unsigned)__popc(bal);
    __syncthreads();
    unsigned before = 0;
    for (int j = 0; j < w; j++)
      before += warp_cnt[j];
    const unsigned rank = n_eq + before + (unsigned)__popc(bal & ((1u << lane) - 1u));
    if (eq && rank < (unsigned)need) {
      ok[kk - need + (int)rank] = key;
      op[kk - need + (int)rank] = (int64_t)(base + (size_t)i);
    }
    __syncthreads();
    if (threadIdx.x == 0)
      for (int j = 0; j < (int)(blockDim.x >> 5); j++)
        n_eq += warp_cnt[j];
    __syncthreads();
  }
}

// Stage 2: block per query merges its segments' candidates: the k best by (key, position),
// sorted, with scores recomputed from the score row.
__global__ void k_topk_merge(const uint32_t *cand_k, const int64_t *cand_p, int nc, const float *scores, size_t n,
                             const float *norms, int metric, int k, float *out_s, int64_t *out_p) {
  __shared__ unsigned hist[TK_THREADS / 32][256];
  __shared__ uint32_t sk[1024];
  __shared__ int64_t sp[1024];
  __shared__ unsigned n_less;
  __shared__ int64_t best_pos;
  const size_t q = blockIdx.x;
  const uint32_t *ck = cand_k + q * (size_t)nc;
  const int64_t *cp = cand_p + q * (size_t)nc;
  if (threadIdx.x == 0)
    n_less = 0;
  __syncthreads();
  uint32_t kth;
  int need;
  radix_select([&](int i) { return ck[i]; }, nc, k, hist, &kth, &need);
  for (int i = threadIdx.x; i < nc; i += blockDim.x)
    if (ck[i] < kth) {
      const unsigned at = atomicAdd(&n_less, 1u);
      sk[at] = ck[i];
      sp[at] = cp[i];
    }
  __syncthreads();
  // the `need` tied candidates with the smallest positions, one block-wide minimum at a time
  int64_t last = -2;
  for (int r = 0; r < need; r++) {
    int64_t mine = INT64_MAX;
    for (int i = threadIdx.x; i < nc; i += blockDim.x)
      if (ck[i] == kth && cp[i] > last && cp[i] < mine)
        mine = cp[i];
    for (int o = 16; o > 0; o >>= 1) {
      const int64_t t = __shfl_xor_sync(0xffffffffu, mine, o);
      mine = t < mine ? t : mine;
    }
    if (threadIdx.x == 0)
      best_pos = INT64_MAX;
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
      atomicMin((unsigned long long *)&best_pos, (unsigned long long)mine);
    __syncthreads();
    last = best_pos;
    if (threadIdx.x == 0) {
      sk[k - need + r] = kth;
      sp[k - need + r] = last == INT64_MAX ? -1 : last;
    }
    __syncthreads();
  }
  // bitonic sort of k entries by (key, position), padded to a power of two
  int P = 1;
  while (P < k)
    P <<= 1;
  for (int i = k + threadIdx.x; i < P; i += blockDim.x) {
    sk[i] = 0xffffffffu;
    sp[i] = INT64_MAX;
  }
  __syncthreads();
  for (int size = 2; size <= P; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < P; i += blockDim.x) {
        const int j = i ^ stride;
        if (j > i) {
          const bool up = (i & size) == 0;
          const uint64_t pi = (uint64_t)sp[i], pj = (uint64_t)sp[j]; // -1 sorts last
          const bool gt = sk[i] > sk[j] || (sk[i] == sk[j] && pi > pj);
          if (gt == up) {
            const uint32_t tk = sk[i];
            sk[i] = sk[j];
            sk[j] = tk;
            const int64_t tp = sp[i];
            sp[i] = sp[j];
            sp[j] = tp;
          }
        }
      }
      __syncthreads();
    }
  const float *row = scores + q * n;
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    const int64_t p = sp[i];
    // masked rows carry the worst key: never a result
    const bool valid = p >= 0 && p != INT64_MAX && sk[i] != 0xffffffffu;
    out_p[q * (size_t)k + i] = valid ? p : -1;
    out_s[q * (size_t)k + i] = valid ? (metric == 0 ? norms[p] - 2.f * row[p] : row[p]) : 0.f;
  }
}

static int ensure(void **p, size_t *cap, size_t need, size_t elem, char *err, size_t n, const char *what) {
  if (need <= *cap)
    return OCU_OK;
  if (*p)
    cudaFree(*p);
  *p = nullptr;
  *cap = 0;
  int rc = from_cuda(cudaMalloc(p, need * elem), err, n, what);
  if (!rc)
    *cap = need;
  return rc;
}

} // namespace ocu

using namespace ocu;

extern "C" int ocu_flat_create(int device, int dim, int metric, int fp16, void **out, char *err, size_t n) {
  if (dim <= 0 || (metric != 0 && metric != 1))
    return fail(err, n, OCU_ERROR, "bad flat index parameters (dim %d, metric %d)", dim, metric);
  int rc = from_cuda(cudaSetDevice(device), err, n, "cudaSetDevice");
  if (rc)
    return rc;
  Flat *f = new (std::nothrow) Flat();
  if (!f)
    return fail(err, n, OCU_OOM, "out of host memory");
  f->device = device;
  f->dim = dim;
  f->metric = metric;
  f->fp16 = fp16;
  if ((rc = from_cuda(cudaStreamCreateWithFlags(&f->st, cudaStreamNonBlocking), err, n, "stream")) ||
      (rc = f->gemm.init(err, n))) {
    f->gemm.destroy();
    delete f;
    return rc;
  }
  *out = f;
  return OCU_OK;
}

static int grow(Flat *f, size_t need, char *err, size_t n) {
  if (need <= f->cap)
    return OCU_OK;
  size_t cap = f->cap ? f->cap : 1024;
  while (cap < need)
    cap *= 2;
  const size_t es = f->fp16 ? 2 : 4;
  void *x = nullptr;
  float *nr = nullptr;
  int rc = from_cuda(cudaMalloc(&x, cap * (size_t)f->dim * es), err, n, "flat vectors");
  if (!rc)
    rc = from_cuda(cudaMalloc((void **)&nr, cap * 4), err, n, "flat norms");
  if (!rc && f->count) {
    rc = from_cuda(cudaMemcpyAsync(x, f->x, f->count * (size_t)f->dim * es, cudaMemcpyDeviceToDevice, f->st), err, n,
                   "flat copy");
    if (!rc)
      rc = from_cuda(cudaMemcpyAsync(nr, f->norms, f->count * 4, cudaMemcpyDeviceToDevice, f->st), err, n,
                     "flat copy");
    if (!rc)
      rc = from_cuda(cudaStreamSynchronize(f->st), err, n, "flat copy");
  }
  if (rc) {
    if (x)
      cudaFree(x);
    if (nr)
      cudaFree(nr);
    return rc;
  }
  if (f->x)
    cudaFree(f->x);
  if (f->norms)
    cudaFree(f->norms);
  f->x = x;
  f->norms = nr;
  f->cap = cap;
  return OCU_OK;
}

// Write rows at positions pos[0..n) (or count.. when pos is NULL) from host fp32.
static int put(Flat *f, const int64_t *pos, const float *x, size_t n_rows, char *err, size_t n) {
  const size_t d = (size_t)f->dim;
  const size_t chunk = 8192;
  for (size_t r0 = 0; r0 < n_rows; r0 += chunk) {
    const size_t m = std::min(chunk, n_rows - r0);
    int rc = ensure((void **)&f->qf, &f->cap_qf, m * d, 4, err, n, "flat staging");
    if (!rc)
      rc = from_cuda(cudaMemcpyAsync(f->qf, x + r0 * d, m * d * 4, cudaMemcpyHostToDevice, f->st), err, n, "upload");
    if (rc)
      return rc;
    float *nr_tmp = nullptr;
    if ((rc = from_cuda(cudaMalloc((void **)&nr_tmp, m * 4), err, n, "norms")))
      return rc;
    k_add_norms<<<(unsigned)((m + 127) / 128), 128, 0, f->st>>>(f->qf, m, f->dim, nr_tmp);
    for (size_t i = 0; i < m && !rc; i++) {
      const size_t at = pos ? (size_t)pos[r0 + i] : f->count + r0 + i;
      if (f->fp16)
        k_convert<__half><<<(unsigned)((d + 255) / 256), 256, 0, f->st>>>(f->qf + i * d, (__half *)f->x + at * d, d);
      else
        rc = from_cuda(cudaMemcpyAsync((float *)f->x + at * d, f->qf + i * d, d * 4, cudaMemcpyDeviceToDevice, f->st),
                       err, n, "copy");
      if (!rc)
        rc = from_cuda(cudaMemcpyAsync(f->norms + at, nr_tmp + i, 4, cudaMemcpyDeviceToDevice, f->st), err, n, "copy");
      if (pos == nullptr && i + 1 < m && !rc) { // contiguous appends: the rest of the chunk in one go
        const size_t rest = m - i - 1;
        if (f->fp16)
          k_convert<__half><<<(unsigned)((rest * d + 255) / 256 < 65535 ? (rest * d + 255) / 256 : 65535), 256, 0,
                              f->st>>>(f->qf + (i + 1) * d, (__half *)f->x + (at + 1) * d, rest * d);
        else
          rc = from_cuda(cudaMemcpyAsync((float *)f->x + (at + 1) * d, f->qf + (i + 1) * d, rest * d * 4,
                                         cudaMemcpyDeviceToDevice, f->st),
                         err, n, "copy");
        if (!rc)
          rc = from_cuda(cudaMemcpyAsync(f->norms + at + 1, nr_tmp + i + 1, rest * 4, cudaMemcpyDeviceToDevice, f->st),
                         err, n, "copy");
        break;
      }
    }
    if (!rc)
      rc = from_cuda(cudaStreamSynchronize(f->st), err, n, "flat write");
    cudaFree(nr_tmp);
    if (rc)
      return rc;
  }
  return from_cuda(cudaGetLastError(), err, n, "flat write");
}

extern "C" int ocu_flat_add(void *h, const float *x, size_t n_rows, char *err, size_t n) {
  Flat *f = (Flat *)h;
  int rc = from_cuda(cudaSetDevice(f->device), err, n, "cudaSetDevice");
  if (rc || (rc = grow(f, f->count + n_rows, err, n)) || (rc = put(f, nullptr, x, n_rows, err, n)))
    return rc;
  f->count += n_rows;
  return OCU_OK;
}

extern "C" int ocu_flat_set(void *h, const int64_t *pos, const float *x, size_t n_rows, char *err, size_t n) {
  Flat *f = (Flat *)h;
  for (size_t i = 0; i < n_rows; i++)
    if (pos[i] < 0 || (size_t)pos[i] >= f->count)
      return fail(err, n, OCU_ERROR, "position %lld out of range", (long long)pos[i]);
  int rc = from_cuda(cudaSetDevice(f->device), err, n, "cudaSetDevice");
  return rc ? rc : put(f, pos, x, n_rows, err, n);
}

extern "C" int ocu_flat_search(void *h, const float *q, size_t nq, int k, const uint8_t *mask, float *score,
                               int64_t *pos, char *err, size_t n) {
  Flat *f = (Flat *)h;
  if (k < 1 || k > 1024)
    return fail(err, n, OCU_ERROR, "k %d out of range 1..1024", k);
  int rc = from_cuda(cudaSetDevice(f->device), err, n, "cudaSetDevice");
  if (rc)
    return rc;
  const size_t N = f->count, d = (size_t)f->dim;
  if (N == 0) {
    for (size_t i = 0; i < nq * (size_t)k; i++) {
      pos[i] = -1;
      score[i] = 0.f;
    }
    return OCU_OK;
  }
  const int kk = (size_t)k < N ? k : (int)N;
  if (mask) {
    if ((rc = ensure((void **)&f->mask, &f->cap_mask, N, 1, err, n, "mask")) ||
        (rc = from_cuda(cudaMemcpyAsync(f->mask, mask, N, cudaMemcpyHostToDevice, f->st), err, n, "mask upload")))
      return rc;
  }
  // Query chunks sized so the score matrix stays near 512 MB.
  size_t chunk = (512u << 20) / (N * 4);
  chunk = std::max<size_t>(1, std::min<size_t>(chunk, 4096));
  chunk = std::min(chunk, nq);
  const size_t es = f->fp16 ? 2 : 4;
  const size_t n_cand = chunk * ((N + SEG - 1) / SEG) * (size_t)kk;
  if ((rc = ensure((void **)&f->cand_k, &f->cap_cand_k, n_cand, 4, err, n, "candidates")) ||
      (rc = ensure((void **)&f->cand_p, &f->cap_cand_p, n_cand, 8, err, n, "candidates")) ||
      (rc = ensure((void **)&f->scores, &f->cap_scores, chunk * N, 4, err, n, "scores")) ||
      (rc = ensure(&f->q, &f->cap_qh, chunk * d, es, err, n, "queries")))
    return rc;
  float *out_s = nullptr;
  int64_t *out_p = nullptr;
  if ((rc = from_cuda(cudaMalloc((void **)&out_s, chunk * kk * 4), err, n, "results")) ||
      (rc = from_cuda(cudaMalloc((void **)&out_p, chunk * kk * 8), err, n, "results"))) {
    if (out_s)
      cudaFree(out_s);
    return rc;
  }
  std::vector<float> hs(chunk * (size_t)kk);
  std::vector<int64_t> hp(chunk * (size_t)kk);
  for (size_t q0 = 0; q0 < nq && !rc; q0 += chunk) {
    const size_t m = std::min(chunk, nq - q0);
    // queries land in f->qf (fp32) then, for fp16 storage, narrowed into f->q
    rc = ensure((void **)&f->qf, &f->cap_qf, m * d, 4, err, n, "queries");
    if (!rc)
      rc = from_cuda(cudaMemcpyAsync(f->qf, q + q0 * d, m * d * 4, cudaMemcpyHostToDevice, f->st), err, n, "upload");
    if (rc)
      break;
    const void *A = f->qf;
    if (f->fp16) {
      k_convert<__half><<<(unsigned)std::min<size_t>((m * d + 255) / 256, 65535), 256, 0, f->st>>>(f->qf, (__half *)f->q,
                                                                                                   m * d);
      A = f->q;
    }
    rc = f->gemm.run(f->st, f->fp16 ? CUDA_R_16F : CUDA_R_32F, CUBLAS_COMPUTE_32F, (int)m, (int)N, (int)d, A, f->x,
                     f->scores, err, n);
    if (rc)
      break;
    const unsigned nseg = (unsigned)((N + SEG - 1) / SEG);
    k_topk_seg<<<dim3(nseg, (unsigned)m), TK_THREADS, SEG * sizeof(uint32_t), f->st>>>(
        f->scores, N, f->norms, f->metric, mask ? f->mask : nullptr, kk, f->cand_k, f->cand_p);
    k_topk_merge<<<(unsigned)m, TK_THREADS, 0, f->st>>>(f->cand_k, f->cand_p, (int)nseg * kk, f->scores, N, f->norms,
                                                       f->metric, kk, out_s, out_p);
    if ((rc = from_cuda(cudaGetLastError(), err, n, "top-k launch")) ||
        (rc = from_cuda(cudaMemcpyAsync(hs.data(), out_s, m * kk * 4, cudaMemcpyDeviceToHost, f->st), err, n,
                        "download")) ||
        (rc = from_cuda(cudaMemcpyAsync(hp.data(), out_p, m * kk * 8, cudaMemcpyDeviceToHost, f->st), err, n,
                        "download")) ||
        (rc = from_cuda(cudaStreamSynchronize(f->st), err, n, "search")))
      break;
    for (size_t i = 0; i < m; i++) {
      double qn = 0;
      if (f->metric == 0)
        for (size_t j = 0; j < d; j++)
          qn += (double)q[(q0 + i) * d + j] * q[(q0 + i) * d + j];
      for (int j = 0; j < k; j++) {
        const size_t o = (q0 + i) * (size_t)k + (size_t)j;
        if (j < kk && hp[i * kk + j] >= 0) {
          pos[o] = hp[i * kk + j];
          score[o] = hs[i * kk + j] + (float)qn;
        } else {
          pos[o] = -1;
          score[o] = 0.f;
        }
      }
    }
  }
  cudaFree(out_s);
  cudaFree(out_p);
  return rc;
}

extern "C" size_t ocu_flat_bytes(void *h) {
  Flat *f = (Flat *)h;
  return f->cap * (size_t)f->dim * (f->fp16 ? 2 : 4) + f->cap * 4 + f->cap_scores * 4 + f->cap_qf * 4 + f->cap_qh * 2 + f->cap_mask + f->cap_cand_k * 4 + f->cap_cand_p * 8 +
         f->gemm.ws_bytes;
}

extern "C" void ocu_flat_destroy(void *h) {
  Flat *f = (Flat *)h;
  if (!f)
    return;
  cudaSetDevice(f->device);
  if (f->st)
    cudaStreamSynchronize(f->st);
  void *ps[] = {f->x, f->norms, f->q, f->qf, f->scores, f->mask, f->cand_k, f->cand_p};
  for (void *p : ps)
    if (p)
      cudaFree(p);
  f->gemm.destroy();
  if (f->st)
    cudaStreamDestroy(f->st);
  delete f;
}

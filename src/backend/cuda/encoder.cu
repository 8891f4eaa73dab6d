// The BERT encoder on the GPU: weights resident in VRAM, padding-free packed batches,
// cuBLASLt GEMMs with fp32 accumulation, own kernels for the rest. One Slot per batch
// in flight (own stream, cuBLASLt handle, workspace), so slots run concurrently.
//
// Small batches are launch-bound (about a hundred kernels and GEMMs for a 12-layer model),
// so a batch of up to graph_tokens tokens replays a CUDA graph of its whole forward pass.
// A graph bakes in its shape (token and sequence counts, the slot's buffers), so such batches
// are padded with filler sequences to one of a few shapes (graph_shape), graphs are kept per
// slot and shape, made on a shape's second sighting (a one-off shape would pay the
// instantiation for nothing), and dropped when the slot's buffers move.
#include "backend/cuda/kernels.cuh"

#include <atomic>
#include <mutex>
#include <stdlib.h>
#include <string.h>
#include <vector>

namespace ocu {

struct DevLayer {
  void *qkv_w, *ao_w, *ff1_w, *ff2_w; // in the GEMM input type
  float *qkv_b, *ao_b, *ln1_g, *ln1_b, *ff1_b, *ff2_b, *ln2_g, *ln2_b;
};

struct GraphEntry {
  uint64_t key; // tokens << 32 | sequences
  uint64_t used;
  cudaGraphExec_t exec;
};

static const size_t kMaxGraphs = 128; // per slot, least recently used evicted
static const size_t kSeen = 256;     // shapes seen once, direct-mapped

struct Slot {
  cudaStream_t st = nullptr;
  Gemm gemm;
  size_t cap_tok = 0, cap_seq = 0;
  // device
  int32_t *ids = nullptr;
  TokMeta *meta = nullptr;
  uint32_t *off = nullptr;
  float *x = nullptr, *qkv = nullptr, *tmp = nullptr, *ff = nullptr, *pooled = nullptr;
  void *xh = nullptr, *ctx = nullptr, *ffh = nullptr;
  // pinned host staging
  int32_t *h_ids = nullptr;
  TokMeta *h_meta = nullptr;
  uint32_t *h_off = nullptr;
  float *h_out = nullptr;
  // CUDA graphs of this slot (only its runner thread touches them)
  std::vector<GraphEntry> graphs;
  uint64_t seen[kSeen] = {};
  uint64_t tick = 0;
  int graph_limit = 0;  // the setting these graphs were made under
  bool graph_off = false; // a capture failed here: direct runs until the setting changes
};

struct Encoder {
  ocu_model_t m{};
  int device = 0;
  ocu_dtype_t dtype = OCU_DTYPE_BF16;
  size_t esize = 2; // bytes per GEMM input element
  int dim = 0;
  std::vector<void *> allocs;
  float *word = nullptr, *pos = nullptr, *type = nullptr, *eg = nullptr, *eb = nullptr;
  std::vector<DevLayer> layers;
  std::vector<Slot> slots;
  std::atomic<int> graph_tokens{0};
  std::atomic<unsigned long long> captures{0}, replays{0}, failures{0}, growths{0};
  std::atomic<size_t> buffer_bytes{0};
};

static void drop_graphs(Slot &s) {
  for (auto &g : s.graphs)
    cudaGraphExecDestroy(g.exec);
  s.graphs.clear();
  memset(s.seen, 0, sizeof s.seen);
}

static size_t pow2_at_least(size_t x, size_t from) {
  while (from < x)
    from *= 2;
  return from;
}

// Device bytes of a slot's activations for T tokens and S sequences (see reserve).
static size_t slot_bytes(const Encoder *e, size_t T, size_t S) {
  const size_t H = (size_t)e->m.hidden, I = (size_t)e->m.intermediate;
  return T * (4 + sizeof(TokMeta) + H * 4 * 5 + I * 4 + (2 * H + I) * e->esize) + (S + 1) * 4 +
         S * (size_t)e->dim * 4;
}

static void free_slot_buffers(Slot &s) {
  void *dev[] = {s.ids, s.meta, s.off, s.x, s.qkv, s.tmp, s.ff, s.pooled, s.xh, s.ctx, s.ffh};
  for (void *p : dev)
    if (p)
      cudaFree(p);
  void *host[] = {s.h_ids, s.h_meta, s.h_off, s.h_out};
  for (void *p : host)
    if (p)
      cudaFreeHost(p);
  s.ids = nullptr;
  s.meta = nullptr;
  s.off = nullptr;
  s.x = s.qkv = s.tmp = s.ff = s.pooled = nullptr;
  s.xh = s.ctx = s.ffh = nullptr;
  s.h_ids = nullptr;
  s.h_meta = nullptr;
  s.h_off = nullptr;
  s.h_out = nullptr;
  s.cap_tok = s.cap_seq = 0;
}

// Grow a slot's activations to hold T tokens and S sequences (powers of two, so a
// stream of varied batches settles quickly). Failing with OOM leaves the slot empty.
static int reserve(Encoder *e, Slot &s, size_t T, size_t S, char *err, size_t n) {
  if (T <= s.cap_tok && S <= s.cap_seq)
    return OCU_OK;
  const size_t ct = pow2_at_least(T, s.cap_tok > 256 ? s.cap_tok : 256),
               cs = pow2_at_least(S, s.cap_seq > 64 ? s.cap_seq : 64);
  cudaStreamSynchronize(s.st);
  drop_graphs(s); // they point into the buffers about to go
  e->buffer_bytes -= s.cap_tok ? slot_bytes(e, s.cap_tok, s.cap_seq) : 0;
  free_slot_buffers(s);
  const size_t H = (size_t)e->m.hidden, I = (size_t)e->m.intermediate;
  int rc = OCU_OK;
  struct {
    void **p;
    size_t bytes;
  } dev[] = {{(void **)&s.ids, ct * 4},
             {(void **)&s.meta, ct * sizeof(TokMeta)},
             {(void **)&s.off, (cs + 1) * 4},
             {(void **)&s.x, ct * H * 4},
             {(void **)&s.qkv, ct * 3 * H * 4},
             {(void **)&s.tmp, ct * H * 4},
             {(void **)&s.ff, ct * I * 4},
             {(void **)&s.pooled, cs * (size_t)e->dim * 4},
             {&s.xh, ct * H * e->esize},
             {&s.ctx, ct * H * e->esize},
             {&s.ffh, ct * I * e->esize}};
  for (auto &a : dev)
    if (!rc)
      rc = from_cuda(cudaMalloc(a.p, a.bytes), err, n, "activations");
  if (!rc)
    rc = from_cuda(cudaMallocHost((void **)&s.h_ids, ct * 4), err, n, "pinned ids");
  if (!rc)
    rc = from_cuda(cudaMallocHost((void **)&s.h_meta, ct * sizeof(TokMeta)), err, n, "pinned meta");
  if (!rc)
    rc = from_cuda(cudaMallocHost((void **)&s.h_off, (cs + 1) * 4), err, n, "pinned offsets");
  if (!rc)
    rc = from_cuda(cudaMallocHost((void **)&s.h_out, cs * (size_t)e->dim * 4), err, n, "pinned output");
  if (rc) {
    free_slot_buffers(s);
    return rc;
  }
  s.cap_tok = ct;
  s.cap_seq = cs;
  e->buffer_bytes += slot_bytes(e, ct, cs);
  return OCU_OK;
}

// Upload host fp32 to the device, as fp32 or narrowed to the GEMM type.
static int upload(Encoder *e, const float *src, size_t n, bool narrow, void **out, char *err, size_t en) {
  float *f = nullptr;
  int rc = from_cuda(cudaMalloc((void **)&f, n * 4), err, en, "weights");
  if (rc)
    return rc;
  e->allocs.push_back(f);
  if ((rc = from_cuda(cudaMemcpy(f, src, n * 4, cudaMemcpyHostToDevice), err, en, "weights upload")))
    return rc;
  if (!narrow || e->esize == 4) {
    *out = f;
    return OCU_OK;
  }
  void *h = nullptr;
  if ((rc = from_cuda(cudaMalloc(&h, n * e->esize), err, en, "weights")))
    return rc;
  e->allocs.push_back(h);
  const int blocks = (int)((n + 255) / 256 < 65535 ? (n + 255) / 256 : 65535);
  if (e->dtype == OCU_DTYPE_BF16)
    k_convert<__nv_bfloat16><<<blocks, 256>>>(f, (__nv_bfloat16 *)h, n);
  else
    k_convert<__half><<<blocks, 256>>>(f, (__half *)h, n);
  if ((rc = from_cuda(cudaDeviceSynchronize(), err, en, "weights conversion")))
    return rc;
  // The fp32 copy of a narrowed matrix is no longer needed.
  cudaFree(f);
  for (auto &p : e->allocs)
    if (p == f)
      p = nullptr;
  *out = h;
  return OCU_OK;
}

static void destroy(Encoder *e) {
  if (!e)
    return;
  cudaSetDevice(e->device);
  for (auto &s : e->slots) {
    if (s.st)
      cudaStreamSynchronize(s.st);
    drop_graphs(s);
    free_slot_buffers(s);
    s.gemm.destroy();
    if (s.st)
      cudaStreamDestroy(s.st);
  }
  for (void *p : e->allocs)
    if (p)
      cudaFree(p);
  delete e;
}

template <typename T> static int forward(Encoder *e, Slot &s, size_t T_tok, size_t S, char *err, size_t n) {
  const ocu_model_t &m = e->m;
  const int H = m.hidden, I = m.intermediate, d = m.hidden / m.heads;
  const float eps = m.eps;
  const cudaDataType_t ty = dt<T>::cuda;
  const cublasComputeType_t cp = e->dtype == OCU_DTYPE_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const int ln_threads = H >= 1024 ? 512 : H >= 512 ? 256 : 128;
  T *xh = (T *)s.xh, *ctx = (T *)s.ctx, *ffh = (T *)s.ffh;
  k_embed_ln<T><<<(unsigned)T_tok, ln_threads, 0, s.st>>>(s.ids, s.meta, e->word, e->pos, e->type, e->eg, e->eb, eps, H,
                                                          s.x, xh);
  const size_t attn_smem = (size_t)(d + m.max_pos) * sizeof(float);
  const size_t nI = T_tok * (size_t)I;
  const unsigned act_blocks = (unsigned)((nI + 255) / 256 < 65535 * 4 ? (nI + 255) / 256 : 65535 * 4);
  int rc;
  for (int l = 0; l < m.layers; l++) {
    const DevLayer &L = e->layers[l];
    if ((rc = s.gemm.run(s.st, ty, cp, (int)T_tok, 3 * H, H, xh, L.qkv_w, s.qkv, err, n)))
      return rc;
    k_attention<T><<<dim3((unsigned)T_tok, (unsigned)m.heads), 128, attn_smem, s.st>>>(s.qkv, L.qkv_b, s.meta, s.off,
                                                                                      H, d, ctx);
    if ((rc = s.gemm.run(s.st, ty, cp, (int)T_tok, H, H, ctx, L.ao_w, s.tmp, err, n)))
      return rc;
    k_bias_residual_ln<T><<<(unsigned)T_tok, ln_threads, 0, s.st>>>(s.x, s.tmp, L.ao_b, L.ln1_g, L.ln1_b, eps, H, xh);
    if ((rc = s.gemm.run(s.st, ty, cp, (int)T_tok, I, H, xh, L.ff1_w, s.ff, err, n)))
      return rc;
    k_bias_act<T><<<act_blocks, 256, 0, s.st>>>(s.ff, L.ff1_b, I, nI, (int)m.act, ffh);
    if ((rc = s.gemm.run(s.st, ty, cp, (int)T_tok, H, I, ffh, L.ff2_w, s.tmp, err, n)))
      return rc;
    k_bias_residual_ln<T><<<(unsigned)T_tok, ln_threads, 0, s.st>>>(s.x, s.tmp, L.ff2_b, L.ln2_g, L.ln2_b, eps, H, xh);
  }
  k_pool<<<(unsigned)S, 128, 0, s.st>>>(s.x, s.off, H, m.pooling, e->dim, s.pooled);
  return from_cuda(cudaGetLastError(), err, n, "kernel launch");
}

// The shape a batch of T0 tokens in S0 sequences runs as under graphs: tokens rounded up to
// a multiple of 16 and sequences to 1, 2, 3, 4, 6, 8, 12, 16, ... (two steps per power of two),
// with filler sequences of at least one token each, so that a few graphs serve batches of
// every size. The filler costs at most 16 tokens plus one per filler sequence.
static size_t next_seq_bucket(size_t b) {
  if (b < 4)
    return b + 1;
  size_t p = 4;
  while (p * 2 <= b)
    p *= 2;
  return b == p ? p + p / 2 : 2 * p;
}

static void graph_shape(size_t T0, size_t S0, size_t *T, size_t *S) {
  size_t sb = 1;
  while (sb < S0)
    sb = next_seq_bucket(sb);
  if (sb == S0 && T0 % 16 == 0) {
    *T = T0;
    *S = S0;
    return;
  }
  if (sb == S0) // the spare tokens need a filler sequence
    sb = next_seq_bucket(sb);
  *S = sb;
  *T = (T0 + (sb - S0) + 15) / 16 * 16;
}

static int forward_any(Encoder *e, Slot &s, size_t T, size_t S, char *err, size_t n) {
  switch (e->dtype) {
  case OCU_DTYPE_BF16:
    return forward<__nv_bfloat16>(e, s, T, S, err, n);
  case OCU_DTYPE_FP16:
    return forward<__half>(e, s, T, S, err, n);
  default:
    return forward<float>(e, s, T, S, err, n);
  }
}

// Capture the forward pass for this shape into an executable graph; nullptr when the
// capture or instantiation fails (the caller then runs the batch directly).
static cudaGraphExec_t capture(Encoder *e, Slot &s, size_t T, size_t S) {
  char ignored[256];
  // Thread-local mode: the other slots' threads may allocate while this one captures.
  if (cudaStreamBeginCapture(s.st, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  const int rc = forward_any(e, s, T, S, ignored, sizeof ignored);
  cudaGraph_t g = nullptr;
  const cudaError_t ce = cudaStreamEndCapture(s.st, &g);
  cudaGraphExec_t exec = nullptr;
  if (rc != OCU_OK || ce != cudaSuccess || !g || cudaGraphInstantiate(&exec, g, 0) != cudaSuccess)
    exec = nullptr;
  if (g)
    cudaGraphDestroy(g);
  (void)cudaGetLastError();
  return exec;
}

static int run_graph(Encoder *e, Slot &s, size_t T, size_t S, char *err, size_t n) {
  const int limit = e->graph_tokens.load(std::memory_order_relaxed);
  if (limit != s.graph_limit) {
    drop_graphs(s);
    s.graph_limit = limit;
    s.graph_off = false;
  }
  const uint64_t key = (uint64_t)T << 32 | S;
  for (auto &g : s.graphs)
    if (g.key == key) {
      g.used = ++s.tick;
      e->replays++;
      return from_cuda(cudaGraphLaunch(g.exec, s.st), err, n, "graph launch");
    }
  uint64_t &seen = s.seen[(key * 0x9E3779B97F4A7C15ull) >> 56];
  if (s.graph_off || seen != key + 1) {
    seen = key + 1;
    return forward_any(e, s, T, S, err, n);
  }
  cudaGraphExec_t exec = capture(e, s, T, S);
  if (!exec) {
    e->failures++;
    s.graph_off = true;
    return forward_any(e, s, T, S, err, n);
  }
  e->captures++;
  if (s.graphs.size() >= kMaxGraphs) {
    size_t lru = 0;
    for (size_t i = 1; i < s.graphs.size(); i++)
      if (s.graphs[i].used < s.graphs[lru].used)
        lru = i;
    cudaGraphExecDestroy(s.graphs[lru].exec); // not in flight: every run ends with a stream sync
    s.graphs[lru] = s.graphs.back();
    s.graphs.pop_back();
  }
  s.graphs.push_back(GraphEntry{key, ++s.tick, exec});
  e->replays++;
  return from_cuda(cudaGraphLaunch(exec, s.st), err, n, "graph launch");
}

} // namespace ocu

using namespace ocu;

extern "C" int ocu_encoder_create(const ocu_model_t *m, int device, ocu_dtype_t dtype, int slots, void **out,
                                  char *err, size_t n) {
  if (m->hidden % m->heads || m->hidden / m->heads > 1024 || slots < 1 || slots > 64)
    return fail(err, n, OCU_ERROR, "unsupported encoder shape (hidden %d, heads %d) or slots %d", m->hidden, m->heads,
                slots);
  int rc = from_cuda(cudaSetDevice(device), err, n, "cudaSetDevice");
  if (rc)
    return rc;
  // Attention keeps a row of scores per (token, head) in shared memory.
  if ((size_t)(m->hidden / m->heads + m->max_pos) * 4 > 48 * 1024)
    return fail(err, n, OCU_ERROR, "max_position_embeddings %d is too long for the attention kernel", m->max_pos);
  Encoder *e = new (std::nothrow) Encoder();
  if (!e)
    return fail(err, n, OCU_OOM, "out of host memory");
  e->m = *m;
  e->device = device;
  e->dtype = dtype;
  e->esize = dtype == OCU_DTYPE_FP16 || dtype == OCU_DTYPE_BF16 ? 2 : 4;
  e->dim = m->hidden * __builtin_popcount(m->pooling);
  const size_t H = (size_t)m->hidden, I = (size_t)m->intermediate;
  void *p;
#define UP(src, cnt, narrow, dst)                                                                                      \
  do {                                                                                                                 \
    if ((rc = upload(e, src, cnt, narrow, &p, err, n))) {                                                              \
      destroy(e);                                                                                                      \
      return rc;                                                                                                       \
    }                                                                                                                  \
    dst = (decltype(dst))p;                                                                                            \
  } while (0)
  UP(m->word_emb, (size_t)m->vocab * H, false, e->word);
  UP(m->pos_emb, (size_t)m->max_pos * H, false, e->pos);
  UP(m->type_emb, H, false, e->type);
  UP(m->emb_ln_g, H, false, e->eg);
  UP(m->emb_ln_b, H, false, e->eb);
  e->layers.resize((size_t)m->layers);
  for (int l = 0; l < m->layers; l++) {
    const ocu_layer_t &s = m->layer[l];
    DevLayer &d = e->layers[(size_t)l];
    UP(s.qkv_w, 3 * H * H, true, d.qkv_w);
    UP(s.qkv_b, 3 * H, false, d.qkv_b);
    UP(s.ao_w, H * H, true, d.ao_w);
    UP(s.ao_b, H, false, d.ao_b);
    UP(s.ln1_g, H, false, d.ln1_g);
    UP(s.ln1_b, H, false, d.ln1_b);
    UP(s.ff1_w, I * H, true, d.ff1_w);
    UP(s.ff1_b, I, false, d.ff1_b);
    UP(s.ff2_w, H * I, true, d.ff2_w);
    UP(s.ff2_b, H, false, d.ff2_b);
    UP(s.ln2_g, H, false, d.ln2_g);
    UP(s.ln2_b, H, false, d.ln2_b);
  }
#undef UP
  e->slots.resize((size_t)slots);
  for (auto &s : e->slots) {
    if ((rc = from_cuda(cudaStreamCreateWithFlags(&s.st, cudaStreamNonBlocking), err, n, "stream")) ||
        (rc = s.gemm.init(err, n))) {
      destroy(e);
      return rc;
    }
  }
  *out = e;
  return OCU_OK;
}

extern "C" int ocu_encoder_run(void *h, int slot, const int32_t *ids, const uint32_t *offsets, size_t n_seq,
                               float *out, char *err, size_t n) {
  Encoder *e = (Encoder *)h;
  if (slot < 0 || (size_t)slot >= e->slots.size())
    return fail(err, n, OCU_ERROR, "slot %d out of range", slot);
  Slot &s = e->slots[(size_t)slot];
  const size_t T0 = offsets[n_seq];
  const bool graph = (int)T0 <= e->graph_tokens.load(std::memory_order_relaxed);
  size_t T = T0, S = n_seq;
  if (graph)
    graph_shape(T0, n_seq, &T, &S);
  int rc = from_cuda(cudaSetDevice(e->device), err, n, "cudaSetDevice");
  if (rc)
    return rc;
  if (T > s.cap_tok || S > s.cap_seq) // a batch past what the slot was prepared for
    e->growths++;
  if ((rc = reserve(e, s, T, S, err, n)))
    return rc;
  memcpy(s.h_ids, ids, T0 * 4);
  memcpy(s.h_off, offsets, (n_seq + 1) * 4);
  // Filler sequences (token 0, outputs dropped) bring the batch to its graph shape; the
  // first takes the spare tokens, the others one each.
  for (size_t q = n_seq; q < S; q++)
    s.h_off[q + 1] = s.h_off[q] + (uint32_t)(q == n_seq ? (T - T0) - (S - n_seq - 1) : 1);
  memset(s.h_ids + T0, 0, (T - T0) * 4);
  for (size_t q = 0; q < S; q++)
    for (uint32_t t = s.h_off[q]; t < s.h_off[q + 1]; t++)
      s.h_meta[t] = TokMeta{(int)(t - s.h_off[q]), (int)q};
  if ((rc = from_cuda(cudaMemcpyAsync(s.ids, s.h_ids, T * 4, cudaMemcpyHostToDevice, s.st), err, n, "upload")) ||
      (rc = from_cuda(cudaMemcpyAsync(s.meta, s.h_meta, T * sizeof(TokMeta), cudaMemcpyHostToDevice, s.st), err, n,
                      "upload")) ||
      (rc = from_cuda(cudaMemcpyAsync(s.off, s.h_off, (S + 1) * 4, cudaMemcpyHostToDevice, s.st), err, n, "upload")))
    return rc;
  rc = graph ? run_graph(e, s, T, S, err, n) : forward_any(e, s, T, S, err, n);
  if (rc) {
    cudaStreamSynchronize(s.st);
    return rc;
  }
  const size_t out_bytes = n_seq * (size_t)e->dim * 4;
  if ((rc = from_cuda(cudaMemcpyAsync(s.h_out, s.pooled, out_bytes, cudaMemcpyDeviceToHost, s.st), err, n,
                      "download")) ||
      (rc = from_cuda(cudaStreamSynchronize(s.st), err, n, "encoder")))
    return rc;
  memcpy(out, s.h_out, out_bytes);
  return OCU_OK;
}

extern "C" int ocu_encoder_prepare(void *h, int slot, size_t tokens, size_t seqs, char *err, size_t n) {
  Encoder *e = (Encoder *)h;
  if (slot < 0 || (size_t)slot >= e->slots.size())
    return fail(err, n, OCU_ERROR, "slot %d out of range", slot);
  int rc = from_cuda(cudaSetDevice(e->device), err, n, "cudaSetDevice");
  if (rc)
    return rc;
  size_t free_b = 0, total_b = 0;
  if ((rc = from_cuda(cudaMemGetInfo(&free_b, &total_b), err, n, "cudaMemGetInfo")))
    return rc;
  // Leave room for the other slots, cuBLASLt and any GPU index: a quarter of what is free.
  Slot &s = e->slots[(size_t)slot];
  tokens = pow2_at_least(tokens, 256);
  seqs = pow2_at_least(seqs, 64);
  while (tokens > 256 && slot_bytes(e, tokens, seqs) > free_b / 4 + slot_bytes(e, s.cap_tok, s.cap_seq)) {
    tokens /= 2;
    seqs = seqs > tokens ? tokens : seqs;
  }
  if ((rc = reserve(e, s, tokens, seqs, err, n)))
    return rc;
  const int32_t ids[2] = {0, 0}; // any valid ids: this run only loads the kernels
  const uint32_t off[2] = {0, 2};
  std::vector<float> out((size_t)e->dim);
  return ocu_encoder_run(h, slot, ids, off, 1, out.data(), err, n);
}

extern "C" void ocu_encoder_set_graphs(void *h, int max_tokens) {
  ((Encoder *)h)->graph_tokens.store(max_tokens < 0 ? 0 : max_tokens, std::memory_order_relaxed);
}

extern "C" void ocu_encoder_stats(void *h, ocu_encoder_stats_t *out) {
  const Encoder *e = (const Encoder *)h;
  out->graph_captures = e->captures.load();
  out->graph_replays = e->replays.load();
  out->graph_failures = e->failures.load();
  out->buffer_growths = e->growths.load();
  out->buffer_bytes = e->buffer_bytes.load();
}

extern "C" int ocu_mem_info(void *h, size_t *free_b, size_t *total_b) {
  Encoder *e = (Encoder *)h;
  if (cudaSetDevice(e->device) != cudaSuccess)
    return OCU_ERROR;
  cudaError_t rc = cudaMemGetInfo(free_b, total_b);
  if (rc != cudaSuccess) {
    (void)cudaGetLastError();
    return OCU_ERROR;
  }
  return OCU_OK;
}

extern "C" void ocu_encoder_destroy(void *h) { destroy((Encoder *)h); }

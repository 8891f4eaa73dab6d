/* GEMM engines on the encoder's shapes, one thread: OpenBLAS sgemm (fp32) against Omega's
 * packed fp32 (FMA), bf16, bf16x3 and int8 kernels (AMX where the CPU has it and OMEGA_CPU_ISA
 * allows it, else AVX512-BF16 and VNNI), in GFLOP/s (2 M N K per product, the fp32 work for
 * bf16x3 too), with two fp32 ceilings of the core: the FMA units' peak (independent
 * multiply-adds on registers, no memory) and a 1024^3 sgemm; and the peaks of vdpbf16ps and
 * vpdpbusd, the ceilings of bf16 and int8 without AMX. How docs/CPU.md chose its engines.
 *   bench_gemm [M ...]        (default M = 26 and 850: one mean sentence, a batch of 32) */
#include "backend/cpu/packed.h"
#include "bench_common.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

static float *rnd(size_t n) {
  float *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = (float)rand() / RAND_MAX - 0.5f;
  return p;
}

/* Seconds per call: repeated until 0.3 s have passed, best of 3 such rounds. */
static double per_call(void (*fn)(void *), void *arg) {
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    fn(arg);
    size_t n = 0;
    const double t0 = bench_now();
    double t;
    do {
      fn(arg);
      n++;
    } while ((t = bench_now() - t0) < 0.3);
    best = t / (double)n < best ? t / (double)n : best;
  }
  return best;
}

typedef struct {
  size_t M, N, K;
  const float *A, *W;
  float *C;
  omega_packed_w_t *pw;
  const omega_cpu_isa_t *isa;
  void *scratch;
} case_t;

#if defined(__x86_64__)
#include <immintrin.h>
/* 16 independent chains of one 16-wide multiply-add instruction on registers, nothing to load
 * (4 cycles of latency x 2 units needs 8 chains at least): acc = op(acc, x, y), 4096 times. */
#define PEAK_LOOP(name, isa, xtype, x0, y0, op)                                                                       \
  __attribute__((target(isa))) static void name(void *arg) {                                                          \
    __m512 acc[16];                                                                                                   \
    const xtype x = x0, y = y0;                                                                                       \
    for (int i = 0; i < 16; i++)                                                                                      \
      acc[i] = _mm512_set1_ps((float)i);                                                                              \
    for (int n = 0; n < 4096; n++)                                                                                    \
      for (int i = 0; i < 16; i++)                                                                                    \
        acc[i] = op(acc[i], x, y);                                                                                    \
    __m512 s = acc[0];                                                                                                \
    for (int i = 1; i < 16; i++)                                                                                      \
      s = _mm512_add_ps(s, acc[i]);                                                                                   \
    *(float *)arg += _mm512_reduce_add_ps(s);                                                                         \
  }
/* The FMA units' fp32 peak. */
PEAK_LOOP(run_fma_peak, "avx512f", __m512, _mm512_set1_ps(0.999999f), _mm512_set1_ps(1e-6f), _mm512_fmadd_ps)
#define FMA_PEAK_FLOP (4096.0 * 16 * 32)
/* vdpbf16ps's (two products per lane, 64 flops an instruction): the ceiling of the bf16 kernel
 * without AMX, which on some CPUs issues at a fraction of the FMA's rate. */
PEAK_LOOP(run_dpbf16_peak, "avx512f,avx512bf16", __m512bh, (__m512bh)_mm512_set1_epi32(0x3f803f80),
          (__m512bh)_mm512_set1_epi32(0x35863586), _mm512_dpbf16_ps)
#define DPBF16_PEAK_FLOP (4096.0 * 16 * 64)
/* vpdpbusd's (four u8 x s8 products per lane, 128 operations an instruction): the ceiling of
 * the int8 kernel without AMX. */
__attribute__((target("avx512f,avx512vnni"))) static void run_dpbusd_peak(void *arg) {
  __m512i acc[16];
  const __m512i x = _mm512_set1_epi32(0x01010101), y = _mm512_set1_epi32(0x01ff01ff);
  for (int i = 0; i < 16; i++)
    acc[i] = _mm512_set1_epi32(i);
  for (int n = 0; n < 4096; n++)
    for (int i = 0; i < 16; i++)
      acc[i] = _mm512_dpbusd_epi32(acc[i], x, y);
  __m512i s = acc[0];
  for (int i = 1; i < 16; i++)
    s = _mm512_add_epi32(s, acc[i]);
  *(float *)arg += (float)_mm512_reduce_add_epi32(s);
}
#define DPBUSD_PEAK_OPS (4096.0 * 16 * 128)
#endif

static void run_sgemm(void *arg) {
  const case_t *c = arg;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->M, (int)c->N, (int)c->K, 1.0f, c->A, (int)c->K, c->W,
              (int)c->K, 0.0f, c->C, (int)c->N);
}

static void run_packed(void *arg) {
  const case_t *c = arg;
  omega__packed_linear(NULL, c->isa, c->M, c->A, c->pw, NULL, NULL, c->C, c->scratch);
}

int main(int argc, char **argv) {
  openblas_set_num_threads(1);
  bench_cpu_caps_from_env();
  const omega_cpu_isa_t *isa = omega__cpu_isa();
  size_t Ms[8] = {26, 850}, nM = 2;
  if (argc > 1)
    for (nM = 0; nM < 8 && nM + 1 < (size_t)argc; nM++)
      Ms[nM] = (size_t)atol(argv[nM + 1]);
  {
    case_t c = {1024, 1024, 1024, rnd(1 << 20), rnd(1 << 20), malloc((1 << 20) * sizeof(float)), 0, 0, 0};
    printf("fp32 ceiling: sgemm 1024^3 on 1 thread %.1f GFLOP/s\n", 2e-9 * (1 << 30) / per_call(run_sgemm, &c));
#if defined(__x86_64__)
    if (isa->level == OMEGA_ISA_AVX512) {
      float sink = 0;
      printf("fp32 ceiling: AVX-512 FMA peak on 1 thread %.1f GFLOP/s\n", 1e-9 * FMA_PEAK_FLOP / per_call(run_fma_peak, &sink));
      if (isa->bf16)
        printf("bf16 ceiling without AMX: vdpbf16ps peak on 1 thread %.1f GFLOP/s\n",
               1e-9 * DPBF16_PEAK_FLOP / per_call(run_dpbf16_peak, &sink));
      if (isa->vnni)
        printf("int8 ceiling without AMX: vpdpbusd peak on 1 thread %.1f GOPS\n",
               1e-9 * DPBUSD_PEAK_OPS / per_call(run_dpbusd_peak, &sink));
    }
#endif
    printf("\n");
  }
  static const struct {
    const char *shape, *layer;
    size_t N, K;
  } L[] = {{"MiniLM", "qkv", 1152, 384}, {"MiniLM", "attn out", 384, 384}, {"MiniLM", "ffn up", 1536, 384},
           {"MiniLM", "ffn down", 384, 1536}, {"BERT-base", "qkv", 2304, 768}, {"BERT-base", "attn out", 768, 768},
           {"BERT-base", "ffn up", 3072, 768}, {"BERT-base", "ffn down", 768, 3072}};
  printf("kernels: %s%s\n\n", omega__isa_name(isa->level), isa->amx ? " + AMX" : "");
  printf("| shape | layer | M | N | K | fp32 OpenBLAS | fp32 packed | bf16 packed | int8 packed | bf16x3 packed |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (size_t m = 0; m < nM; m++)
    for (size_t l = 0; l < sizeof L / sizeof L[0]; l++) {
      const size_t M = Ms[m], N = L[l].N, K = L[l].K;
      case_t c = {M, N, K, rnd(M * K), rnd(N * K), malloc(M * N * sizeof(float)), NULL, isa, NULL};
      const double flop = 2.0 * (double)M * (double)N * (double)K;
      double g[1 + OMEGA_CPU_KERNEL_PRECISIONS] = {flop / per_call(run_sgemm, &c) * 1e-9};
      static int (*const pack[OMEGA_CPU_KERNEL_PRECISIONS])(const float *, size_t, size_t, omega_packed_w_t *) = {
          [OMEGA_CPU_FP32] = omega__pack_f32, [OMEGA_CPU_BF16] = omega__pack_bf16,
          [OMEGA_CPU_BF16X3] = omega__pack_bf16x3, [OMEGA_CPU_INT8] = omega__pack_int8};
      for (int p = 0; p < OMEGA_CPU_KERNEL_PRECISIONS; p++) {
        if (omega__precision_unsupported((omega_cpu_precision_t)p, isa))
          continue;
        omega_packed_w_t pw;
        if (pack[p](c.W, N, K, &pw))
          return 1;
        c.pw = &pw;
        c.scratch = malloc(omega__packed_scratch(&pw, M));
        g[p + 1] = flop / per_call(run_packed, &c) * 1e-9;
        free(c.scratch);
        omega__packed_free(&pw);
      }
      printf("| %s | %s | %zu | %zu | %zu | %.1f | %.1f | %.1f | %.1f | %.1f |\n", L[l].shape, L[l].layer, M, N, K,
             g[0], g[1 + OMEGA_CPU_FP32], g[1 + OMEGA_CPU_BF16], g[1 + OMEGA_CPU_INT8], g[1 + OMEGA_CPU_BF16X3]);
      free((void *)c.A), free((void *)c.W), free(c.C);
    }
  return 0;
}

/* Precision modes of the CPU backend: what each needs from the CPU, and the
 * dispatch of a packed linear layer to its kernel and threads. */
#include "backend/cpu/packed.h"

#include "backend/cpu/ops.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

const char *omega__precision_unsupported(omega_cpu_precision_t p, const omega_cpu_isa_t *isa) {
  if (p == OMEGA_CPU_BF16 && !isa->bf16)
    return "bf16 needs a CPU with AVX512-BF16 (e.g. Intel Cooper Lake / Sapphire Rapids, AMD Zen 4)";
  if (p == OMEGA_CPU_BF16X3 && !isa->amx)
    return "bf16x3 needs a CPU with AMX-BF16 (Intel Sapphire Rapids or later) and a kernel that grants AMX";
  if (p == OMEGA_CPU_INT8 && isa->level != OMEGA_ISA_AVX2 && isa->level != OMEGA_ISA_AVX512)
    return "int8 needs a CPU with AVX2 (VNNI when it has AVX-512); ARM has fp32 kernels only so far";
  return NULL;
}

void omega__packed_free(omega_packed_w_t *w) {
  omega__free(w->w);
  omega__free(w->w_lo);
  omega__free(w->scale);
  omega__free(w->colsum);
  memset(w, 0, sizeof *w);
}

/* Rows of converted activations: a multiple of 16, the AMX tile height (zero rows past M). */
static size_t rows_padded(size_t M) { return (M + 15) & ~(size_t)15; }

/* Bytes of one activation element as the kernels read it (fp32: A itself). */
static size_t act_elem(omega_cpu_precision_t p) {
  return p == OMEGA_CPU_FP32 ? sizeof(float) : p == OMEGA_CPU_INT8 ? 1 : 2;
}

size_t omega__packed_scratch(const omega_packed_w_t *w, size_t M) {
  if (w->prec == OMEGA_CPU_FP32)
    return 64; /* fp32 kernels read A as it is */
  const size_t parts = w->prec == OMEGA_CPU_BF16X3 ? 2 : 1;
  return rows_padded(M) * (w->Kp * act_elem(w->prec) * parts + sizeof(float)) + 64;
}

typedef struct {
  const omega_cpu_isa_t *isa;
  size_t M;
  const void *A;
  const void *Alo; /* bf16x3: the low parts */
  const float *sa;
  const omega_packed_w_t *w;
  const float *bias;
  const omega_act_t *act;
  float *C;
} job_t;

static void kernel(const job_t *j, size_t p0, size_t p1) {
  if (j->w->prec == OMEGA_CPU_FP32 && j->isa->level == OMEGA_ISA_PORTABLE) {
    omega__gemm_f32_portable(j->M, j->A, j->w, j->bias, j->C, p0, p1);
    return;
  }
#if defined(__aarch64__)
  if (j->w->prec == OMEGA_CPU_FP32 && j->isa->level == OMEGA_ISA_NEON) {
    omega__gemm_f32_neon(j->M, j->A, j->w, j->bias, j->C, p0, p1);
    return;
  }
#endif
#if defined(__x86_64__)
  if (j->w->prec == OMEGA_CPU_FP32 && j->isa->level == OMEGA_ISA_AVX512)
    omega__gemm_f32_avx512(j->M, j->A, j->w, j->bias, j->C, p0, p1);
  else if (j->w->prec == OMEGA_CPU_FP32)
    omega__gemm_f32_avx2(j->M, j->A, j->w, j->bias, j->C, p0, p1);
  else if (j->w->prec != OMEGA_CPU_INT8 && j->isa->amx)
    omega__gemm_amx_bf16(j->M, j->A, j->Alo, j->w, j->bias, j->C, p0, p1);
  else if (j->w->prec == OMEGA_CPU_BF16)
    omega__gemm_bf16_avx512(j->M, j->A, j->w, j->bias, j->C, p0, p1);
  else if (j->isa->amx)
    omega__gemm_amx_int8(j->M, j->A, j->sa, j->w, j->bias, j->C, p0, p1);
  else if (j->isa->vnni)
    omega__gemm_int8_vnni(j->M, j->A, j->sa, j->w, j->bias, j->C, p0, p1);
  else
    omega__gemm_int8_avx2(j->M, j->A, j->sa, j->w, j->bias, j->C, p0, p1);
#else
  (void)j, (void)p0, (void)p1; /* omega__precision_unsupported refuses bf16 and int8 here */
#endif
}

static void run_panels(void *arg, size_t p0, size_t p1) {
  const job_t *j = arg;
  if (!j->act) {
    kernel(j, p0, p1);
    return;
  }
  /* With an activation: the kernel one chunk of rows at a time (the chunk its own loops use,
   * a multiple of the AMX tile height), each chunk's columns activated while still in L2. */
  const size_t Kp = j->w->Kp, n0 = p0 * 16, n1 = p1 * 16 < j->w->N ? p1 * 16 : j->w->N;
  const size_t row_bytes = (j->w->prec == OMEGA_CPU_FP32 ? j->w->K : Kp) * act_elem(j->w->prec);
  for (size_t i0 = 0; i0 < j->M; i0 += OMEGA_GEMM_ROW_CHUNK) {
    job_t c = *j;
    c.M = j->M - i0 < OMEGA_GEMM_ROW_CHUNK ? j->M - i0 : OMEGA_GEMM_ROW_CHUNK;
    c.A = (const char *)j->A + i0 * row_bytes;
    c.Alo = j->Alo ? (const char *)j->Alo + i0 * row_bytes : NULL;
    c.sa = j->sa + i0;
    c.C = j->C + i0 * j->w->N;
    kernel(&c, p0, p1);
    omega__act_block(*j->act, c.C, c.M, j->w->N, n0, n1);
  }
}

typedef struct {
  const omega_cpu_isa_t *isa;
  const omega_packed_w_t *w;
  const float *A;
  void *conv, *lo;
  float *sa;
} conv_job_t;

/* Rows [r0, r1) of the activations in the form the kernels read. */
static void convert_rows(void *arg, size_t r0, size_t r1) {
  const conv_job_t *c = arg;
  const size_t K = c->w->K, Kp = c->w->Kp, M = r1 - r0;
  const float *A = c->A + r0 * K;
#if defined(__x86_64__)
  if (c->w->prec == OMEGA_CPU_BF16)
    omega__bf16_rows(M, A, K, Kp, (uint16_t *)c->conv + r0 * Kp);
  else if (c->w->prec == OMEGA_CPU_BF16X3)
    omega__bf16x3_rows(M, A, K, Kp, (uint16_t *)c->conv + r0 * Kp, (uint16_t *)c->lo + r0 * Kp);
#endif
  /* VNNI and AMX multiply unsigned by signed bytes: activations shifted by 128 (the weights'
   * column sums take it back out); the AVX2 kernel keeps them signed. */
  if (c->w->prec == OMEGA_CPU_INT8)
    omega__quant_rows(c->isa->level, M, A, K, Kp, c->isa->vnni ? 0x80 : 0, (int8_t *)c->conv + r0 * Kp, c->sa + r0);
}

void omega__packed_linear(omega_pool_t *pool, const omega_cpu_isa_t *isa, size_t M, const float *A,
                          const omega_packed_w_t *w, const float *bias, const omega_act_t *act, float *C,
                          void *scratch) {
  const size_t K = w->K, Kp = w->Kp, Mp = rows_padded(M);
  const size_t panels = w->Np / 16, threads = (size_t)omega__pool_threads(pool);
  const int split = threads > 1 && (double)M * (double)w->N * (double)K >= 1 << 20;
  float *sa = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  void *conv = sa + Mp;
  conv_job_t cj = {isa, w, A, conv, w->prec == OMEGA_CPU_BF16X3 ? (uint16_t *)conv + Mp * Kp : NULL, sa};
  if (w->prec != OMEGA_CPU_FP32) {
    /* Converted on both cores too: on one, the other waited for it (a quarter of int8's
     * single-sentence time was threads waiting). Rows past M are zeros (int8: the shift). */
    if (split)
      omega__pool_for(pool, M, (M + threads - 1) / threads, convert_rows, &cj);
    else
      convert_rows(&cj, 0, M);
    const size_t elem = act_elem(w->prec);
    const int pad = w->prec == OMEGA_CPU_INT8 && isa->vnni ? 0x80 : 0;
    memset((char *)conv + M * Kp * elem, pad, (Mp - M) * Kp * elem);
    if (cj.lo)
      memset((uint16_t *)cj.lo + M * Kp, 0, (Mp - M) * Kp * elem);
  }
  job_t j = {isa, M, w->prec == OMEGA_CPU_FP32 ? (const void *)A : conv, cj.lo, sa, w, bias, act, C};
  /* Groups of 4 panels (the kernels' register block), split evenly across threads. */
  size_t per = (panels + threads - 1) / threads;
  per = (per + 3) / 4 * 4;
  if (!split || per >= panels)
    run_panels(&j, 0, panels);
  else
    omega__pool_for(pool, panels, per, run_panels, &j);
}

void omega__cpu_packed_free(omega_cpu_packed_t *p) {
  if (!p)
    return;
  for (int l = 0; l < p->n_layers && p->layers; l++) {
    omega__packed_free(&p->layers[l].qkv);
    omega__packed_free(&p->layers[l].ao);
    omega__packed_free(&p->layers[l].ff1);
    omega__packed_free(&p->layers[l].ff2);
  }
  omega__free(p->layers);
  omega__free(p);
}

int omega__cpu_packed_create(const omega_model_t *m, omega_cpu_precision_t prec, const omega_cpu_isa_t *isa,
                             omega_cpu_packed_t **out) {
  const char *why = omega__precision_unsupported(prec, isa);
  if (why)
    return omega__seterr(OMEGA_EINVAL, "CPU precision %s is not available on this CPU (%s kernels): %s",
                         omega_cpu_precision_name(prec), omega__isa_name(isa->level), why);
  omega_cpu_packed_t *p = omega__calloc(1, sizeof *p);
  if (!p || !(p->layers = omega__calloc((size_t)m->cfg.num_layers, sizeof *p->layers))) {
    omega__free(p);
    return omega__seterr(OMEGA_ENOMEM, "packed weights: out of memory");
  }
  p->prec = prec;
  p->isa = *isa;
  p->n_layers = m->cfg.num_layers;
  const size_t H = (size_t)m->cfg.hidden_size, I = (size_t)m->cfg.intermediate_size;
  p->max_k = I > H ? I : H;
  static int (*const packers[OMEGA_CPU_KERNEL_PRECISIONS])(const float *, size_t, size_t, omega_packed_w_t *) = {
      [OMEGA_CPU_FP32] = omega__pack_f32, [OMEGA_CPU_BF16] = omega__pack_bf16, [OMEGA_CPU_BF16X3] = omega__pack_bf16x3,
      [OMEGA_CPU_INT8] = omega__pack_int8};
  int (*pack)(const float *, size_t, size_t, omega_packed_w_t *) = packers[prec];
  for (int l = 0; l < p->n_layers; l++) {
    const omega_bert_layer_t *L = &m->layers[l];
    omega_packed_layer_t *P = &p->layers[l];
    int rc;
    if ((rc = pack(L->qkv_w, 3 * H, H, &P->qkv)) || (rc = pack(L->ao_w, H, H, &P->ao)) ||
        (rc = pack(L->ff1_w, I, H, &P->ff1)) || (rc = pack(L->ff2_w, H, I, &P->ff2))) {
      omega__cpu_packed_free(p);
      return rc;
    }
  }
  *out = p;
  return 0;
}

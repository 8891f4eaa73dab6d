#include "index/flat_bf16.h"

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/packed.h"
#include "core/alloc.h"
#include "core/error_internal.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct omega_flat_bf16 {
  pthread_rwlock_t lock;       /* readers score; a writer packs new slots */
  omega_flat_bf16_mode_t mode; /* of what is packed */
  size_t n;                    /* slots packed */
  size_t cap;                  /* slots the buffers hold (a multiple of 16) */
  omega_packed_w_t pw;         /* bf16 (ONE) or bf16x3 (THREE) layout over [cap][dim]; pw.N is n */
  float *rnorm;                /* [cap]: at least each slot's norm */
  float *rres;                 /* [cap]: ONE: at least |x - bf16(x)| per slot; THREE: 0 */
};

int omega__flat_bf16_create(omega_flat_bf16_t **out) {
  omega_flat_bf16_t *a = omega__calloc(1, sizeof *a);
  if (!a)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  pthread_rwlock_init(&a->lock, NULL);
  *out = a;
  return 0;
}

static void release(omega_flat_bf16_t *a) {
  omega__free(a->pw.w);
  omega__free(a->pw.w_lo);
  omega__free(a->rnorm);
  omega__free(a->rres);
  a->pw.w = a->pw.w_lo = NULL;
  a->rnorm = a->rres = NULL;
  a->n = a->cap = 0;
  a->mode = OMEGA_FLAT_BF16_NONE;
}

void omega__flat_bf16_free(omega_flat_bf16_t *a) {
  if (!a)
    return;
  release(a);
  pthread_rwlock_destroy(&a->lock);
  omega__free(a);
}

/* Bytes per slot: the bf16 parts (one or two), the norm and the residual. */
static size_t slot_bytes(omega_flat_bf16_mode_t mode, size_t Kp) {
  return Kp * 2 * (mode == OMEGA_FLAT_BF16_THREE ? 2 : 1) + 2 * sizeof(float);
}

size_t omega__flat_bf16_bytes(const omega_flat_bf16_t *a) {
  return a && a->pw.w ? a->cap * slot_bytes(a->mode, a->pw.Kp) : 0;
}

/* Capacity for n slots: doubling from 1024. */
static size_t cap_for(size_t cap, size_t n) {
  cap = cap ? cap : 1024;
  while (cap < n)
    cap *= 2;
  return cap;
}

size_t omega__flat_bf16_bytes_after(const omega_flat_bf16_t *a, size_t n) {
  return a && a->pw.w ? cap_for(a->cap, n) * slot_bytes(a->mode, a->pw.Kp) : 0;
}

/* The mode the CPU and the dispatch give this index, whether or not the copy is ruled out.
 * Below 32 dimensions a bf16 row is mostly padding, and the bound's share of the distance
 * grows: the fp32 GEMM serves those. */
static omega_flat_bf16_mode_t mode_here(const omega_vindex_t *ix) {
  if (!ix->b16 || ix->p.dim < 32)
    return OMEGA_FLAT_BF16_NONE;
  const omega_cpu_isa_t *isa = omega__cpu_isa();
  if (strcmp(ix->simd->name, "amx") == 0 && isa->amx)
    return OMEGA_FLAT_BF16_THREE;
  if ((strcmp(ix->simd->name, "amx") == 0 || strcmp(ix->simd->name, "avx512") == 0) && isa->bf16)
    return OMEGA_FLAT_BF16_ONE;
  return OMEGA_FLAT_BF16_NONE;
}

/* Counted while the copy is ruled out too: that is what the owner weighs to allow it again. */
size_t omega__flat_bf16_bytes_to_build(const omega_vindex_t *ix) {
  const omega_flat_bf16_mode_t mode = mode_here(ix);
  return mode ? cap_for(0, ix->n) * slot_bytes(mode, (ix->p.dim + 31) & ~(size_t)31) : 0;
}

omega_flat_bf16_mode_t omega__flat_bf16_mode(const omega_vindex_t *ix) {
  return ix->copy_off ? OMEGA_FLAT_BF16_NONE : mode_here(ix);
}

void omega__flat_bf16_read_lock(omega_flat_bf16_t *a) { pthread_rwlock_rdlock(&a->lock); }
void omega__flat_bf16_read_unlock(omega_flat_bf16_t *a) { pthread_rwlock_unlock(&a->lock); }
omega_flat_bf16_mode_t omega__flat_bf16_prepared_mode(const omega_flat_bf16_t *a) { return a->mode; }
const float *omega__flat_bf16_rnorms(const omega_flat_bf16_t *a) { return a->rnorm; }
const float *omega__flat_bf16_rres(const omega_flat_bf16_t *a) { return a->rres; }

/* Grow the buffers to `cap` slots (padding rows and columns zero). */
static int grow(omega_flat_bf16_t *a, omega_flat_bf16_mode_t mode, size_t cap, size_t Kp) {
  void **parts[4] = {&a->pw.w, &a->pw.w_lo, (void **)&a->rnorm, (void **)&a->rres};
  const size_t old_slots = a->pw.w ? a->cap : 0;
  for (int i = 0; i < 4; i++) {
    if (i == 1 && mode != OMEGA_FLAT_BF16_THREE)
      continue;
    const size_t per = i >= 2 ? sizeof(float) : Kp * sizeof(uint16_t);
    char *p = omega__aligned_alloc(64, cap * per);
    if (!p)
      return omega__seterr(OMEGA_ENOMEM, "flat index: out of memory for the bf16 copy of %zu vectors", cap);
    if (old_slots)
      memcpy(p, *parts[i], old_slots * per);
    memset(p + old_slots * per, 0, (cap - old_slots) * per);
    omega__free(*parts[i]);
    *parts[i] = p;
  }
  a->cap = cap;
  return 0;
}

/* A double rounded up to a float that is at least it. */
static float up(double v) { return nextafterf((float)(v * (1.0 + 0x1p-40)), INFINITY); }

float omega__flat_bf16_norm_up(const float *x, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++)
    s += (double)x[i] * x[i];
  return up(sqrt(s));
}

float omega__flat_bf16_res_up(omega_flat_bf16_mode_t mode, const float *x, size_t d) {
  if (mode != OMEGA_FLAT_BF16_ONE)
    return 0.0f;
  double s = 0;
  for (size_t i = 0; i < d; i++) {
    const double r = (double)x[i] - omega__bf16_float(omega__bf16(x[i]));
    s += r * r;
  }
  return up(sqrt(s));
}

int omega__flat_bf16_prepare(const omega_vindex_t *ix, omega_flat_bf16_t *a) {
  const omega_flat_bf16_mode_t mode = omega__flat_bf16_mode(ix);
  if (!mode)
    return omega__seterr(OMEGA_EINVAL, "flat index: no bf16 copy on this CPU");
  pthread_rwlock_rdlock(&a->lock);
  const bool ready = a->pw.w && a->n == ix->n && a->mode == mode;
  pthread_rwlock_unlock(&a->lock);
  if (ready)
    return 0;
  pthread_rwlock_wrlock(&a->lock);
  int rc = 0;
  const size_t d = ix->p.dim, Kp = (d + 31) & ~(size_t)31;
  if (a->pw.w && a->mode != mode) /* the dispatch changed (tests force it): pack afresh */
    release(a);
  if (a->n < ix->n || !a->pw.w) {
    if (ix->n > a->cap || !a->pw.w)
      rc = grow(a, mode, cap_for(a->cap, ix->n), Kp);
    if (rc == 0) {
      /* the last panel may have been packed partly: repack from its start */
      const size_t from = a->n & ~(size_t)15;
      omega__pack_bf16x3_rows(ix->vecs, from, ix->n, d, Kp, a->pw.w, mode == OMEGA_FLAT_BF16_THREE ? a->pw.w_lo : NULL);
      for (size_t s = from; s < ix->n; s++) {
        a->rnorm[s] = omega__flat_bf16_norm_up(ix->vecs + s * d, d);
        a->rres[s] = omega__flat_bf16_res_up(mode, ix->vecs + s * d, d);
      }
      const omega_cpu_precision_t prec = mode == OMEGA_FLAT_BF16_THREE ? OMEGA_CPU_BF16X3 : OMEGA_CPU_BF16;
      a->pw = (omega_packed_w_t){prec, ix->n, d, Kp, a->cap, a->pw.w, a->pw.w_lo, NULL, NULL};
      a->n = ix->n;
      a->mode = mode;
    }
  }
  pthread_rwlock_unlock(&a->lock);
  return rc;
}

int omega__flat_bf16_queries(const omega_flat_bf16_t *a, const omega_vindex_t *ix, const float *qs, size_t nq,
                             omega_bf16_queries_t *out) {
  const size_t d = ix->p.dim, Kp = (d + 31) & ~(size_t)31, rows = (nq + 15) & ~(size_t)15;
  const bool three = a->mode == OMEGA_FLAT_BF16_THREE;
  out->nq = nq;
  out->hi = omega__calloc(rows * Kp, sizeof *out->hi);
  out->lo = three ? omega__calloc(rows * Kp, sizeof *out->lo) : NULL;
  if (!out->hi || (three && !out->lo)) {
    omega__flat_bf16_queries_free(out);
    return omega__seterr(OMEGA_ENOMEM, "flat search: out of memory for %zu queries", nq);
  }
#if defined(__x86_64__)
  if (three)
    omega__bf16x3_rows(nq, qs, d, Kp, out->hi, out->lo);
  else
    omega__bf16_rows(nq, qs, d, Kp, out->hi);
#else
  (void)qs; /* no bf16 kernels: never prepared */
#endif
  return 0;
}

void omega__flat_bf16_queries_free(omega_bf16_queries_t *q) {
  omega__free(q->hi);
  omega__free(q->lo);
  q->hi = q->lo = NULL;
}

void omega__flat_bf16_scores(const omega_flat_bf16_t *a, const omega_bf16_queries_t *qa, size_t q0, size_t nb,
                             size_t r0, size_t nr, float *scores) {
  /* Rows [r0, r0 + nr) are whole 16-row panels from r0 on: a packed matrix of their own. */
  omega_packed_w_t sub = a->pw;
  const size_t Kp = a->pw.Kp;
  sub.N = nr;
  sub.Np = (nr + 15) & ~(size_t)15;
  sub.w = (uint16_t *)a->pw.w + r0 * Kp;
  sub.w_lo = a->pw.w_lo ? (uint16_t *)a->pw.w_lo + r0 * Kp : NULL;
#if defined(__x86_64__)
  if (a->mode == OMEGA_FLAT_BF16_THREE)
    omega__gemm_amx_bf16(nb, qa->hi + q0 * Kp, qa->lo + q0 * Kp, &sub, NULL, scores, 0, sub.Np / 16);
  else
    omega__gemm_bf16_avx512(nb, qa->hi + q0 * Kp, &sub, NULL, scores, 0, sub.Np / 16);
#else
  (void)sub, (void)qa, (void)q0, (void)nb, (void)scores; /* no bf16 kernels: never prepared */
#endif
}

/* Every coordinate a is rounded to bf16 (8 significant bits, to nearest): |a - hi| <= 2^-8 |a|.
 * THREE: a = hi + lo + r with |r| <= 2^-8 |a - hi|, so the products left out, lo.lo, r.x and
 *   (hi + lo).r, sum to at most (2^-16 + 2^-16 + (1 + 2^-8) 2^-16) |q_i| |x_i| per
 *   coordinate: 3.01 * 2^-16 |q| |x| (Cauchy-Schwarz). The tiles multiply bf16 pairs exactly
 *   and accumulate in fp32: at most 3 Kp / 2 + 2 roundings of 2^-24.
 * ONE: q.x - hi(q).hi(x) = q.(x - hi(x)) + (q - hi(q)).hi(x), at most |q| res(x) + res(q)
 *   (|x| + res(x)) by Cauchy-Schwarz on the rounding residuals themselves (per vector, about
 *   half the 2^-8 |x| of the worst case). vdpbf16ps multiplies pairs exactly and adds them
 *   in fp32, at most Kp roundings per lane; taken at 2^-23 each, in case an implementation
 *   truncates.
 * Either way over terms summing to at most (1 + 2^-8)^2 |q| |x|, and a few more fp32 steps in
 * the callers. */
double omega__flat_bf16_unit(omega_flat_bf16_mode_t mode, size_t dim) {
  const double Kp = (double)((dim + 31) & ~(size_t)31);
  if (mode == OMEGA_FLAT_BF16_THREE)
    return 3.02 * 0x1p-16 + (1.5 * Kp + 2.0 + 8.0) * 1.01 * 0x1p-24;
  return (Kp + 2.0 + 8.0) * 1.02 * 0x1p-23;
}

/* Inputs, products and sums below 2^-126, which the bf16 units flush to zero: at most 2^-126
 * times a coordinate of the other vector per term, and 2^-126 per accumulation (generous by
 * 2^6); times (1 + |q| + |x|). */
double omega__flat_bf16_tiny(size_t dim) { return 0x1p-120 * (double)(2 * dim + 32); }

#include "index/flat_amx.h"

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/packed.h"
#include "core/alloc.h"
#include "core/error_internal.h"

#include <float.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct omega_flat_amx {
  pthread_rwlock_t lock; /* readers score; a writer packs new slots */
  size_t n;              /* slots packed */
  size_t cap;            /* slots the buffers hold (a multiple of 16) */
  omega_packed_w_t pw;   /* bf16x3 layout over [cap][dim]; pw.N is n */
};

int omega__flat_amx_create(omega_flat_amx_t **out) {
  omega_flat_amx_t *a = omega__calloc(1, sizeof *a);
  if (!a)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  pthread_rwlock_init(&a->lock, NULL);
  *out = a;
  return 0;
}

void omega__flat_amx_free(omega_flat_amx_t *a) {
  if (!a)
    return;
  omega__free(a->pw.w);
  omega__free(a->pw.w_lo);
  pthread_rwlock_destroy(&a->lock);
  omega__free(a);
}

size_t omega__flat_amx_bytes(const omega_flat_amx_t *a) { return a && a->pw.w ? a->cap * a->pw.Kp * 4 : 0; }

/* Capacity for n slots: doubling from 1024. */
static size_t cap_for(size_t cap, size_t n) {
  cap = cap ? cap : 1024;
  while (cap < n)
    cap *= 2;
  return cap;
}

size_t omega__flat_amx_bytes_after(const omega_flat_amx_t *a, size_t n) {
  return a && a->pw.w ? cap_for(a->cap, n) * a->pw.Kp * 4 : 0;
}

size_t omega__flat_amx_bytes_to_build(const omega_vindex_t *ix) {
  return cap_for(0, ix->n) * ((ix->p.dim + 31) & ~(size_t)31) * 4;
}

/* Below 32 dimensions a tile row is mostly padding, and the bound's share of the distance
 * grows: the fp32 GEMM serves those. */
bool omega__flat_amx_useful(const omega_vindex_t *ix) {
  return ix->amx && !ix->copy_off && ix->p.dim >= 32 && strcmp(ix->simd->name, "amx") == 0 && omega__cpu_isa()->amx;
}

void omega__flat_amx_read_lock(omega_flat_amx_t *a) { pthread_rwlock_rdlock(&a->lock); }
void omega__flat_amx_read_unlock(omega_flat_amx_t *a) { pthread_rwlock_unlock(&a->lock); }

/* Grow both buffers to `cap` slots (padding rows and columns zero). */
static int grow(omega_flat_amx_t *a, size_t cap, size_t Kp) {
  uint16_t *parts[2] = {a->pw.w, a->pw.w_lo};
  for (int i = 0; i < 2; i++) {
    uint16_t *p = omega__aligned_alloc(64, cap * Kp * sizeof *p);
    if (!p)
      return omega__seterr(OMEGA_ENOMEM, "flat index: out of memory for the AMX copy of %zu vectors", cap);
    const size_t old = parts[i] ? a->cap * Kp : 0;
    if (old)
      memcpy(p, parts[i], old * sizeof *p);
    memset(p + old, 0, (cap * Kp - old) * sizeof *p);
    omega__free(parts[i]);
    parts[i] = p;
    if (i == 0)
      a->pw.w = p;
    else
      a->pw.w_lo = p;
  }
  a->cap = cap;
  return 0;
}

int omega__flat_amx_prepare(const omega_vindex_t *ix, omega_flat_amx_t *a) {
  pthread_rwlock_rdlock(&a->lock);
  const bool ready = a->pw.w && a->n == ix->n;
  pthread_rwlock_unlock(&a->lock);
  if (ready)
    return 0;
  pthread_rwlock_wrlock(&a->lock);
  int rc = 0;
  const size_t d = ix->p.dim, Kp = (d + 31) & ~(size_t)31;
  if (a->n < ix->n || !a->pw.w) {
    if (ix->n > a->cap || !a->pw.w)
      rc = grow(a, cap_for(a->cap, ix->n), Kp);
    if (rc == 0) {
      /* the last panel may have been packed partly: repack from its start */
      const size_t from = a->n & ~(size_t)15;
      omega__pack_bf16x3_rows(ix->vecs, from, ix->n, d, Kp, a->pw.w, a->pw.w_lo);
      a->pw = (omega_packed_w_t){OMEGA_CPU_BF16X3, ix->n, d, Kp, a->cap, a->pw.w, a->pw.w_lo, NULL, NULL};
      a->n = ix->n;
    }
  }
  pthread_rwlock_unlock(&a->lock);
  return rc;
}

int omega__flat_amx_queries(const omega_vindex_t *ix, const float *qs, size_t nq, omega_amx_queries_t *out) {
  const size_t d = ix->p.dim, Kp = (d + 31) & ~(size_t)31, rows = (nq + 15) & ~(size_t)15;
  out->nq = nq;
  out->hi = omega__calloc(rows * Kp, sizeof *out->hi);
  out->lo = omega__calloc(rows * Kp, sizeof *out->lo);
  if (!out->hi || !out->lo) {
    omega__flat_amx_queries_free(out);
    return omega__seterr(OMEGA_ENOMEM, "flat search: out of memory for %zu queries", nq);
  }
  omega__bf16x3_rows(nq, qs, d, Kp, out->hi, out->lo);
  return 0;
}

void omega__flat_amx_queries_free(omega_amx_queries_t *q) {
  omega__free(q->hi);
  omega__free(q->lo);
  q->hi = q->lo = NULL;
}

void omega__flat_amx_scores(const omega_flat_amx_t *a, const omega_amx_queries_t *qa, size_t q0, size_t nb,
                            size_t r0, size_t nr, float *scores) {
  /* Rows [r0, r0 + nr) are whole 16-row panels from r0 on: a packed matrix of their own. */
  omega_packed_w_t sub = a->pw;
  const size_t Kp = a->pw.Kp;
  sub.N = nr;
  sub.Np = (nr + 15) & ~(size_t)15;
  sub.w = (uint16_t *)a->pw.w + r0 * Kp;
  sub.w_lo = (uint16_t *)a->pw.w_lo + r0 * Kp;
#if defined(__x86_64__)
  omega__gemm_amx_bf16(nb, qa->hi + q0 * Kp, qa->lo + q0 * Kp, &sub, NULL, scores, 0, sub.Np / 16);
#else
  (void)sub, (void)qa, (void)q0, (void)nb, (void)scores; /* no AMX: never prepared */
#endif
}

/* Every coordinate is a = hi + lo + r with |a - hi| <= 2^-8 |a| and |r| <= 2^-8 |a - hi|
 * (bf16 keeps 8 significant bits, round to nearest). The products left out, lo.lo, r.x and
 * (hi + lo).r, sum to at most (2^-16 + 2^-16 + (1 + 2^-8) 2^-16) |q_i| |x_i| per coordinate,
 * so at most 3.01 * 2^-16 |q| |x| (Cauchy-Schwarz). The tiles multiply bf16 pairs exactly and
 * accumulate in fp32: at most 3 Kp / 2 + 2 roundings of 2^-24 over terms summing to at most
 * (1 + 2^-8)^2 |q| |x|; and the caller's fp32 steps around the dot product add a few more.
 * Inputs and sums below 2^-126, which AMX flushes to zero, are covered by the re-rank's
 * absolute term. */
double omega__flat_amx_unit(const omega_vindex_t *ix) {
  const double Kp = (double)((ix->p.dim + 31) & ~(size_t)31);
  return 3.02 * 0x1p-16 + (1.5 * Kp + 2.0 + 8.0) * 1.01 * 0x1p-24;
}

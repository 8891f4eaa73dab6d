#include "index/walk16.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* The largest magnitude maps into [2^14, 2^15): below the half maximum (65504) with room. */
#define TOP_EXP 14

struct omega_walk16 {
  pthread_rwlock_t lock; /* walks read; a writer converts new slots */
  size_t n, cap, dim;    /* slots converted, slots the buffer holds */
  uint16_t *rows;        /* [cap][dim] */
  float scale;           /* a power of two */
  float maxabs;          /* over the converted slots */
};

int omega__walk16_create(omega_walk16_t **out) {
  omega_walk16_t *w = omega__calloc(1, sizeof *w);
  if (!w)
    return omega__seterr(OMEGA_ENOMEM, "out of memory");
  pthread_rwlock_init(&w->lock, NULL);
  *out = w;
  return 0;
}

void omega__walk16_free(omega_walk16_t *w) {
  if (!w)
    return;
  omega__free(w->rows);
  pthread_rwlock_destroy(&w->lock);
  omega__free(w);
}

size_t omega__walk16_bytes(const omega_walk16_t *w) { return w && w->rows ? w->cap * w->dim * sizeof(uint16_t) : 0; }

/* The copy holds as many slots as the vectors (ix->cap), so it grows with them. */
size_t omega__walk16_bytes_after(const omega_walk16_t *w, size_t dim, size_t cap) {
  return w && w->rows ? cap * dim * sizeof(uint16_t) : 0;
}

size_t omega__walk16_bytes_to_build(const omega_vindex_t *ix) { return ix->cap * ix->p.dim * sizeof(uint16_t); }

bool omega__walk16_useful(const omega_vindex_t *ix) {
  return ix->w16 && ix->g && !ix->copy_off && ix->simd->l2sq_f16 && ix->simd->dot_f16;
}

const uint16_t *omega__walk16_acquire(omega_walk16_t *w, float *scale) {
  pthread_rwlock_rdlock(&w->lock);
  *scale = w->scale;
  return w->rows;
}

void omega__walk16_release(omega_walk16_t *w) { pthread_rwlock_unlock(&w->lock); }

static float max_abs(const float *x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmaxf(m, fabsf(x[i]));
  return m;
}

#if defined(__x86_64__)
/* Only reached where the index's kernels are the AVX-512 ones (omega__walk16_useful). */
__attribute__((target("avx512f,f16c"))) static void convert(const float *x, size_t n, float scale, uint16_t *out) {
  const __m512 s = _mm512_set1_ps(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(out + i),
                        _mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++)
    out[i] = _cvtss_sh(x[i] * scale, _MM_FROUND_TO_NEAREST_INT);
}
#elif defined(__aarch64__)
/* fcvtn rounds to nearest even (the default FPCR mode), as the x86 path does. */
static void convert(const float *x, size_t n, float scale, uint16_t *out) {
  const float32x4_t s = vdupq_n_f32(scale);
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vmulq_f32(vld1q_f32(x + i), s))));
  for (; i < n; i++) {
    const __fp16 h = (__fp16)(x[i] * scale);
    memcpy(out + i, &h, sizeof h);
  }
}
#else
static void convert(const float *x, size_t n, float scale, uint16_t *out) {
  (void)x, (void)n, (void)scale, (void)out; /* never useful without half conversions in hardware */
}
#endif

int omega__walk16_prepare(const omega_vindex_t *ix, omega_walk16_t *w) {
  pthread_rwlock_rdlock(&w->lock);
  const bool ready = w->rows && w->n == ix->n;
  pthread_rwlock_unlock(&w->lock);
  if (ready)
    return 0;
  pthread_rwlock_wrlock(&w->lock);
  int rc = 0;
  const size_t d = ix->p.dim;
  if (!w->rows || w->n < ix->n) {
    size_t from = w->rows ? w->n : 0;
    const float m = max_abs(ix->vecs + from * d, (ix->n - from) * d);
    const bool rescale = !w->rows || m * w->scale >= 0x1p15f; /* first build, or a new magnitude */
    w->maxabs = fmaxf(m, w->rows ? w->maxabs : 0);
    if (rescale) {
      from = 0;
      const int e = w->maxabs > 0 ? TOP_EXP - ilogbf(w->maxabs) : 0;
      w->scale = ldexpf(1.0f, e < -100 ? -100 : e > 100 ? 100 : e);
    }
    if (ix->cap > w->cap || !w->rows) {
      const size_t cap = ix->cap;
      uint16_t *r = omega__realloc(w->rows, cap * d * sizeof *r);
      if (!r)
        rc = omega__seterr(OMEGA_ENOMEM, "HNSW: out of memory for the half-precision copy of %zu vectors", cap);
      else {
        w->rows = r;
        w->cap = cap;
        w->dim = d;
      }
    }
    if (rc == 0) {
      convert(ix->vecs + from * d, (ix->n - from) * d, w->scale, w->rows + from * d);
      w->n = ix->n;
    }
  }
  pthread_rwlock_unlock(&w->lock);
  return rc;
}

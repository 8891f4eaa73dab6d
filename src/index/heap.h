/* Binary heaps of hits ordered by (distance, slot): a max-heap keeps the k best seen so
 * far (its top is the worst of them), a min-heap is a frontier (its top is the best). */
#ifndef OMEGA_INDEX_HEAP_H
#define OMEGA_INDEX_HEAP_H

#include "index/vindex.h"

#include <stdlib.h>

typedef struct {
  omega_hit_t *v;
  size_t n, cap;
} omega_heap_t;

static inline int omega__hit_less(omega_hit_t a, omega_hit_t b) {
  return a.dist < b.dist || (a.dist == b.dist && a.slot < b.slot);
}

static inline int omega__heap_grow(omega_heap_t *h) {
  if (h->n < h->cap)
    return 0;
  size_t nc = h->cap ? h->cap * 2 : 64;
  omega_hit_t *nv = realloc(h->v, nc * sizeof *nv);
  if (!nv)
    return -1;
  h->v = nv;
  h->cap = nc;
  return 0;
}

static inline int omega__heap_push_max(omega_heap_t *h, float d, uint32_t s) {
  if (omega__heap_grow(h))
    return -1;
  omega_hit_t x = {d, s};
  size_t i = h->n++;
  while (i) {
    size_t p = (i - 1) / 2;
    if (!omega__hit_less(h->v[p], x))
      break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = x;
  return 0;
}

static inline void omega__heap_pop_max(omega_heap_t *h) {
  omega_hit_t x = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && omega__hit_less(h->v[c], h->v[c + 1]))
      c++;
    if (!omega__hit_less(x, h->v[c]))
      break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n)
    h->v[i] = x;
}

static inline int omega__heap_push_min(omega_heap_t *h, float d, uint32_t s) {
  if (omega__heap_grow(h))
    return -1;
  omega_hit_t x = {d, s};
  size_t i = h->n++;
  while (i) {
    size_t p = (i - 1) / 2;
    if (!omega__hit_less(x, h->v[p]))
      break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = x;
  return 0;
}

static inline void omega__heap_pop_min(omega_heap_t *h) {
  omega_hit_t x = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && omega__hit_less(h->v[c + 1], h->v[c]))
      c++;
    if (!omega__hit_less(h->v[c], x))
      break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n)
    h->v[i] = x;
}

static inline void omega__heap_free(omega_heap_t *h) {
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

#endif

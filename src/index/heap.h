/* Binary heaps of hits ordered by (distance, slot): a max-heap keeps the k best seen so
 * far (its top is the worst of them), a min-heap is a frontier (its top is the best). */
#ifndef OMEGA_INDEX_HEAP_H
#define OMEGA_INDEX_HEAP_H

#include "core/alloc.h"
#include "index/store.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct {
  omega_hit_t *v;
  size_t n, cap;
} omega_heap_t;

static inline int omega__hit_less(omega_hit_t a, omega_hit_t b) {
  return a.dist < b.dist || (a.dist == b.dist && a.slot < b.slot);
}

/* Whether a belongs nearer the top than b: a max-heap's top is the greatest. The heaps below
 * take `max` as a constant, so each use compiles to one of the two orders. */
static inline int omega__heap_above(omega_hit_t a, omega_hit_t b, bool max) {
  return max ? omega__hit_less(b, a) : omega__hit_less(a, b);
}

/* Room for at least want hits; -1 when out of memory (the heap is unchanged). */
static inline int omega__heap_reserve(omega_heap_t *h, size_t want) {
  if (h->cap >= want)
    return 0;
  omega_hit_t *nv = omega__realloc(h->v, want * sizeof *nv);
  if (!nv)
    return -1;
  h->v = nv;
  h->cap = want;
  return 0;
}

/* Room for one more hit, doubling. */
static inline int omega__heap_grow(omega_heap_t *h) {
  return h->n < h->cap ? 0 : omega__heap_reserve(h, h->cap ? h->cap * 2 : 64);
}

static inline int omega__heap_push(omega_heap_t *h, float d, uint32_t s, bool max) {
  if (omega__heap_grow(h))
    return -1;
  omega_hit_t x = {d, s};
  size_t i = h->n++;
  while (i) {
    size_t p = (i - 1) / 2;
    if (!omega__heap_above(x, h->v[p], max))
      break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = x;
  return 0;
}

static inline void omega__heap_pop(omega_heap_t *h, bool max) {
  omega_hit_t x = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && omega__heap_above(h->v[c + 1], h->v[c], max))
      c++;
    if (!omega__heap_above(h->v[c], x, max))
      break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n)
    h->v[i] = x;
}

static inline int omega__heap_push_max(omega_heap_t *h, float d, uint32_t s) { return omega__heap_push(h, d, s, true); }
static inline void omega__heap_pop_max(omega_heap_t *h) { omega__heap_pop(h, true); }
static inline int omega__heap_push_min(omega_heap_t *h, float d, uint32_t s) { return omega__heap_push(h, d, s, false); }
static inline void omega__heap_pop_min(omega_heap_t *h) { omega__heap_pop(h, false); }

/* Keep (d, s) if it is among the best `cap` offered to the max-heap h so far. */
static inline void omega__heap_offer(omega_heap_t *h, size_t cap, float d, uint32_t s) {
  if (h->n < cap) {
    omega__heap_push_max(h, d, s);
  } else if (cap && omega__hit_less((omega_hit_t){d, s}, h->v[0])) { /* cap 0 keeps nothing */
    omega__heap_pop_max(h);
    omega__heap_push_max(h, d, s);
  }
}

static inline void omega__heap_free(omega_heap_t *h) {
  omega__free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

#endif

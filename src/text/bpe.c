/* Byte-pair encoding as HF tokenizers runs it: the word starts as one symbol per character
 * (continuing-subword prefix on all but the first, end-of-word suffix on the last, byte
 * fallback or unk for characters outside the vocabulary), then the pair of adjacent
 * symbols with the lowest merge rank (leftmost on ties) merges until none is left. A heap
 * of candidate merges keeps that O(n log n) in the word length, so a hostile 100k-character
 * word costs no more than its size. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"
#include "text/utf8.h"

#include <string.h>

static inline size_t merge_hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (size_t)k;
}

static const omega_merge_t *merge_get(const omega_bpe_t *b, int32_t l, int32_t r) {
  if (!b->tab)
    return NULL;
  uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
  for (size_t i = merge_hash(key) & b->mask;; i = (i + 1) & b->mask) {
    if (b->tab[i].key == key)
      return &b->tab[i];
    if (b->tab[i].key == 0)
      return NULL;
  }
}

int omega__bpe_add_merge(omega_bpe_t *b, int32_t l, int32_t r, uint32_t rank, int32_t new_id) {
  uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
  for (size_t i = merge_hash(key) & b->mask;; i = (i + 1) & b->mask) {
    if (b->tab[i].key == key || b->tab[i].key == 0) {
      /* a repeated pair: the later line wins, as in HF's map */
      b->tab[i] = (omega_merge_t){key, rank, new_id};
      return 0;
    }
  }
}

int omega__bpe_init(omega_bpe_t *b, size_t n_merges) {
  size_t cap = 16;
  while (cap < 2 * n_merges + 2)
    cap *= 2;
  b->tab = omega__calloc(cap, sizeof *b->tab);
  if (!b->tab)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  b->mask = cap - 1;
  return 0;
}

void omega__bpe_free(omega_bpe_t *b) {
  omega__free(b->tab);
  omega__free(b->cont_prefix);
  omega__free(b->end_suffix);
  memset(b, 0, sizeof *b);
}

typedef struct {
  uint32_t rank, pos;
  int32_t new_id;
} cand_t;

static inline bool cand_less(cand_t a, cand_t b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void heap_push(cand_t *h, size_t *n, cand_t c) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!cand_less(c, h[p]))
      break;
    h[i] = h[p];
    i = p;
  }
  h[i] = c;
}

static cand_t heap_pop(cand_t *h, size_t *n) {
  cand_t top = h[0], last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    cand_t best = last;
    if (l < *n && cand_less(h[l], best)) {
      m = l;
      best = h[l];
    }
    if (l + 1 < *n && cand_less(h[l + 1], best))
      m = l + 1;
    if (m == i)
      break;
    h[i] = h[m];
    i = m;
  }
  if (*n)
    h[i] = last;
  return top;
}

/* Vocabulary id of [prefix] c [suffix], or -1. */
static int32_t char_id(const omega_tokenizer_t *t, uint32_t c, bool first, bool last, unsigned char *tmp) {
  const omega_bpe_t *b = &t->bpe;
  size_t k = 0;
  if (!first && b->cont_prefix_len) {
    memcpy(tmp, b->cont_prefix, b->cont_prefix_len);
    k = b->cont_prefix_len;
  }
  k += omega__utf8_encode(c, tmp + k);
  if (last && b->end_suffix_len) {
    memcpy(tmp + k, b->end_suffix, b->end_suffix_len);
    k += b->end_suffix_len;
  }
  return omega__vocab_find(&t->vocab, (const char *)tmp, k);
}

int omega__bpe(omega_enc_t *e, const uint32_t *w, size_t n) {
  const omega_tokenizer_t *t = e->t;
  const omega_bpe_t *b = &t->bpe;
  size_t fix = b->cont_prefix_len + b->end_suffix_len + 8;
  unsigned char *tmp = omega__scratch_bytes(e->s, OMEGA_BYTES_WORD, 4 * n + fix);
  if (!tmp)
    return OMEGA_ENOMEM;
  if (b->ignore_merges) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
      len += omega__utf8_encode(w[i], tmp + len);
    int32_t id = omega__vocab_find(&t->vocab, (const char *)tmp, len);
    if (id >= 0)
      return omega__idvec_push(e->iv, id);
  }
  /* symbols: id, prev, next; a removed symbol has id -2 */
  int32_t *sym = omega__scratch_bytes(e->s, OMEGA_BYTES_MODEL1, 3 * (4 * n + 1) * sizeof(int32_t));
  /* m <= 4n symbols; at most m - 1 initial candidates and two per merge */
  cand_t *heap = omega__scratch_bytes(e->s, OMEGA_BYTES_MODEL2, (12 * n + 8) * sizeof(cand_t));
  if (!sym || !heap)
    return OMEGA_ENOMEM;
  int32_t *id = sym, *prev = sym + (4 * n + 1), *next = sym + 2 * (4 * n + 1);
  size_t m = 0;
  int32_t unk = -1; /* pending unk (fuse_unk folds a run of them into one) */
  for (size_t i = 0; i < n; i++) {
    int32_t c = char_id(t, w[i], i == 0, i + 1 == n, tmp);
    if (c < 0 && t->byte_fallback) {
      unsigned char u[4];
      size_t ul = omega__utf8_encode(w[i], u);
      bool all = true;
      for (size_t q = 0; q < ul; q++)
        all = all && t->byte_ids[u[q]] >= 0;
      if (all) { /* HF leaves a pending unk pending here: it lands after these bytes */
        for (size_t q = 0; q < ul; q++)
          id[m++] = t->byte_ids[u[q]];
        continue;
      }
    }
    if (c >= 0) {
      if (unk >= 0) {
        id[m++] = unk;
        unk = -1;
      }
      id[m++] = c;
      continue;
    }
    if (t->unk_id < 0)
      continue; /* no unk token: HF drops the character */
    if (unk >= 0 && !b->fuse_unk)
      id[m++] = unk;
    unk = t->unk_id;
  }
  if (unk >= 0)
    id[m++] = unk;
  size_t hn = 0;
  for (size_t i = 0; i < m; i++) {
    prev[i] = (int32_t)i - 1;
    next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    const omega_merge_t *mg = i + 1 < m ? merge_get(b, id[i], id[i + 1]) : NULL;
    if (mg)
      heap_push(heap, &hn, (cand_t){mg->rank, (uint32_t)i, mg->new_id});
  }
  while (hn) {
    cand_t top = heap_pop(heap, &hn);
    size_t p = top.pos;
    if (id[p] == -2 || next[p] < 0)
      continue;
    size_t r = (size_t)next[p];
    const omega_merge_t *mg = merge_get(b, id[p], id[r]);
    if (!mg || mg->new_id != top.new_id)
      continue; /* stale */
    id[p] = top.new_id;
    id[r] = -2;
    next[p] = next[r];
    if (next[r] >= 0)
      prev[next[r]] = (int32_t)p;
    if (prev[p] >= 0 && (mg = merge_get(b, id[prev[p]], id[p])))
      heap_push(heap, &hn, (cand_t){mg->rank, (uint32_t)prev[p], mg->new_id});
    if (next[p] >= 0 && (mg = merge_get(b, id[p], id[next[p]])))
      heap_push(heap, &hn, (cand_t){mg->rank, (uint32_t)p, mg->new_id});
  }
  for (int32_t i = m ? 0 : -1; i >= 0; i = next[i])
    if (omega__idvec_push(e->iv, id[i]))
      return OMEGA_ENOMEM;
  return 0;
}

/* Unigram (SentencePiece) segmentation as HF tokenizers runs it: Viterbi over the UTF-8
 * bytes of the piece, every vocabulary piece that starts at a character boundary a
 * candidate (shortest first, a later candidate replaces only a strictly better path), a
 * character with no piece of its own an unk candidate scored min_score - 10, and a run of
 * unks fused into one token. */
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"
#include "text/utf8.h"

#include <string.h>

#define UNK_PENALTY 10.0

typedef struct {
  double score;
  int32_t id;
  int32_t from; /* start byte of the best path's last token, -1 = unreached */
} node_t;

static size_t utf8_len(unsigned char b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

static int emit(omega_enc_t *e, const unsigned char *b, size_t s, size_t end, int32_t id) {
  const omega_tokenizer_t *t = e->t;
  if (id != t->unk_id)
    return omega__idvec_push(e->iv, id);
  /* a (fused) unk span: its string may still be a token; else byte fallback; else unk */
  int32_t v = omega__vocab_find(&t->vocab, (const char *)b + s, end - s);
  if (v >= 0)
    return omega__idvec_push(e->iv, v);
  if (t->byte_fallback) {
    bool all = true;
    for (size_t i = s; i < end; i++)
      all = all && t->byte_ids[b[i]] >= 0;
    if (all) {
      for (size_t i = s; i < end; i++)
        if (omega__idvec_push(e->iv, t->byte_ids[b[i]]))
          return OMEGA_ENOMEM;
      return 0;
    }
  }
  return omega__idvec_push(e->iv, t->unk_id);
}

int omega__unigram(omega_enc_t *e, const uint32_t *w, size_t n) {
  const omega_tokenizer_t *t = e->t;
  const omega_vocab_t *v = &t->vocab;
  unsigned char *b = omega__scratch_bytes(e->s, OMEGA_BYTES_WORD, 4 * n + 1);
  node_t *best;
  size_t len = 0;
  if (!b)
    return OMEGA_ENOMEM;
  for (size_t i = 0; i < n; i++)
    len += omega__utf8_encode(w[i], b + len);
  best = omega__scratch_bytes(e->s, OMEGA_BYTES_MODEL1, (len + 1) * sizeof *best);
  int32_t *path = omega__scratch_bytes(e->s, OMEGA_BYTES_MODEL2, (len + 1) * sizeof *path);
  if (!best || !path)
    return OMEGA_ENOMEM;
  for (size_t i = 0; i <= len; i++)
    best[i] = (node_t){0.0, -1, -1};
  double unk_score = t->uni.min_score - UNK_PENALTY;
  for (size_t s = 0; s < len;) {
    double here = best[s].score;
    size_t mb = utf8_len(b[s]);
    if (mb > len - s)
      mb = len - s;
    bool single = false;
    int32_t node = 0;
    for (size_t k = s; k < len; k++) {
      node = omega__vocab_walk(v, node, (const char *)b + k, 1);
      if (node < 0)
        break;
      int32_t id = v->term[node];
      if (id < 0)
        continue;
      size_t end = k + 1;
      double cand = t->uni.scores[id] + here;
      if (best[end].from < 0 || cand > best[end].score)
        best[end] = (node_t){cand, id, (int32_t)s};
      if (end - s == mb)
        single = true;
    }
    if (!single) {
      if (t->unk_id < 0)
        return omega__seterr(OMEGA_EFORMAT, "tokenizer: Unigram model without unk_id met an unknown character");
      double cand = unk_score + here;
      if (best[s + mb].from < 0 || cand > best[s + mb].score)
        best[s + mb] = (node_t){cand, t->unk_id, (int32_t)s};
    }
    s += mb;
  }
  /* back-track; path[] holds the end positions in reverse */
  size_t np = 0;
  for (size_t end = len; end > 0; end = (size_t)best[end].from)
    path[np++] = (int32_t)end;
  size_t start = 0;
  for (size_t i = np; i-- > 0;) {
    size_t end = (size_t)path[i];
    int32_t id = best[end].id;
    if (id == t->unk_id) { /* fuse the run of unks */
      while (i > 0 && best[path[i - 1]].id == t->unk_id)
        end = (size_t)path[--i];
    }
    if (emit(e, b, start, end, id))
      return OMEGA_ENOMEM;
    start = end;
  }
  return 0;
}

/* WordPiece: greedy longest match from the start of the word, continuation pieces behind
 * the continuing-subword prefix; a word with any unmatched rest is one unk token. */
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"
#include "text/utf8.h"

int omega__wordpiece(omega_enc_t *e, const uint32_t *w, size_t n) {
  const omega_tokenizer_t *t = e->t;
  if (n > t->max_input_chars_per_word)
    return omega__idvec_push(e->iv, t->unk_id);
  unsigned char *b = omega__scratch_bytes(e->s, OMEGA_BYTES_WORD, n * 4 + 1);
  if (!b)
    return OMEGA_ENOMEM;
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += omega__utf8_encode(w[i], b + len);
  size_t mark = e->iv->n, start = 0;
  while (start < len) {
    int32_t node = start == 0 ? 0 : t->cont_root;
    size_t m = 0;
    int32_t id = node < 0 ? -1 : omega__vocab_longest(&t->vocab, node, b + start, len - start, &m);
    if (id < 0) {
      e->iv->n = mark; /* any unmatched piece: the whole word is one [UNK] */
      return omega__idvec_push(e->iv, t->unk_id);
    }
    if (omega__idvec_push(e->iv, id))
      return OMEGA_ENOMEM;
    start += m;
  }
  return 0;
}

#ifndef OMEGA_TEXT_TOKENIZER_INTERNAL_H
#define OMEGA_TEXT_TOKENIZER_INTERNAL_H

#include "omega/tokenizer.h"
#include "text/vocab.h"

#include <stdbool.h>

typedef struct {
  uint32_t *cps; /* content as code points (normalized form for normalized tokens) */
  size_t n_cps;
  int32_t id;
  bool single_word, lstrip, rstrip, normalized, special;
} omega_added_token_t;

typedef struct {
  bool enabled; /* false: no normalizer */
  bool clean_text, handle_chinese_chars, strip_accents, lowercase;
} omega_bert_norm_t;

struct omega_tokenizer {
  omega_vocab_t vocab;
  omega_bert_norm_t norm;
  bool bert_pretokenizer; /* false: no pre-tokenizer (the whole piece is one word) */
  int32_t unk_id;
  char *cont_prefix;
  size_t cont_prefix_len;
  int32_t cont_root; /* trie node of the continuing-subword prefix, -1 if absent */
  size_t max_input_chars_per_word;
  omega_added_token_t *added;
  size_t n_added;
  bool any_normalized_added;
  int32_t *prefix_ids, *suffix_ids; /* template around $A */
  size_t n_prefix, n_suffix;
};

/* Growable id vector. */
typedef struct {
  int32_t *v;
  size_t n, cap;
} omega_idvec_t;

int omega__idvec_push(omega_idvec_t *iv, int32_t id);

/* Encode into iv (appends; iv->n is reset first). */
int omega__tokenizer_encode_vec(const omega_tokenizer_t *t, const char *text, size_t len, size_t max_len,
                                unsigned flags, omega_idvec_t *iv);

/* Load a tokenizer.json document from memory; `what` names it in errors. */
int omega__tokenizer_from_json(const char *what, const char *buf, size_t len, omega_tokenizer_t **out);

/* Apply the normalizer to code points in[0..n) appending to *out (growable). */
int omega__normalize(const omega_bert_norm_t *nm, const uint32_t *in, size_t n, uint32_t **out,
                     size_t *out_n, size_t *out_cap);

#endif

/* HuggingFace-exact tokenizers: whatever tokenizer.json describes (WordPiece, byte-level
 * and classic BPE, SentencePiece Unigram, with their normalizers, pre-tokenizers and
 * templates), or a BERT vocab.txt. */
#ifndef OMEGA_TOKENIZER_H
#define OMEGA_TOKENIZER_H

#include "omega/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct omega_tokenizer omega_tokenizer_t;

typedef enum {
  OMEGA_CASE_AUTO = 0, /* vocab.txt: tokenizer_config.json's do_lower_case, else lowercase */
  OMEGA_CASE_LOWER,    /* vocab.txt: lowercase and strip accents (bert-base-uncased) */
  OMEGA_CASE_CASED     /* vocab.txt: keep case and accents */
} omega_case_t;

typedef struct {
  omega_case_t vocab_case; /* only used when loading a bare vocab.txt */
} omega_tokenizer_opts_t;

/* Encode flags. */
enum {
  /* Replace each invalid UTF-8 sequence with U+FFFD (WHATWG maximal-subpart rule, the same
   * as Python's bytes.decode(errors="replace")) instead of failing with OMEGA_EUTF8. With
   * BERT's clean_text the replacement character is then removed. */
  OMEGA_TOK_UTF8_REPLACE = 1u << 0,
};

/* Load from a tokenizer.json, a vocab.txt, or a model folder (tokenizer.json preferred,
 * else vocab.txt with tokenizer_config.json). opts may be NULL.
 * The tokenizer.json "truncation" and "padding" sections are ignored: truncation is the
 * caller's max_len (the model's max_seq_length in the engine), and Omega never pads. */
OMEGA_API int omega_tokenizer_load(const char *path, const omega_tokenizer_opts_t *opts, omega_tokenizer_t **out);
OMEGA_API void omega_tokenizer_free(omega_tokenizer_t *tok);

/* Token ids for one text, special tokens included, as HF `tokenizers` encodes it.
 * max_len > 0 truncates like HF (first max_len - specials ids of the text, then the
 * template's closing tokens); 0 means no truncation. On OMEGA_ERANGE (cap too small)
 * *n_ids holds the count needed. Thread-safe: a tokenizer may be shared by threads. */
OMEGA_API int omega_tokenizer_encode(const omega_tokenizer_t *tok, const char *text, size_t len, size_t max_len,
                                     unsigned flags, int32_t *ids, size_t cap, size_t *n_ids);

/* One token of an encoding, with what a person reading it needs. */
typedef struct {
  int32_t id;
  const char *text; /* its string in the vocabulary (not NUL-terminated; "" when it has none), owned by the
                       tokenizer */
  size_t text_len;
  int special;       /* a special token: one the post-processor adds, or an added token marked special */
  int from_template; /* added around the text by the post-processor ([CLS], [SEP]), not found in it */
} omega_token_t;

/* The tokens of one text: the ids omega_tokenizer_encode gives for the same max_len and
 * flags, in order, each with its string and kind. On OMEGA_ERANGE (cap too small) *n_tokens
 * holds the count needed. Thread-safe like omega_tokenizer_encode. */
OMEGA_API int omega_tokenizer_tokens(const omega_tokenizer_t *tok, const char *text, size_t len, size_t max_len,
                                     unsigned flags, omega_token_t *tokens, size_t cap, size_t *n_tokens);

/* How a pair that does not fit max_len is cut (HF's TruncationStrategy). */
typedef enum {
  OMEGA_TRUNCATE_LONGEST_FIRST = 0, /* the longer text loses tokens first */
  OMEGA_TRUNCATE_ONLY_FIRST,        /* only text A; OMEGA_ERANGE if A alone cannot make room */
  OMEGA_TRUNCATE_ONLY_SECOND        /* only text B (a reranker's passage) */
} omega_truncation_t;

/* Ids of a pair (a query and a passage, say) in the post-processor's pair template
 * ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>, ...), as HF encodes (a, b). type_ids may be
 * NULL; else it receives one type id per id. max_len > 0 truncates as `how` says, with
 * the pair's special tokens counted in max_len. OMEGA_ERANGE as omega_tokenizer_encode. */
OMEGA_API int omega_tokenizer_encode_pair(const omega_tokenizer_t *tok, const char *a, size_t alen, const char *b,
                                          size_t blen, size_t max_len, omega_truncation_t how, unsigned flags,
                                          int32_t *ids, int32_t *type_ids, size_t cap, size_t *n_ids);

OMEGA_API size_t omega_tokenizer_vocab_size(const omega_tokenizer_t *tok);
/* Number of ids the post-processor adds to a single sequence ([CLS] + [SEP] = 2). */
OMEGA_API size_t omega_tokenizer_num_special(const omega_tokenizer_t *tok);
/* Number of ids the post-processor adds to a pair. */
OMEGA_API size_t omega_tokenizer_num_special_pair(const omega_tokenizer_t *tok);
/* The model: "WordPiece", "BPE" or "Unigram". */
OMEGA_API const char *omega_tokenizer_model_type(const omega_tokenizer_t *tok);
/* Token string of an id (not NUL-terminated), or NULL. */
OMEGA_API const char *omega_tokenizer_id_to_token(const omega_tokenizer_t *tok, int32_t id, size_t *len);
/* Id of an exact token string (vocabulary or added tokens), or -1. */
OMEGA_API int32_t omega_tokenizer_token_to_id(const omega_tokenizer_t *tok, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif

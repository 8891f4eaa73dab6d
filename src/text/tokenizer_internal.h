/* The tokenizer as HuggingFace `tokenizers` defines it: a pipeline of
 *   added tokens (raw) -> normalizer steps -> added tokens (normalized) ->
 *   pre-tokenizer steps -> model (WordPiece | BPE | Unigram) -> truncation -> template.
 * tokenizer.json decides every stage; a vocab.txt is a BERT WordPiece pipeline. All stages
 * work on code point arrays. Sequences in the file (normalizer / pre-tokenizer) are
 * flattened into step arrays at load time. */
#ifndef OMEGA_TEXT_TOKENIZER_INTERNAL_H
#define OMEGA_TEXT_TOKENIZER_INTERNAL_H

#include "omega/tokenizer.h"
#include "text/regex.h"
#include "text/vocab.h"

#include <stdbool.h>

#define OMEGA_TOK_MAX_STEPS 16

typedef struct {
  uint32_t *cps; /* content as code points (normalized form for normalized tokens) */
  size_t n_cps;
  int32_t id;
  bool single_word, lstrip, rstrip, normalized, special;
} omega_added_token_t;

typedef struct {
  bool clean_text, handle_chinese_chars, strip_accents, lowercase;
} omega_bert_norm_t;

typedef struct omega_charsmap omega_charsmap_t; /* text/precompiled.h */

typedef enum {
  OMEGA_NORM_BERT,
  OMEGA_NORM_NFC,
  OMEGA_NORM_NFD,
  OMEGA_NORM_NFKC,
  OMEGA_NORM_NFKD,
  OMEGA_NORM_LOWERCASE,
  OMEGA_NORM_STRIP_ACCENTS,
  OMEGA_NORM_STRIP,
  OMEGA_NORM_REPLACE,
  OMEGA_NORM_PREPEND,
  OMEGA_NORM_PRECOMPILED,
} omega_norm_kind_t;

typedef struct {
  omega_norm_kind_t kind;
  omega_bert_norm_t bert;
  bool strip_left, strip_right;
  uint32_t *text; /* Replace's content, Prepend's prefix */
  size_t n_text;
  omega_regex_t *re;      /* Replace's pattern */
  omega_charsmap_t *cmap; /* Precompiled */
} omega_norm_step_t;

typedef enum {
  OMEGA_PRE_BERT,
  OMEGA_PRE_WHITESPACE,
  OMEGA_PRE_WHITESPACE_SPLIT,
  OMEGA_PRE_METASPACE,
  OMEGA_PRE_BYTELEVEL,
  OMEGA_PRE_SPLIT,
  OMEGA_PRE_PUNCTUATION,
  OMEGA_PRE_DIGITS,
  OMEGA_PRE_CHAR_DELIMITER,
} omega_pre_kind_t;

/* HF SplitDelimiterBehavior */
typedef enum {
  OMEGA_SPLIT_REMOVED,
  OMEGA_SPLIT_ISOLATED,
  OMEGA_SPLIT_MERGED_PREV,
  OMEGA_SPLIT_MERGED_NEXT,
  OMEGA_SPLIT_CONTIGUOUS,
} omega_split_behavior_t;

typedef enum { OMEGA_PREPEND_NEVER, OMEGA_PREPEND_FIRST, OMEGA_PREPEND_ALWAYS } omega_prepend_t;

typedef struct {
  omega_pre_kind_t kind;
  omega_split_behavior_t behavior;
  bool invert;
  bool add_prefix_space, use_regex; /* ByteLevel */
  bool split;                       /* Metaspace */
  omega_prepend_t prepend;          /* Metaspace */
  bool individual_digits;           /* Digits */
  uint32_t ch;                      /* Metaspace replacement, CharDelimiterSplit delimiter */
  omega_regex_t *re;                /* Split (owned), ByteLevel/Whitespace (shared) */
} omega_pre_step_t;

typedef enum { OMEGA_MODEL_WORDPIECE, OMEGA_MODEL_BPE, OMEGA_MODEL_UNIGRAM } omega_model_kind_t;

typedef struct {
  uint64_t key; /* (left id << 32 | right id) + 1; 0 marks an empty slot */
  uint32_t rank;
  int32_t new_id;
} omega_merge_t;

typedef struct {
  omega_merge_t *tab;
  size_t mask;
  char *cont_prefix, *end_suffix;
  size_t cont_prefix_len, end_suffix_len;
  bool fuse_unk, ignore_merges;
} omega_bpe_t;

typedef struct {
  double *scores; /* per id */
  double min_score;
} omega_unigram_t;

/* One item of a post-processor template. */
typedef struct {
  int32_t id; /* a special token id, or OMEGA_TMPL_A / OMEGA_TMPL_B */
  uint32_t type_id;
} omega_tmpl_item_t;

#define OMEGA_TMPL_A (-1)
#define OMEGA_TMPL_B (-2)

struct omega_tokenizer {
  omega_vocab_t vocab;
  omega_model_kind_t model;
  int32_t unk_id;         /* -1 when the model has none */
  bool byte_fallback;     /* BPE / Unigram: unknown bytes as <0xXX> tokens */
  int32_t byte_ids[256];  /* ids of <0x00>..<0xFF>, -1 where absent */
  /* WordPiece */
  char *cont_prefix;
  size_t cont_prefix_len;
  int32_t cont_root; /* trie node of the continuing-subword prefix, -1 if absent */
  size_t max_input_chars_per_word;
  omega_bpe_t bpe;
  omega_unigram_t uni;
  /* pipeline */
  omega_norm_step_t norm[OMEGA_TOK_MAX_STEPS];
  size_t n_norm;
  omega_pre_step_t pre[OMEGA_TOK_MAX_STEPS];
  size_t n_pre;
  omega_added_token_t *added;
  size_t n_added;
  bool any_normalized_added;
  /* per kind (raw, normalized): the first characters of its added tokens below U+10000,
   * so most positions are ruled out without scanning the list */
  uint64_t added_first[2][1024];
  bool added_first_astral[2];
  /* templates; pair_default: the post-processor has no pair form of its own, so the pair
   * is A B with type ids 0 and 1 (HF's default, and what ByteLevel / null give) */
  omega_tmpl_item_t *single, *pair;
  size_t n_single, n_pair;
  int32_t *prefix_ids, *suffix_ids; /* single template around $A */
  size_t n_prefix, n_suffix, n_pair_specials;
  const char *model_name; /* "WordPiece", "BPE", "Unigram" */
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

/* The same for prompt + text (a sentence-transformers prompt in front of the input; the
 * prompt must be valid UTF-8). */
int omega__tokenizer_encode_prompted_vec(const omega_tokenizer_t *t, const char *prompt, size_t plen, const char *text,
                                         size_t len, size_t max_len, unsigned flags, omega_idvec_t *iv);

/* Load a tokenizer.json document from memory; `what` names it in errors. */
int omega__tokenizer_from_json(const char *what, const char *buf, size_t len, omega_tokenizer_t **out);

/* Pair encoding into vectors; types may be NULL. */
int omega__tokenizer_encode_pair_vec(const omega_tokenizer_t *t, const char *a, size_t alen, const char *b,
                                     size_t blen, size_t max_len, omega_truncation_t how, unsigned flags,
                                     omega_idvec_t *ids, omega_idvec_t *types);

/* ---- loading (tokenizer_load.c, tokenizer_json.c) ---- */

typedef struct json_t json_t;
int omega__tokenizer_load_json(omega_tokenizer_t *t, const char *what, const json_t *root);
int omega__tokenizer_add_token(omega_tokenizer_t *t, const char *what, const char *content, size_t len, int32_t id,
                               bool single_word, bool lstrip, bool rstrip, bool normalized, bool special);
int omega__tokenizer_set_ids(int32_t **dst, size_t *n, const int32_t *ids, size_t k);
int omega__tokenizer_set_cont_prefix(omega_tokenizer_t *t, const char *p);
/* [CLS] A [SEP] and its pair form: BERT's (B and its [SEP] type 1) or RoBERTa's
 * (<s> A </s></s> B </s>, all type 0). */
int omega__tokenizer_bert_templates(omega_tokenizer_t *t, const char *what, int32_t cls, int32_t sep, bool roberta);
int omega__bpe_init(omega_bpe_t *b, size_t n_merges);
int omega__bpe_add_merge(omega_bpe_t *b, int32_t l, int32_t r, uint32_t rank, int32_t new_id);

/* ---- shared by the pipeline's files ---- */

typedef struct {
  size_t s, e;
  bool match;
} omega_span_t;

/* Growable code point buffer. */
typedef struct {
  uint32_t *v;
  size_t n, cap;
} omega_cpbuf_t;

int omega__cpbuf_reserve(omega_cpbuf_t *b, size_t need);

typedef struct {
  omega_span_t *v;
  size_t n, cap;
} omega_spans_t;

int omega__spans_push(omega_spans_t *sp, size_t s, size_t e, bool match);

/* Per-thread scratch of one encode call. */
typedef struct omega_tok_scratch omega_tok_scratch_t;

/* The state of one encode: where ids go and when to stop. */
typedef struct {
  const omega_tokenizer_t *t;
  omega_tok_scratch_t *s;
  omega_idvec_t *iv;
  size_t limit; /* stop once this many ids exist (0 = no limit) */
  /* HF's pair encoding: the limit is checked only after the model encodes a word, so
   * encoding stops after the word that reaches it (added tokens count, but never stop) */
  bool after_word;
  bool stopped;
} omega_enc_t;

static inline bool omega__enc_full(const omega_enc_t *e) {
  return e->after_word ? e->stopped : e->limit && e->iv->n >= e->limit;
}

/* Normalizer chain over in[0..n) into *out (replaced); tmp is a second buffer the chain
 * alternates with. Where the chain is empty, *out is a copy of the input. */
int omega__normalize(const omega_tokenizer_t *t, const uint32_t *in, size_t n, omega_cpbuf_t *out,
                     omega_cpbuf_t *tmp);
/* The BERT normalizer alone, appending to out. */
int omega__normalize_bert(const omega_bert_norm_t *nm, const uint32_t *in, size_t n, omega_cpbuf_t *out);
/* Pre-tokenize one normalized segment and run the model on each piece. `first`: the
 * segment starts the text (Metaspace's prepend_scheme "first"). */
int omega__pretokenize(omega_enc_t *e, const uint32_t *s, size_t n, bool first);
/* The models, on one pre-tokenized piece. */
int omega__wordpiece(omega_enc_t *e, const uint32_t *w, size_t n);
int omega__bpe(omega_enc_t *e, const uint32_t *w, size_t n);
int omega__unigram(omega_enc_t *e, const uint32_t *w, size_t n);
/* Free the model-specific tables. */
void omega__bpe_free(omega_bpe_t *b);

/* Scratch accessors for the stages (the struct is private to tokenizer_encode.c). */
omega_cpbuf_t *omega__scratch_cp(omega_tok_scratch_t *s, size_t slot);
omega_spans_t *omega__scratch_spans(omega_tok_scratch_t *s, size_t slot);
void *omega__scratch_bytes(omega_tok_scratch_t *s, size_t slot, size_t need);

/* Scratch slots: code point buffers and span lists, two per pre-tokenizer level, plus the
 * normalizer's double buffer. Byte slots for the models. */
enum {
  OMEGA_CP_NORM_A = 0,
  OMEGA_CP_NORM_B,
  OMEGA_CP_NORM_OUT,
  OMEGA_CP_PRE0, /* 2 per level */
  OMEGA_CP_SLOTS = OMEGA_CP_PRE0 + 2 * OMEGA_TOK_MAX_STEPS,
};
enum { OMEGA_BYTES_WORD = 0, OMEGA_BYTES_MODEL1, OMEGA_BYTES_MODEL2, OMEGA_BYTES_MODEL3, OMEGA_BYTES_SLOTS };

#endif

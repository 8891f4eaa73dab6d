/* tokenizer.json: every stage of HF's pipeline that Omega runs, checked field by field.
 * Anything else is refused with a message naming it, never approximated. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/json_util.h"
#include "text/precompiled.h"
#include "text/tokenizer_internal.h"
#include "text/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCAB_IDS (1u << 24)
#define MAX_TOKEN_BYTES 1024
#define MAX_TEMPLATE 64

static const char *type_of(const json_t *o) { return json_string_value(json_object_get(o, "type")); }

static int dup_str(const char *what, const char *s, char **out, size_t *len) {
  *len = s ? strlen(s) : 0;
  *out = omega__malloc(*len + 1);
  if (!*out)
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  memcpy(*out, s ? s : "", *len + 1);
  return 0;
}

static int str_cps(const char *what, const char *field, const char *s, uint32_t **out, size_t *n) {
  size_t len = strlen(s);
  *out = omega__malloc((len + 1) * sizeof **out);
  if (!*out)
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  size_t k = 0;
  for (size_t i = 0; i < len;) {
    size_t bad, step = omega__utf8_decode((const unsigned char *)s + i, len - i, &(*out)[k], &bad);
    if (!step)
      return omega__seterr(OMEGA_EFORMAT, "%s: %s is not valid UTF-8", what, field);
    i += step;
    k++;
  }
  *n = k;
  return 0;
}

/* A one-character string field. */
static int one_char(const char *what, const json_t *o, const char *key, uint32_t def, uint32_t *out) {
  const char *s;
  int rc = omega__json_str(o, what, key, NULL, &s);
  if (rc)
    return rc;
  if (!s) {
    *out = def;
    return 0;
  }
  size_t len = strlen(s), bad;
  size_t k = len ? omega__utf8_decode((const unsigned char *)s, len, out, &bad) : 0;
  if (!k || k != len)
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" must be exactly one character", what, key);
  return 0;
}

/* {"String": s} or {"Regex": r} */
static int pattern(const char *what, const json_t *p, omega_regex_t **out) {
  const json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
  if (json_is_string(s))
    return omega__regex_literal(what, json_string_value(s), json_string_length(s), out);
  if (json_is_string(r))
    return omega__regex_compile(what, json_string_value(r), json_string_length(r), out);
  return omega__seterr(OMEGA_EFORMAT, "%s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", what);
}

/* ---- base64 (the Precompiled charsmap) ---- */

static int b64_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int b64_decode(const char *what, const char *s, size_t len, unsigned char **out, size_t *n) {
  while (len && s[len - 1] == '=')
    len--;
  if (len % 4 == 1)
    return omega__seterr(OMEGA_EFORMAT, "%s: precompiled_charsmap is not valid base64", what);
  unsigned char *o = omega__malloc(len / 4 * 3 + 3);
  if (!o)
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  size_t k = 0;
  uint32_t acc = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64_val((unsigned char)s[i]);
    if (v < 0) {
      omega__free(o);
      return omega__seterr(OMEGA_EFORMAT, "%s: precompiled_charsmap is not valid base64", what);
    }
    acc = acc << 6 | (uint32_t)v;
    if (i % 4 == 3) {
      o[k++] = (unsigned char)(acc >> 16);
      o[k++] = (unsigned char)(acc >> 8);
      o[k++] = (unsigned char)acc;
      acc = 0;
    }
  }
  if (len % 4 == 2)
    o[k++] = (unsigned char)(acc >> 4);
  else if (len % 4 == 3) {
    o[k++] = (unsigned char)(acc >> 10);
    o[k++] = (unsigned char)(acc >> 2);
  }
  *out = o;
  *n = k;
  return 0;
}

/* ---- normalizer ---- */

static int add_norm(omega_tokenizer_t *t, const char *what, const json_t *n, int depth);

static omega_norm_step_t *new_norm(omega_tokenizer_t *t, const char *what) {
  if (t->n_norm == OMEGA_TOK_MAX_STEPS) {
    omega__seterr(OMEGA_EUNSUPPORTED, "%s: more than %d normalizer steps", what, OMEGA_TOK_MAX_STEPS);
    return NULL;
  }
  omega_norm_step_t *st = &t->norm[t->n_norm++];
  memset(st, 0, sizeof *st);
  return st;
}

static int norm_bert(omega_norm_step_t *st, const char *what, const json_t *n) {
  omega_bert_norm_t *b = &st->bert;
  int rc;
  if ((rc = omega__json_bool(n, what, "clean_text", true, &b->clean_text)) ||
      (rc = omega__json_bool(n, what, "handle_chinese_chars", true, &b->handle_chinese_chars)) ||
      (rc = omega__json_bool(n, what, "lowercase", true, &b->lowercase)))
    return rc;
  /* strip_accents: null means "same as lowercase". */
  return omega__json_bool(n, what, "strip_accents", b->lowercase, &b->strip_accents);
}

static int norm_precompiled(omega_tokenizer_t *t, const char *what, const json_t *n) {
  const json_t *cm = json_object_get(n, "precompiled_charsmap");
  if (!cm || json_is_null(cm) || (json_is_string(cm) && json_string_length(cm) == 0))
    return 0; /* HF: no charsmap, no normalization */
  if (!json_is_string(cm))
    return omega__seterr(OMEGA_EFORMAT, "%s: precompiled_charsmap must be a base64 string", what);
  unsigned char *blob = NULL;
  size_t len = 0;
  int rc = b64_decode(what, json_string_value(cm), json_string_length(cm), &blob, &len);
  if (rc)
    return rc;
  omega_norm_step_t *st = new_norm(t, what);
  rc = st ? omega__charsmap_load(what, blob, len, &st->cmap) : OMEGA_EUNSUPPORTED;
  if (st)
    st->kind = OMEGA_NORM_PRECOMPILED;
  omega__free(blob);
  return rc;
}

static int add_norm(omega_tokenizer_t *t, const char *what, const json_t *n, int depth) {
  if (!n || json_is_null(n))
    return 0;
  const char *type = type_of(n);
  if (!json_is_object(n) || !type)
    return omega__seterr(OMEGA_EFORMAT, "%s: a normalizer must be an object with a \"type\"", what);
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(n, "normalizers");
    if (!json_is_array(list) || depth > 4)
      return omega__seterr(OMEGA_EFORMAT, "%s: normalizer Sequence needs a \"normalizers\" array", what);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x) {
      int rc = add_norm(t, what, x, depth + 1);
      if (rc)
        return rc;
    }
    return 0;
  }
  if (strcmp(type, "Precompiled") == 0)
    return norm_precompiled(t, what, n);
  static const struct {
    const char *name;
    omega_norm_kind_t kind;
  } simple[] = {{"BertNormalizer", OMEGA_NORM_BERT}, {"NFC", OMEGA_NORM_NFC},
                {"NFD", OMEGA_NORM_NFD},             {"NFKC", OMEGA_NORM_NFKC},
                {"NFKD", OMEGA_NORM_NFKD},           {"Lowercase", OMEGA_NORM_LOWERCASE},
                {"StripAccents", OMEGA_NORM_STRIP_ACCENTS}, {"Strip", OMEGA_NORM_STRIP},
                {"Replace", OMEGA_NORM_REPLACE},     {"Prepend", OMEGA_NORM_PREPEND}};
  for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
    if (strcmp(type, simple[i].name) != 0)
      continue;
    omega_norm_step_t *st = new_norm(t, what);
    if (!st)
      return OMEGA_EUNSUPPORTED;
    st->kind = simple[i].kind;
    const char *s;
    int rc = 0;
    switch (st->kind) {
    case OMEGA_NORM_BERT:
      return norm_bert(st, what, n);
    case OMEGA_NORM_STRIP:
      if ((rc = omega__json_bool(n, what, "strip_left", true, &st->strip_left)))
        return rc;
      return omega__json_bool(n, what, "strip_right", true, &st->strip_right);
    case OMEGA_NORM_REPLACE:
      if ((rc = omega__json_str(n, what, "content", NULL, &s)))
        return rc;
      if (!s)
        return omega__seterr(OMEGA_EFORMAT, "%s: Replace needs a \"content\" string", what);
      if ((rc = str_cps(what, "Replace content", s, &st->text, &st->n_text)))
        return rc;
      return pattern(what, json_object_get(n, "pattern"), &st->re);
    case OMEGA_NORM_PREPEND:
      if ((rc = omega__json_str(n, what, "prepend", NULL, &s)))
        return rc;
      if (!s)
        return omega__seterr(OMEGA_EFORMAT, "%s: Prepend needs a \"prepend\" string", what);
      return str_cps(what, "Prepend", s, &st->text, &st->n_text);
    default:
      return 0;
    }
  }
  return omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: normalizer \"%s\" is not supported (supported: BertNormalizer, Precompiled, NFC, NFD, "
                       "NFKC, NFKD, Lowercase, StripAccents, Strip, Replace, Prepend, Sequence)",
                       what, type);
}

/* ---- pre-tokenizer ---- */

static int behavior(const char *what, const json_t *o, omega_split_behavior_t def, omega_split_behavior_t *out) {
  const char *b;
  int rc = omega__json_str(o, what, "behavior", NULL, &b);
  if (rc)
    return rc;
  *out = def;
  if (!b)
    return 0;
  static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
  for (int i = 0; i < 5; i++)
    if (strcmp(b, names[i]) == 0) {
      *out = (omega_split_behavior_t)i;
      return 0;
    }
  return omega__seterr(OMEGA_EFORMAT, "%s: unknown split behavior \"%s\"", what, b);
}

/* GPT-2's pre-tokenization pattern, as HF's ByteLevel uses it. */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int add_pre(omega_tokenizer_t *t, const char *what, const json_t *p, int depth) {
  if (!p || json_is_null(p))
    return 0;
  const char *type = type_of(p);
  if (!json_is_object(p) || !type)
    return omega__seterr(OMEGA_EFORMAT, "%s: a pre_tokenizer must be an object with a \"type\"", what);
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(p, "pretokenizers");
    if (!json_is_array(list) || depth > 4)
      return omega__seterr(OMEGA_EFORMAT, "%s: pre_tokenizer Sequence needs a \"pretokenizers\" array", what);
    size_t i;
    const json_t *x;
    json_array_foreach(list, i, x) {
      int rc = add_pre(t, what, x, depth + 1);
      if (rc)
        return rc;
    }
    return 0;
  }
  if (t->n_pre == OMEGA_TOK_MAX_STEPS)
    return omega__seterr(OMEGA_EUNSUPPORTED, "%s: more than %d pre-tokenizer steps", what, OMEGA_TOK_MAX_STEPS);
  omega_pre_step_t *st = &t->pre[t->n_pre];
  memset(st, 0, sizeof *st);
  int rc = 0;
  if (strcmp(type, "BertPreTokenizer") == 0) {
    st->kind = OMEGA_PRE_BERT;
  } else if (strcmp(type, "WhitespaceSplit") == 0) {
    st->kind = OMEGA_PRE_WHITESPACE_SPLIT;
    st->behavior = OMEGA_SPLIT_REMOVED;
  } else if (strcmp(type, "Whitespace") == 0) {
    st->kind = OMEGA_PRE_WHITESPACE;
  } else if (strcmp(type, "Metaspace") == 0) {
    st->kind = OMEGA_PRE_METASPACE;
    const char *scheme;
    bool legacy;
    if ((rc = one_char(what, p, "replacement", 0x2581, &st->ch)) ||
        (rc = omega__json_str(p, what, "prepend_scheme", NULL, &scheme)) ||
        (rc = omega__json_bool(p, what, "add_prefix_space", true, &legacy)) ||
        (rc = omega__json_bool(p, what, "split", true, &st->split)))
      return rc;
    if (!scheme)
      st->prepend = legacy ? OMEGA_PREPEND_ALWAYS : OMEGA_PREPEND_NEVER;
    else if (strcmp(scheme, "always") == 0)
      st->prepend = OMEGA_PREPEND_ALWAYS;
    else if (strcmp(scheme, "first") == 0)
      st->prepend = OMEGA_PREPEND_FIRST;
    else if (strcmp(scheme, "never") == 0)
      st->prepend = OMEGA_PREPEND_NEVER;
    else
      return omega__seterr(OMEGA_EFORMAT, "%s: unknown Metaspace prepend_scheme \"%s\"", what, scheme);
  } else if (strcmp(type, "ByteLevel") == 0) {
    st->kind = OMEGA_PRE_BYTELEVEL;
    if ((rc = omega__json_bool(p, what, "add_prefix_space", true, &st->add_prefix_space)) ||
        (rc = omega__json_bool(p, what, "use_regex", true, &st->use_regex)))
      return rc;
    if (st->use_regex)
      rc = omega__regex_compile(what, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, &st->re);
  } else if (strcmp(type, "Split") == 0) {
    st->kind = OMEGA_PRE_SPLIT;
    if ((rc = behavior(what, p, OMEGA_SPLIT_REMOVED, &st->behavior)) ||
        (rc = omega__json_bool(p, what, "invert", false, &st->invert)))
      return rc;
    if (!json_object_get(p, "behavior"))
      return omega__seterr(OMEGA_EFORMAT, "%s: Split needs a \"behavior\"", what);
    rc = pattern(what, json_object_get(p, "pattern"), &st->re);
  } else if (strcmp(type, "Punctuation") == 0) {
    st->kind = OMEGA_PRE_PUNCTUATION;
    rc = behavior(what, p, OMEGA_SPLIT_ISOLATED, &st->behavior);
  } else if (strcmp(type, "Digits") == 0) {
    st->kind = OMEGA_PRE_DIGITS;
    if ((rc = omega__json_bool(p, what, "individual_digits", false, &st->individual_digits)))
      return rc;
    st->behavior = st->individual_digits ? OMEGA_SPLIT_ISOLATED : OMEGA_SPLIT_CONTIGUOUS;
  } else if (strcmp(type, "CharDelimiterSplit") == 0) {
    st->kind = OMEGA_PRE_CHAR_DELIMITER;
    st->behavior = OMEGA_SPLIT_REMOVED;
    if ((rc = one_char(what, p, "delimiter", 0, &st->ch)))
      return rc;
    if (!st->ch)
      return omega__seterr(OMEGA_EFORMAT, "%s: CharDelimiterSplit needs a \"delimiter\"", what);
  } else {
    return omega__seterr(OMEGA_EUNSUPPORTED,
                         "%s: pre_tokenizer \"%s\" is not supported (supported: BertPreTokenizer, ByteLevel, "
                         "Metaspace, Split, Whitespace, WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit, "
                         "Sequence)",
                         what, type);
  }
  t->n_pre++; /* counted even on error so that free releases its regex */
  return rc;
}

/* ---- model ---- */

static int check_id(const char *what, const json_t *v, const char *tok) {
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_VOCAB_IDS)
    return omega__seterr(OMEGA_EFORMAT, "%s: vocab id of token \"%.40s\" must be an integer in [0, %u)", what, tok,
                         MAX_VOCAB_IDS);
  return 0;
}

/* Which model, and the id space it needs. */
static int model_kind(const char *what, const json_t *model, omega_model_kind_t *kind, int64_t *max_id) {
  if (!json_is_object(model))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"model\" must be an object", what);
  const char *type = type_of(model);
  const json_t *vocab = json_object_get(model, "vocab");
  if (!type) /* old serializations omit it; HF tells the models apart by their fields */
    type = json_is_array(vocab) ? "Unigram" : json_object_get(model, "merges") ? "BPE" : "WordPiece";
  if (strcmp(type, "WordPiece") == 0)
    *kind = OMEGA_MODEL_WORDPIECE;
  else if (strcmp(type, "BPE") == 0)
    *kind = OMEGA_MODEL_BPE;
  else if (strcmp(type, "Unigram") == 0)
    *kind = OMEGA_MODEL_UNIGRAM;
  else
    return omega__seterr(OMEGA_EUNSUPPORTED, "%s: model type \"%s\" is not supported (supported: WordPiece, BPE, "
                                             "Unigram)",
                         what, type);
  *max_id = -1;
  if (*kind == OMEGA_MODEL_UNIGRAM) {
    if (!json_is_array(vocab))
      return omega__seterr(OMEGA_EFORMAT, "%s: Unigram \"model.vocab\" must be an array of [piece, score]", what);
    if (json_array_size(vocab) >= MAX_VOCAB_IDS)
      return omega__seterr(OMEGA_EFORMAT, "%s: Unigram vocabulary is too large", what);
    size_t i;
    const json_t *p;
    json_array_foreach(vocab, i, p) {
      if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_string(json_array_get(p, 0)) ||
          !json_is_number(json_array_get(p, 1)) || !isfinite(json_number_value(json_array_get(p, 1))))
        return omega__seterr(OMEGA_EFORMAT, "%s: Unigram vocab[%zu] must be [piece, finite score]", what, i);
    }
    *max_id = (int64_t)json_array_size(vocab) - 1;
    return 0;
  }
  if (!json_is_object(vocab))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"model.vocab\" must be an object of token -> id", what);
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    int rc = check_id(what, val, key);
    if (rc)
      return rc;
    if (json_integer_value(val) > *max_id)
      *max_id = json_integer_value(val);
  }
  return 0;
}

static int fill_model_vocab(omega_tokenizer_t *t, const char *what, const json_t *model) {
  const json_t *vocab = json_object_get(model, "vocab");
  if (t->model == OMEGA_MODEL_UNIGRAM) {
    size_t n = json_array_size(vocab);
    t->uni.scores = omega__malloc((n + 1) * sizeof *t->uni.scores);
    if (!t->uni.scores)
      return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
    t->uni.min_score = INFINITY;
    for (size_t i = 0; i < n; i++) {
      const json_t *p = json_array_get(vocab, i);
      const json_t *s = json_array_get(p, 0);
      size_t len = json_string_length(s);
      if (omega__utf8_validate((const unsigned char *)json_string_value(s), len) != len)
        return omega__seterr(OMEGA_EFORMAT, "%s: Unigram piece %zu is not valid UTF-8", what, i);
      int rc = omega__vocab_set(&t->vocab, (uint32_t)i, json_string_value(s), len, 1);
      if (rc)
        return omega__prefixerr(rc, "%s", what);
      t->uni.scores[i] = json_number_value(json_array_get(p, 1));
      if (t->uni.scores[i] < t->uni.min_score)
        t->uni.min_score = t->uni.scores[i];
    }
    return 0;
  }
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    size_t klen = strlen(key);
    if (omega__utf8_validate((const unsigned char *)key, klen) != klen)
      return omega__seterr(OMEGA_EFORMAT, "%s: vocab token is not valid UTF-8", what);
    int rc = omega__vocab_set(&t->vocab, (uint32_t)json_integer_value(val), key, klen, 1);
    if (rc)
      return omega__prefixerr(rc, "%s", what);
  }
  return 0;
}

static int wordpiece_fields(omega_tokenizer_t *t, const char *what, const json_t *model) {
  const char *unk, *prefix;
  int64_t max_chars;
  int rc;
  if ((rc = omega__json_str(model, what, "unk_token", "[UNK]", &unk)) ||
      (rc = omega__json_str(model, what, "continuing_subword_prefix", "##", &prefix)) ||
      (rc = omega__json_int(model, what, "max_input_chars_per_word", 100, 1, 1 << 20, &max_chars)))
    return rc;
  t->max_input_chars_per_word = (size_t)max_chars;
  t->unk_id = omega__vocab_find(&t->vocab, unk, strlen(unk));
  if (t->unk_id < 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: unk_token \"%s\" is not in the vocabulary", what, unk);
  return omega__tokenizer_set_cont_prefix(t, prefix);
}

/* "a b" (legacy) or ["a", "b"] */
static int merge_parts(const char *what, size_t i, const json_t *m, const char **a, size_t *al, const char **b,
                       size_t *bl) {
  if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
      json_is_string(json_array_get(m, 1))) {
    *a = json_string_value(json_array_get(m, 0));
    *al = json_string_length(json_array_get(m, 0));
    *b = json_string_value(json_array_get(m, 1));
    *bl = json_string_length(json_array_get(m, 1));
    return 0;
  }
  const char *s = json_string_value(m);
  const char *sp = s ? strchr(s, ' ') : NULL;
  if (!sp || strchr(sp + 1, ' '))
    return omega__seterr(OMEGA_EFORMAT, "%s: merges[%zu] must be \"a b\" or [\"a\", \"b\"]", what, i);
  *a = s;
  *al = (size_t)(sp - s);
  *b = sp + 1;
  *bl = strlen(sp + 1);
  return 0;
}

static int bpe_fields(omega_tokenizer_t *t, const char *what, const json_t *model) {
  omega_bpe_t *b = &t->bpe;
  const char *unk, *prefix, *suffix;
  double dropout;
  int rc;
  if ((rc = omega__json_str(model, what, "unk_token", NULL, &unk)) ||
      (rc = omega__json_str(model, what, "continuing_subword_prefix", NULL, &prefix)) ||
      (rc = omega__json_str(model, what, "end_of_word_suffix", NULL, &suffix)) ||
      (rc = omega__json_bool(model, what, "fuse_unk", false, &b->fuse_unk)) ||
      (rc = omega__json_bool(model, what, "ignore_merges", false, &b->ignore_merges)) ||
      (rc = omega__json_num(model, what, "dropout", 0.0, 0.0, 1.0, &dropout)))
    return rc;
  if (dropout > 0)
    return omega__seterr(OMEGA_EUNSUPPORTED, "%s: BPE dropout %g makes encoding random; set it to null", what,
                         dropout);
  t->unk_id = -1;
  if (unk) {
    t->unk_id = omega__vocab_find(&t->vocab, unk, strlen(unk));
    if (t->unk_id < 0)
      return omega__seterr(OMEGA_EFORMAT, "%s: unk_token \"%s\" is not in the vocabulary", what, unk);
  }
  if ((rc = dup_str(what, prefix, &b->cont_prefix, &b->cont_prefix_len)) ||
      (rc = dup_str(what, suffix, &b->end_suffix, &b->end_suffix_len)))
    return rc;
  const json_t *merges = json_object_get(model, "merges");
  if (!json_is_array(merges))
    return omega__seterr(OMEGA_EFORMAT, "%s: BPE \"model.merges\" must be an array", what);
  if ((rc = omega__bpe_init(b, json_array_size(merges))))
    return rc;
  char *cat = NULL;
  size_t i;
  const json_t *m;
  json_array_foreach(merges, i, m) {
    const char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    if ((rc = merge_parts(what, i, m, &x, &xl, &y, &yl)))
      break;
    int32_t l = omega__vocab_find(&t->vocab, x, xl), r = omega__vocab_find(&t->vocab, y, yl);
    /* the merged token drops the right part's continuing-subword prefix */
    size_t skip = b->cont_prefix_len <= yl ? b->cont_prefix_len : yl;
    char *nc = omega__realloc(cat, xl + yl + 1);
    if (!nc) {
      rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
      break;
    }
    cat = nc;
    memcpy(cat, x, xl);
    memcpy(cat + xl, y + skip, yl - skip);
    int32_t id = omega__vocab_find(&t->vocab, cat, xl + yl - skip);
    if (l < 0 || r < 0 || id < 0) {
      rc = omega__seterr(OMEGA_EFORMAT, "%s: merges[%zu] (\"%.*s\" + \"%.*s\") uses a token outside the vocabulary",
                         what, i, (int)(xl < 40 ? xl : 40), x, (int)(yl < 40 ? yl : 40), y);
      break;
    }
    omega__bpe_add_merge(b, l, r, (uint32_t)i, id);
  }
  omega__free(cat);
  return rc;
}

static int unigram_fields(omega_tokenizer_t *t, const char *what, const json_t *model) {
  int64_t unk;
  int rc = omega__json_int(model, what, "unk_id", -1, -1, (int64_t)t->vocab.n_ids - 1, &unk);
  if (rc)
    return rc;
  t->unk_id = (int32_t)unk;
  return 0;
}

static int byte_tokens(omega_tokenizer_t *t, const char *what, const json_t *model) {
  int rc = omega__json_bool(model, what, "byte_fallback", false, &t->byte_fallback);
  for (int i = 0; i < 256; i++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", i);
    t->byte_ids[i] = t->byte_fallback ? omega__vocab_find(&t->vocab, name, 6) : -1;
  }
  return rc;
}

/* ---- post-processor ---- */

static int tmpl_push(const char *what, omega_tmpl_item_t *v, size_t *n, int32_t id, uint32_t type_id) {
  if (*n >= MAX_TEMPLATE)
    return omega__seterr(OMEGA_EUNSUPPORTED, "%s: template has more than %d items", what, MAX_TEMPLATE);
  v[(*n)++] = (omega_tmpl_item_t){id, type_id};
  return 0;
}

/* ["[SEP]", 102] as BertProcessing / RobertaProcessing store it. */
static int pair_id(const char *what, const json_t *p, const char *name, int32_t *id) {
  const json_t *v = json_array_get(p, 1);
  if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) >= MAX_VOCAB_IDS)
    return omega__seterr(OMEGA_EFORMAT, "%s: post_processor \"%s\" must be [token, id]", what, name);
  *id = (int32_t)json_integer_value(v);
  return 0;
}

static int parse_template_list(const char *what, const json_t *list, const json_t *specials, bool pair,
                               omega_tmpl_item_t *v, size_t *n) {
  bool seen_a = false, seen_b = false;
  size_t i;
  const json_t *item;
  json_array_foreach(list, i, item) {
    const json_t *seq = json_object_get(item, "Sequence"), *st = json_object_get(item, "SpecialToken");
    const json_t *body = seq ? seq : st;
    int64_t type_id;
    int rc = omega__json_int(body, what, "type_id", 0, 0, 1 << 20, &type_id);
    if (rc)
      return rc;
    const char *name = json_string_value(json_object_get(body, "id"));
    if (!name)
      return omega__seterr(OMEGA_EFORMAT, "%s: template item %zu is neither SpecialToken nor Sequence", what, i);
    if (seq) {
      bool is_a = strcmp(name, "A") == 0, is_b = strcmp(name, "B") == 0;
      if ((!is_a && !is_b) || (is_b && !pair) || (is_a && seen_a) || (is_b && seen_b))
        return omega__seterr(OMEGA_EFORMAT, "%s: template sequence \"%s\" is not allowed here", what, name);
      seen_a |= is_a;
      seen_b |= is_b;
      if ((rc = tmpl_push(what, v, n, is_a ? OMEGA_TMPL_A : OMEGA_TMPL_B, (uint32_t)type_id)))
        return rc;
      continue;
    }
    const json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0)
      return omega__seterr(OMEGA_EFORMAT, "%s: template token \"%s\" has no ids in special_tokens", what, name);
    size_t j;
    const json_t *idv;
    json_array_foreach(ids, j, idv) {
      if (!json_is_integer(idv) || json_integer_value(idv) < 0 || json_integer_value(idv) >= MAX_VOCAB_IDS)
        return omega__seterr(OMEGA_EFORMAT, "%s: special token \"%s\" has an invalid id", what, name);
      if ((rc = tmpl_push(what, v, n, (int32_t)json_integer_value(idv), (uint32_t)type_id)))
        return rc;
    }
  }
  if (!seen_a || (pair && !seen_b))
    return omega__seterr(OMEGA_EFORMAT, "%s: template \"%s\" lacks $A%s", what, pair ? "pair" : "single",
                         pair ? " or $B" : "");
  return 0;
}

static int set_templates(omega_tokenizer_t *t, const char *what, const omega_tmpl_item_t *single, size_t ns,
                         const omega_tmpl_item_t *pair, size_t np) {
  t->single = omega__malloc(ns * sizeof *t->single);
  t->pair = omega__malloc((np ? np : 1) * sizeof *t->pair);
  int32_t pre[MAX_TEMPLATE], post[MAX_TEMPLATE];
  size_t n_pre = 0, n_post = 0;
  if (!t->single || !t->pair)
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  memcpy(t->single, single, ns * sizeof *single);
  t->n_single = ns;
  if (np)
    memcpy(t->pair, pair, np * sizeof *pair);
  t->n_pair = np;
  bool after = false;
  for (size_t i = 0; i < ns; i++) {
    if (single[i].id == OMEGA_TMPL_A)
      after = true;
    else if (after)
      post[n_post++] = single[i].id;
    else
      pre[n_pre++] = single[i].id;
  }
  t->n_pair_specials = 0;
  for (size_t i = 0; i < np; i++)
    t->n_pair_specials += pair[i].id >= 0;
  if (omega__tokenizer_set_ids(&t->prefix_ids, &t->n_prefix, pre, n_pre) ||
      omega__tokenizer_set_ids(&t->suffix_ids, &t->n_suffix, post, n_post))
    return OMEGA_ENOMEM;
  return 0;
}

int omega__tokenizer_bert_templates(omega_tokenizer_t *t, const char *what, int32_t cls, int32_t sep, bool roberta) {
  omega_tmpl_item_t s[3] = {{cls, 0}, {OMEGA_TMPL_A, 0}, {sep, 0}};
  omega_tmpl_item_t bert[5] = {{cls, 0}, {OMEGA_TMPL_A, 0}, {sep, 0}, {OMEGA_TMPL_B, 1}, {sep, 1}};
  omega_tmpl_item_t rob[6] = {{cls, 0}, {OMEGA_TMPL_A, 0}, {sep, 0}, {sep, 0}, {OMEGA_TMPL_B, 0}, {sep, 0}};
  return roberta ? set_templates(t, what, s, 3, rob, 6) : set_templates(t, what, s, 3, bert, 5);
}

static int parse_post(omega_tokenizer_t *t, const char *what, const json_t *pp, int depth) {
  static const omega_tmpl_item_t plain_s[] = {{OMEGA_TMPL_A, 0}};
  static const omega_tmpl_item_t plain_p[] = {{OMEGA_TMPL_A, 0}, {OMEGA_TMPL_B, 1}};
  const char *type = pp && !json_is_null(pp) ? type_of(pp) : NULL;
  if (!type || strcmp(type, "ByteLevel") == 0) {
    if (pp && !json_is_null(pp) && !type)
      return omega__seterr(OMEGA_EFORMAT, "%s: post_processor needs a \"type\"", what);
    return t->single ? 0 : set_templates(t, what, plain_s, 1, plain_p, 2);
  }
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(pp, "processors");
    if (!json_is_array(list) || depth > 4)
      return omega__seterr(OMEGA_EFORMAT, "%s: post_processor Sequence needs a \"processors\" array", what);
    size_t i, n_tmpl = 0;
    const json_t *x;
    json_array_foreach(list, i, x) {
      const char *xt = type_of(x);
      if (xt && strcmp(xt, "ByteLevel") == 0)
        continue; /* offsets only */
      if (n_tmpl++)
        return omega__seterr(OMEGA_EUNSUPPORTED, "%s: post_processor Sequence with two templates", what);
      int rc = parse_post(t, what, x, depth + 1);
      if (rc)
        return rc;
    }
    return n_tmpl ? 0 : set_templates(t, what, plain_s, 1, plain_p, 2);
  }
  if (strcmp(type, "TemplateProcessing") == 0) {
    const json_t *single = json_object_get(pp, "single"), *pair = json_object_get(pp, "pair");
    const json_t *specials = json_object_get(pp, "special_tokens");
    omega_tmpl_item_t s[MAX_TEMPLATE], p[MAX_TEMPLATE];
    size_t ns = 0, np = 0;
    if (!json_is_array(single))
      return omega__seterr(OMEGA_EFORMAT, "%s: TemplateProcessing needs a \"single\" array", what);
    int rc = parse_template_list(what, single, specials, false, s, &ns);
    if (rc == 0 && json_is_array(pair))
      rc = parse_template_list(what, pair, specials, true, p, &np);
    return rc ? rc : set_templates(t, what, s, ns, p, np);
  }
  if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
    int32_t cls, sep;
    int rc;
    if ((rc = pair_id(what, json_object_get(pp, "cls"), "cls", &cls)) ||
        (rc = pair_id(what, json_object_get(pp, "sep"), "sep", &sep)))
      return rc;
    return omega__tokenizer_bert_templates(t, what, cls, sep, type[0] == 'R');
  }
  return omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: post_processor \"%s\" is not supported (supported: TemplateProcessing, BertProcessing, "
                       "RobertaProcessing, ByteLevel, Sequence, null)",
                       what, type);
}

/* ---- added tokens ---- */

static int check_added(const char *what, const json_t *added, int64_t *max_id) {
  if (!added || json_is_null(added))
    return 0;
  if (!json_is_array(added))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"added_tokens\" must be an array", what);
  size_t i;
  const json_t *a;
  json_array_foreach(added, i, a) {
    const json_t *c = json_object_get(a, "content");
    const json_t *id = json_object_get(a, "id");
    if (!json_is_string(c) || !json_is_integer(id) || json_integer_value(id) < 0 ||
        json_integer_value(id) >= MAX_VOCAB_IDS)
      return omega__seterr(OMEGA_EFORMAT, "%s: added_tokens[%zu] needs a string \"content\" and an id in [0, %u)",
                           what, i, MAX_VOCAB_IDS);
    size_t len = json_string_length(c);
    if (len > MAX_TOKEN_BYTES || omega__utf8_validate((const unsigned char *)json_string_value(c), len) != len)
      return omega__seterr(OMEGA_EFORMAT, "%s: added_tokens[%zu] content is too long or not valid UTF-8", what, i);
    if (json_integer_value(id) > *max_id)
      *max_id = json_integer_value(id);
  }
  return 0;
}

static int load_added(omega_tokenizer_t *t, const char *what, const json_t *added) {
  size_t i;
  const json_t *a;
  /* ids outside the model's vocabulary take the added token's string */
  json_array_foreach(added, i, a) {
    const json_t *c = json_object_get(a, "content");
    uint32_t id = (uint32_t)json_integer_value(json_object_get(a, "id"));
    if (id < t->vocab.n_ids && t->vocab.tok_off[id] == UINT32_MAX) {
      int rc = omega__vocab_set(&t->vocab, id, json_string_value(c), json_string_length(c), 0);
      if (rc)
        return omega__prefixerr(rc, "%s", what);
    }
  }
  json_array_foreach(added, i, a) {
    bool sw, ls, rs, nz, sp;
    int rc;
    if ((rc = omega__json_bool(a, what, "single_word", false, &sw)) ||
        (rc = omega__json_bool(a, what, "lstrip", false, &ls)) ||
        (rc = omega__json_bool(a, what, "rstrip", false, &rs)) ||
        (rc = omega__json_bool(a, what, "special", false, &sp)) ||
        (rc = omega__json_bool(a, what, "normalized", !sp, &nz)))
      return rc;
    const json_t *c = json_object_get(a, "content");
    rc = omega__tokenizer_add_token(t, what, json_string_value(c), json_string_length(c),
                                    (int32_t)json_integer_value(json_object_get(a, "id")), sw, ls, rs, nz, sp);
    if (rc)
      return rc;
  }
  return 0;
}

int omega__tokenizer_load_json(omega_tokenizer_t *t, const char *what, const json_t *root) {
  if (!json_is_object(root))
    return omega__seterr(OMEGA_EFORMAT, "%s: top level must be a JSON object", what);
  const json_t *model = json_object_get(root, "model");
  const json_t *added = json_object_get(root, "added_tokens");
  int64_t max_id = -1;
  int rc;
  if ((rc = model_kind(what, model, &t->model, &max_id)) || (rc = check_added(what, added, &max_id)))
    return rc;
  if (max_id < 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: the vocabulary is empty", what);
  static const char *const names[] = {"WordPiece", "BPE", "Unigram"};
  t->model_name = names[t->model];
  if ((rc = omega__vocab_init(&t->vocab, (uint32_t)max_id + 1)) || (rc = fill_model_vocab(t, what, model)))
    return rc;
  switch (t->model) {
  case OMEGA_MODEL_WORDPIECE:
    rc = wordpiece_fields(t, what, model);
    break;
  case OMEGA_MODEL_BPE:
    rc = bpe_fields(t, what, model);
    break;
  case OMEGA_MODEL_UNIGRAM:
    rc = unigram_fields(t, what, model);
    break;
  }
  if (rc || (t->model != OMEGA_MODEL_WORDPIECE && (rc = byte_tokens(t, what, model))) ||
      (rc = add_norm(t, what, json_object_get(root, "normalizer"), 0)) ||
      (rc = add_pre(t, what, json_object_get(root, "pre_tokenizer"), 0)) ||
      (rc = parse_post(t, what, json_object_get(root, "post_processor"), 0)))
    return rc;
  return json_is_array(added) ? load_added(t, what, added) : 0;
}

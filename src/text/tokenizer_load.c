/* Loading a tokenizer from tokenizer.json, vocab.txt, or a model folder. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/json_util.h"
#include "text/precompiled.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TOKENIZER_FILE (256u << 20)
#define MAX_VOCAB_IDS (1u << 24)
#define MAX_TOKEN_BYTES 1024

void omega_tokenizer_free(omega_tokenizer_t *t) {
  if (!t)
    return;
  omega__vocab_free(&t->vocab);
  for (size_t i = 0; i < t->n_norm; i++) {
    omega__free(t->norm[i].text);
    omega__regex_free(t->norm[i].re);
    omega__charsmap_free(t->norm[i].cmap);
  }
  for (size_t i = 0; i < t->n_pre; i++)
    omega__regex_free(t->pre[i].re);
  omega__bpe_free(&t->bpe);
  omega__free(t->uni.scores);
  omega__free(t->single);
  omega__free(t->pair);
  for (size_t i = 0; i < t->n_added; i++)
    omega__free(t->added[i].cps);
  omega__free(t->added);
  omega__free(t->cont_prefix);
  omega__free(t->prefix_ids);
  omega__free(t->suffix_ids);
  omega__free(t);
}

/* Decode a (valid) UTF-8 string to a fresh code point array. */
static int to_cps(const char *s, size_t len, uint32_t **out, size_t *n) {
  uint32_t *c = omega__malloc((len + 1) * sizeof *c);
  if (!c)
    return OMEGA_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < len;) {
    size_t bad;
    size_t step = omega__utf8_decode((const unsigned char *)s + i, len - i, &c[k], &bad);
    if (!step) {
      omega__free(c);
      return OMEGA_EUTF8;
    }
    i += step;
    k++;
  }
  *out = c;
  *n = k;
  return 0;
}

int omega__tokenizer_add_token(omega_tokenizer_t *t, const char *what, const char *content, size_t len, int32_t id,
                               bool single_word, bool lstrip, bool rstrip, bool normalized, bool special) {
  if (len == 0)
    return 0; /* HF ignores empty added tokens */
  omega_added_token_t *na = omega__realloc(t->added, (t->n_added + 1) * sizeof *na);
  if (!na)
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  t->added = na;
  omega_added_token_t *a = &t->added[t->n_added];
  memset(a, 0, sizeof *a);
  uint32_t *cps;
  size_t n;
  int rc = to_cps(content, len, &cps, &n);
  if (rc == OMEGA_ENOMEM)
    return omega__seterr(rc, "%s: out of memory", what);
  if (rc)
    return omega__seterr(rc, "%s: added token id %d is not valid UTF-8", what, id);
  if (normalized) {
    /* HF matches normalized tokens against their normalized form. */
    omega_cpbuf_t norm = {0}, tmp = {0};
    rc = omega__normalize(t, cps, n, &norm, &tmp);
    omega__free(cps);
    omega__free(tmp.v);
    if (rc) {
      omega__free(norm.v);
      return rc;
    }
    cps = norm.v;
    n = norm.n;
  }
  a->cps = cps;
  a->n_cps = n;
  a->id = id;
  a->single_word = single_word;
  a->lstrip = lstrip;
  a->rstrip = rstrip;
  a->normalized = normalized;
  a->special = special;
  t->n_added++;
  if (normalized)
    t->any_normalized_added = true;
  if (n) {
    if (cps[0] < 0x10000)
      t->added_first[normalized][cps[0] >> 6] |= 1ull << (cps[0] & 63);
    else
      t->added_first_astral[normalized] = true;
  }
  return 0;
}

int omega__tokenizer_set_cont_prefix(omega_tokenizer_t *t, const char *p) {
  t->cont_prefix_len = strlen(p);
  t->cont_prefix = omega__malloc(t->cont_prefix_len + 1);
  if (!t->cont_prefix)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  memcpy(t->cont_prefix, p, t->cont_prefix_len + 1);
  t->cont_root = omega__vocab_walk(&t->vocab, 0, p, t->cont_prefix_len);
  return 0;
}

int omega__tokenizer_set_ids(int32_t **dst, size_t *n, const int32_t *ids, size_t k) {
  omega__free(*dst);
  *dst = NULL;
  *n = 0;
  if (!k)
    return 0;
  *dst = omega__malloc(k * sizeof **dst);
  if (!*dst)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  memcpy(*dst, ids, k * sizeof **dst);
  *n = k;
  return 0;
}

/* ---- vocab.txt ---- */

static int load_vocab_txt(omega_tokenizer_t *t, const char *path, bool lowercase, bool strip_accents,
                          bool chinese) {
  char *buf;
  size_t len;
  int rc = omega__read_file(path, MAX_TOKENIZER_FILE, &buf, &len);
  if (rc)
    return rc;
  uint32_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += buf[i] == '\n';
  if (len && buf[len - 1] != '\n')
    lines++;
  if (lines == 0 || lines >= MAX_VOCAB_IDS) {
    omega__free(buf);
    return omega__seterr(OMEGA_EFORMAT, "%s: vocabulary has %u lines (need 1 to %u)", path, lines, MAX_VOCAB_IDS - 1);
  }
  if ((rc = omega__vocab_init(&t->vocab, lines))) {
    omega__free(buf);
    return rc;
  }
  size_t pos = 0;
  for (uint32_t id = 0; id < lines; id++) {
    char *nl = memchr(buf + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - buf) : len, e = end;
    while (e > pos && (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\r' || buf[e - 1] == '\v' ||
                       buf[e - 1] == '\f'))
      e--; /* Rust trim_end, as HF's WordPiece::read_file does */
    if (omega__utf8_validate((const unsigned char *)buf + pos, e - pos) != e - pos) {
      omega__free(buf);
      return omega__seterr(OMEGA_EFORMAT, "%s: line %u is not valid UTF-8", path, id + 1);
    }
    if ((rc = omega__vocab_set(&t->vocab, id, buf + pos, e - pos, 1))) {
      omega__free(buf);
      return omega__prefixerr(rc, "%s", path);
    }
    pos = end + 1;
  }
  omega__free(buf);

  t->model = OMEGA_MODEL_WORDPIECE;
  t->model_name = "WordPiece";
  t->n_norm = 1;
  t->norm[0].kind = OMEGA_NORM_BERT;
  t->norm[0].bert = (omega_bert_norm_t){true, chinese, strip_accents, lowercase};
  t->n_pre = 1;
  t->pre[0].kind = OMEGA_PRE_BERT;
  t->max_input_chars_per_word = 100;
  t->unk_id = omega__vocab_find(&t->vocab, "[UNK]", 5);
  int32_t cls = omega__vocab_find(&t->vocab, "[CLS]", 5), sep = omega__vocab_find(&t->vocab, "[SEP]", 5);
  if (t->unk_id < 0 || cls < 0 || sep < 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: vocabulary lacks [UNK], [CLS] or [SEP]", path);
  if ((rc = omega__tokenizer_set_cont_prefix(t, "##")) ||
      (rc = omega__tokenizer_bert_templates(t, path, cls, sep, false)))
    return rc;
  static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
    int32_t id = omega__vocab_find(&t->vocab, specials[i], strlen(specials[i]));
    if (id >= 0 && (rc = omega__tokenizer_add_token(t, path, specials[i], strlen(specials[i]), id, false, false, false, false, true)))
      return rc;
  }
  return 0;
}

/* Case settings for a bare vocab.txt, from tokenizer_config.json beside it (transformers'
 * BertTokenizer defaults: do_lower_case true, strip_accents null = follow lowercase). */
static int vocab_settings(const char *vocab_path, omega_case_t mode, bool *lower, bool *strip, bool *chinese) {
  *lower = mode != OMEGA_CASE_CASED;
  *strip = *lower;
  *chinese = true;
  char dir[4096], cfg[4096];
  snprintf(dir, sizeof dir, "%s", vocab_path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  if (omega__path_join(cfg, sizeof cfg, dir, "tokenizer_config.json") || !omega__is_file(cfg))
    return 0;
  json_t *j;
  int rc = omega__json_load_file(cfg, 1 << 20, &j);
  if (rc)
    return rc;
  if (mode == OMEGA_CASE_AUTO && (rc = omega__json_bool(j, cfg, "do_lower_case", true, lower)) == 0)
    *strip = *lower;
  if (rc == 0)
    rc = omega__json_bool(j, cfg, "strip_accents", *lower, strip);
  if (rc == 0)
    rc = omega__json_bool(j, cfg, "tokenize_chinese_chars", true, chinese);
  json_decref(j);
  return rc;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int omega_tokenizer_load(const char *path, const omega_tokenizer_opts_t *opts, omega_tokenizer_t **out) {
  if (!path || !out)
    return omega__seterr(OMEGA_EINVAL, "omega_tokenizer_load: NULL argument");
  omega_case_t mode = opts ? opts->vocab_case : OMEGA_CASE_AUTO;
  char file[4096];
  int rc;
  if (omega__is_dir(path)) {
    if ((rc = omega__path_join(file, sizeof file, path, "tokenizer.json")))
      return rc;
    if (!omega__is_file(file)) {
      if ((rc = omega__path_join(file, sizeof file, path, "vocab.txt")))
        return rc;
      if (!omega__is_file(file))
        return omega__seterr(OMEGA_ENOENT, "%s: no tokenizer.json or vocab.txt in the model folder", path);
    }
  } else {
    if (snprintf(file, sizeof file, "%s", path) >= (int)sizeof file)
      return omega__seterr(OMEGA_ERANGE, "path too long: %s", path);
  }
  omega_tokenizer_t *t = omega__calloc(1, sizeof *t);
  if (!t)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  t->cont_root = -1;
  if (ends_with(file, ".json")) {
    json_t *root;
    rc = omega__json_load_file(file, MAX_TOKENIZER_FILE, &root);
    if (rc == 0) {
      rc = omega__tokenizer_load_json(t, file, root);
      json_decref(root);
    }
  } else {
    bool lower, strip, chinese;
    rc = vocab_settings(file, mode, &lower, &strip, &chinese);
    if (rc == 0)
      rc = load_vocab_txt(t, file, lower, strip, chinese);
  }
  if (rc) {
    omega_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int omega__tokenizer_from_json(const char *what, const char *buf, size_t len, omega_tokenizer_t **out) {
  omega_tokenizer_t *t = omega__calloc(1, sizeof *t);
  if (!t)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  t->cont_root = -1;
  json_t *root;
  int rc = omega__json_load_buf(what, buf, len, &root);
  if (rc == 0) {
    rc = omega__tokenizer_load_json(t, what, root);
    json_decref(root);
  }
  if (rc) {
    omega_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

size_t omega_tokenizer_vocab_size(const omega_tokenizer_t *t) { return t->vocab.n_ids; }

size_t omega_tokenizer_num_special(const omega_tokenizer_t *t) { return t->n_prefix + t->n_suffix; }

size_t omega_tokenizer_num_special_pair(const omega_tokenizer_t *t) { return t->n_pair_specials; }

const char *omega_tokenizer_model_type(const omega_tokenizer_t *t) { return t->model_name; }

const char *omega_tokenizer_id_to_token(const omega_tokenizer_t *t, int32_t id, size_t *len) {
  if (id < 0)
    return NULL;
  return omega__vocab_token(&t->vocab, (uint32_t)id, len);
}

int32_t omega_tokenizer_token_to_id(const omega_tokenizer_t *t, const char *s, size_t len) {
  for (size_t i = 0; i < t->n_added; i++) {
    const omega_added_token_t *a = &t->added[i];
    size_t alen;
    const char *content = omega__vocab_token(&t->vocab, (uint32_t)a->id, &alen);
    if (content && alen == len && memcmp(content, s, len) == 0)
      return a->id;
  }
  return omega__vocab_find(&t->vocab, s, len);
}

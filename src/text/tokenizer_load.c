/* Loading a tokenizer from tokenizer.json, vocab.txt, or a model folder. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/json_util.h"
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

static int add_token(omega_tokenizer_t *t, const char *what, const char *content, size_t len, int32_t id,
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
    uint32_t *norm = NULL;
    size_t nn = 0, cap = 0;
    rc = omega__normalize(&t->norm, cps, n, &norm, &nn, &cap);
    omega__free(cps);
    if (rc)
      return rc;
    cps = norm;
    n = nn;
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
  return 0;
}

static int set_cont_prefix(omega_tokenizer_t *t, const char *p) {
  t->cont_prefix_len = strlen(p);
  t->cont_prefix = omega__malloc(t->cont_prefix_len + 1);
  if (!t->cont_prefix)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  memcpy(t->cont_prefix, p, t->cont_prefix_len + 1);
  t->cont_root = omega__vocab_walk(&t->vocab, 0, p, t->cont_prefix_len);
  return 0;
}

static int set_ids(int32_t **dst, size_t *n, const int32_t *ids, size_t k) {
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

/* ---- tokenizer.json ---- */

static int parse_model(const char *path, const json_t *model, int64_t *max_id_out) {
  if (!json_is_object(model))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"model\" must be an object", path);
  const char *type;
  int rc = omega__json_str(model, path, "type", NULL, &type);
  if (rc)
    return rc;
  /* Old serializations omit "type"; HF infers WordPiece from its fields. */
  if (type && strcmp(type, "WordPiece") != 0)
    return omega__seterr(OMEGA_EUNSUPPORTED, "%s: model type \"%s\" is not supported (supported: WordPiece)",
                         path, type);
  const json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_object(vocab))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"model.vocab\" must be an object of token -> id", path);
  if (!type && !json_object_get(model, "continuing_subword_prefix") && json_object_get(model, "merges"))
    return omega__seterr(OMEGA_EUNSUPPORTED,
                         "%s: model looks like BPE (has \"merges\"), only WordPiece is supported", path);

  /* The id space also covers added tokens that are outside the model vocabulary. */
  int64_t max_id = -1;
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= MAX_VOCAB_IDS)
      return omega__seterr(OMEGA_EFORMAT, "%s: vocab id of token \"%.40s\" must be an integer in [0, %u)",
                           path, key, MAX_VOCAB_IDS);
    if (json_integer_value(val) > max_id)
      max_id = json_integer_value(val);
  }
  *max_id_out = max_id;
  return 0;
}

static int fill_vocab(omega_tokenizer_t *t, const char *path, const json_t *model, const json_t *added) {
  const json_t *vocab = json_object_get(model, "vocab");
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    size_t klen = strlen(key);
    if (omega__utf8_validate((const unsigned char *)key, klen) != klen)
      return omega__seterr(OMEGA_EFORMAT, "%s: vocab token is not valid UTF-8", path);
    int rc = omega__vocab_set(&t->vocab, (uint32_t)json_integer_value(val), key, klen, 1);
    if (rc)
      return omega__prefixerr(rc, "%s", path);
  }
  size_t i;
  if (!json_is_array(added))
    return 0;
  json_array_foreach(added, i, val) {
    const char *content = json_string_value(json_object_get(val, "content"));
    int32_t id = (int32_t)json_integer_value(json_object_get(val, "id"));
    if ((uint32_t)id < t->vocab.n_ids && t->vocab.tok_off[id] == UINT32_MAX) {
      int rc = omega__vocab_set(&t->vocab, (uint32_t)id, content, strlen(content), 0);
      if (rc)
        return omega__prefixerr(rc, "%s", path);
    }
  }
  return 0;
}

static int parse_normalizer(omega_tokenizer_t *t, const char *path, const json_t *n) {
  if (!n || json_is_null(n)) {
    t->norm.enabled = false;
    return 0;
  }
  const char *type = json_string_value(json_object_get(n, "type"));
  if (!type || strcmp(type, "BertNormalizer") != 0)
    return omega__seterr(OMEGA_EUNSUPPORTED,
                         "%s: normalizer type \"%s\" is not supported (supported: BertNormalizer or null)",
                         path, type ? type : "(missing)");
  t->norm.enabled = true;
  int rc;
  if ((rc = omega__json_bool(n, path, "clean_text", true, &t->norm.clean_text)) ||
      (rc = omega__json_bool(n, path, "handle_chinese_chars", true, &t->norm.handle_chinese_chars)) ||
      (rc = omega__json_bool(n, path, "lowercase", true, &t->norm.lowercase)))
    return rc;
  /* strip_accents: null means "same as lowercase". */
  return omega__json_bool(n, path, "strip_accents", t->norm.lowercase, &t->norm.strip_accents);
}

static int parse_pretokenizer(omega_tokenizer_t *t, const char *path, const json_t *p) {
  if (!p || json_is_null(p)) {
    t->bert_pretokenizer = false;
    return 0;
  }
  const char *type = json_string_value(json_object_get(p, "type"));
  if (!type || strcmp(type, "BertPreTokenizer") != 0)
    return omega__seterr(OMEGA_EUNSUPPORTED,
                         "%s: pre_tokenizer type \"%s\" is not supported (supported: BertPreTokenizer or null)",
                         path, type ? type : "(missing)");
  t->bert_pretokenizer = true;
  return 0;
}

/* ["[SEP]", 102] as BertProcessing / RobertaProcessing store it. */
static int pair_id(const char *path, const json_t *p, const char *name, int32_t *id) {
  const json_t *v = json_array_get(p, 1);
  if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) >= MAX_VOCAB_IDS)
    return omega__seterr(OMEGA_EFORMAT, "%s: post_processor \"%s\" must be [token, id]", path, name);
  *id = (int32_t)json_integer_value(v);
  return 0;
}

static int parse_template(omega_tokenizer_t *t, const char *path, const json_t *pp) {
  const json_t *single = json_object_get(pp, "single");
  const json_t *specials = json_object_get(pp, "special_tokens");
  if (!json_is_array(single))
    return omega__seterr(OMEGA_EFORMAT, "%s: TemplateProcessing needs a \"single\" array", path);
  int32_t pre[64], post[64];
  size_t n_pre = 0, n_post = 0;
  int seen_seq = 0;
  size_t i;
  const json_t *item;
  json_array_foreach(single, i, item) {
    const json_t *st = json_object_get(item, "SpecialToken");
    if (json_object_get(item, "Sequence")) {
      if (seen_seq++)
        return omega__seterr(OMEGA_EUNSUPPORTED, "%s: template repeats the sequence", path);
      continue;
    }
    const char *name = json_string_value(json_object_get(st, "id"));
    if (!name)
      return omega__seterr(OMEGA_EFORMAT, "%s: template item %zu is neither SpecialToken nor Sequence", path, i);
    const json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0)
      return omega__seterr(OMEGA_EFORMAT, "%s: template token \"%s\" has no ids in special_tokens", path, name);
    size_t j;
    const json_t *idv;
    json_array_foreach(ids, j, idv) {
      if (!json_is_integer(idv) || json_integer_value(idv) < 0 || json_integer_value(idv) >= MAX_VOCAB_IDS)
        return omega__seterr(OMEGA_EFORMAT, "%s: special token \"%s\" has an invalid id", path, name);
      if (n_pre + n_post >= 64)
        return omega__seterr(OMEGA_EUNSUPPORTED, "%s: template has more than 64 special ids", path);
      if (seen_seq)
        post[n_post++] = (int32_t)json_integer_value(idv);
      else
        pre[n_pre++] = (int32_t)json_integer_value(idv);
    }
  }
  if (!seen_seq)
    return omega__seterr(OMEGA_EFORMAT, "%s: template \"single\" has no Sequence", path);
  if (set_ids(&t->prefix_ids, &t->n_prefix, pre, n_pre) || set_ids(&t->suffix_ids, &t->n_suffix, post, n_post))
    return OMEGA_ENOMEM;
  return 0;
}

static int parse_post(omega_tokenizer_t *t, const char *path, const json_t *pp) {
  if (!pp || json_is_null(pp))
    return 0;
  const char *type = json_string_value(json_object_get(pp, "type"));
  if (type && strcmp(type, "TemplateProcessing") == 0)
    return parse_template(t, path, pp);
  if (type && (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0)) {
    int32_t cls, sep;
    int rc;
    if ((rc = pair_id(path, json_object_get(pp, "cls"), "cls", &cls)) ||
        (rc = pair_id(path, json_object_get(pp, "sep"), "sep", &sep)))
      return rc;
    if (set_ids(&t->prefix_ids, &t->n_prefix, &cls, 1) || set_ids(&t->suffix_ids, &t->n_suffix, &sep, 1))
      return OMEGA_ENOMEM;
    return 0;
  }
  return omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: post_processor type \"%s\" is not supported (supported: TemplateProcessing, "
                       "BertProcessing, RobertaProcessing, null)",
                       path, type ? type : "(missing)");
}

static int check_added(const char *path, const json_t *added, int64_t *max_id) {
  if (!added || json_is_null(added))
    return 0;
  if (!json_is_array(added))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"added_tokens\" must be an array", path);
  size_t i;
  const json_t *a;
  json_array_foreach(added, i, a) {
    const json_t *c = json_object_get(a, "content");
    const json_t *id = json_object_get(a, "id");
    if (!json_is_string(c) || !json_is_integer(id) || json_integer_value(id) < 0 ||
        json_integer_value(id) >= MAX_VOCAB_IDS)
      return omega__seterr(OMEGA_EFORMAT, "%s: added_tokens[%zu] needs a string \"content\" and an id in [0, %u)",
                           path, i, MAX_VOCAB_IDS);
    size_t len = json_string_length(c);
    if (len > MAX_TOKEN_BYTES || omega__utf8_validate((const unsigned char *)json_string_value(c), len) != len)
      return omega__seterr(OMEGA_EFORMAT, "%s: added_tokens[%zu] content is too long or not valid UTF-8", path, i);
    if (json_integer_value(id) > *max_id)
      *max_id = json_integer_value(id);
  }
  return 0;
}

static int load_added(omega_tokenizer_t *t, const char *path, const json_t *added) {
  size_t i;
  const json_t *a;
  json_array_foreach(added, i, a) {
    bool sw, ls, rs, nz, sp;
    int rc;
    if ((rc = omega__json_bool(a, path, "single_word", false, &sw)) ||
        (rc = omega__json_bool(a, path, "lstrip", false, &ls)) ||
        (rc = omega__json_bool(a, path, "rstrip", false, &rs)) ||
        (rc = omega__json_bool(a, path, "special", false, &sp)) ||
        (rc = omega__json_bool(a, path, "normalized", !sp, &nz)))
      return rc;
    const json_t *c = json_object_get(a, "content");
    rc = add_token(t, path, json_string_value(c), json_string_length(c), (int32_t)json_integer_value(json_object_get(a, "id")),
                   sw, ls, rs, nz, sp);
    if (rc)
      return rc;
  }
  return 0;
}

static int load_json_doc(omega_tokenizer_t *t, const char *path, json_t *root) {
  if (!json_is_object(root))
    return omega__seterr(OMEGA_EFORMAT, "%s: top level must be a JSON object", path);
  const json_t *model = json_object_get(root, "model");
  const json_t *added = json_object_get(root, "added_tokens");
  int64_t max_id = -1;
  int rc;
  if ((rc = parse_model(path, model, &max_id)) || (rc = check_added(path, added, &max_id)))
    return rc;
  if (max_id < 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: the vocabulary is empty", path);
  if ((rc = omega__vocab_init(&t->vocab, (uint32_t)max_id + 1)) || (rc = fill_vocab(t, path, model, added)))
    return rc;
  const char *unk, *prefix;
  int64_t max_chars;
  if ((rc = omega__json_str(model, path, "unk_token", "[UNK]", &unk)) ||
      (rc = omega__json_str(model, path, "continuing_subword_prefix", "##", &prefix)) ||
      (rc = omega__json_int(model, path, "max_input_chars_per_word", 100, 1, 1 << 20, &max_chars)))
    return rc;
  t->max_input_chars_per_word = (size_t)max_chars;
  t->unk_id = omega__vocab_find(&t->vocab, unk, strlen(unk));
  if (t->unk_id < 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: unk_token \"%s\" is not in the vocabulary", path, unk);
  if ((rc = set_cont_prefix(t, prefix)) || (rc = parse_normalizer(t, path, json_object_get(root, "normalizer"))) ||
      (rc = parse_pretokenizer(t, path, json_object_get(root, "pre_tokenizer"))) ||
      (rc = parse_post(t, path, json_object_get(root, "post_processor"))))
    return rc;
  return json_is_array(added) ? load_added(t, path, added) : 0;
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

  t->norm = (omega_bert_norm_t){true, true, chinese, strip_accents, lowercase};
  t->bert_pretokenizer = true;
  t->max_input_chars_per_word = 100;
  t->unk_id = omega__vocab_find(&t->vocab, "[UNK]", 5);
  int32_t cls = omega__vocab_find(&t->vocab, "[CLS]", 5), sep = omega__vocab_find(&t->vocab, "[SEP]", 5);
  if (t->unk_id < 0 || cls < 0 || sep < 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: vocabulary lacks [UNK], [CLS] or [SEP]", path);
  if ((rc = set_cont_prefix(t, "##")) || set_ids(&t->prefix_ids, &t->n_prefix, &cls, 1) ||
      set_ids(&t->suffix_ids, &t->n_suffix, &sep, 1))
    return rc ? rc : OMEGA_ENOMEM;
  static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
    int32_t id = omega__vocab_find(&t->vocab, specials[i], strlen(specials[i]));
    if (id >= 0 && (rc = add_token(t, path, specials[i], strlen(specials[i]), id, false, false, false, false, true)))
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
      rc = load_json_doc(t, file, root);
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
    rc = load_json_doc(t, what, root);
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

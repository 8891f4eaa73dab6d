/* omega-genmodel: write a random-weight encoder model folder (BERT, RoBERTa, XLM-RoBERTa,
 * MPNet, DistilBERT; a sentence-transformers embedding model or a *ForSequenceClassification
 * cross-encoder) in the HuggingFace / sentence-transformers layout, deterministic from a
 * seed, with a real vocabulary or a real tokenizer.json copied byte for byte, so tests,
 * benchmarks and the demo need no download. The default (--family bert --head embed)
 * writes exactly the bytes it always has: tests rely on them.
 *
 * Weights: embeddings and Linear weights ~ N(0, std) (std = 0.02, HF's initializer_range; MPNet's
 * relative attention bias ~ N(0, 50 std)),
 * the pad token's embedding row zero (and RoBERTa's and MPNet's position row padding_idx, as
 * transformers initialises them), Linear biases ~ N(0, std) (non-zero so a missing bias
 * shows), LayerNorm weight = 1 + N(0, 0.05), LayerNorm bias ~ N(0, std). Normals are
 * Irwin-Hall sums of 12 uniforms from splitmix64: integer and +,- only, so the bytes
 * are the same on every machine. */
#include "core/file.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef OMEGA_DEFAULT_VOCAB
#define OMEGA_DEFAULT_VOCAB "data/vocab/bert-base-uncased-vocab.txt"
#endif
/* ../shared beside the checkout (read-only reference data): the real tokenizer.json files of
 * the non-BERT families. $OMEGA_SHARED_DIR overrides it, --tokenizer names a file directly. */
#ifndef OMEGA_DEFAULT_SHARED
#define OMEGA_DEFAULT_SHARED "../shared"
#endif

typedef enum { FAM_BERT, FAM_ROBERTA, FAM_XLMR, FAM_MPNET, FAM_DISTILBERT, FAM_COUNT } family_t;

static const struct {
  const char *name, *model_type, *prefix, *arch, *tokenizer, *tokenizer_class;
} families[FAM_COUNT] = {
    {"bert", "bert", "bert.", "Bert", NULL, "BertTokenizer"},
    {"roberta", "roberta", "roberta.", "Roberta", "data/tokenizers/roberta-base/tokenizer.json", "RobertaTokenizer"},
    /* t5-small's SentencePiece Unigram file: XLM-R's algorithms (Precompiled charsmap,
     * Metaspace, Unigram) with a smaller vocabulary; its template has no <s>. */
    {"xlm-roberta", "xlm-roberta", "roberta.", "XLMRoberta", "data/tokenizers/t5-small/tokenizer.json",
     "PreTrainedTokenizerFast"},
    {"mpnet", "mpnet", "mpnet.", "MPNet", "data/tokenizers/all-mpnet-base-v2/tokenizer.json", "MPNetTokenizer"},
    {"distilbert", "distilbert", "distilbert.", "DistilBert", NULL, "DistilBertTokenizer"},
};

typedef struct {
  int hidden, layers, heads, intermediate, max_pos, max_seq;
} shape_t;

static const struct {
  const char *name;
  shape_t s;
} shapes[] = {
    {"tiny", {128, 2, 4, 512, 512, 128}},
    {"mid", {256, 3, 8, 1024, 512, 256}},
    {"minilm", {384, 6, 12, 1536, 512, 256}},
    {"base", {768, 12, 12, 3072, 512, 512}},
};

typedef enum { DT_F32, DT_F16, DT_BF16 } dtype_t;

typedef struct {
  char name[128];
  int head; /* a task head's tensor (classifier...): never under the base model's prefix */
  int ndim;
  int64_t shape[2];
  float *data;
} tensor_t;

static uint64_t rng_state;

static uint64_t splitmix(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static float normal(float std) {
  int64_t acc = 0; /* sum of 12 uniforms on a 2^24 grid: exact integer arithmetic */
  for (int i = 0; i < 12; i++)
    acc += (int64_t)(splitmix() >> 40);
  return (float)((double)(acc - 6 * (1 << 24)) / (double)(1 << 24)) * std;
}

static tensor_t *tensors;
static size_t n_tensors;
static int adding_head;

static float *add_tensor(const char *name, int64_t d0, int64_t d1) {
  tensors = realloc(tensors, (n_tensors + 1) * sizeof *tensors);
  if (!tensors) {
    perror("omega-genmodel");
    exit(1);
  }
  tensor_t *t = &tensors[n_tensors++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->head = adding_head;
  t->ndim = d1 ? 2 : 1;
  t->shape[0] = d0;
  t->shape[1] = d1;
  size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
  t->data = malloc(n * sizeof(float));
  if (!t->data) {
    perror("omega-genmodel");
    exit(1);
  }
  return t->data;
}

static size_t numel(const tensor_t *t) { return (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1); }

static void fill_normal(float *p, size_t n, float std) {
  for (size_t i = 0; i < n; i++)
    p[i] = normal(std);
}

static void linear(const char *prefix, int in, int out, float std) {
  char n[160];
  snprintf(n, sizeof n, "%s.weight", prefix);
  fill_normal(add_tensor(n, out, in), (size_t)in * out, std);
  snprintf(n, sizeof n, "%s.bias", prefix);
  fill_normal(add_tensor(n, out, 0), (size_t)out, std);
}

static void layernorm(const char *prefix, int h, float std) {
  char n[160];
  snprintf(n, sizeof n, "%s.weight", prefix);
  float *w = add_tensor(n, h, 0);
  for (int i = 0; i < h; i++)
    w[i] = 1.0f + normal(0.05f);
  snprintf(n, sizeof n, "%s.bias", prefix);
  fill_normal(add_tensor(n, h, 0), (size_t)h, std);
}

static uint16_t to_bf16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u)
    return (uint16_t)((b >> 16) | 0x40); /* quiet NaN */
  b += 0x7FFFu + ((b >> 16) & 1);         /* round to nearest even */
  return (uint16_t)(b >> 16);
}

static uint16_t to_f16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  uint32_t sign = (b >> 16) & 0x8000u;
  int32_t exp = (int32_t)((b >> 23) & 0xFF) - 127 + 15;
  uint32_t man = b & 0x7FFFFFu;
  if (((b >> 23) & 0xFF) == 0xFF)
    return (uint16_t)(sign | 0x7C00u | (man ? 0x200u : 0));
  if (exp >= 31)
    return (uint16_t)(sign | 0x7C00u);
  if (exp <= 0) {
    if (exp < -10)
      return (uint16_t)sign;
    man |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++; /* may carry into the exponent, which is the right rounding */
  return (uint16_t)h;
}

/* Old BERT checkpoints name LayerNorm parameters gamma/beta. */
static void legacy_ln_name(char *name, size_t cap) {
  char *ln = strstr(name, "LayerNorm.");
  if (!ln)
    return;
  char *leaf = ln + strlen("LayerNorm.");
  if (strcmp(leaf, "weight") == 0)
    snprintf(leaf, cap - (size_t)(leaf - name), "gamma");
  else if (strcmp(leaf, "bias") == 0)
    snprintf(leaf, cap - (size_t)(leaf - name), "beta");
}

static int write_safetensors(const char *path, dtype_t dt, const char *prefix, int legacy_ln, int with_position_ids,
                             int max_pos) {
  const char *dname = dt == DT_F32 ? "F32" : dt == DT_F16 ? "F16" : "BF16";
  const size_t es = dt == DT_F32 ? 4 : 2;
  json_t *h = json_object();
  size_t off = 0;
  json_t *meta = json_object();
  json_object_set_new(meta, "format", json_string("pt"));
  json_object_set_new(h, "__metadata__", meta);
  for (size_t i = 0; i < n_tensors; i++) {
    const tensor_t *t = &tensors[i];
    json_t *e = json_object(), *shape = json_array(), *offs = json_array();
    json_object_set_new(e, "dtype", json_string(dname));
    for (int d = 0; d < t->ndim; d++)
      json_array_append_new(shape, json_integer(t->shape[d]));
    json_object_set_new(e, "shape", shape);
    json_array_append_new(offs, json_integer((json_int_t)off));
    off += numel(t) * es;
    json_array_append_new(offs, json_integer((json_int_t)off));
    json_object_set_new(e, "data_offsets", offs);
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix && !t->head ? prefix : "", t->name);
    if (legacy_ln)
      legacy_ln_name(name, sizeof name);
    json_object_set_new(h, name, e);
  }
  size_t pos_bytes = with_position_ids ? (size_t)max_pos * 8 : 0;
  if (with_position_ids) {
    /* transformers < 4.31 saved this int64 buffer; loaders must skip it */
    json_t *e = json_object(), *shape = json_array(), *offs = json_array();
    json_object_set_new(e, "dtype", json_string("I64"));
    json_array_append_new(shape, json_integer(1));
    json_array_append_new(shape, json_integer(max_pos));
    json_object_set_new(e, "shape", shape);
    json_array_append_new(offs, json_integer((json_int_t)off));
    json_array_append_new(offs, json_integer((json_int_t)(off + pos_bytes)));
    json_object_set_new(e, "data_offsets", offs);
    char pname[160];
    snprintf(pname, sizeof pname, "%sembeddings.position_ids", prefix ? prefix : "");
    json_object_set_new(h, pname, e);
  }
  char *hs = json_dumps(h, JSON_COMPACT);
  json_decref(h);
  size_t hl = strlen(hs), padded = (hl + 7) & ~(size_t)7;
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "omega-genmodel: %s: %s\n", path, strerror(errno));
    free(hs);
    return -1;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  fwrite(len8, 1, 8, f);
  fwrite(hs, 1, hl, f);
  for (size_t i = hl; i < padded; i++)
    fputc(' ', f);
  free(hs);
  for (size_t i = 0; i < n_tensors; i++) {
    const tensor_t *t = &tensors[i];
    size_t n = numel(t);
    if (dt == DT_F32) {
      fwrite(t->data, 4, n, f);
      continue;
    }
    for (size_t k = 0; k < n; k++) {
      uint16_t v = dt == DT_F16 ? to_f16(t->data[k]) : to_bf16(t->data[k]);
      unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
      fwrite(b, 1, 2, f);
    }
  }
  for (int p = 0; p < (with_position_ids ? max_pos : 0); p++) {
    unsigned char b[8] = {0};
    for (int i = 0; i < 8; i++)
      b[i] = (unsigned char)((uint64_t)p >> (8 * i));
    fwrite(b, 1, 8, f);
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "omega-genmodel: write error on %s\n", path);
    return -1;
  }
  return 0;
}

static int dump(json_t *j, const char *dir, const char *name) {
  char path[4096];
  if (omega__path_join(path, sizeof path, dir, name))
    return -1;
  int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
  json_decref(j);
  if (rc)
    fprintf(stderr, "omega-genmodel: cannot write %s\n", path);
  return rc;
}

static json_t *special(const char *tok, int id) {
  return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", tok, "single_word", 0, "lstrip", 0,
                   "rstrip", 0, "normalized", 0, "special", 1);
}

/* tokenizer.json as transformers' BertConverter writes it for this vocabulary. */
static json_t *tokenizer_json(char **toks, size_t n, int lowercase) {
  json_t *vocab = json_object();
  for (size_t i = 0; i < n; i++)
    json_object_set_new(vocab, toks[i], json_integer((json_int_t)i));
  int ids[5] = {-1, -1, -1, -1, -1};
  static const char *const names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  json_t *added = json_array();
  for (int k = 0; k < 5; k++) {
    json_t *v = json_object_get(vocab, names[k]);
    if (v) {
      ids[k] = (int)json_integer_value(v);
      json_array_append_new(added, special(names[k], ids[k]));
    }
  }
  json_t *single = json_pack("[{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}}]", "SpecialToken", "id", "[CLS]", "type_id",
                             0, "Sequence", "id", "A", "type_id", 0, "SpecialToken", "id", "[SEP]", "type_id", 0);
  json_t *pair = json_pack("[{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}}]", "SpecialToken",
                           "id", "[CLS]", "type_id", 0, "Sequence", "id", "A", "type_id", 0, "SpecialToken", "id",
                           "[SEP]", "type_id", 0, "Sequence", "id", "B", "type_id", 1, "SpecialToken", "id", "[SEP]",
                           "type_id", 1);
  json_t *sp = json_pack("{s:{s:s,s:[i],s:[s]}, s:{s:s,s:[i],s:[s]}}", "[CLS]", "id", "[CLS]", "ids", ids[2],
                         "tokens", "[CLS]", "[SEP]", "id", "[SEP]", "ids", ids[3], "tokens", "[SEP]");
  return json_pack("{s:s, s:n, s:n, s:o, s:{s:s,s:b,s:b,s:n,s:b}, s:{s:s}, s:{s:s,s:o,s:o,s:o}, s:{s:s,s:s,s:b}, "
                   "s:{s:s,s:s,s:s,s:i,s:o}}",
                   "version", "1.0", "truncation", "padding", "added_tokens", added, "normalizer", "type",
                   "BertNormalizer", "clean_text", 1, "handle_chinese_chars", 1, "strip_accents", "lowercase",
                   lowercase, "pre_tokenizer", "type", "BertPreTokenizer", "post_processor", "type",
                   "TemplateProcessing", "single", single, "pair", pair, "special_tokens", sp, "decoder", "type",
                   "WordPiece", "prefix", "##", "cleanup", 1, "model", "type", "WordPiece", "unk_token", "[UNK]",
                   "continuing_subword_prefix", "##", "max_input_chars_per_word", 100, "vocab", vocab);
}

static void usage(FILE *f) {
  fputs("usage: omega-genmodel --out DIR [--family bert|roberta|xlm-roberta|mpnet|distilbert]\n"
        "                      [--head embed|rerank] [--num-labels N] [--tokenizer FILE]\n"
        "                      [--shape tiny|mid|minilm|base] [--hidden H] [--layers L]\n"
        "                      [--heads A] [--intermediate I] [--max-position P] [--max-seq-length N]\n"
        "                      [--seed S] [--dtype f32|f16|bf16] [--vocab FILE] [--cased]\n"
        "                      [--pooling mean|cls|max|mean_sqrt_len|weightedmean|lasttoken[,...]]\n"
        "                      [--no-normalize] [--act gelu|gelu_new|relu] [--std X] [--bert-prefix]\n"
        "                      [--with-position-ids] [--no-pooler] [--no-modules] [--legacy-layernorm-names]\n"
        "\n"
        "Writes a random-weight encoder model (config.json, model.safetensors, tokenizer files,\n"
        "sentence-transformers modules) deterministic from --seed.\n"
        "Shapes: tiny 128x2 (4 heads), mid 256x3 (8 heads), minilm 384x6 (12 heads), base 768x12.\n"
        "--family: the architecture and its tensor names. bert and distilbert use --vocab (a BERT\n"
        "  vocab.txt) and write vocab.txt + tokenizer.json; roberta, xlm-roberta and mpnet copy a real\n"
        "  tokenizer.json (default: ../shared/data/tokenizers/{roberta-base,t5-small,all-mpnet-base-v2},\n"
        "  $OMEGA_SHARED_DIR overriding ../shared) and default --max-position to max-seq-length + 2.\n"
        "--head rerank: a *ForSequenceClassification cross-encoder with --num-labels outputs (default\n"
        "  1), names under the family prefix (bert., roberta., mpnet., distilbert.), no sentence-\n"
        "  transformers modules. --head embed (default): a sentence-transformers embedding model.\n"
        "--bert-prefix: put the base model's names under the family prefix (embed head).\n"
        "--no-modules writes a plain HuggingFace folder (no modules.json / pooling config).\n",
        f);
}

/* A real tokenizer.json, kept as bytes (copied verbatim) and parsed for its ids. */
typedef struct {
  char *bytes;
  size_t len;
  json_t *j;
  int vocab_size;
} tokfile_t;

static void free_tokenizer(tokfile_t *t) {
  free(t->bytes);
  json_decref(t->j);
  memset(t, 0, sizeof *t);
}

static int read_tokenizer(const char *path, tokfile_t *t) {
  memset(t, 0, sizeof *t);
  if (omega__read_file(path, 256u << 20, &t->bytes, &t->len)) {
    fprintf(stderr, "omega-genmodel: cannot read tokenizer %s (pass --tokenizer FILE)\n", path);
    return -1;
  }
  json_error_t err;
  t->j = json_loadb(t->bytes, t->len, 0, &err);
  json_t *model = t->j ? json_object_get(t->j, "model") : NULL;
  json_t *vocab = model ? json_object_get(model, "vocab") : NULL;
  if (!vocab) {
    fprintf(stderr, "omega-genmodel: %s: not a tokenizer.json with a model vocabulary\n", path);
    free_tokenizer(t);
    return -1;
  }
  int max_id = -1;
  if (json_is_array(vocab)) /* Unigram: [[piece, score], ...], id = index */
    max_id = (int)json_array_size(vocab) - 1;
  else {
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) {
      if (json_integer_value(v) > max_id)
        max_id = (int)json_integer_value(v);
    }
  }
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(t->j, "added_tokens"), i, a) {
    if (json_integer_value(json_object_get(a, "id")) > max_id)
      max_id = (int)json_integer_value(json_object_get(a, "id"));
  }
  t->vocab_size = max_id + 1;
  return 0;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* The id of a token by its text (added tokens first, then the model vocabulary), or -1. */
static int token_id(const tokfile_t *t, const char *content) {
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(t->j, "added_tokens"), i, a) {
    if (strcmp(nz(json_string_value(json_object_get(a, "content"))), content) == 0)
      return (int)json_integer_value(json_object_get(a, "id"));
  }
  json_t *vocab = json_object_get(json_object_get(t->j, "model"), "vocab");
  if (json_is_array(vocab)) {
    json_array_foreach(vocab, i, a) {
      if (strcmp(nz(json_string_value(json_array_get(a, 0))), content) == 0)
        return (int)i;
    }
    return -1;
  }
  json_t *v = json_object_get(vocab, content);
  return v ? (int)json_integer_value(v) : -1;
}

/* The special-token roles transformers' tokenizer files name, for the tokens this file has. */
static void special_roles(const tokfile_t *t, json_t *obj) {
  const char *unk = json_string_value(json_object_get(json_object_get(t->j, "model"), "unk_token"));
  const char *roles[][2] = {{"bos_token", "<s>"},  {"cls_token", "<s>"},   {"eos_token", "</s>"},
                            {"mask_token", "<mask>"}, {"pad_token", "<pad>"}, {"sep_token", "</s>"},
                            {"unk_token", unk ? unk : "<unk>"}};
  for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
    if (token_id(t, roles[r][1]) >= 0)
      json_object_set_new(obj, roles[r][0], json_string(roles[r][1]));
}

static int write_bytes(const char *dir, const char *name, const char *bytes, size_t len) {
  char path[4096];
  if (omega__path_join(path, sizeof path, dir, name))
    return -1;
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "omega-genmodel: cannot write %s\n", path);
    if (f)
      fclose(f);
    return -1;
  }
  return 0;
}

static int dump_sorted(json_t *j, const char *dir, const char *name) {
  char path[4096];
  if (omega__path_join(path, sizeof path, dir, name))
    return -1;
  int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
  json_decref(j);
  if (rc)
    fprintf(stderr, "omega-genmodel: cannot write %s\n", path);
  return rc;
}

static json_t *labels(int n, int inverse) {
  json_t *o = json_object();
  for (int i = 0; i < n; i++) {
    char k[32], v[32];
    snprintf(k, sizeof k, "%d", i);
    snprintf(v, sizeof v, "LABEL_%d", i);
    json_object_set_new(o, inverse ? v : k, inverse ? json_integer(i) : json_string(v));
  }
  return o;
}

static void free_vocab(char **toks, size_t n) {
  for (size_t i = 0; toks && i < n; i++) /* a tokenizer.json family has no vocab.txt lines, only their count */
    free(toks[i]);
  free(toks);
}

static int read_vocab(const char *path, char ***toks, size_t *n) {
  char *buf;
  size_t len;
  if (omega__read_file(path, 64u << 20, &buf, &len)) {
    fprintf(stderr, "omega-genmodel: cannot read vocabulary %s\n", path);
    return -1;
  }
  size_t cap = 0;
  *n = 0;
  *toks = NULL;
  for (char *p = buf; p < buf + len;) {
    char *nl = memchr(p, '\n', (size_t)(buf + len - p));
    char *end = nl ? nl : buf + len;
    while (end > p && (end[-1] == '\r' || end[-1] == ' '))
      end--;
    if (*n == cap) {
      cap = cap ? cap * 2 : 32768;
      *toks = realloc(*toks, cap * sizeof **toks);
    }
    (*toks)[(*n)++] = strndup(p, (size_t)(end - p));
    p = nl ? nl + 1 : buf + len;
  }
  free(buf);
  return *n ? 0 : -1;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"out", required_argument, 0, 'o'},          {"shape", required_argument, 0, 's'},
      {"hidden", required_argument, 0, 'H'},       {"layers", required_argument, 0, 'L'},
      {"heads", required_argument, 0, 'A'},        {"intermediate", required_argument, 0, 'I'},
      {"max-position", required_argument, 0, 'P'}, {"max-seq-length", required_argument, 0, 'N'},
      {"seed", required_argument, 0, 'S'},         {"dtype", required_argument, 0, 'd'},
      {"vocab", required_argument, 0, 'v'},        {"cased", no_argument, 0, 'c'},
      {"pooling", required_argument, 0, 'p'},      {"no-normalize", no_argument, 0, 'n'},
      {"act", required_argument, 0, 'a'},          {"std", required_argument, 0, 'x'},
      {"bert-prefix", no_argument, 0, 'b'},        {"with-position-ids", no_argument, 0, 'i'},
      {"no-pooler", no_argument, 0, 'q'},          {"no-modules", no_argument, 0, 'm'},
      {"legacy-layernorm-names", no_argument, 0, 'g'},
      {"family", required_argument, 0, 'F'},       {"head", required_argument, 0, 'E'},
      {"num-labels", required_argument, 0, 'K'},   {"tokenizer", required_argument, 0, 'T'},
      {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
  const char *out = NULL, *vocab_path = NULL, *pooling = "mean", *act = "gelu", *tok_path = NULL;
  shape_t s = shapes[0].s;
  unsigned long long seed = 1;
  dtype_t dt = DT_F32;
  int cased = 0, normalize = 1, bert_prefix = 0, legacy_ln = 0, pos_ids = 0, pooler = 1, modules = 1;
  int rerank = 0, num_labels = 1, max_pos_set = 0, no_pooler = 0;
  family_t fam = FAM_BERT;
  float std = 0.02f;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 's': {
      int found = 0;
      for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(optarg, shapes[i].name) == 0) {
          s = shapes[i].s;
          found = 1;
        }
      if (!found) {
        fprintf(stderr, "omega-genmodel: unknown shape \"%s\"\n", optarg);
        return 2;
      }
      break;
    }
    case 'H': s.hidden = atoi(optarg); break;
    case 'L': s.layers = atoi(optarg); break;
    case 'A': s.heads = atoi(optarg); break;
    case 'I': s.intermediate = atoi(optarg); break;
    case 'P': s.max_pos = atoi(optarg); max_pos_set = 1; break;
    case 'N': s.max_seq = atoi(optarg); break;
    case 'S': seed = strtoull(optarg, NULL, 10); break;
    case 'd':
      if (strcmp(optarg, "f32") == 0) dt = DT_F32;
      else if (strcmp(optarg, "f16") == 0) dt = DT_F16;
      else if (strcmp(optarg, "bf16") == 0) dt = DT_BF16;
      else {
        fprintf(stderr, "omega-genmodel: --dtype must be f32, f16 or bf16\n");
        return 2;
      }
      break;
    case 'v': vocab_path = optarg; break;
    case 'c': cased = 1; break;
    case 'p': pooling = optarg; break;
    case 'n': normalize = 0; break;
    case 'a': act = optarg; break;
    case 'x': std = strtof(optarg, NULL); break;
    case 'b': bert_prefix = 1; break;
    case 'i': pos_ids = 1; break;
    case 'q': pooler = 0; no_pooler = 1; break;
    case 'm': modules = 0; break;
    case 'g': legacy_ln = 1; break;
    case 'F': {
      int found = 0;
      for (int f = 0; f < FAM_COUNT; f++)
        if (strcmp(optarg, families[f].name) == 0) {
          fam = (family_t)f;
          found = 1;
        }
      if (!found) {
        fprintf(stderr, "omega-genmodel: --family must be bert, roberta, xlm-roberta, mpnet or distilbert\n");
        return 2;
      }
      break;
    }
    case 'E':
      if (strcmp(optarg, "embed") == 0) rerank = 0;
      else if (strcmp(optarg, "rerank") == 0) rerank = 1;
      else {
        fprintf(stderr, "omega-genmodel: --head must be embed or rerank\n");
        return 2;
      }
      break;
    case 'K': num_labels = atoi(optarg); break;
    case 'T': tok_path = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!out || optind != argc) {
    usage(stderr);
    return 2;
  }
  const int wordpiece = fam == FAM_BERT || fam == FAM_DISTILBERT; /* BERT vocab.txt families */
  const int roberta_pos = fam == FAM_ROBERTA || fam == FAM_XLMR || fam == FAM_MPNET;
  if (wordpiece && tok_path) {
    fprintf(stderr, "omega-genmodel: --tokenizer is for roberta, xlm-roberta and mpnet (%s uses --vocab)\n",
            families[fam].name);
    return 2;
  }
  if (!wordpiece && (vocab_path || cased)) {
    fprintf(stderr, "omega-genmodel: --vocab and --cased are for bert and distilbert (%s uses --tokenizer)\n",
            families[fam].name);
    return 2;
  }
  if (num_labels < 1 || num_labels > 1000) {
    fprintf(stderr, "omega-genmodel: --num-labels must be 1..1000\n");
    return 2;
  }
  if (rerank && fam == FAM_BERT && no_pooler) {
    fprintf(stderr, "omega-genmodel: BertForSequenceClassification needs the pooler (drop --no-pooler)\n");
    return 2;
  }
  /* Which encoders carry a pooler: BERT always for a classifier (its head reads it), the
   * embedding models of BERT, RoBERTa and MPNet unless --no-pooler; never DistilBERT, nor
   * RoBERTa's or MPNet's classifiers (transformers builds them with add_pooling_layer=False). */
  if (fam == FAM_DISTILBERT || (rerank && fam != FAM_BERT))
    pooler = 0;
  if (roberta_pos && !max_pos_set)
    s.max_pos = s.max_seq + 2;
  if (s.hidden <= 0 || s.layers <= 0 || s.heads <= 0 || s.intermediate <= 0 || s.hidden % s.heads ||
      s.max_pos <= 0 || s.max_seq < 2 || s.max_seq > s.max_pos) {
    fprintf(stderr, "omega-genmodel: invalid shape (hidden %d must be a multiple of heads %d; "
                    "2 <= max-seq-length %d <= max-position %d)\n",
            s.hidden, s.heads, s.max_seq, s.max_pos);
    return 2;
  }

  /* Vocabulary: a BERT vocab.txt, or a real tokenizer.json copied verbatim. */
  char **toks = NULL;
  size_t nv = 0;
  tokfile_t tf = {0};
  int pad = 0; /* pad_token_id (BERT, DistilBERT: [PAD] = 0 in every BERT vocabulary used here) */
  if (wordpiece) {
    if (read_vocab(vocab_path ? vocab_path : OMEGA_DEFAULT_VOCAB, &toks, &nv))
      return 1;
  } else {
    char def[4096];
    if (!tok_path) {
      const char *shared = getenv("OMEGA_SHARED_DIR");
      snprintf(def, sizeof def, "%s/%s", shared && *shared ? shared : OMEGA_DEFAULT_SHARED, families[fam].tokenizer);
      tok_path = def;
    }
    if (read_tokenizer(tok_path, &tf))
      return 1;
    nv = (size_t)tf.vocab_size;
    pad = token_id(&tf, "<pad>");
    int bad = 0;
    if (pad < 0) {
      fprintf(stderr, "omega-genmodel: %s has no <pad> token\n", tok_path);
      bad = 1;
    } else if (fam == FAM_MPNET && pad != 1) { /* MPNet's embeddings hard-code padding_idx 1 */
      fprintf(stderr, "omega-genmodel: %s: MPNet needs <pad> = 1 (it is %d)\n", tok_path, pad);
      bad = 1;
    } else if (s.max_seq + pad + 1 > s.max_pos) { /* positions run pad+1 .. pad+max_seq */
      fprintf(stderr, "omega-genmodel: max-position %d too small: %s positions reach %d\n", s.max_pos,
              families[fam].name, s.max_seq + pad);
      bad = 2;
    }
    if (bad) {
      free_tokenizer(&tf);
      return bad;
    }
  }
  if (mkdir(out, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "omega-genmodel: %s: %s\n", out, strerror(errno));
    free_vocab(toks, nv);
    free_tokenizer(&tf);
    return 1;
  }

  /* Tensors, in a fixed order: the bytes depend on the seed and the options only. */
  rng_state = seed;
  const int H = s.hidden;
  float *we = add_tensor("embeddings.word_embeddings.weight", (int64_t)nv, H);
  fill_normal(we, nv * (size_t)H, std);
  memset(we + (size_t)pad * H, 0, (size_t)H * sizeof *we); /* the pad row, as transformers initialises it */
  float *pe = add_tensor("embeddings.position_embeddings.weight", s.max_pos, H);
  fill_normal(pe, (size_t)s.max_pos * H, std);
  if (roberta_pos) /* position_embeddings has padding_idx too in RoBERTa and MPNet */
    memset(pe + (size_t)pad * H, 0, (size_t)H * sizeof *pe);
  const int type_vocab = fam == FAM_BERT ? 2 : 1;
  if (fam == FAM_BERT || fam == FAM_ROBERTA || fam == FAM_XLMR)
    fill_normal(add_tensor("embeddings.token_type_embeddings.weight", type_vocab, H), (size_t)type_vocab * H, std);
  layernorm("embeddings.LayerNorm", H, std);
  for (int l = 0; l < s.layers; l++) {
    char p[128];
    if (fam == FAM_MPNET) {
      static const char *const qkvo[] = {"q", "k", "v", "o"};
      for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "encoder.layer.%d.attention.attn.%s", l, qkvo[k]);
        linear(p, H, H, std);
      }
      snprintf(p, sizeof p, "encoder.layer.%d.attention.LayerNorm", l);
      layernorm(p, H, std);
    } else if (fam == FAM_DISTILBERT) {
      static const char *const qkvo[] = {"q_lin", "k_lin", "v_lin", "out_lin"};
      for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "transformer.layer.%d.attention.%s", l, qkvo[k]);
        linear(p, H, H, std);
      }
      snprintf(p, sizeof p, "transformer.layer.%d.sa_layer_norm", l);
      layernorm(p, H, std);
      snprintf(p, sizeof p, "transformer.layer.%d.ffn.lin1", l);
      linear(p, H, s.intermediate, std);
      snprintf(p, sizeof p, "transformer.layer.%d.ffn.lin2", l);
      linear(p, s.intermediate, H, std);
      snprintf(p, sizeof p, "transformer.layer.%d.output_layer_norm", l);
      layernorm(p, H, std);
      continue;
    } else {
      static const char *const qkv[] = {"query", "key", "value"};
      for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "encoder.layer.%d.attention.self.%s", l, qkv[k]);
        linear(p, H, H, std);
      }
      snprintf(p, sizeof p, "encoder.layer.%d.attention.output.dense", l);
      linear(p, H, H, std);
      snprintf(p, sizeof p, "encoder.layer.%d.attention.output.LayerNorm", l);
      layernorm(p, H, std);
    }
    snprintf(p, sizeof p, "encoder.layer.%d.intermediate.dense", l);
    linear(p, H, s.intermediate, std);
    snprintf(p, sizeof p, "encoder.layer.%d.output.dense", l);
    linear(p, s.intermediate, H, std);
    snprintf(p, sizeof p, "encoder.layer.%d.output.LayerNorm", l);
    layernorm(p, H, std);
  }
  if (fam == FAM_MPNET) /* one bias per (bucket, head), shared by every layer; ~N(0, 50 std) so that it
                         * shapes attention as a trained one does and a wrong bucket shows in the output
                         * (at std the attention logits are near zero and so would the bias be) */
    fill_normal(add_tensor("encoder.relative_attention_bias.weight", 32, s.heads), 32 * (size_t)s.heads, 50 * std);
  if (pooler)
    linear("pooler.dense", H, H, std);
  if (rerank) {
    adding_head = 1;
    if (fam == FAM_BERT) {
      linear("classifier", H, num_labels, std);
    } else if (fam == FAM_DISTILBERT) {
      linear("pre_classifier", H, H, std);
      linear("classifier", H, num_labels, std);
    } else {
      linear("classifier.dense", H, H, std);
      linear("classifier.out_proj", H, num_labels, std);
    }
    adding_head = 0;
  }

  char path[4096];
  const char *prefix = rerank || bert_prefix ? families[fam].prefix : NULL;
  int bad_pooling = 0;
  int rc = omega__path_join(path, sizeof path, out, "model.safetensors") ||
           write_safetensors(path, dt, prefix, legacy_ln, pos_ids, s.max_pos);
  const char *dtname = dt == DT_F32 ? "float32" : dt == DT_F16 ? "float16" : "bfloat16";
  char arch[96];
  snprintf(arch, sizeof arch, "%s%s", families[fam].arch, rerank ? "ForSequenceClassification" : "Model");
  if (fam == FAM_BERT) {
    json_t *cfg = json_pack("{s:[s], s:f, s:s, s:f, s:i, s:f, s:i, s:f, s:i, s:s, s:i, s:i, s:i, s:s, s:s, s:i, s:i}",
                            "architectures", arch, "attention_probs_dropout_prob", 0.1, "hidden_act", act,
                            "hidden_dropout_prob", 0.1, "hidden_size", H, "initializer_range", 0.02,
                            "intermediate_size", s.intermediate, "layer_norm_eps", 1e-12, "max_position_embeddings",
                            s.max_pos, "model_type", "bert", "num_attention_heads", s.heads, "num_hidden_layers",
                            s.layers, "pad_token_id", 0, "position_embedding_type", "absolute", "torch_dtype",
                            dtname, "type_vocab_size", 2, "vocab_size", (int)nv);
    if (rerank) {
      json_object_set_new(cfg, "id2label", labels(num_labels, 0));
      json_object_set_new(cfg, "label2id", labels(num_labels, 1));
      rc = rc || dump_sorted(cfg, out, "config.json");
    } else {
      rc = rc || dump(cfg, out, "config.json");
    }
  } else {
    json_t *cfg = json_pack("{s:[s], s:s, s:f, s:i, s:s}", "architectures", arch, "model_type",
                            families[fam].model_type, "initializer_range", 0.02, "pad_token_id", pad, "torch_dtype",
                            dtname);
    json_object_set_new(cfg, "vocab_size", json_integer((json_int_t)nv));
    json_object_set_new(cfg, "max_position_embeddings", json_integer(s.max_pos));
    if (fam == FAM_DISTILBERT) {
      json_object_update_new(cfg, json_pack("{s:s, s:f, s:i, s:f, s:i, s:i, s:i, s:f, s:f, s:b, s:b}", "activation",
                                            act, "attention_dropout", 0.1, "dim", H, "dropout", 0.1, "hidden_dim",
                                            s.intermediate, "n_heads", s.heads, "n_layers", s.layers, "qa_dropout",
                                            0.1, "seq_classif_dropout", 0.2, "sinusoidal_pos_embds", 0,
                                            "tie_weights_", 1));
    } else {
      json_object_update_new(cfg, json_pack("{s:f, s:s, s:f, s:i, s:i, s:f, s:i, s:i}", "attention_probs_dropout_prob",
                                            0.1, "hidden_act", act, "hidden_dropout_prob", 0.1, "hidden_size", H,
                                            "intermediate_size", s.intermediate, "layer_norm_eps", 1e-5,
                                            "num_attention_heads", s.heads, "num_hidden_layers", s.layers));
      int bos = token_id(&tf, "<s>"), eos = token_id(&tf, "</s>");
      if (bos >= 0)
        json_object_set_new(cfg, "bos_token_id", json_integer(bos));
      if (eos >= 0)
        json_object_set_new(cfg, "eos_token_id", json_integer(eos));
      if (fam == FAM_MPNET) {
        json_object_set_new(cfg, "relative_attention_num_buckets", json_integer(32));
      } else {
        json_object_set_new(cfg, "position_embedding_type", json_string("absolute"));
        json_object_set_new(cfg, "type_vocab_size", json_integer(1));
      }
    }
    if (rerank) {
      json_object_set_new(cfg, "id2label", labels(num_labels, 0));
      json_object_set_new(cfg, "label2id", labels(num_labels, 1));
    }
    rc = rc || dump_sorted(cfg, out, "config.json");
  }
  if (wordpiece) {
    rc = rc || dump(tokenizer_json(toks, nv, !cased), out, "tokenizer.json");
    rc = rc || dump(json_pack("{s:b, s:b, s:n, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "do_lower_case", !cased,
                              "tokenize_chinese_chars", 1, "strip_accents", "unk_token", "[UNK]", "sep_token",
                              "[SEP]", "pad_token", "[PAD]", "cls_token", "[CLS]", "mask_token", "[MASK]",
                              "model_max_length", s.max_seq, "tokenizer_class", families[fam].tokenizer_class),
                    out, "tokenizer_config.json");
    rc = rc || dump(json_pack("{s:s, s:s, s:s, s:s, s:s}", "cls_token", "[CLS]", "mask_token", "[MASK]", "pad_token",
                              "[PAD]", "sep_token", "[SEP]", "unk_token", "[UNK]"),
                    out, "special_tokens_map.json");
  } else {
    rc = rc || write_bytes(out, "tokenizer.json", tf.bytes, tf.len);
    json_t *tc = json_pack("{s:i, s:s}", "model_max_length", s.max_seq, "tokenizer_class",
                           families[fam].tokenizer_class);
    special_roles(&tf, tc);
    if (fam == FAM_MPNET)
      json_object_set_new(tc, "do_lower_case", json_true());
    rc = rc || dump_sorted(tc, out, "tokenizer_config.json");
    json_t *sm = json_object();
    special_roles(&tf, sm);
    rc = rc || dump_sorted(sm, out, "special_tokens_map.json");
  }
  if (modules && !rerank) {
    json_t *mods = json_pack("[{s:i,s:s,s:s,s:s},{s:i,s:s,s:s,s:s}]", "idx", 0, "name", "0", "path", "", "type",
                             "sentence_transformers.models.Transformer", "idx", 1, "name", "1", "path", "1_Pooling",
                             "type", "sentence_transformers.models.Pooling");
    if (normalize)
      json_array_append_new(mods, json_pack("{s:i,s:s,s:s,s:s}", "idx", 2, "name", "2", "path", "2_Normalize",
                                            "type", "sentence_transformers.models.Normalize"));
    rc = rc || dump(mods, out, "modules.json");
    static const char *const modes[] = {"cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens",
                                        "weightedmean_tokens", "lasttoken"};
    static const char *const short_names[] = {"cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken"};
    json_t *pool = json_pack("{s:i}", "word_embedding_dimension", H);
    int any = 0;
    for (int k = 0; k < 6; k++) {
      char key[64];
      snprintf(key, sizeof key, "pooling_mode_%s", modes[k]);
      /* match whole comma-separated names */
      int on = 0;
      for (const char *p = pooling; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == strlen(short_names[k]) && strncmp(p, short_names[k], l) == 0)
          on = 1;
        p = comma ? comma + 1 : p + l;
      }
      any |= on;
      json_object_set_new(pool, key, json_boolean(on));
    }
    json_object_set_new(pool, "include_prompt", json_true());
    if (!any) {
      fprintf(stderr, "omega-genmodel: --pooling \"%s\" names no known mode\n", pooling);
      json_decref(pool);
      rc = 1;
      bad_pooling = 1;
    }
    char pdir[4096];
    rc = rc || omega__path_join(pdir, sizeof pdir, out, "1_Pooling") || (mkdir(pdir, 0755) != 0 && errno != EEXIST);
    rc = rc || dump(pool, pdir, "config.json");
    rc = rc || dump(json_pack("{s:i, s:b}", "max_seq_length", s.max_seq, "do_lower_case", 0), out,
                    "sentence_bert_config.json");
    rc = rc || dump(json_pack("{s:{s:s}, s:{}, s:n, s:s}", "__version__", "omega_genmodel", "1", "prompts",
                              "default_prompt_name", "similarity_fn_name", "cosine"),
                    out, "config_sentence_transformers.json");
  }
  if (wordpiece) {
    FILE *vf = NULL;
    if (!rc && !omega__path_join(path, sizeof path, out, "vocab.txt") && (vf = fopen(path, "w"))) {
      for (size_t i = 0; i < nv; i++)
        fprintf(vf, "%s\n", toks[i]);
      rc = fclose(vf) != 0;
    } else if (!rc) {
      fprintf(stderr, "omega-genmodel: cannot write %s\n", path);
      rc = 1;
    }
  }
  free_vocab(toks, nv);
  free_tokenizer(&tf);
  for (size_t i = 0; i < n_tensors; i++)
    free(tensors[i].data);
  free(tensors);
  if (rc)
    return bad_pooling ? 2 : 1;
  fprintf(stderr, "omega-genmodel: wrote %s (%s %s, hidden %d, layers %d, heads %d, ffn %d, seed %llu)\n", out,
          families[fam].name, rerank ? "cross-encoder" : "embedding model", H, s.layers, s.heads, s.intermediate,
          seed);
  return 0;
}

/* Tokenizers other than BERT's, exact to HuggingFace tokenizers 0.23.2:
 *  - the seven real tokenizer.json files in ../shared/data/tokenizers (Unigram with a real
 *    Precompiled charsmap, byte-level BPE of RoBERTa / GPT-2 / Qwen3 / ModernBERT, CLIP's BPE,
 *    MPNet's WordPiece) over the hostile dev corpus: single texts and pairs, with type ids,
 *    untruncated and truncated to 128 and 512;
 *  - small feature tokenizers in data/features (byte fallback, unk fusing, ignore_merges,
 *    affixes, Metaspace schemes, every split behaviour, the Unicode forms, Strip / Replace /
 *    Prepend, added-token flags, the three truncation strategies), whose reference ids
 *    data/features/make_refs.js recorded from HF;
 *  - loader errors and hostile inputs. */
#include "testutil.h"

#include "omega/omega.h"
#include "text/tokenizer_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const families[] = {"t5-small",   "roberta-base", "gpt2", "qwen3", "modernbert",
                                       "all-mpnet-base-v2", "clip-vit-base-patch32"};

static size_t n_lines;
static char **lines;
static size_t *lens;
static char *corpus;

static int load_corpus(const char *path) {
  size_t len;
  corpus = tu_read_file(path, &len);
  n_lines = tu_split_lines(corpus, len, &lines, &lens);
  return 0;
}

static void free_corpus(void) {
  free(lines);
  free(lens);
  free(corpus);
  lines = NULL;
  lens = NULL;
  corpus = NULL;
}

/* ids equal to a JSON array of integers (NULL array: the encode must have failed). */
static int same(const json_t *want, const int32_t *ids, size_t n) {
  if (!json_is_array(want) || json_array_size(want) != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (json_integer_value(json_array_get(want, i)) != ids[i])
      return 0;
  return 1;
}

static int32_t ids[1 << 16], types[1 << 16];

/* One family against its two reference files; returns the number of mismatches. */
static size_t check_family(const char *fam) {
  char rel[512], path[4096];
  snprintf(rel, sizeof rel, "data/tokenizers/%s/tokenizer.json", fam);
  if (!tu_shared_path(path, sizeof path, rel))
    return 0;
  omega_tokenizer_t *tok;
  if (omega_tokenizer_load(path, NULL, &tok))
    fail_msg("load %s: %s", path, omega_errmsg());
  static const char *const keys[] = {"ids", "max128", "max512"};
  static const size_t maxes[] = {0, 128, 512};
  size_t bad = 0, checked = 0;
  for (int pairs = 0; pairs < 2; pairs++) {
    snprintf(rel, sizeof rel, "data/tokenizers/%s/ref_dev%s.jsonl", fam, pairs ? "_pairs" : "");
    assert_non_null(tu_shared_path(path, sizeof path, rel));
    size_t rlen;
    char *ref = tu_read_file(path, &rlen);
    char **rl;
    size_t *rll;
    size_t nr = tu_split_lines(ref, rlen, &rl, &rll);
    assert_int_equal(nr, pairs ? n_lines / 2 : n_lines);
    for (size_t k = 0; k < nr; k++) {
      json_t *r = json_loadb(rl[k], rll[k], 0, NULL);
      assert_non_null(r);
      for (int m = 0; m < 3; m++) {
        size_t n = 0;
        int rc = pairs ? omega_tokenizer_encode_pair(tok, lines[2 * k], lens[2 * k], lines[2 * k + 1],
                                                     lens[2 * k + 1], maxes[m], OMEGA_TRUNCATE_LONGEST_FIRST, 0,
                                                     ids, types, 1 << 16, &n)
                       : omega_tokenizer_encode(tok, lines[k], lens[k], maxes[m], 0, ids, 1 << 16, &n);
        if (rc)
          fail_msg("%s %s %zu: %s", fam, pairs ? "pair" : "line", k + 1, omega_errmsg());
        int ok = same(json_object_get(r, keys[m]), ids, n);
        if (ok && pairs && m == 0)
          ok = same(json_object_get(r, "type_ids"), types, n);
        if (!ok && bad++ < 5)
          fprintf(stderr, "%s: %s %zu (%s) differs\n", fam, pairs ? "pair" : "line", k + 1, keys[m]);
        checked++;
      }
      json_decref(r);
    }
    free(rl);
    free(rll);
    free(ref);
  }
  fprintf(stderr, "%s: %zu/%zu encodings match HF\n", fam, checked - bad, checked);
  omega_tokenizer_free(tok);
  return bad;
}

static void test_real_families_match_hf(void **state) {
  (void)state;
  char path[4096];
  if (!tu_shared_path(path, sizeof path, "data/tokenizer/dev.txt"))
    skip();
  load_corpus(path);
  size_t bad = 0;
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    bad += check_family(families[f]);
  free_corpus();
  assert_int_equal(bad, 0);
}

static omega_truncation_t strategy(const char *s) {
  return strcmp(s, "OnlyFirst") == 0    ? OMEGA_TRUNCATE_ONLY_FIRST
         : strcmp(s, "OnlySecond") == 0 ? OMEGA_TRUNCATE_ONLY_SECOND
                                        : OMEGA_TRUNCATE_LONGEST_FIRST;
}

static void test_feature_tokenizers_match_hf(void **state) {
  (void)state;
  char dir[4096], path[4096];
  snprintf(dir, sizeof dir, "%s/tests/text/data/features", OMEGA_SOURCE_DIR);
  snprintf(path, sizeof path, "%s/inputs.txt", dir);
  load_corpus(path);
  snprintf(path, sizeof path, "%s/refs.jsonl", dir);
  json_error_t jerr;
  size_t rlen;
  char *refs = tu_read_file(path, &rlen);
  char **rl;
  size_t *rll;
  size_t nr = tu_split_lines(refs, rlen, &rl, &rll), bad = 0, checked = 0, refused = 0;
  assert_true(nr >= 40);
  for (size_t i = 0; i < nr; i++) {
    json_t *r = json_loadb(rl[i], rll[i], 0, &jerr);
    assert_non_null(r);
    const char *file = json_string_value(json_object_get(r, "file"));
    bool pairs = json_is_true(json_object_get(r, "pairs"));
    size_t max = (size_t)json_integer_value(json_object_get(r, "max"));
    omega_truncation_t how = strategy(json_string_value(json_object_get(r, "strategy")));
    snprintf(path, sizeof path, "%s/%s.json", dir, file);
    omega_tokenizer_t *tok;
    if (omega_tokenizer_load(path, NULL, &tok))
      fail_msg("load %s: %s", path, omega_errmsg());
    const json_t *want = json_object_get(r, "ids"), *want_types = json_object_get(r, "type_ids");
    for (size_t k = 0; k < json_array_size(want); k++) {
      size_t n = 0;
      int rc = pairs ? omega_tokenizer_encode_pair(tok, lines[2 * k], lens[2 * k], lines[2 * k + 1], lens[2 * k + 1],
                                                   max, how, 0, ids, types, 1 << 16, &n)
                     : omega_tokenizer_encode(tok, lines[k], lens[k], max, 0, ids, 1 << 16, &n);
      const json_t *w = json_array_get(want, k);
      int ok;
      if (json_is_null(w)) { /* HF refused: only_first / only_second cannot make room */
        ok = rc == OMEGA_ERANGE;
        refused++;
      } else {
        ok = rc == 0 && same(w, ids, n) && (!pairs || same(json_array_get(want_types, k), types, n));
      }
      if (!ok && bad++ < 8)
        fprintf(stderr, "%s %s max %zu %s: input %zu differs (rc %d)\n", file, pairs ? "pairs" : "single", max,
                json_string_value(json_object_get(r, "strategy")), k, rc);
      checked++;
    }
    omega_tokenizer_free(tok);
    json_decref(r);
  }
  fprintf(stderr, "feature tokenizers: %zu/%zu encodings match HF (%zu refusals among them)\n", checked - bad,
          checked, refused);
  assert_true(refused > 0); /* the refs exercise the only_* refusal */
  free(rl);
  free(rll);
  free(refs);
  free_corpus();
  assert_int_equal(bad, 0);
}

/* ---- behaviours a reader can check by hand ---- */

static omega_tokenizer_t *from_doc(const char *doc) {
  omega_tokenizer_t *t = NULL;
  if (omega__tokenizer_from_json("t.json", doc, strlen(doc), &t))
    fail_msg("load: %s", omega_errmsg());
  return t;
}

static void expect(const omega_tokenizer_t *t, const char *text, size_t max, const int32_t *want, size_t n_want) {
  size_t n;
  assert_int_equal(omega_tokenizer_encode(t, text, strlen(text), max, 0, ids, 1 << 16, &n), 0);
  if (n != n_want || memcmp(ids, want, n * sizeof *ids) != 0) {
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, "%d ", ids[i]);
    fail_msg("\"%s\": got %zu ids, want %zu", text, n, n_want);
  }
}
#define EXPECT(t, text, max, ...)                                                                                      \
  do {                                                                                                                 \
    static const int32_t w_[] = {__VA_ARGS__};                                                                         \
    expect(t, text, max, w_, sizeof w_ / sizeof w_[0]);                                                                \
  } while (0)

/* merges by rank, leftmost first on ties; a pair seen twice keeps its later rank */
static void test_bpe_merges_lowest_rank_leftmost(void **state) {
  (void)state;
  omega_tokenizer_t *t = from_doc("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, "
                                  "\"bc\": 4, \"aa\": 5, \"abc\": 6, \"aaaa\": 7}, \"merges\": [\"b c\", \"a b\", "
                                  "\"a a\", \"aa aa\", \"a bc\"]}}");
  EXPECT(t, "abc", 0, 6);          /* b c first (rank 0), then a bc */
  EXPECT(t, "aaa", 0, 5, 0);       /* leftmost a a */
  EXPECT(t, "aaaaa", 0, 7, 0);     /* aa aa, then the lone a */
  EXPECT(t, "abab", 0, 3, 3);      /* no merge for b a */
  EXPECT(t, "axb", 0, 3);          /* no unk token: HF drops the x, and a b then merge */
  omega_tokenizer_free(t);
}

/* 200,000 characters in one word: the heap keeps it O(n log n); the test finishing is
 * the check (a quadratic merge loop takes minutes here). */
static void test_bpe_long_word_is_not_quadratic(void **state) {
  (void)state;
  omega_tokenizer_t *t = from_doc("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"aa\": 1}, \"merges\": "
                                  "[\"a a\"]}}");
  size_t len = 200000, n;
  char *s = malloc(len);
  memset(s, 'a', len);
  assert_int_equal(omega_tokenizer_encode(t, s, len, 0, 0, ids, 1 << 16, &n), OMEGA_ERANGE);
  assert_int_equal(n, len / 2);
  free(s);
  omega_tokenizer_free(t);
}

static void test_unigram_viterbi_and_fused_unk(void **state) {
  (void)state;
  omega_tokenizer_t *t = from_doc("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], "
                                  "[\"a\", -1], [\"b\", -1], [\"ab\", -1.5], [\"abc\", -4], [\"c\", -1]]}}");
  EXPECT(t, "ab", 0, 3);        /* -1.5 beats -2 */
  EXPECT(t, "abc", 0, 3, 5);    /* -2.5 beats -4 */
  EXPECT(t, "xyab", 0, 0, 3);   /* x y: one fused unk */
  EXPECT(t, "x\xC3\xA9z", 0, 0); /* multi-byte unknowns fuse too */
  omega_tokenizer_free(t);
}

static void test_pair_truncation_strategies(void **state) {
  (void)state;
  /* BERT-style template: [CLS]=1 A [SEP]=2 B [SEP], B typed 1; each letter one token */
  omega_tokenizer_t *t = from_doc(
      "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3, \"b\": "
      "4}}, \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}, \"post_processor\": {\"type\": \"BertProcessing\", "
      "\"cls\": [\"[CLS]\", 1], \"sep\": [\"[SEP]\", 2]}}");
  size_t n;
  const char *a = "a a a a a a", *b = "b b";
  assert_int_equal(omega_tokenizer_encode_pair(t, a, strlen(a), b, strlen(b), 8, OMEGA_TRUNCATE_LONGEST_FIRST, 0, ids,
                                               types, 64, &n),
                   0);
  static const int32_t lf[] = {1, 3, 3, 3, 2, 4, 4, 2}, lf_t[] = {0, 0, 0, 0, 0, 1, 1, 1};
  assert_int_equal(n, 8);
  assert_memory_equal(ids, lf, sizeof lf);
  assert_memory_equal(types, lf_t, sizeof lf_t);
  assert_int_equal(omega_tokenizer_encode_pair(t, b, strlen(b), a, strlen(a), 8, OMEGA_TRUNCATE_ONLY_SECOND, 0, ids,
                                               NULL, 64, &n),
                   0);
  static const int32_t os[] = {1, 4, 4, 2, 3, 3, 3, 2};
  assert_memory_equal(ids, os, sizeof os);
  /* only_first cannot make room when A is the short one */
  assert_int_equal(omega_tokenizer_encode_pair(t, b, strlen(b), a, strlen(a), 6, OMEGA_TRUNCATE_ONLY_FIRST, 0, ids,
                                               NULL, 64, &n),
                   OMEGA_ERANGE);
  assert_non_null(strstr(omega_errmsg(), "only_first"));
  /* shorter than the pair's specials */
  assert_int_equal(omega_tokenizer_encode_pair(t, a, strlen(a), b, strlen(b), 2, OMEGA_TRUNCATE_LONGEST_FIRST, 0, ids,
                                               NULL, 64, &n),
                   OMEGA_EINVAL);
  assert_int_equal(omega_tokenizer_num_special_pair(t), 3);
  assert_string_equal(omega_tokenizer_model_type(t), "WordPiece");
  omega_tokenizer_free(t);
}

static void test_precompiled_charsmap_real(void **state) {
  (void)state;
  char path[4096];
  if (!tu_shared_path(path, sizeof path, "data/tokenizers/t5-small/tokenizer.json"))
    skip();
  omega_tokenizer_t *t;
  assert_int_equal(omega_tokenizer_load(path, NULL, &t), 0);
  assert_string_equal(omega_tokenizer_model_type(t), "Unigram");
  /* full-width letters fold to ASCII under nmt_nfkc: same ids as the ASCII text */
  size_t n1, n2;
  int32_t a[64], b[64];
  assert_int_equal(omega_tokenizer_encode(t, "Hello", 5, 0, 0, a, 64, &n1), 0);
  assert_int_equal(omega_tokenizer_encode(t, "\xEF\xBC\xA8\xEF\xBD\x85\xEF\xBD\x8C\xEF\xBD\x8C\xEF\xBD\x8F", 15, 0, 0,
                                          b, 64, &n2),
                   0);
  assert_int_equal(n1, n2);
  assert_memory_equal(a, b, n1 * sizeof *a);
  omega_tokenizer_free(t);
}

static void load_err(const char *doc, int want_rc, const char *want_msg) {
  omega_tokenizer_t *t = NULL;
  int rc = omega__tokenizer_from_json("bad.json", doc, strlen(doc), &t);
  assert_null(t);
  if (rc != want_rc || !strstr(omega_errmsg(), want_msg))
    fail_msg("rc %d (%s), message \"%s\"; wanted %d and \"%s\"", rc, omega_err_name(rc), omega_errmsg(), want_rc,
             want_msg);
}

static void test_loader_refuses_what_it_cannot_run_exactly(void **state) {
  (void)state;
  load_err("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}}", OMEGA_EUNSUPPORTED, "WordLevel");
  load_err("{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {\"a\": 0}, \"merges\": []}}",
           OMEGA_EUNSUPPORTED, "dropout");
  load_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", OMEGA_EFORMAT,
           "merges[0]");
  load_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a a a\"]}}", OMEGA_EFORMAT,
           "merges[0]");
  load_err("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<u>\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
           OMEGA_EFORMAT, "<u>");
  load_err("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", \"x\"]]}}", OMEGA_EFORMAT, "vocab[0]");
  load_err("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"a\", 0]]}}", OMEGA_EFORMAT, "unk_id");
  load_err("{\"normalizer\": {\"type\": \"Nmt\"}, \"model\": {\"vocab\": {\"[UNK]\": 0}}}", OMEGA_EUNSUPPORTED, "Nmt");
  load_err("{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"!!!!\"}, \"model\": "
           "{\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "base64");
  load_err("{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"/////w==\"}, \"model\": "
           "{\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "trie size");
  load_err("{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(\"}, \"content\": \"\"}, \"model\": "
           "{\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "bad regex");
  load_err("{\"pre_tokenizer\": {\"type\": \"UnicodeScripts\"}, \"model\": {\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EUNSUPPORTED, "UnicodeScripts");
  load_err("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"}, "
           "\"model\": {\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "Sideways");
  load_err("{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}, \"model\": {\"vocab\": "
           "{\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "one character");
  load_err("{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"B\"}}]}, "
           "\"model\": {\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "\"B\"");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_families_match_hf),
      cmocka_unit_test(test_feature_tokenizers_match_hf),
      cmocka_unit_test(test_bpe_merges_lowest_rank_leftmost),
      cmocka_unit_test(test_bpe_long_word_is_not_quadratic),
      cmocka_unit_test(test_unigram_viterbi_and_fused_unk),
      cmocka_unit_test(test_pair_truncation_strategies),
      cmocka_unit_test(test_precompiled_charsmap_real),
      cmocka_unit_test(test_loader_refuses_what_it_cannot_run_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tokenizer behaviours one at a time: special tokens on raw text, truncation, invalid
 * UTF-8, added-token options (single_word, normalized), post-processors, loader errors, and
 * omega_tokenizer_tokens (the ids with their strings and kinds). */
#include "testutil.h"

#include "omega/omega.h"
#include "text/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#define VOCAB OMEGA_SOURCE_DIR "/data/vocab/bert-base-uncased-vocab.txt"

static omega_tokenizer_t *uncased(void) {
  omega_tokenizer_opts_t o = {OMEGA_CASE_LOWER};
  omega_tokenizer_t *t;
  assert_int_equal(omega_tokenizer_load(VOCAB, &o, &t), 0);
  return t;
}

/* Encode and compare with an expected id list terminated by -1. */
static void expect(const omega_tokenizer_t *t, const char *s, size_t len, size_t max_len, const int32_t *want) {
  int32_t ids[1024];
  size_t n, k = 0;
  int rc = omega_tokenizer_encode(t, s, len, max_len, 0, ids, 1024, &n);
  if (rc)
    fail_msg("encode: %s", omega_errmsg());
  while (want[k] >= 0)
    k++;
  if (n != k || memcmp(ids, want, k * sizeof *ids) != 0) {
    fprintf(stderr, "got:");
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
    fail_msg("unexpected ids for \"%.*s\"", (int)len, s);
  }
}
#define EXPECT(t, s, maxlen, ...)                                                                                      \
  do {                                                                                                                 \
    const int32_t want_[] = {__VA_ARGS__, -1};                                                                         \
    expect(t, s, sizeof(s) - 1, maxlen, want_);                                                                        \
  } while (0)

static void test_known_ids(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT(t, "Hello world", 0, 101, 7592, 2088, 102);
  EXPECT(t, "", 0, 101, 102);
  EXPECT(t, "\t \r ", 0, 101, 102);
  EXPECT(t, "hello\r", 0, 101, 7592, 102);
  EXPECT(t, "hel\0lo", 0, 101, 7592, 102); /* NUL is dropped by clean_text and glues */
  EXPECT(t, "a\vb", 0, 101, 11113, 102);   /* "ab": VT is a control char, not a space */
  assert_int_equal(omega_tokenizer_num_special(t), 2);
  omega_tokenizer_free(t);
}

static void test_special_tokens_on_raw_text(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT(t, "[CLS]x", 0, 101, 101, 1060, 102);
  EXPECT(t, "[MASK][SEP]", 0, 101, 103, 102, 102);
  EXPECT(t, "[mask]", 0, 101, 1031, 7308, 1033, 102); /* case-sensitive: "[ mask ]" */
  omega_tokenizer_free(t);
}

static void test_truncation(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT(t, "one two three four five six", 5, 101, 2028, 2048, 2093, 102);
  EXPECT(t, "one two three four five six", 2, 101, 102);
  EXPECT(t, "one two", 100, 101, 2028, 2048, 102);
  int32_t ids[8];
  size_t n;
  assert_int_equal(omega_tokenizer_encode(t, "one", 3, 1, 0, ids, 8, &n), OMEGA_EINVAL);
  /* a buffer that is too small reports the size needed */
  assert_int_equal(omega_tokenizer_encode(t, "one two three four", 18, 0, 0, ids, 3, &n), OMEGA_ERANGE);
  assert_int_equal(n, 6);
  omega_tokenizer_free(t);
}

static void test_long_words(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  char w[128];
  int32_t ids[256];
  size_t n;
  memset(w, 'a', sizeof w);
  assert_int_equal(omega_tokenizer_encode(t, w, 100, 0, 0, ids, 256, &n), 0);
  assert_true(n > 3); /* split into pieces */
  for (size_t i = 1; i + 1 < n; i++)
    assert_int_not_equal(ids[i], 100);
  assert_int_equal(omega_tokenizer_encode(t, w, 101, 0, 0, ids, 256, &n), 0);
  assert_int_equal(n, 3); /* more than 100 chars: one [UNK] */
  assert_int_equal(ids[1], 100);
  omega_tokenizer_free(t);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  int32_t ids[64], ids2[64];
  size_t n, n2;
  assert_int_equal(omega_tokenizer_encode(t, "ab\xFF" "cd", 5, 0, 0, ids, 64, &n), OMEGA_EUTF8);
  assert_non_null(strstr(omega_errmsg(), "byte offset 2"));
  /* replaced by U+FFFD, which clean_text removes: same as "abcd" */
  assert_int_equal(omega_tokenizer_encode(t, "ab\xFF" "cd", 5, 0, OMEGA_TOK_UTF8_REPLACE, ids, 64, &n), 0);
  assert_int_equal(omega_tokenizer_encode(t, "abcd", 4, 0, 0, ids2, 64, &n2), 0);
  assert_int_equal(n, n2);
  assert_memory_equal(ids, ids2, n * sizeof *ids);
  /* a truncated sequence at the end and a surrogate are errors too */
  assert_int_equal(omega_tokenizer_encode(t, "x\xE2\x82", 3, 0, 0, ids, 64, &n), OMEGA_EUTF8);
  assert_int_equal(omega_tokenizer_encode(t, "\xED\xA0\x80", 3, 0, 0, ids, 64, &n), OMEGA_EUTF8);
  omega_tokenizer_free(t);
}

static void test_lookup(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  size_t len;
  const char *s = omega_tokenizer_id_to_token(t, 7592, &len);
  assert_non_null(s);
  assert_int_equal(len, 5);
  assert_memory_equal(s, "hello", 5);
  assert_int_equal(omega_tokenizer_token_to_id(t, "hello", 5), 7592);
  assert_int_equal(omega_tokenizer_token_to_id(t, "[MASK]", 6), 103);
  assert_int_equal(omega_tokenizer_token_to_id(t, "no-such-token", 13), -1);
  assert_null(omega_tokenizer_id_to_token(t, 1 << 20, &len));
  assert_null(omega_tokenizer_id_to_token(t, -1, &len));
  assert_int_equal(omega_tokenizer_vocab_size(t), 30522);
  omega_tokenizer_free(t);
}

/* A small tokenizer.json: lowercase BERT normalizer, an added single_word token and an
 * added normalized token, as in HuggingFace's own added-vocabulary tests. */
static const char small_json[] =
    "{\"added_tokens\": ["
    " {\"id\": 10, \"content\": \"<mask>\", \"single_word\": true, \"lstrip\": false, \"rstrip\": false,"
    "  \"normalized\": false, \"special\": false},"
    " {\"id\": 11, \"content\": \"Yesterday\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false,"
    "  \"normalized\": true, \"special\": false},"
    " {\"id\": 14, \"content\": \"<extra>\", \"special\": true}],"
    " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
    " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
    " \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 2], \"cls\": [\"[CLS]\", 1]},"
    " \"model\": {\"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"my\": 3,"
    "   \"name\": 4, \"a\": 5, \"ony\": 6, \"<\": 7, \">\": 8, \"mask\": 9, \"i\": 12, \"read\": 13}}}";

static void test_added_token_options(void **state) {
  (void)state;
  omega_tokenizer_t *t;
  if (omega__tokenizer_from_json("small.json", small_json, sizeof small_json - 1, &t))
    fail_msg("%s", omega_errmsg());
  /* single_word: only the standalone <mask> occurrences are the added token */
  EXPECT(t, "<mask> My name <mask> A<mask> <mask>ony <mask>", 0, 1, 10, 3, 4, 10, 5, 7, 9, 8, 7, 9, 8, 6, 10, 2);
  /* normalized: matched against the normalized (lowercased) text, inside words too */
  EXPECT(t, "I read YESTERDAY", 0, 1, 12, 13, 11, 2);
  EXPECT(t, "yesterdays", 0, 1, 11, 0, 2);
  /* an added token beyond the model vocabulary keeps its id and its string */
  EXPECT(t, "a<extra>a", 0, 1, 5, 14, 5, 2);
  size_t len;
  const char *s = omega_tokenizer_id_to_token(t, 14, &len);
  assert_non_null(s);
  assert_memory_equal(s, "<extra>", 7);
  assert_int_equal(omega_tokenizer_token_to_id(t, "<extra>", 7), 14);
  assert_int_equal(omega_tokenizer_vocab_size(t), 15);
  omega_tokenizer_free(t);
}

static void test_post_processor_variants(void **state) {
  (void)state;
  static const char none[] = "{\"post_processor\": null, \"normalizer\": null, \"pre_tokenizer\": null,"
                             " \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"ab\": 1, \"##c\": 2}}}";
  omega_tokenizer_t *t;
  assert_int_equal(omega__tokenizer_from_json("none.json", none, sizeof none - 1, &t), 0);
  EXPECT(t, "abc", 0, 1, 2);
  EXPECT(t, "ab c", 0, 0); /* no pre-tokenizer: one word with a space, unknown */
  assert_int_equal(omega_tokenizer_num_special(t), 0);
  omega_tokenizer_free(t);
}

static void load_err(const char *doc, int want_rc, const char *want_msg) {
  omega_tokenizer_t *t = NULL;
  int rc = omega__tokenizer_from_json("bad.json", doc, strlen(doc), &t);
  assert_null(t);
  if (rc != want_rc || !strstr(omega_errmsg(), want_msg))
    fail_msg("rc %d (%s), message \"%s\"; wanted %d and \"%s\"", rc, omega_err_name(rc), omega_errmsg(), want_rc,
             want_msg);
  assert_non_null(strstr(omega_errmsg(), "bad.json"));
}

static void test_loader_errors(void **state) {
  (void)state;
  load_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", OMEGA_EFORMAT, "empty");
  load_err("{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [3]}}", OMEGA_EFORMAT, "merges[0]");
  load_err("{\"model\": {\"vocab\": {\"a\": 0}}}", OMEGA_EFORMAT, "unk_token");
  load_err("{\"model\": {\"vocab\": {\"[UNK]\": -1}}}", OMEGA_EFORMAT, "vocab id");
  load_err("{\"model\": {\"vocab\": []}}", OMEGA_EFORMAT, "empty"); /* an array: Unigram */
  load_err("{\"model\": 3}", OMEGA_EFORMAT, "\"model\" must be an object");
  load_err("[1,2]", OMEGA_EFORMAT, "top level");
  load_err("{\"model\": {\"vocab\": {\"[UNK]\": 0}", OMEGA_EFORMAT, "invalid JSON");
  load_err("{\"normalizer\": {\"type\": \"Nmt\"}, \"model\": {\"vocab\": {\"[UNK]\": 0}}}", OMEGA_EUNSUPPORTED,
           "Nmt");
  load_err("{\"pre_tokenizer\": {\"type\": \"FixedLength\"}, \"model\": {\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EUNSUPPORTED, "FixedLength");
  load_err("{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
           "\"[X]\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {}}, \"model\": {\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "[X]");
  load_err("{\"added_tokens\": [{\"id\": \"x\", \"content\": \"a\"}], \"model\": {\"vocab\": {\"[UNK]\": 0}}}",
           OMEGA_EFORMAT, "added_tokens[0]");
}

static void test_vocab_txt_errors(void **state) {
  (void)state;
  char *dir = tu_mkdtemp(), path[4096];
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  tu_write_file(path, "[CLS]\n[SEP]\nhello\n", 18);
  omega_tokenizer_t *t = NULL;
  assert_int_equal(omega_tokenizer_load(path, NULL, &t), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "[UNK]"));
  assert_non_null(strstr(omega_errmsg(), path));
  tu_write_file(path, "[UNK]\n[CLS]\n[SEP]\n\xFFhello\n", 23);
  assert_int_equal(omega_tokenizer_load(path, NULL, &t), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "line 4"));
  /* CRLF vocabularies and a missing final newline are fine */
  tu_write_file(path, "[UNK]\r\n[CLS]\r\n[SEP]\r\nhello", 26);
  assert_int_equal(omega_tokenizer_load(path, NULL, &t), 0);
  EXPECT(t, "HELLO", 0, 1, 3, 2);
  omega_tokenizer_free(t);
  /* a tokenizer_config.json beside vocab.txt decides the case */
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  tu_write_file(path, "{\"do_lower_case\": false}", 24);
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  assert_int_equal(omega_tokenizer_load(path, NULL, &t), 0);
  EXPECT(t, "HELLO hello", 0, 1, 0, 3, 2);
  omega_tokenizer_free(t);
  assert_int_equal(omega_tokenizer_load(dir, NULL, &t), 0); /* the folder: vocab.txt found */
  omega_tokenizer_free(t);
  assert_int_equal(omega_tokenizer_load("/nonexistent/omega/tokenizer.json", NULL, &t), OMEGA_ENOENT);
  assert_non_null(strstr(omega_errmsg(), "/nonexistent/omega/tokenizer.json"));
  tu_rmtree(dir);
  free(dir);
}

/* ---- omega_tokenizer_tokens: the ids with their strings and kinds (HTTP /tokenize) ---- */

typedef struct {
  int32_t id;
  const char *text;
  int special, from_template;
} want_t;

static void expect_tokens(const omega_tokenizer_t *t, const char *s, size_t max_len, const want_t *want,
                          size_t n_want) {
  omega_token_t tok[64];
  size_t n;
  if (omega_tokenizer_tokens(t, s, strlen(s), max_len, 0, tok, 64, &n))
    fail_msg("tokens: %s", omega_errmsg());
  assert_int_equal(n, n_want);
  for (size_t i = 0; i < n; i++) {
    if (tok[i].id != want[i].id || tok[i].text_len != strlen(want[i].text) ||
        memcmp(tok[i].text, want[i].text, tok[i].text_len) != 0 || tok[i].special != want[i].special ||
        tok[i].from_template != want[i].from_template)
      fail_msg("\"%s\" token %zu: %d \"%.*s\" special %d template %d; wanted %d \"%s\" %d %d", s, i, tok[i].id,
               (int)tok[i].text_len, tok[i].text, tok[i].special, tok[i].from_template, want[i].id, want[i].text,
               want[i].special, want[i].from_template);
  }
}
#define EXPECT_TOKENS(t, s, max_len, ...)                                                                              \
  do {                                                                                                                 \
    const want_t want_[] = {__VA_ARGS__};                                                                              \
    expect_tokens(t, s, max_len, want_, sizeof want_ / sizeof want_[0]);                                               \
  } while (0)

static void test_tokens_kinds(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT_TOKENS(t, "Hello [MASK]", 0, {101, "[CLS]", 1, 1}, {7592, "hello", 0, 0}, {103, "[MASK]", 1, 0},
                {102, "[SEP]", 1, 1});
  /* a special token written in the text is special, but not the template's */
  EXPECT_TOKENS(t, "[CLS]x", 0, {101, "[CLS]", 1, 1}, {101, "[CLS]", 1, 0}, {1060, "x", 0, 0},
                {102, "[SEP]", 1, 1});
  EXPECT_TOKENS(t, "", 0, {101, "[CLS]", 1, 1}, {102, "[SEP]", 1, 1});
  EXPECT_TOKENS(t, "unaffable", 0, {101, "[CLS]", 1, 1}, {14477, "una", 0, 0}, {20961, "##ffa", 0, 0},
                {3468, "##ble", 0, 0}, {102, "[SEP]", 1, 1}); /* as HF tokenizers splits it */
  omega_tokenizer_free(t);
}

/* Truncation keeps the template's closing tokens, as omega_tokenizer_encode does. */
static void test_tokens_truncation(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT_TOKENS(t, "one two three four five six", 4, {101, "[CLS]", 1, 1}, {2028, "one", 0, 0},
                {2048, "two", 0, 0}, {102, "[SEP]", 1, 1});
  omega_token_t tok[4];
  size_t n;
  assert_int_equal(omega_tokenizer_tokens(t, "one", 3, 1, 0, tok, 4, &n), OMEGA_EINVAL);
  omega_tokenizer_free(t);
}

/* The same ids as omega_tokenizer_encode; a buffer too small reports the count needed. */
static void test_tokens_same_ids_as_encode(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  static const char *const texts[] = {"Hello, world! Naïve café [SEP] 東京", "a\vb", "hel\0lo", "don't stop"};
  for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
    const size_t len = k == 2 ? 6 : strlen(texts[k]);
    int32_t ids[64];
    omega_token_t tok[64];
    size_t n_ids, n_tok;
    assert_int_equal(omega_tokenizer_encode(t, texts[k], len, 0, 0, ids, 64, &n_ids), 0);
    assert_int_equal(omega_tokenizer_tokens(t, texts[k], len, 0, 0, tok, 64, &n_tok), 0);
    assert_int_equal(n_tok, n_ids);
    for (size_t i = 0; i < n_ids; i++) {
      assert_int_equal(tok[i].id, ids[i]);
      size_t tl;
      const char *s = omega_tokenizer_id_to_token(t, ids[i], &tl);
      assert_non_null(s);
      assert_int_equal(tok[i].text_len, tl);
      assert_ptr_equal(tok[i].text, s);
    }
  }
  omega_token_t tok[3];
  size_t n;
  assert_int_equal(omega_tokenizer_tokens(t, "one two three four", 18, 0, 0, tok, 3, &n), OMEGA_ERANGE);
  assert_int_equal(n, 6);
  assert_int_equal(omega_tokenizer_tokens(t, "\xff", 1, 0, 0, tok, 3, &n), OMEGA_EUTF8);
  assert_int_equal(omega_tokenizer_tokens(t, "\xff", 1, 0, OMEGA_TOK_UTF8_REPLACE, tok, 3, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(omega_tokenizer_tokens(NULL, "x", 1, 0, 0, tok, 3, &n), OMEGA_EINVAL);
  assert_int_equal(omega_tokenizer_tokens(t, "x", 1, 0, 0, NULL, 3, &n), OMEGA_EINVAL);
  omega_tokenizer_free(t);
}

/* An added token is special only when the tokenizer.json says so. */
static void test_tokens_added(void **state) {
  (void)state;
  omega_tokenizer_t *t;
  if (omega__tokenizer_from_json("small.json", small_json, sizeof small_json - 1, &t))
    fail_msg("%s", omega_errmsg());
  EXPECT_TOKENS(t, "<mask> a<extra>", 0, {1, "[CLS]", 1, 1}, {10, "<mask>", 0, 0}, {5, "a", 0, 0},
                {14, "<extra>", 1, 0}, {2, "[SEP]", 1, 1});
  omega_tokenizer_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_ids),          cmocka_unit_test(test_special_tokens_on_raw_text),
      cmocka_unit_test(test_truncation),         cmocka_unit_test(test_long_words),
      cmocka_unit_test(test_invalid_utf8),       cmocka_unit_test(test_lookup),
      cmocka_unit_test(test_added_token_options), cmocka_unit_test(test_post_processor_variants),
      cmocka_unit_test(test_loader_errors),      cmocka_unit_test(test_vocab_txt_errors),
      cmocka_unit_test(test_tokens_kinds),       cmocka_unit_test(test_tokens_truncation),
      cmocka_unit_test(test_tokens_same_ids_as_encode), cmocka_unit_test(test_tokens_added),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

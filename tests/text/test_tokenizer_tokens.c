/* omega_tokenizer_tokens, the public call behind HTTP /tokenize: the ids of
 * omega_tokenizer_encode, each with its string, whether it is special, and whether the
 * post-processor added it around the text. */
#include "testutil.h"

#include "omega/omega.h"

#include <string.h>

#define VOCAB OMEGA_SOURCE_DIR "/data/vocab/bert-base-uncased-vocab.txt"

static omega_tokenizer_t *uncased(void) {
  omega_tokenizer_opts_t o = {OMEGA_CASE_LOWER};
  omega_tokenizer_t *t;
  assert_int_equal(omega_tokenizer_load(VOCAB, &o, &t), 0);
  return t;
}

typedef struct {
  int32_t id;
  const char *text;
  int special, from_template;
} want_t;

static void expect(const omega_tokenizer_t *t, const char *s, size_t max_len, const want_t *want, size_t n_want) {
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
#define EXPECT(t, s, max_len, ...)                                                                                     \
  do {                                                                                                                 \
    const want_t want_[] = {__VA_ARGS__};                                                                              \
    expect(t, s, max_len, want_, sizeof want_ / sizeof want_[0]);                                                      \
  } while (0)

static void test_kinds(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT(t, "Hello [MASK]", 0, {101, "[CLS]", 1, 1}, {7592, "hello", 0, 0}, {103, "[MASK]", 1, 0},
         {102, "[SEP]", 1, 1});
  /* a special token written in the text is special, but not the template's */
  EXPECT(t, "[CLS]x", 0, {101, "[CLS]", 1, 1}, {101, "[CLS]", 1, 0}, {1060, "x", 0, 0}, {102, "[SEP]", 1, 1});
  EXPECT(t, "", 0, {101, "[CLS]", 1, 1}, {102, "[SEP]", 1, 1});
  EXPECT(t, "unaffable", 0, {101, "[CLS]", 1, 1}, {14477, "una", 0, 0}, {20961, "##ffa", 0, 0},
         {3468, "##ble", 0, 0}, {102, "[SEP]", 1, 1}); /* as HF tokenizers splits it */
  omega_tokenizer_free(t);
}

/* Truncation keeps the template's closing tokens, as omega_tokenizer_encode does. */
static void test_truncation(void **state) {
  (void)state;
  omega_tokenizer_t *t = uncased();
  EXPECT(t, "one two three four five six", 4, {101, "[CLS]", 1, 1}, {2028, "one", 0, 0}, {2048, "two", 0, 0},
         {102, "[SEP]", 1, 1});
  omega_token_t tok[4];
  size_t n;
  assert_int_equal(omega_tokenizer_tokens(t, "one", 3, 1, 0, tok, 4, &n), OMEGA_EINVAL);
  omega_tokenizer_free(t);
}

/* The same ids as omega_tokenizer_encode; a buffer too small reports the count needed. */
static void test_same_ids_as_encode(void **state) {
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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_kinds), cmocka_unit_test(test_truncation),
                                     cmocka_unit_test(test_same_ids_as_encode)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Random hostile text (tools/tokdiff.mjs --fixture, seed 11) with HuggingFace tokenizers'
 * ids for bert-base-uncased: runs from the repository alone, no ../shared needed. */
#include "testutil.h"

#include "omega/omega.h"

#include <stdlib.h>
#include <string.h>

static void test_hostile_fixture(void **state) {
  (void)state;
  size_t tl, rl;
  char *text = tu_read_file(OMEGA_SOURCE_DIR "/tests/text/data/hostile.txt", &tl);
  char *ref = tu_read_file(OMEGA_SOURCE_DIR "/tests/text/data/hostile.bert-base-uncased.ids", &rl);
  char **lines, **rlines;
  size_t *lens, *rlens;
  size_t n = tu_split_lines(text, tl, &lines, &lens), nr = tu_split_lines(ref, rl, &rlines, &rlens);
  assert_int_equal(n, nr);
  omega_tokenizer_opts_t o = {OMEGA_CASE_LOWER};
  omega_tokenizer_t *tok;
  assert_int_equal(omega_tokenizer_load(OMEGA_SOURCE_DIR "/data/vocab/bert-base-uncased-vocab.txt", &o, &tok), 0);
  int32_t *ids = malloc(65536 * sizeof *ids);
  char *buf = malloc(1 << 20);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    size_t k;
    assert_int_equal(omega_tokenizer_encode(tok, lines[i], lens[i], 0, 0, ids, 65536, &k), 0);
    size_t pos = 0;
    for (size_t j = 0; j < k; j++)
      pos += (size_t)snprintf(buf + pos, (1 << 20) - pos, j ? " %d" : "%d", ids[j]);
    if (pos != rlens[i] || memcmp(buf, rlines[i], pos) != 0) {
      if (bad++ < 3)
        fprintf(stderr, "line %zu differs:\n  hf:    %.*s\n  omega: %s\n", i + 1, (int)rlens[i], rlines[i], buf);
    }
  }
  fprintf(stderr, "hostile fixture: %zu/%zu lines match\n", n - bad, n);
  assert_int_equal(bad, 0);
  omega_tokenizer_free(tok);
  free(ids);
  free(buf);
  free(lines);
  free(lens);
  free(rlines);
  free(rlens);
  free(text);
  free(ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_hostile_fixture)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

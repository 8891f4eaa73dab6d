/* Every line of the hostile tokenizer corpus must give exactly HuggingFace tokenizers'
 * ids, for three vocabularies, from tokenizer.json and from vocab.txt, with and without
 * truncation (../shared/data/tokenizer). */
#include "testutil.h"

#include "omega/omega.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *name;     /* reference file stem */
  const char *json;     /* under data/vocab */
  const char *vocab;    /* under data/vocab */
  omega_case_t vcase;
} vocab_case_t;

static const vocab_case_t cases[] = {
    {"bert-base-uncased", "bert-base-uncased-tokenizer.json", "bert-base-uncased-vocab.txt", OMEGA_CASE_LOWER},
    {"bert-base-cased", "bert-base-cased-tokenizer.built.json", "bert-base-cased-vocab.txt", OMEGA_CASE_CASED},
    {"bert-base-multilingual-cased", "bert-base-multilingual-cased-tokenizer.built.json",
     "bert-base-multilingual-cased-vocab.txt", OMEGA_CASE_CASED},
};

static char *corpus;
static char **lines;
static size_t *lens, n_lines;

static int setup(void **state) {
  (void)state;
  char p[4096];
  if (!tu_shared_path(p, sizeof p, "data/tokenizer/dev.txt"))
    return -1;
  size_t len;
  corpus = tu_read_file(p, &len);
  n_lines = tu_split_lines(corpus, len, &lines, &lens);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(lines);
  free(lens);
  free(corpus);
  return 0;
}

/* Compare every corpus line against one reference file; returns the mismatch count. */
static size_t check(omega_tokenizer_t *tok, const char *ref_path, size_t max_len, const char *label) {
  size_t rlen;
  char *ref = tu_read_file(ref_path, &rlen);
  char **rl;
  size_t *rll;
  size_t nr = tu_split_lines(ref, rlen, &rl, &rll);
  assert_int_equal(nr, n_lines);
  size_t bad = 0;
  int32_t ids[8192];
  for (size_t i = 0; i < n_lines; i++) {
    size_t n;
    int rc = omega_tokenizer_encode(tok, lines[i], lens[i], max_len, 0, ids, 8192, &n);
    assert_int_equal(rc, 0);
    char *p = rl[i], *end = rl[i] + rll[i];
    size_t k = 0;
    int ok = 1;
    while (p < end) {
      long v = strtol(p, &p, 10);
      if (k >= n || ids[k] != v) {
        ok = 0;
        break;
      }
      k++;
      while (p < end && *p == ' ')
        p++;
    }
    if (!ok || k != n) {
      if (bad < 5)
        fprintf(stderr, "%s: line %zu differs (omega %zu ids, first ids %d %d %d)\n", label, i + 1, n,
                n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1, n > 2 ? ids[2] : -1);
      bad++;
    }
  }
  free(rl);
  free(rll);
  free(ref);
  return bad;
}

static void run_case(const vocab_case_t *c, int from_json, const char *json_override) {
  char path[4096], ref[4096], rel[512];
  snprintf(rel, sizeof rel, "data/vocab/%s", json_override ? json_override : from_json ? c->json : c->vocab);
  assert_non_null(tu_shared_path(path, sizeof path, rel));
  omega_tokenizer_opts_t o = {c->vcase};
  omega_tokenizer_t *tok;
  int rc = omega_tokenizer_load(path, &o, &tok);
  if (rc)
    fail_msg("load %s: %s", path, omega_errmsg());
  static const size_t max_lens[] = {0, 128, 512};
  size_t total_bad = 0;
  for (size_t m = 0; m < 3; m++) {
    char r[512], label[256];
    if (max_lens[m])
      snprintf(r, sizeof r, "data/tokenizer/ref_%s_dev.max%zu.ids", c->name, max_lens[m]);
    else
      snprintf(r, sizeof r, "data/tokenizer/ref_%s_dev.ids", c->name);
    assert_non_null(tu_shared_path(ref, sizeof ref, r));
    snprintf(label, sizeof label, "%s max=%zu", rel, max_lens[m]);
    size_t bad = check(tok, ref, max_lens[m], label);
    fprintf(stderr, "%s: %zu/%zu lines match\n", label, n_lines - bad, n_lines);
    total_bad += bad;
  }
  omega_tokenizer_free(tok);
  assert_int_equal(total_bad, 0);
}

static void test_uncased_json(void **s) { (void)s; run_case(&cases[0], 1, NULL); }
static void test_uncased_vocab(void **s) { (void)s; run_case(&cases[0], 0, NULL); }
static void test_uncased_minilm_json(void **s) { (void)s; run_case(&cases[0], 1, "all-MiniLM-L6-v2-tokenizer.json"); }
static void test_cased_json(void **s) { (void)s; run_case(&cases[1], 1, NULL); }
static void test_cased_vocab(void **s) { (void)s; run_case(&cases[1], 0, NULL); }
static void test_multi_json(void **s) { (void)s; run_case(&cases[2], 1, NULL); }
static void test_multi_vocab(void **s) { (void)s; run_case(&cases[2], 0, NULL); }

int main(void) {
  char p[4096];
  if (!tu_shared_path(p, sizeof p, "data/tokenizer/dev.txt"))
    return TU_SKIP_CODE;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uncased_json),  cmocka_unit_test(test_uncased_vocab),
      cmocka_unit_test(test_uncased_minilm_json), cmocka_unit_test(test_cased_json),
      cmocka_unit_test(test_cased_vocab),   cmocka_unit_test(test_multi_json),
      cmocka_unit_test(test_multi_vocab),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

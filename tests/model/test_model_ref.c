/* Omega's embeddings of ../shared/data/corpus_en.txt with the tiny random BERT must match
 * the references of three independent implementations (PyTorch, ONNX Runtime,
 * transformers.js): cosine >= 0.99999 and max |diff| <= 1e-4 on every row. The token ids
 * must equal HuggingFace tokenizers' (truncated to max_seq_length). */
#include "testutil.h"

#include "omega/omega.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIM 128

static char model_dir[4096];
static char *corpus;
static char **lines;
static size_t *lens, n_lines;
static float *emb;

static int setup(void **state) {
  (void)state;
  char p[4096];
  if (!tu_shared_path(model_dir, sizeof model_dir, "data/models/tiny-bert-uncased") ||
      !tu_shared_path(p, sizeof p, "data/corpus_en.txt"))
    return -1;
  size_t len;
  corpus = tu_read_file(p, &len);
  n_lines = tu_split_lines(corpus, len, &lines, &lens);
  omega_engine_t *e;
  if (omega_engine_open(model_dir, NULL, &e) != 0) {
    fprintf(stderr, "open: %s\n", omega_errmsg());
    return -1;
  }
  omega_text_t *t = calloc(n_lines, sizeof *t);
  for (size_t i = 0; i < n_lines; i++)
    t[i] = (omega_text_t){lines[i], lens[i]};
  emb = malloc(n_lines * DIM * sizeof *emb);
  int rc = omega_engine_embed(e, t, n_lines, 0, emb);
  free(t);
  omega_engine_close(e);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  free(emb);
  free(lines);
  free(lens);
  free(corpus);
  return 0;
}

static void compare(const char *name) {
  char rel[512], p[4096];
  snprintf(rel, sizeof rel, "data/models/tiny-bert-uncased/reference/corpus_en.%s.f32", name);
  assert_non_null(tu_shared_path(p, sizeof p, rel));
  size_t len;
  float *ref = (float *)tu_read_file(p, &len);
  assert_int_equal(len, n_lines * DIM * sizeof(float));
  double worst_cos = 1, worst_abs = 0;
  size_t bad = 0;
  for (size_t r = 0; r < n_lines; r++) {
    double dot = 0, na = 0, nb = 0, mx = 0;
    for (size_t k = 0; k < DIM; k++) {
      double a = emb[r * DIM + k], b = ref[r * DIM + k];
      dot += a * b;
      na += a * a;
      nb += b * b;
      mx = tu_max(mx, fabs(a - b));
    }
    double cos = dot / sqrt(na * nb);
    worst_cos = fmin(worst_cos, cos);
    worst_abs = tu_max(worst_abs, mx);
    if (cos < 0.99999 || mx > 1e-4)
      bad++;
  }
  fprintf(stderr, "%s: %zu rows, min cosine %.9f, max |diff| %.3g, rows out of bounds %zu\n", name, n_lines,
          worst_cos, worst_abs, bad);
  free(ref);
  assert_int_equal(bad, 0);
}

static void test_torch(void **s) { (void)s; compare("torch"); }
static void test_ort(void **s) { (void)s; compare("ort"); }
static void test_transformersjs(void **s) { (void)s; compare("transformersjs"); }

static void test_token_ids(void **s) {
  (void)s;
  char p[4096];
  assert_non_null(tu_shared_path(p, sizeof p, "data/models/tiny-bert-uncased/reference/corpus_en.ids.jsonl"));
  size_t len;
  char *buf = tu_read_file(p, &len);
  char **rl;
  size_t *rll;
  size_t nr = tu_split_lines(buf, len, &rl, &rll);
  assert_int_equal(nr, n_lines);
  omega_tokenizer_t *tok;
  assert_int_equal(omega_tokenizer_load(model_dir, NULL, &tok), 0);
  int32_t ids[512];
  for (size_t i = 0; i < n_lines; i++) {
    size_t n;
    assert_int_equal(omega_tokenizer_encode(tok, lines[i], lens[i], 128, 0, ids, 512, &n), 0);
    char *q = rl[i] + 1; /* skip '[' */
    for (size_t k = 0; k < n; k++) {
      long v = strtol(q, &q, 10);
      assert_int_equal(v, ids[k]);
      q++; /* ',' or ']' */
    }
    assert_true(q[-1] == ']');
  }
  omega_tokenizer_free(tok);
  free(rl);
  free(rll);
  free(buf);
}

int main(void) {
  char p[4096];
  if (!tu_shared_path(p, sizeof p, "data/models/tiny-bert-uncased/reference"))
    return TU_SKIP_CODE;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_torch), cmocka_unit_test(test_ort),
                                     cmocka_unit_test(test_transformersjs), cmocka_unit_test(test_token_ids)};
  return cmocka_run_group_tests(tests, setup, teardown);
}

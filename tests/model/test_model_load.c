/* Model folders: a generated one loads; every broken variant is a clear error naming the
 * file and the problem. */
#include "testutil.h"

#include "model/model.h"
#include "omega/error.h"

#include <stdlib.h>
#include <string.h>

#define SMALL "--hidden 32 --layers 2 --heads 2 --intermediate 64 --max-seq-length 64 --seed 3"

static char *base; /* a valid model, copied into each case */

static int setup(void **state) {
  (void)state;
  base = tu_mkdtemp();
  tu_genmodel(base, SMALL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(base);
  free(base);
  return 0;
}

static char *copy_model(void) {
  char *d = tu_mkdtemp();
  assert_int_equal(tu_system("cp -r '%s'/. '%s'/", base, d), 0);
  return d;
}

static void expect_fail(const char *dir, int want_rc, const char *want1, const char *want2) {
  omega_model_t *m = NULL;
  int rc = omega__model_load(dir, NULL, &m);
  assert_null(m);
  if (rc != want_rc || !strstr(omega_errmsg(), want1) || (want2 && !strstr(omega_errmsg(), want2)))
    fail_msg("rc %s, message \"%s\"; wanted %s with \"%s\"%s%s", omega_err_name(rc), omega_errmsg(),
             omega_err_name(want_rc), want1, want2 ? " and " : "", want2 ? want2 : "");
}

/* Replace the first occurrence of `from` by `to` in a file (same or different length). */
static void edit(const char *dir, const char *file, const char *from, const char *to) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  size_t len;
  char *s = tu_read_file(p, &len);
  char *at = memmem(s, len, from, strlen(from));
  if (!at)
    fail_msg("%s: \"%s\" not found", file, from);
  size_t fl = strlen(from), tl = strlen(to);
  char *o = malloc(len - fl + tl);
  size_t pre = (size_t)(at - s);
  memcpy(o, s, pre);
  memcpy(o + pre, to, tl);
  memcpy(o + pre + tl, at + fl, len - pre - fl);
  tu_write_file(p, o, len - fl + tl);
  free(o);
  free(s);
}

static void test_loads(void **state) {
  (void)state;
  omega_model_t *m;
  if (omega__model_load(base, NULL, &m))
    fail_msg("%s", omega_errmsg());
  assert_int_equal(m->cfg.hidden_size, 32);
  assert_int_equal(m->cfg.num_layers, 2);
  assert_int_equal(m->st.max_seq_length, 64);
  assert_true(m->st.normalize);
  assert_int_equal(m->st.pooling, OMEGA_POOL_MEAN);
  assert_int_equal(m->dim, 32);
  assert_string_equal(m->weight_dtype, "F32");
  omega__model_free(m);
}

static void test_missing_files(void **state) {
  (void)state;
  expect_fail("/nonexistent/model", OMEGA_ENOENT, "/nonexistent/model", NULL);
  char *d = copy_model(), p[4096];
  snprintf(p, sizeof p, "%s/model.safetensors", d);
  remove(p);
  expect_fail(d, OMEGA_ENOENT, "model.safetensors", NULL);
  snprintf(p, sizeof p, "%s/pytorch_model.bin", d);
  tu_write_file(p, "x", 1);
  expect_fail(d, OMEGA_ENOENT, "pytorch_model.bin is not supported", NULL);
  tu_rmtree(d);
  free(d);

  d = copy_model();
  snprintf(p, sizeof p, "%s/config.json", d);
  remove(p);
  expect_fail(d, OMEGA_ENOENT, "config.json", NULL);
  tu_rmtree(d);
  free(d);

  d = copy_model();
  snprintf(p, sizeof p, "%s/tokenizer.json", d);
  remove(p);
  snprintf(p, sizeof p, "%s/vocab.txt", d);
  remove(p);
  expect_fail(d, OMEGA_ENOENT, "no tokenizer.json or vocab.txt", NULL);
  tu_rmtree(d);
  free(d);

  d = copy_model();
  assert_int_equal(tu_system("rm -r '%s/1_Pooling'", d), 0);
  expect_fail(d, OMEGA_ENOENT, "1_Pooling/config.json", NULL);
  tu_rmtree(d);
  free(d);
}

static void test_bad_config(void **state) {
  (void)state;
  static const struct {
    const char *from, *to;
    int rc;
    const char *msg;
  } cases[] = {
      {"\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"", OMEGA_EUNSUPPORTED, "\"gpt2\" is not supported"},
      {"\"model_type\": \"bert\"", "\"model_type\": \"distilbert\"", OMEGA_EFORMAT, "\"dim\" is missing"},
      {"\"hidden_act\": \"gelu\"", "\"hidden_act\": \"swish\"", OMEGA_EUNSUPPORTED, "swish"},
      {"\"num_attention_heads\": 2", "\"num_attention_heads\": 3", OMEGA_EFORMAT, "not a multiple"},
      {"\"hidden_size\": 32,", "", OMEGA_EFORMAT, "\"hidden_size\" is missing"},
      {"\"hidden_size\": 32", "\"hidden_size\": \"32\"", OMEGA_EFORMAT, "must be an integer"},
      {"\"hidden_size\": 32", "\"hidden_size\": -32", OMEGA_EFORMAT, "must be in"},
      {"\"model_type\": \"bert\"", "\"model_type\": \"bert\"}", OMEGA_EFORMAT, "invalid JSON"},
      {"\"position_embedding_type\": \"absolute\"", "\"position_embedding_type\": \"relative_key\"",
       OMEGA_EUNSUPPORTED, "relative_key"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *d = copy_model();
    edit(d, "config.json", cases[i].from, cases[i].to);
    expect_fail(d, cases[i].rc, cases[i].msg, "config.json");
    tu_rmtree(d);
    free(d);
  }
  /* a BERT checkpoint called MPNet: the names say which tensor is missing */
  char *d = copy_model();
  edit(d, "config.json", "\"model_type\": \"bert\"", "\"model_type\": \"mpnet\"");
  expect_fail(d, OMEGA_EFORMAT, "encoder.layer.0.attention.attn.q.weight", "model.safetensors");
  tu_rmtree(d);
  free(d);
  /* RoBERTa's positions start after padding_idx: a padding id past the table leaves none */
  d = copy_model();
  edit(d, "config.json", "\"model_type\": \"bert\"", "\"model_type\": \"roberta\"");
  edit(d, "config.json", "\"pad_token_id\": 0", "\"pad_token_id\": 4000");
  expect_fail(d, OMEGA_EFORMAT, "leaves no position", "config.json");
  tu_rmtree(d);
  free(d);
}

static void test_bad_weights(void **state) {
  (void)state;
  /* config says 3 layers, the file has 2 */
  char *d = copy_model();
  edit(d, "config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  expect_fail(d, OMEGA_EFORMAT, "\"encoder.layer.2.attention.self.query.weight\" is missing", "model.safetensors");
  tu_rmtree(d);
  free(d);
  /* a shape that does not match the config */
  d = copy_model();
  edit(d, "config.json", "\"intermediate_size\": 64", "\"intermediate_size\": 128");
  expect_fail(d, OMEGA_EFORMAT, "has shape [64, 32], expected [128, 32]", "model.safetensors");
  tu_rmtree(d);
  free(d);
  /* a weight stored with a non-float dtype (same size, so the header stays valid) */
  d = copy_model();
  edit(d, "model.safetensors", "\"embeddings.LayerNorm.weight\":{\"dtype\":\"F32\"",
       "\"embeddings.LayerNorm.weight\":{\"dtype\":\"I32\"");
  expect_fail(d, OMEGA_EFORMAT, "has dtype I32, expected F32, F16 or BF16", "embeddings.LayerNorm.weight");
  tu_rmtree(d);
  free(d);
  /* truncated file: the last tensor's data is cut off */
  d = copy_model();
  assert_int_equal(tu_system("truncate -s -100 '%s/model.safetensors'", d), 0);
  expect_fail(d, OMEGA_EFORMAT, "out of range", "model.safetensors");
  tu_rmtree(d);
  free(d);
  /* the tokenizer has more ids than the embedding matrix */
  d = copy_model();
  edit(d, "config.json", "\"vocab_size\": 30522", "\"vocab_size\": 30000");
  expect_fail(d, OMEGA_EFORMAT, "\"embeddings.word_embeddings.weight\" has shape [30522, 32], expected [30000, 32]",
              NULL);
  tu_rmtree(d);
  free(d);
}

static void test_bad_modules(void **state) {
  (void)state;
  /* Dense modules: their folder, sizes and activation are checked */
  static const struct {
    const char *config;
    int rc;
    const char *msg;
  } dense[] = {
      {NULL, OMEGA_EFORMAT, "needs a \"path\""},
      {"{\"in_features\": 32, \"out_features\": 8, \"activation_function\": \"torch.nn.Softplus\"}", OMEGA_EUNSUPPORTED,
       "Softplus"},
      {"{\"in_features\": 16, \"out_features\": 8}", OMEGA_EFORMAT, "in_features 16"},
      {"{\"in_features\": 32, \"out_features\": 8}", OMEGA_ENOENT, "model.safetensors"},
  };
  for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++) {
    char *dd = copy_model(), p[4096];
    if (dense[i].config) {
      edit(dd, "modules.json", "sentence_transformers.models.Normalize", "sentence_transformers.models.Dense");
      edit(dd, "modules.json", "\"path\": \"2_Normalize\"", "\"path\": \"2_Dense\"");
      snprintf(p, sizeof p, "%s/2_Dense", dd);
      assert_int_equal(tu_system("mkdir -p '%s'", p), 0);
      snprintf(p, sizeof p, "%s/2_Dense/config.json", dd);
      tu_write_file(p, dense[i].config, strlen(dense[i].config));
    } else {
      edit(dd, "modules.json", "sentence_transformers.models.Normalize", "sentence_transformers.models.Dense");
      edit(dd, "modules.json", "\"path\": \"2_Normalize\"", "\"path\": \"\"");
    }
    expect_fail(dd, dense[i].rc, dense[i].msg, NULL);
    tu_rmtree(dd);
    free(dd);
  }
  char *d = copy_model();
  edit(d, "1_Pooling/config.json", "\"pooling_mode_mean_tokens\": true", "\"pooling_mode_mean_tokens\": false");
  expect_fail(d, OMEGA_EFORMAT, "no pooling mode", "1_Pooling/config.json");
  tu_rmtree(d);
  free(d);
  d = copy_model();
  edit(d, "1_Pooling/config.json", "\"word_embedding_dimension\": 32", "\"word_embedding_dimension\": 64");
  expect_fail(d, OMEGA_EFORMAT, "does not match hidden_size", NULL);
  tu_rmtree(d);
  free(d);
  /* max_seq_length beyond the positions is clamped, like sentence-transformers */
  d = copy_model();
  edit(d, "sentence_bert_config.json", "\"max_seq_length\": 64", "\"max_seq_length\": 4096");
  omega_model_t *m;
  assert_int_equal(omega__model_load(d, NULL, &m), 0);
  assert_int_equal(m->st.max_seq_length, 512);
  omega__model_free(m);
  tu_rmtree(d);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_loads), cmocka_unit_test(test_missing_files),
                                     cmocka_unit_test(test_bad_config), cmocka_unit_test(test_bad_weights),
                                     cmocka_unit_test(test_bad_modules)};
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* Generated models of many kinds (pooling modes, no Normalize, plain HF folder, other
 * activations, f16/bf16 weights, "bert." prefix, odd head counts): the engine's
 * embeddings must equal a reference built from the reference kernels, one sequence at
 * a time (so packing and batching are checked too), with pooling written out here. */
#include "testutil.h"

#include "backend/cpu/encoder.h"
#include "model/model.h"
#include "omega/omega.h"
#include "text/tokenizer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SMALL "--hidden 32 --layers 2 --heads 2 --intermediate 64 --max-seq-length 24 --seed 5"

static const char *texts[] = {
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Embeddings: 3 tokens? No -- many more, with punctuation!",
    "a",
    /* longer than max_seq_length 24: truncated */
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty twenty-one twenty-two twenty-three",
    "Ünïcödé wörds and 漢字 mixed in",
};
#define N_TEXTS (sizeof texts / sizeof texts[0])

static float *engine_embed(const char *dir, size_t *dim, size_t max_batch) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.tuning.max_batch = max_batch;
  omega_engine_t *e;
  if (omega_engine_open(dir, &o, &e))
    fail_msg("open %s: %s", dir, omega_errmsg());
  omega_engine_info_t info;
  omega_engine_info(e, &info);
  *dim = (size_t)info.dim;
  omega_text_t t[N_TEXTS];
  for (size_t i = 0; i < N_TEXTS; i++)
    t[i] = (omega_text_t){texts[i], strlen(texts[i])};
  float *out = malloc(N_TEXTS * *dim * sizeof *out);
  assert_int_equal(omega_engine_embed(e, t, N_TEXTS, 0, out), 0);
  omega_engine_close(e);
  return out;
}

/* sentence-transformers pooling, written independently of the library's. */
static void ref_pool(const float *x, size_t L, size_t H, unsigned modes, int normalize, float *o) {
  float *start = o;
  if (modes & OMEGA_POOL_CLS)
    for (size_t i = 0; i < H; i++)
      *o++ = x[i];
  if (modes & OMEGA_POOL_MAX)
    for (size_t i = 0; i < H; i++) {
      float m = x[i];
      for (size_t t = 1; t < L; t++)
        m = x[t * H + i] > m ? x[t * H + i] : m;
      *o++ = m;
    }
  for (int sq = 0; sq < 2; sq++) {
    if (!(modes & (sq ? OMEGA_POOL_MEAN_SQRT_LEN : OMEGA_POOL_MEAN)))
      continue;
    for (size_t i = 0; i < H; i++) {
      double s = 0;
      for (size_t t = 0; t < L; t++)
        s += x[t * H + i];
      *o++ = (float)(s / (sq ? sqrt((double)L) : (double)L));
    }
  }
  if (modes & OMEGA_POOL_WEIGHTED_MEAN)
    for (size_t i = 0; i < H; i++) {
      double s = 0, w = 0;
      for (size_t t = 0; t < L; t++) {
        s += (double)(t + 1) * x[t * H + i];
        w += (double)(t + 1);
      }
      *o++ = (float)(s / w);
    }
  if (modes & OMEGA_POOL_LAST)
    for (size_t i = 0; i < H; i++)
      *o++ = x[(L - 1) * H + i];
  if (normalize) {
    double n = 0;
    for (float *p = start; p < o; p++)
      n += (double)*p * *p;
    n = sqrt(n);
    for (float *p = start; p < o; p++)
      *p = (float)(*p / (n > 1e-12 ? n : 1e-12));
  }
}

static float *reference_embed(const char *dir, size_t dim) {
  omega_model_t *m;
  if (omega__model_load(dir, NULL, &m))
    fail_msg("load %s: %s", dir, omega_errmsg());
  float *out = malloc(N_TEXTS * dim * sizeof *out);
  omega_encoder_ws_t ws = {0};
  omega_cpu_ctx_t c = {NULL};
  for (size_t i = 0; i < N_TEXTS; i++) {
    omega_idvec_t iv = {0};
    assert_int_equal(
        omega__tokenizer_encode_vec(m->tok, texts[i], strlen(texts[i]), (size_t)m->st.max_seq_length, 0, &iv), 0);
    uint32_t off[2] = {0, (uint32_t)iv.n};
    omega_batch_t b = {iv.v, off, 1};
    assert_int_equal(omega__encoder_hidden(m, &omega__cpu_ops_ref, &c, &ws, &b), 0);
    ref_pool(ws.x, iv.n, (size_t)m->cfg.hidden_size, m->st.pooling, m->st.normalize, out + i * dim);
    free(iv.v);
  }
  omega__encoder_ws_free(&ws);
  omega__model_free(m);
  return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++)
    d = tu_max(d, fabs((double)a[i] - b[i]));
  return d;
}

static double min_cos(const float *a, const float *b, size_t rows, size_t dim) {
  double worst = 1;
  for (size_t r = 0; r < rows; r++) {
    double dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < dim; k++) {
      dot += (double)a[r * dim + k] * b[r * dim + k];
      na += (double)a[r * dim + k] * a[r * dim + k];
      nb += (double)b[r * dim + k] * b[r * dim + k];
    }
    worst = fmin(worst, dot / sqrt(na * nb));
  }
  return worst;
}

static void check_variant(const char *args, size_t want_dim, int want_normalized) {
  char *dir = tu_mkdtemp(), full[1024];
  snprintf(full, sizeof full, "%s %s", SMALL, args);
  tu_genmodel(dir, full);
  size_t dim;
  float *got = engine_embed(dir, &dim, 4);
  assert_int_equal(dim, want_dim);
  float *want = reference_embed(dir, dim);
  double d = max_diff(got, want, N_TEXTS * dim);
  fprintf(stderr, "%-40s dim %3zu  max |engine - reference| %.2g\n", args, dim, d);
  assert_true(d < 2e-5);
  for (size_t r = 0; r < N_TEXTS; r++) {
    double n = 0;
    for (size_t k = 0; k < dim; k++)
      n += (double)got[r * dim + k] * got[r * dim + k];
    if (want_normalized)
      assert_true(fabs(sqrt(n) - 1.0) < 1e-5);
    else
      assert_true(fabs(sqrt(n) - 1.0) > 1e-3);
  }
  free(got);
  free(want);
  tu_rmtree(dir);
  free(dir);
}

static void test_pooling_modes(void **state) {
  (void)state;
  check_variant("", 32, 1);
  check_variant("--pooling cls", 32, 1);
  check_variant("--pooling max", 32, 1);
  check_variant("--pooling mean_sqrt_len", 32, 1);
  check_variant("--pooling weightedmean", 32, 1);
  check_variant("--pooling lasttoken", 32, 1);
  check_variant("--pooling cls,max,mean,mean_sqrt_len,weightedmean,lasttoken", 192, 1);
  check_variant("--pooling mean --no-normalize", 32, 0);
  check_variant("--no-modules", 32, 0); /* plain HF folder: mean pooling, no Normalize */
}

static void test_architectures(void **state) {
  (void)state;
  check_variant("--act gelu_new", 32, 1);
  check_variant("--act relu", 32, 1);
  check_variant("--hidden 48 --heads 3 --intermediate 80 --layers 3", 48, 1);
  check_variant("--dtype f16", 32, 1);
  check_variant("--dtype bf16", 32, 1);
}

/* Layout variants that must not change a single bit, and half-precision checkpoints
 * that must stay close to the fp32 one they were rounded from. */
static void test_checkpoint_layouts(void **state) {
  (void)state;
  static const struct {
    const char *args;
    double min_cos; /* 0: bit-identical */
  } cases[] = {
      {"--bert-prefix --with-position-ids --no-pooler", 0},
      {"--legacy-layernorm-names", 0},
      {"--dtype f16", 0.9999},
      {"--dtype bf16", 0.999},
  };
  char *dir = tu_mkdtemp(), full[1024];
  snprintf(full, sizeof full, "%s --std 0.05", SMALL);
  tu_genmodel(dir, full);
  size_t dim;
  float *base = engine_embed(dir, &dim, 32);
  tu_rmtree(dir);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(full, sizeof full, "%s --std 0.05 %s", SMALL, cases[i].args);
    tu_genmodel(dir, full);
    size_t d2;
    float *v = engine_embed(dir, &d2, 32);
    double c = min_cos(base, v, N_TEXTS, dim);
    fprintf(stderr, "%-45s min cosine to f32 %.7f\n", cases[i].args, c);
    if (cases[i].min_cos == 0)
      assert_memory_equal(base, v, N_TEXTS * dim * sizeof *v);
    else
      assert_true(c >= cases[i].min_cos && c < 1.0);
    free(v);
    tu_rmtree(dir);
  }
  free(base);
  free(dir);
}

/* Batch size must not change results beyond float reassociation. */
static void test_batch_invariance(void **state) {
  (void)state;
  char *dir = tu_mkdtemp();
  tu_genmodel(dir, SMALL);
  size_t dim;
  float *a = engine_embed(dir, &dim, 1), *b = engine_embed(dir, &dim, 32);
  double d = max_diff(a, b, N_TEXTS * dim);
  fprintf(stderr, "batch 1 vs 32: max |diff| %.2g\n", d);
  assert_true(d < 1e-5);
  free(a);
  free(b);
  tu_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_pooling_modes), cmocka_unit_test(test_architectures),
                                     cmocka_unit_test(test_checkpoint_layouts), cmocka_unit_test(test_batch_invariance)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

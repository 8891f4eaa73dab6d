/* The CUDA plugin on a real GPU, against the CPU reference: every precision of the
 * encoder (with several pooling modes and activations), concurrent slots, the engine's
 * GPU route end to end, the flat index against double-precision brute force, and OOM
 * being reported as OOM without breaking the context. Skips (77) where the plugin was not
 * built or no GPU is usable, so it runs in CI as a skip and on a GPU machine for real.
 * With OMEGA_TEST_CUDA_SIM=1 the same checks run against the simulated device (the CPU
 * reference behind the plugin ABI), so the test's own logic is exercised in CI too. */
#include "testutil.h"

#include "backend/cpu/encoder.h"
#include "backend/gpu/gpu.h"
#include "core/fault.h"
#include "model/model.h"
#include "omega/omega.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const ocu_api_t *api;
static char plugin_path[4096];
static int simulated;

typedef struct {
  int32_t *ids;
  uint32_t *off;
  size_t n;
} batch_t;

/* Random sequences: [CLS] random ids [SEP], lengths 1..maxlen (some at the maximum). */
static batch_t random_batch(size_t n, int maxlen, int vocab, uint64_t seed) {
  batch_t b = {NULL, calloc(n + 1, sizeof(uint32_t)), n};
  size_t total = 0;
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    int L = i % 7 == 0 ? maxlen : 2 + (int)(tu_rand(&s) % (uint64_t)(maxlen - 1));
    total += (size_t)L;
    b.off[i + 1] = (uint32_t)total;
  }
  b.ids = malloc(total * sizeof *b.ids);
  for (size_t i = 0; i < n; i++)
    for (uint32_t t = b.off[i]; t < b.off[i + 1]; t++)
      b.ids[t] = t == b.off[i] ? 101 : t + 1 == b.off[i + 1] ? 102 : 1000 + (int32_t)(tu_rand(&s) % (uint64_t)(vocab - 1000));
  return b;
}

static double min_cosine(const float *a, const float *b, size_t n, size_t dim, double *mean) {
  double worst = 1, sum = 0;
  for (size_t i = 0; i < n; i++) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t d = 0; d < dim; d++) {
      ab += (double)a[i * dim + d] * b[i * dim + d];
      aa += (double)a[i * dim + d] * a[i * dim + d];
      bb += (double)b[i * dim + d] * b[i * dim + d];
    }
    const double c = ab / (sqrt(aa * bb) + 1e-30);
    worst = fmin(worst, c);
    sum += c;
  }
  if (mean)
    *mean = sum / (double)n;
  return worst;
}

static ocu_model_t describe(const omega_model_t *m, ocu_layer_t *layers) {
  const omega_bert_config_t *c = &m->cfg;
  for (int l = 0; l < c->num_layers; l++) {
    const omega_bert_layer_t *s = &m->layers[l];
    layers[l] = (ocu_layer_t){s->qkv_w, s->qkv_b, s->ao_w,  s->ao_b,  s->ln1_g, s->ln1_b,
                              s->ff1_w, s->ff1_b, s->ff2_w, s->ff2_b, s->ln2_g, s->ln2_b};
  }
  return (ocu_model_t){c->hidden_size, c->num_layers, c->num_heads, c->intermediate_size, c->vocab_size,
                       c->max_position_embeddings, (float)c->layer_norm_eps, (ocu_act_t)c->act, m->st.pooling,
                       m->word_emb, m->pos_emb, m->type_emb, m->emb_ln_g, m->emb_ln_b, layers};
}

/* One model shape through every precision, against the fp32 CPU reference. */
static void check_model(const char *genargs, int maxlen) {
  char *dir = tu_mkdtemp();
  tu_genmodel(dir, genargs);
  omega_model_t *m;
  assert_int_equal(omega__model_load(dir, NULL, &m), 0);
  const size_t n = simulated ? 8 : 48, dim = (size_t)m->dim;
  batch_t b = random_batch(n, maxlen, m->cfg.vocab_size, 7);
  float *ref = malloc(n * dim * sizeof *ref), *out = malloc(n * dim * sizeof *out);
  omega_encoder_ws_t ws = {0};
  omega_cpu_ctx_t ctx = {NULL};
  omega_batch_t ob = {b.ids, b.off, n};
  assert_int_equal(omega__encoder_run(m, &omega__cpu_ops_fast, &ctx, &ws, &ob, 0, ref), 0);
  ocu_layer_t *layers = calloc((size_t)m->cfg.num_layers, sizeof *layers);
  ocu_model_t om = describe(m, layers);
  static const char *const names[] = {"fp32", "tf32", "fp16", "bf16"};
  static const double bound[] = {0.9999, 0.9999, 0.999, 0.999};
  for (int dt = 0; dt < 4; dt++) {
    void *enc;
    char err[256];
    int st = api->encoder_create(&om, 0, (ocu_dtype_t)dt, 2, &enc, err, sizeof err);
    if (st)
      fail_msg("encoder_create %s: %s", names[dt], err);
    for (int rep = 0; rep < 2; rep++) { /* the second run reuses buffers and cached algorithms */
      memset(out, 0, n * dim * sizeof *out);
      st = api->encoder_run(enc, rep, b.ids, b.off, n, out, err, sizeof err);
      if (st)
        fail_msg("encoder_run %s: %s", names[dt], err);
      double mean;
      const double worst = min_cosine(out, ref, n, dim, &mean);
      print_message("  %-40s %s: cosine min %.7f mean %.7f\n", genargs, names[dt], worst, mean);
      if (worst < bound[dt])
        fail_msg("%s %s: cosine %.7f below %.4f", genargs, names[dt], worst, bound[dt]);
    }
    api->encoder_destroy(enc);
  }
  free(layers);
  omega__encoder_ws_free(&ws);
  free(ref);
  free(out);
  free(b.ids);
  free(b.off);
  omega__model_free(m);
  tu_rmtree(dir);
  free(dir);
}

static void test_encoder_precisions(void **state) {
  (void)state;
  if (simulated) { /* the simulated device runs the slow reference kernels: small shapes only */
    check_model("--shape tiny --seed 3", 24);
    check_model("--shape tiny --pooling cls,max,mean --act gelu_new --seed 4", 24);
    return;
  }
  check_model("--shape minilm --max-seq-length 128 --seed 3", 128);
  check_model("--shape tiny --pooling cls,max,mean --act gelu_new --seed 4", 64);
  check_model("--shape mid --pooling mean_sqrt_len,weightedmean,lasttoken --act relu --seed 5", 200);
}

/* A generated model (MiniLM shape; tiny on the simulated device) and a bf16 encoder of it. */
typedef struct {
  char *dir;
  omega_model_t *m;
  ocu_layer_t *layers;
  void *enc;
} enc_fixture_t;

static enc_fixture_t enc_open(int seed, int slots) {
  enc_fixture_t f = {tu_mkdtemp(), NULL, NULL, NULL};
  char args[64];
  snprintf(args, sizeof args, "--shape %s --seed %d", simulated ? "tiny" : "minilm", seed);
  tu_genmodel(f.dir, args);
  assert_int_equal(omega__model_load(f.dir, NULL, &f.m), 0);
  f.layers = calloc((size_t)f.m->cfg.num_layers, sizeof *f.layers);
  ocu_model_t om = describe(f.m, f.layers);
  char err[256];
  if (api->encoder_create(&om, 0, OCU_DTYPE_BF16, slots, &f.enc, err, sizeof err))
    fail_msg("encoder_create: %s", err);
  return f;
}

static void enc_close(enc_fixture_t *f) {
  api->encoder_destroy(f->enc);
  free(f->layers);
  omega__model_free(f->m);
  tu_rmtree(f->dir);
  free(f->dir);
}

typedef struct {
  void *enc;
  int slot;
  batch_t b;
  float *out;
  int rc;
} slot_job_t;

static void *slot_main(void *arg) {
  slot_job_t *j = arg;
  char err[256];
  for (int rep = 0; rep < (simulated ? 3 : 20) && !j->rc; rep++)
    j->rc = api->encoder_run(j->enc, j->slot, j->b.ids, j->b.off, j->b.n, j->out, err, sizeof err);
  return NULL;
}

/* Slots run concurrently from different threads and give the same answers as one at a time. */
static void test_slots_concurrent(void **state) {
  (void)state;
  enc_fixture_t f = enc_open(8, 4);
  omega_model_t *m = f.m;
  void *enc = f.enc;
  char err[256];
  const size_t dim = (size_t)m->dim;
  slot_job_t jobs[4];
  float *solo[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (slot_job_t){enc, i, random_batch((simulated ? 2 : 16) + (size_t)i * 2, simulated ? 16 : 128,
                                                m->cfg.vocab_size, 100 + (uint64_t)i),
                           NULL, 0};
    jobs[i].out = calloc(jobs[i].b.n * dim, sizeof(float));
    solo[i] = calloc(jobs[i].b.n * dim, sizeof(float));
    assert_int_equal(api->encoder_run(enc, 0, jobs[i].b.ids, jobs[i].b.off, jobs[i].b.n, solo[i], err, sizeof err), 0);
  }
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, slot_main, &jobs[i]);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(jobs[i].rc, 0);
    assert_memory_equal(jobs[i].out, solo[i], jobs[i].b.n * dim * sizeof(float)); /* deterministic kernels */
    free(jobs[i].out);
    free(solo[i]);
    free(jobs[i].b.ids);
    free(jobs[i].b.off);
  }
  enc_close(&f);
}

/* CUDA graphs replay the forward pass of a shape seen before: the same answers as a direct
 * run, fresh inputs read on every replay, graphs dropped when the slot's buffers move.
 * A prepared slot does not grow for batches within what it was prepared for. */
static void test_graphs_and_prepare(void **state) {
  (void)state;
  enc_fixture_t f = enc_open(12, 2);
  omega_model_t *m = f.m;
  void *enc = f.enc;
  char err[256];
  if (api->encoder_prepare(enc, 0, 1024, 64, err, sizeof err))
    fail_msg("prepare: %s", err);
  ocu_encoder_stats_t st0, st;
  api->encoder_stats(enc, &st0);
  assert_true(st0.buffer_bytes > 0);
  const size_t dim = (size_t)m->dim, n = 6;
  batch_t a = random_batch(n, 30, m->cfg.vocab_size, 21), b = random_batch(n, 30, m->cfg.vocab_size, 21);
  uint64_t rs = 99; /* b: a's shape, other tokens */
  for (uint32_t t = 0; t < b.off[n]; t++)
    b.ids[t] = 1000 + (int32_t)(tu_rand(&rs) % (uint64_t)(m->cfg.vocab_size - 1000));
  float *ra = calloc(n * dim, sizeof *ra), *rb = calloc(n * dim, sizeof *rb), *out = calloc(n * dim, sizeof *out);
  api->encoder_set_graphs(enc, 0);
  assert_int_equal(api->encoder_run(enc, 0, a.ids, a.off, n, ra, err, sizeof err), 0);
  assert_int_equal(api->encoder_run(enc, 0, b.ids, b.off, n, rb, err, sizeof err), 0);
  assert_true(memcmp(ra, rb, n * dim * sizeof *ra) != 0); /* different inputs, different answers */
  api->encoder_set_graphs(enc, 256);
  for (int rep = 0; rep < 4; rep++) { /* direct, captured, replayed, replayed with b's tokens */
    const batch_t *x = rep < 3 ? &a : &b;
    assert_int_equal(api->encoder_run(enc, 0, x->ids, x->off, n, out, err, sizeof err), 0);
    const double c = min_cosine(out, rep < 3 ? ra : rb, n, dim, NULL);
    print_message("  graph run %d: cosine to the direct run %.9f%s\n", rep, c,
                  memcmp(out, rep < 3 ? ra : rb, n * dim * sizeof *out) ? "" : " (bitwise equal)");
    assert_true(c >= 0.999999);
  }
  api->encoder_stats(enc, &st);
  if (!simulated) {
    assert_int_equal(st.graph_captures - st0.graph_captures, 1);
    assert_int_equal(st.graph_replays - st0.graph_replays, 3);
    assert_int_equal(st.graph_failures, 0);
  }
  assert_int_equal(st.buffer_growths, st0.buffer_growths); /* within the prepared 1024 tokens */
  /* past the preparation: the slot grows once, its graphs go, and a's shape is captured anew */
  batch_t big = random_batch(64, 64, m->cfg.vocab_size, 5);
  assert_true(big.off[64] > 1024);
  float *rbig = calloc(64 * dim, sizeof *rbig);
  assert_int_equal(api->encoder_run(enc, 0, big.ids, big.off, 64, rbig, err, sizeof err), 0);
  for (int rep = 0; rep < 3; rep++) {
    assert_int_equal(api->encoder_run(enc, 0, a.ids, a.off, n, out, err, sizeof err), 0);
    assert_true(min_cosine(out, ra, n, dim, NULL) >= 0.999999);
  }
  api->encoder_stats(enc, &st);
  assert_int_equal(st.buffer_growths, st0.buffer_growths + 1);
  if (!simulated)
    assert_int_equal(st.graph_captures - st0.graph_captures, 2);
  free(ra);
  free(rb);
  free(rbig);
  free(out);
  free(a.ids);
  free(a.off);
  free(b.ids);
  free(b.off);
  free(big.ids);
  free(big.off);
  enc_close(&f);
}

/* The engine's GPU route end to end (tokenizer, batcher, slots, pooling, normalisation). */
static void test_engine_on_gpu(void **state) {
  (void)state;
  char *dir = tu_mkdtemp();
  tu_genmodel(dir, simulated ? "--shape tiny --seed 9" : "--shape minilm --seed 9");
  static const char *words[] = {"vector", "search", "is", "fast", "on", "the", "gpu", "and", "cpu", "embedding"};
  enum { N = 200 };
  const int n_texts = simulated ? 24 : N;
  static char buf[N][256];
  omega_text_t t[N];
  uint64_t s = 5;
  for (int i = 0; i < N; i++) {
    size_t len = 0;
    int nw = 1 + (int)(tu_rand(&s) % 40);
    for (int w = 0; w < nw; w++)
      len += (size_t)snprintf(buf[i] + len, sizeof buf[i] - len, "%s%s", w ? " " : "", words[tu_rand(&s) % 10]);
    t[i] = (omega_text_t){buf[i], len};
  }
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.accel.mode = OMEGA_ACCEL_CPU;
  omega_engine_t *cpu, *gpu;
  assert_int_equal(omega_engine_open(dir, &o, &cpu), 0);
  o.accel.mode = OMEGA_ACCEL_GPU;
  o.accel.plugin = simulated ? "/nonexistent/libomega-cuda.so" : plugin_path;
  if (simulated)
    omega__fault_configure("gpu_sim:1");
  o.accel.dtype = OMEGA_GPU_DTYPE_BF16;
  o.tuning.gpu_slots = 2;
  if (omega_engine_open(dir, &o, &gpu))
    fail_msg("%s", omega_errmsg());
  omega_engine_info_t info;
  omega_engine_info(gpu, &info);
  assert_string_equal(info.backend, "gpu");
  const size_t dim = (size_t)info.dim;
  float *a = malloc(N * dim * sizeof *a), *b = malloc(N * dim * sizeof *b);
  assert_int_equal(omega_engine_embed(cpu, t, (size_t)n_texts, 0, a), 0);
  assert_int_equal(omega_engine_embed(gpu, t, (size_t)n_texts, 0, b), 0);
  double mean;
  double worst = min_cosine(a, b, (size_t)n_texts, dim, &mean);
  print_message("  engine bf16 vs CPU fp32: cosine min %.7f mean %.7f\n", worst, mean);
  assert_true(worst >= 0.999);
  omega_engine_accel_t acc;
  omega_engine_accel(gpu, &acc);
  assert_true(acc.healthy);
  assert_int_equal(acc.oom + acc.errors + acc.sticky, 0);
  omega_engine_close(cpu);
  omega_engine_close(gpu);
  omega__fault_configure("");
  free(a);
  free(b);
  tu_rmtree(dir);
  free(dir);
}

/* GPU flat index against double-precision brute force, with a mask and k beyond n. */
static void check_flat(int dim, int metric, int fp16, size_t n, int k) {
  const size_t nq = 50;
  float *x = malloc(n * (size_t)dim * sizeof *x), *q = malloc(nq * (size_t)dim * sizeof *q);
  uint64_t s = 77;
  for (size_t i = 0; i < n * (size_t)dim; i++)
    x[i] = tu_randf(&s);
  for (size_t i = 0; i < nq * (size_t)dim; i++)
    q[i] = tu_randf(&s);
  /* exact duplicates: ties must come out by position */
  memcpy(x + 5 * (size_t)dim, x + 3 * (size_t)dim, (size_t)dim * sizeof *x);
  memcpy(q, x + 3 * (size_t)dim, (size_t)dim * sizeof *q);
  uint8_t *mask = malloc(n);
  for (size_t i = 0; i < n; i++)
    mask[i] = (i % 3) != 1;
  void *f;
  char err[256];
  assert_int_equal(api->flat_create(0, dim, metric, fp16, &f, err, sizeof err), 0);
  /* in two appends, to cover growth */
  assert_int_equal(api->flat_add(f, x, n / 2, err, sizeof err), 0);
  assert_int_equal(api->flat_add(f, x + (n / 2) * (size_t)dim, n - n / 2, err, sizeof err), 0);
  float *sc = malloc(nq * (size_t)k * sizeof *sc);
  int64_t *pos = malloc(nq * (size_t)k * sizeof *pos);
  for (int masked = 0; masked < 2; masked++) {
    int st = api->flat_search(f, q, nq, k, masked ? mask : NULL, sc, pos, err, sizeof err);
    if (st)
      fail_msg("flat_search: %s", err);
    size_t hit = 0, total = 0;
    double *ref = malloc(n * sizeof *ref);
    for (size_t qi = 0; qi < nq; qi++) {
      for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (int d = 0; d < dim; d++) {
          const double a = q[qi * (size_t)dim + (size_t)d], c = x[i * (size_t)dim + (size_t)d];
          v += metric == 0 ? (a - c) * (a - c) : a * c;
        }
        ref[i] = metric == 0 ? v : -v;
      }
      /* the true k-th best value among allowed rows */
      size_t allowed = 0;
      for (size_t i = 0; i < n; i++)
        allowed += !masked || mask[i];
      const size_t kk = (size_t)k < allowed ? (size_t)k : allowed;
      double *tmp = malloc(allowed * sizeof *tmp);
      size_t a = 0;
      for (size_t i = 0; i < n; i++)
        if (!masked || mask[i])
          tmp[a++] = ref[i];
      for (size_t i = 0; i < kk; i++) /* partial selection sort: kk smallest */
        for (size_t j = i + 1; j < allowed; j++)
          if (tmp[j] < tmp[i]) {
            double t = tmp[i];
            tmp[i] = tmp[j];
            tmp[j] = t;
          }
      const double kth = tmp[kk - 1];
      free(tmp);
      for (size_t j = 0; j < (size_t)k; j++) {
        const int64_t p = pos[qi * (size_t)k + j];
        if (j >= kk) {
          assert_int_equal(p, -1);
          continue;
        }
        assert_true(p >= 0 && (size_t)p < n);
        if (masked)
          assert_true(mask[p]);
        total++;
        hit += ref[p] <= kth + (fp16 ? 2e-2 : 1e-4) * (fabs(kth) + 1);
        if (j > 0 && !fp16) /* ordered best first */
          assert_true(sc[qi * (size_t)k + j - 1] <= sc[qi * (size_t)k + j] + 1e-3 ||
                      metric == 1);
      }
      if (!masked && fp16 == 0 && k >= 2 && metric == 0) { /* query 0 equals rows 3 and 5: both, 3 first */
        if (qi == 0) {
          assert_int_equal(pos[0], 3);
          assert_int_equal(pos[1], 5);
        }
      }
    }
    free(ref);
    const double recall = (double)hit / (double)total;
    print_message("  flat dim %d %s %s n %zu k %d%s: recall %.5f\n", dim, metric ? "ip" : "l2", fp16 ? "fp16" : "fp32",
                  n, k, masked ? " masked" : "", recall);
    assert_true(recall >= (fp16 ? 0.98 : 0.999));
  }
  api->flat_destroy(f);
  free(x);
  free(q);
  free(mask);
  free(sc);
  free(pos);
}

static void test_flat_index(void **state) {
  (void)state;
  if (simulated) {
    check_flat(32, 0, 0, 2000, 10);
    check_flat(16, 1, 0, 500, 600);
    return;
  }
  check_flat(128, 0, 0, 20000, 10);
  check_flat(128, 1, 0, 20000, 100);
  check_flat(784, 0, 1, 10000, 10);
  check_flat(96, 1, 1, 3000, 1024);
  check_flat(64, 0, 0, 500, 1024); /* k beyond n: -1 past the count */
}

/* An impossible allocation is OOM, not sticky: the context keeps working. */
static void test_oom_is_not_sticky(void **state) {
  (void)state;
  void *f;
  char err[256];
  assert_int_equal(api->flat_create(0, 1024, 0, 0, &f, err, sizeof err), 0);
  float one[1024] = {0};
  int st = api->flat_add(f, one, (size_t)1 << 40, err, sizeof err);
  print_message("  huge allocation: status %d (%s)\n", st, err);
  assert_int_equal(st, OCU_OOM);
  assert_int_equal(api->flat_add(f, one, 1, err, sizeof err), 0);
  float sc;
  int64_t p;
  assert_int_equal(api->flat_search(f, one, 1, 1, NULL, &sc, &p, err, sizeof err), 0);
  assert_int_equal(p, 0);
  api->flat_destroy(f);
}

int main(void) {
  snprintf(plugin_path, sizeof plugin_path, "%s/libomega-cuda.so", OMEGA_BUILD_DIR);
  char why[512];
  const char *sim = getenv("OMEGA_TEST_CUDA_SIM");
  if (sim && *sim == '1') {
    simulated = 1;
    api = omega__cuda_sim_api();
  } else if (omega__cuda_load(plugin_path, &api, why, sizeof why) != 0) {
    printf("SKIP: no usable GPU: %s\n", why);
    return TU_SKIP_CODE;
  }
  ocu_device_t d;
  char err[256];
  if (api->device_info(0, &d, err, sizeof err) == 0)
    printf("GPU: %s, compute %d.%d, %zu MiB, plugin %s\n", d.name, d.cc_major, d.cc_minor, d.mem_total >> 20,
           api->build);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encoder_precisions), cmocka_unit_test(test_slots_concurrent),
      cmocka_unit_test(test_engine_on_gpu),      cmocka_unit_test(test_flat_index),
      cmocka_unit_test(test_oom_is_not_sticky), cmocka_unit_test(test_graphs_and_prepare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

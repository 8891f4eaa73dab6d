/* The GPU route of the engine without a GPU: the simulated device (CPU reference kernels
 * behind the plugin ABI) with faults injected at the backend boundary. Under injected
 * OOMs no request fails and every result equals the CPU result; a sticky error sends
 * everything to the CPU for good; OOM without fallback fails the batch; memory pressure
 * shrinks the batches; the active slots are prepared for the batch bounds at open and
 * after a change; OMEGA_ACCEL=gpu with no GPU is a start-up error; what the plugin cannot run
 * (MPNet's relative attention bias, a cross-encoder's pairs) goes to the CPU with the reason
 * under OMEGA_ACCEL=auto and is a start-up error under OMEGA_ACCEL=gpu. */
#include "testutil.h"

#include "core/fault.h"
#include "omega/omega.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHAPE "--hidden 64 --layers 2 --heads 4 --intermediate 128 --max-seq-length 64 --seed 5"
#define DIM 64
#define NT 96

static char *model_dir;
static char texts_buf[NT][128];
static omega_text_t texts[NT];
static float ref[NT * DIM];

static omega_engine_t *open_gpu(unsigned slots, int fallback, size_t max_batch) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.tuning.max_batch = max_batch;
  o.tuning.gpu_slots = slots;
  o.tuning.oom_cpu_fallback = fallback;
  o.accel.mode = OMEGA_ACCEL_GPU;
  /* never the real plugin: these tests are about the route, and must behave the same on a GPU machine */
  o.accel.plugin = "/nonexistent/libomega-cuda.so";
  o.accel.max_slots = 4;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  return e;
}

static int setup(void **state) {
  (void)state;
  model_dir = tu_mkdtemp();
  tu_genmodel(model_dir, SHAPE);
  static const char *words[] = {"alpha", "beta", "gamma", "delta", "the", "quick", "fox", "embedding", "search"};
  uint64_t rs = 11;
  for (int i = 0; i < NT; i++) {
    size_t len = 0;
    const int nw = 1 + (int)(tu_rand(&rs) % 20);
    for (int w = 0; w < nw; w++)
      len += (size_t)snprintf(texts_buf[i] + len, sizeof texts_buf[i] - len, "%s%s", w ? " " : "",
                              words[tu_rand(&rs) % 9]);
    texts[i] = (omega_text_t){texts_buf[i], len};
  }
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.accel.mode = OMEGA_ACCEL_CPU;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  assert_int_equal(omega_engine_embed(e, texts, NT, 0, ref), 0);
  omega_engine_close(e);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  omega__fault_configure("");
  tu_rmtree(model_dir);
  free(model_dir);
  return 0;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double worst = 0;
  for (size_t i = 0; i < n; i++)
    worst = tu_max(worst, fabs((double)a[i] - b[i]));
  return worst;
}

static void assert_equal_to_cpu(const float *out, size_t n) {
  const double worst = max_abs_diff(out, ref, n * DIM);
  if (worst > 1e-5)
    fail_msg("GPU-route results differ from the CPU by %g", worst);
}

typedef struct {
  omega_engine_t *e;
  int first, n, rc;
  float out[NT * DIM];
  omega_route_t routes[NT];
} client_t;

static void *client(void *arg) {
  client_t *c = arg;
  for (int i = c->first; i < c->first + c->n && !c->rc; i++) {
    omega_job_t *j;
    c->rc = omega_engine_submit(c->e, &texts[i], 1, 0, NULL, NULL, &j);
    if (c->rc)
      break;
    c->rc = omega_job_wait(j);
    if (!c->rc)
      memcpy(c->out + (size_t)i * DIM, omega_job_embeddings(j, NULL, NULL), DIM * sizeof(float));
    c->routes[i] = omega_job_route(j);
    omega_job_release(j);
  }
  return NULL;
}

/* Four clients at once over 4 GPU slots with 20% of batches failing with OOM. */
static void test_oom_fallback_loses_nothing(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1,cuda_oom:0.2"), 0);
  omega_engine_t *e = open_gpu(4, 1, 8);
  omega_engine_info_t info;
  omega_engine_info(e, &info);
  assert_string_equal(info.backend, "gpu");
  static client_t cs[4];
  pthread_t th[4];
  for (int rep = 0; rep < 3; rep++) {
    for (int i = 0; i < 4; i++) {
      memset(&cs[i], 0, sizeof cs[i]);
      cs[i] = (client_t){.e = e, .first = i * (NT / 4), .n = NT / 4};
      pthread_create(&th[i], NULL, client, &cs[i]);
    }
    for (int i = 0; i < 4; i++)
      pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
      assert_int_equal(cs[i].rc, 0);
      for (int k = cs[i].first; k < cs[i].first + cs[i].n; k++) {
        assert_true(cs[i].routes[k] == OMEGA_ROUTE_GPU || cs[i].routes[k] == OMEGA_ROUTE_FALLBACK);
        const double worst = max_abs_diff(cs[i].out + (size_t)k * DIM, ref + (size_t)k * DIM, DIM);
        if (worst > 1e-5)
          fail_msg("input %d differs from the CPU result by %g (route %s)", k, worst, omega_route_name(cs[i].routes[k]));
      }
    }
  }
  omega_engine_accel_t a;
  omega_engine_accel(e, &a);
  assert_string_equal(a.device, "gpu");
  assert_true(a.simulated);
  assert_true(a.healthy);
  assert_true(a.oom > 0);                      /* faults were injected ... */
  assert_int_equal(a.fallback_batches, a.oom); /* ... and each was retried on the CPU */
  assert_int_equal(a.sticky, 0);
  omega_engine_close(e);
  omega__fault_configure("");
}

static void test_sticky_error_moves_everything_to_cpu(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1,cuda_sticky:once"), 0);
  omega_engine_t *e = open_gpu(2, 1, 16);
  static float out[NT * DIM];
  assert_int_equal(omega_engine_embed(e, texts, NT, 0, out), 0);
  assert_equal_to_cpu(out, NT);
  omega_engine_accel_t a;
  omega_engine_accel(e, &a);
  assert_int_equal(a.sticky, 1);
  assert_false(a.healthy);
  assert_true(a.needs_restart);
  assert_true(strstr(a.last_error, "illegal") != NULL);
  /* every later batch is served by the CPU */
  omega_job_t *j;
  assert_int_equal(omega_engine_submit(e, texts, 3, 0, NULL, NULL, &j), 0);
  assert_int_equal(omega_job_wait(j), 0);
  assert_int_equal(omega_job_route(j), OMEGA_ROUTE_FALLBACK);
  assert_string_equal(omega_route_name(omega_job_route(j)), "fallback");
  omega_job_release(j);
  omega_engine_close(e);
  omega__fault_configure("");
}

static void test_oom_without_fallback_fails_the_request(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1,cuda_oom:1"), 0);
  omega_engine_t *e = open_gpu(1, 0, 16);
  static float out[4 * DIM];
  assert_int_equal(omega_engine_embed(e, texts, 4, 0, out), OMEGA_EDEVICE_OOM);
  /* OOM is not sticky: with the fault gone the GPU serves again */
  omega__fault_configure("gpu_sim:1");
  assert_int_equal(omega_engine_embed(e, texts, 4, 0, out), 0);
  assert_equal_to_cpu(out, 4);
  omega_engine_accel_t a;
  omega_engine_accel(e, &a);
  assert_true(a.healthy);
  assert_true(a.oom >= 1);
  /* turning the fallback on at run time takes effect */
  omega__fault_configure("gpu_sim:1,cuda_oom:1");
  omega_engine_tuning_t t;
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  t = o.tuning;
  t.max_batch = 16;
  t.oom_cpu_fallback = 1;
  assert_int_equal(omega_engine_tune(e, &t), 0);
  assert_int_equal(omega_engine_embed(e, texts, 4, 0, out), 0);
  assert_equal_to_cpu(out, 4);
  omega_engine_close(e);
  omega__fault_configure("");
}

static void test_memory_pressure_shrinks_batches(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1,gpu_mem_full:1"), 0);
  omega_engine_t *e = open_gpu(1, 1, 32);
  static float out[NT * DIM];
  assert_int_equal(omega_engine_embed(e, texts, NT, 0, out), 0);
  assert_equal_to_cpu(out, NT);
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  assert_true(st.memory_pressure > 0);
  assert_true(st.batch_ceiling < 32);
  /* halved batches: 96 inputs need more than the 3 batches a ceiling of 32 would take */
  assert_true(st.batches > 3);
  omega_engine_accel_t a;
  omega_engine_accel(e, &a);
  assert_true(a.pressure_events > 0);
  omega_engine_close(e);
  omega__fault_configure("");
}

/* Activation bytes the simulated device holds for a slot of `tokens` tokens (SHAPE: H 64, I 128). */
#define SLOT_BYTES(tokens) ((size_t)(tokens) * (6 * 64 + 128) * sizeof(float))

static size_t wait_buffer_bytes(omega_engine_t *e, size_t want) {
  omega_engine_accel_t a;
  for (int i = 0; i < 500; i++) { /* slots prepare for new bounds once idle: allow them 5 s */
    omega_engine_accel(e, &a);
    if (a.buffer_bytes == want)
      break;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  return a.buffer_bytes;
}

static void test_slots_prepared_for_the_batch_bounds(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1"), 0);
  /* 2 of 4 slots active, batches of at most 8 sequences of at most 64 tokens: 512 tokens */
  omega_engine_t *e = open_gpu(2, 1, 8);
  omega_engine_accel_t a;
  omega_engine_accel(e, &a);
  assert_int_equal(a.buffer_bytes, 2 * SLOT_BYTES(512)); /* prepared before open returned */
  static float out[NT * DIM];
  assert_int_equal(omega_engine_embed(e, texts, NT, 0, out), 0);
  assert_equal_to_cpu(out, NT);
  omega_engine_accel(e, &a);
  assert_int_equal(a.buffer_growths, 0); /* no batch needed more than its slot was given */
  /* a third slot and batches of 16 (1024 tokens): every active slot prepares again */
  omega_engine_tuning_t t;
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  t = o.tuning;
  t.max_batch = 16;
  t.gpu_slots = 3;
  assert_int_equal(omega_engine_tune(e, &t), 0);
  assert_int_equal(wait_buffer_bytes(e, 3 * SLOT_BYTES(1024)), 3 * SLOT_BYTES(1024));
  assert_int_equal(omega_engine_embed(e, texts, NT, 0, out), 0);
  assert_equal_to_cpu(out, NT);
  omega_engine_accel(e, &a);
  assert_int_equal(a.buffer_growths, 0);
  omega_engine_close(e);
  omega__fault_configure("");
}

static void test_gpu_mode_without_gpu_is_an_error(void **state) {
  (void)state;
  omega__fault_configure("");
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.accel.mode = OMEGA_ACCEL_GPU;
  o.accel.plugin = "/nonexistent/libomega-cuda.so";
  omega_engine_t *e = NULL;
  assert_int_equal(omega_engine_open(model_dir, &o, &e), OMEGA_EDEVICE);
  assert_non_null(strstr(omega_errmsg(), "OMEGA_ACCEL=gpu but no usable GPU"));
  /* auto falls back to the CPU and says why */
  o.accel.mode = OMEGA_ACCEL_AUTO;
  assert_int_equal(omega_engine_open(model_dir, &o, &e), 0);
  omega_engine_accel_t a;
  omega_engine_accel(e, &a);
  assert_string_equal(a.device, "cpu");
  assert_true(strlen(a.reason) > 0);
  omega_engine_close(e);
  omega_accel_mode_t m;
  assert_int_equal(omega_accel_mode_parse("tpu", &m), OMEGA_EINVAL);
  o.accel.mode = OMEGA_ACCEL_COUNT;
  assert_int_equal(omega_engine_open(model_dir, &o, &e), OMEGA_EINVAL);
}

/* Open dir on the simulated device: the device it got and the reason, or the error. */
static int open_on_sim(const char *dir, omega_accel_mode_t mode, omega_engine_accel_t *a) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.accel.mode = mode;
  o.accel.plugin = "/nonexistent/libomega-cuda.so";
  omega_engine_t *e = NULL;
  int rc = omega_engine_open(dir, &o, &e);
  if (rc == 0) {
    omega_engine_accel(e, a);
    omega_engine_close(e);
  }
  return rc;
}

static void check_declined(const char *dir, const char *why) {
  omega_engine_accel_t a;
  assert_int_equal(open_on_sim(dir, OMEGA_ACCEL_AUTO, &a), 0);
  assert_string_equal(a.device, "cpu");
  if (!strstr(a.reason, why))
    fail_msg("auto on the simulated GPU: reason \"%s\", want it to say \"%s\"", a.reason, why);
  assert_int_equal(open_on_sim(dir, OMEGA_ACCEL_GPU, &a), OMEGA_EDEVICE);
  if (!strstr(omega_errmsg(), why))
    fail_msg("OMEGA_ACCEL=gpu: \"%s\", want it to say \"%s\"", omega_errmsg(), why);
}

static void test_gpu_declines_what_it_cannot_run(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1"), 0);
  omega_engine_accel_t a;
  assert_int_equal(open_on_sim(model_dir, OMEGA_ACCEL_AUTO, &a), 0); /* the control: BERT runs there */
  assert_string_equal(a.device, "gpu");
  char *dir = tu_mkdtemp();
  tu_genmodel(dir, "--head rerank " SHAPE);
  check_declined(dir, "(a cross-encoder) runs on the CPU only");
  tu_rmtree(dir);
  free(dir);
  if (tu_shared_dir()) {
    dir = tu_mkdtemp();
    tu_genmodel(dir, "--family mpnet --hidden 64 --layers 2 --heads 4 --intermediate 128 --max-seq-length 64");
    check_declined(dir, "relative attention bias runs on the CPU only");
    tu_rmtree(dir);
    free(dir);
  } else {
    puts("test_gpu_declines_what_it_cannot_run: MPNet part skipped (no ../shared tokenizer)");
  }
  omega__fault_configure("");
}

static void test_fault_spec_validation(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("cuda_oom:1.5"), OMEGA_EINVAL);
  assert_int_equal(omega__fault_configure("cuda_sticky:twice"), OMEGA_EINVAL);
  assert_int_equal(omega__fault_configure("cuda_oom:0.25,cuda_sticky:once"), 0);
  assert_int_equal(omega__fault_get(OMEGA_FAULT_CUDA_OOM), 250000);
  assert_true(omega__fault_take(OMEGA_FAULT_CUDA_STICKY));
  assert_false(omega__fault_take(OMEGA_FAULT_CUDA_STICKY));
  int hits = 0;
  for (int i = 0; i < 10000; i++)
    hits += omega__fault_roll(OMEGA_FAULT_CUDA_OOM);
  assert_in_range(hits, 2000, 3000);
  omega__fault_configure("");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_spec_validation),
      cmocka_unit_test(test_gpu_mode_without_gpu_is_an_error),
      cmocka_unit_test(test_gpu_declines_what_it_cannot_run),
      cmocka_unit_test(test_oom_fallback_loses_nothing),
      cmocka_unit_test(test_sticky_error_moves_everything_to_cpu),
      cmocka_unit_test(test_oom_without_fallback_fails_the_request),
      cmocka_unit_test(test_memory_pressure_shrinks_batches),
      cmocka_unit_test(test_slots_prepared_for_the_batch_bounds),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* Errors travel with the work that failed. Jobs that fail in the engine's threads (GPU out
 * of memory without the CPU fallback, a deadline, a cancel) carry their own detail
 * (omega_job_errmsg), whichever thread asks and whatever that thread did before; requests
 * refused at submission name their own input in the caller's omega_errmsg(); a job that
 * succeeded has no message. The clients mix all of these at once, as a server's workers do. */
#include "testutil.h"

#include "core/fault.h"
#include "omega/omega.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE "--hidden 32 --layers 2 --heads 2 --intermediate 64 --max-seq-length 16 --seed 3"
#define CLIENTS 4
#define ROUNDS 120

static char *model_dir;

static omega_engine_t *open_sim_gpu(void) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.tuning.max_batch = 4;
  o.tuning.gpu_slots = 2;
  o.tuning.oom_cpu_fallback = 0;
  o.accel.mode = OMEGA_ACCEL_GPU;
  o.accel.plugin = "/nonexistent/libomega-cuda.so"; /* the simulated device, on a GPU machine too */
  o.accel.max_slots = 2;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  return e;
}

typedef struct {
  omega_engine_t *e;
  int id;
  unsigned long long ok, oom, canceled, timed_out, refused;
  char problem[512]; /* the first wrong message; cmocka may only fail in the main thread */
} client_t;

static bool has(const char *msg, const char *s) { return strstr(msg, s) != NULL; }

static void note(client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(client_t *c, const char *fmt, ...) {
  if (c->problem[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->problem, sizeof c->problem, fmt, ap);
  va_end(ap);
}

/* Words that belong to one cause only: a message may contain its own and none of the others. */
static const char *const cause_words[] = {"token id", "max_seq_length", "out of memory", "canceled",
                                          "deadline exceeded"};

static void expect_only(client_t *c, const char *what, const char *msg, const char *own) {
  if (!has(msg, own))
    note(c, "%s: \"%s\" does not name its own cause", what, msg);
  for (size_t i = 0; i < sizeof cause_words / sizeof cause_words[0]; i++)
    if (strcmp(cause_words[i], own) != 0 && has(msg, cause_words[i]))
      note(c, "%s: \"%s\" names another request's cause", what, msg);
}

/* Refused at submission: the caller's thread-local detail names this request's input. */
static void refused_request(client_t *c, int round) {
  char want[64];
  if (round % 2) {
    const int32_t bad = 5000000 + c->id * 10000 + round;
    const int32_t ids[] = {101, bad, 102};
    const int32_t *idp[] = {ids};
    const size_t lens[] = {3};
    omega_request_t r = {.ids = idp, .id_lens = lens, .n = 1};
    if (omega_engine_submit_request(c->e, &r, NULL, NULL, NULL) != OMEGA_EINVAL)
      note(c, "an id outside the vocabulary was accepted");
    snprintf(want, sizeof want, "token id %d", (int)bad);
    expect_only(c, "bad id", omega_errmsg(), "token id");
  } else {
    char text[256] = "";
    const int words = 20 + round % 7;
    for (int w = 0; w < words; w++)
      strcat(text, "word ");
    omega_text_t t = {text, strlen(text)};
    if (omega_engine_submit(c->e, &t, 1, OMEGA_EMBED_NO_TRUNCATE, NULL, NULL, NULL) != OMEGA_ERANGE)
      note(c, "a text over max_seq_length was accepted without truncation");
    snprintf(want, sizeof want, "%d tokens", words + 2);
    expect_only(c, "too long", omega_errmsg(), "max_seq_length");
  }
  if (!has(omega_errmsg(), want))
    note(c, "refused request: \"%s\" does not name \"%s\"", omega_errmsg(), want);
  c->refused++;
}

/* One valid text, run by the engine; some canceled at once, some with a deadline of 1 ms. */
static void engine_request(client_t *c, int round) {
  static const char text[] = "alpha beta gamma";
  omega_text_t t = {text, sizeof text - 1};
  omega_request_t r = {.texts = &t, .n = 1, .timeout_ms = round % 5 == 0 ? 1 : 0};
  omega_job_t *j;
  if (omega_engine_submit_request(c->e, &r, NULL, NULL, &j) != 0) {
    note(c, "a valid text was refused: %s", omega_errmsg());
    return;
  }
  if (round % 3 == 0)
    omega_job_cancel(j);
  const int rc = omega_job_wait(j);
  const char *msg = omega_job_errmsg(j);
  switch (rc) {
  case 0:
    if (msg[0])
      note(c, "a job that succeeded has the message \"%s\"", msg);
    c->ok++;
    break;
  case OMEGA_EDEVICE_OOM:
    expect_only(c, "GPU out of memory", msg, "out of memory");
    if (!has(msg, "ACCEL_OOM_CPU_FALLBACK"))
      note(c, "GPU out of memory: \"%s\" does not say the fallback is off", msg);
    c->oom++;
    break;
  case OMEGA_ECANCELED:
    expect_only(c, "canceled", msg, "canceled");
    c->canceled++;
    break;
  case OMEGA_ETIMEDOUT:
    expect_only(c, "timed out", msg, "deadline exceeded");
    c->timed_out++;
    break;
  default:
    note(c, "unexpected status %s: %s", omega_err_name(rc), msg);
  }
  omega_job_release(j);
}

static void *client(void *arg) {
  client_t *c = arg;
  for (int round = 0; round < ROUNDS && !c->problem[0]; round++) {
    refused_request(c, round); /* leaves this thread's message naming the refused input */
    engine_request(c, round);
  }
  return NULL;
}

static void test_concurrent_failures_carry_their_own_message(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1,cuda_oom:0.5"), 0);
  omega_engine_t *e = open_sim_gpu();
  static client_t cs[CLIENTS];
  pthread_t th[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    cs[i] = (client_t){.e = e, .id = i};
    pthread_create(&th[i], NULL, client, &cs[i]);
  }
  unsigned long long ok = 0, oom = 0, canceled = 0;
  for (int i = 0; i < CLIENTS; i++) {
    pthread_join(th[i], NULL);
    if (cs[i].problem[0])
      fail_msg("client %d: %s", i, cs[i].problem);
    ok += cs[i].ok;
    oom += cs[i].oom;
    canceled += cs[i].canceled;
  }
  print_message("%llu ok, %llu out of memory, %llu canceled\n", ok, oom, canceled);
  assert_true(ok > 0);
  assert_true(oom > 0); /* half the batches fail: both outcomes happen */
  omega_engine_close(e);
  omega__fault_configure("");
}

/* The blocking call reports its job's detail, not only the code's description. */
static void test_embed_reports_the_jobs_detail(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("gpu_sim:1,cuda_oom:1"), 0);
  omega_engine_t *e = open_sim_gpu();
  omega_text_t t = {"alpha", 5};
  float out[32];
  assert_int_equal(omega_engine_embed(e, &t, 1, 0, out), OMEGA_EDEVICE_OOM);
  assert_non_null(strstr(omega_errmsg(), "ACCEL_OOM_CPU_FALLBACK is off"));
  omega_engine_close(e);
  omega__fault_configure("");
}

static int setup(void **state) {
  (void)state;
  model_dir = tu_mkdtemp();
  tu_genmodel(model_dir, SHAPE);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  omega__fault_configure("");
  tu_rmtree(model_dir);
  free(model_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_failures_carry_their_own_message),
      cmocka_unit_test(test_embed_reports_the_jobs_detail),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

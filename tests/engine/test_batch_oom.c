/* Memory the batcher cannot get fails the jobs it was for, at once and with a message that
 * names what could not be allocated (the batcher used to sleep and retry, holding every
 * later request behind it). The allocation failures are injected at the two places the
 * batcher allocates: its window of queued sequences, and a runner's buffers for a batch. The
 * engine serves normally afterwards. */
#include "testutil.h"

#include "core/clock.h"
#include "core/fault.h"
#include "omega/omega.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SMALL "--hidden 32 --layers 2 --heads 2 --intermediate 64 --max-seq-length 16 --seed 9"
#define DIM 32
/* the old retry slept a second: a failure must come well before that */
#define PROMPT_MS 900.0

static char *model_dir;
static const char *sentences[] = {"first sentence", "a second, longer sentence with more words in it", "",
                                  "third", "the fourth sentence of the test set", "fifth!"};
#define NS (sizeof sentences / sizeof sentences[0])
static omega_text_t texts[NS];
static float ref[NS * DIM];

static omega_engine_t *open_engine(size_t max_batch) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.tuning.max_batch = max_batch;
  o.tuning.adaptive = 0;
  o.accel.mode = OMEGA_ACCEL_CPU;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  return e;
}

static int setup(void **state) {
  (void)state;
  model_dir = tu_mkdtemp();
  tu_genmodel(model_dir, SMALL);
  for (size_t i = 0; i < NS; i++)
    texts[i] = (omega_text_t){sentences[i], strlen(sentences[i])};
  omega_engine_t *e = open_engine(8);
  const int rc = omega_engine_embed(e, texts, NS, 0, ref);
  omega_engine_close(e);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  omega__fault_configure("");
  tu_rmtree(model_dir);
  free(model_dir);
  return 0;
}

/* After a failure: the same texts embed, equal to the reference. */
static void assert_serves(omega_engine_t *e) {
  static float out[NS * DIM];
  assert_int_equal(omega_engine_embed(e, texts, NS, 0, out), 0);
  for (size_t i = 0; i < NS * DIM; i++)
    assert_true(fabsf(out[i] - ref[i]) < 1e-5f);
}

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int entered, release;
} gate_t;

/* Holds the only runner inside a completion callback, so jobs queue up behind it. */
static void gate_cb(omega_job_t *job, void *user) {
  (void)job;
  gate_t *g = user;
  pthread_mutex_lock(&g->mu);
  g->entered = 1;
  pthread_cond_broadcast(&g->cv);
  while (!g->release)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

typedef struct {
  int status;
  char msg[512];
} seen_t;

/* What a callback sees: the status and the job's own message. */
static void record_cb(omega_job_t *job, void *user) {
  seen_t *s = user;
  s->status = omega_job_status(job);
  snprintf(s->msg, sizeof s->msg, "%s", omega_job_errmsg(job));
}

static void test_window_oom_fails_its_jobs(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(4);
  gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  assert_int_equal(omega_engine_submit(e, texts, 1, 0, gate_cb, &g, NULL), 0);
  pthread_mutex_lock(&g.mu);
  while (!g.entered)
    pthread_cond_wait(&g.cv, &g.mu);
  pthread_mutex_unlock(&g.mu);
  /* three jobs wait for the next window, which cannot be allocated */
  assert_int_equal(omega__fault_configure("batch_window_oom:once"), 0);
  omega_job_t *jobs[3];
  seen_t seen = {-1, ""};
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(omega_engine_submit(e, texts + i, i + 1, 0, i == 2 ? record_cb : NULL, &seen, &jobs[i]), 0);
  const int64_t t0 = omega__now_ns();
  pthread_mutex_lock(&g.mu);
  g.release = 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(omega_job_wait(jobs[i]), OMEGA_ENOMEM);
    const char *msg = omega_job_errmsg(jobs[i]);
    if (!strstr(msg, "out of memory: the batcher could not allocate its window of 16 sequences"))
      fail_msg("job %zu: \"%s\" does not name the window", i, msg);
    size_t n;
    omega_job_embeddings(jobs[i], &n, NULL);
    assert_int_equal(n, i + 1);
    omega_job_release(jobs[i]);
  }
  const double ms = (double)(omega__now_ns() - t0) / 1e6;
  if (ms > PROMPT_MS)
    fail_msg("the jobs failed after %.0f ms", ms);
  assert_int_equal(seen.status, OMEGA_ENOMEM);
  assert_non_null(strstr(seen.msg, "could not allocate its window"));
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  assert_int_equal(st.jobs_failed, 3);
  assert_int_equal(st.queued_seqs, 0);
  assert_int_equal(st.inflight_seqs, 0);
  assert_serves(e);
  omega_engine_close(e);
  omega__fault_configure("");
}

/* A window of three batches of two: the first batch's buffers cannot be allocated. */
static void test_buffers_oom_fails_the_batch(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(2);
  assert_int_equal(omega__fault_configure("batch_buffers_oom:once"), 0);
  seen_t seen = {-1, ""};
  omega_job_t *j;
  const int64_t t0 = omega__now_ns();
  assert_int_equal(omega_engine_submit(e, texts, NS, 0, record_cb, &seen, &j), 0);
  assert_int_equal(omega_job_wait(j), OMEGA_ENOMEM);
  const double ms = (double)(omega__now_ns() - t0) / 1e6;
  if (ms > PROMPT_MS)
    fail_msg("the job failed after %.0f ms", ms);
  const char *want = "out of memory: a batch runner could not allocate its buffers for 2 sequences of";
  if (!strstr(omega_job_errmsg(j), want))
    fail_msg("\"%s\" does not name the buffers", omega_job_errmsg(j));
  assert_int_equal(seen.status, OMEGA_ENOMEM);
  assert_string_equal(seen.msg, omega_job_errmsg(j));
  omega_job_release(j);
  /* the synchronous call carries the job's message into the caller's thread */
  assert_int_equal(omega__fault_configure("batch_buffers_oom:once"), 0);
  static float out[NS * DIM];
  assert_int_equal(omega_engine_embed(e, texts, NS, 0, out), OMEGA_ENOMEM);
  assert_non_null(strstr(omega_errmsg(), want));
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  assert_int_equal(st.jobs_failed, 2);
  assert_int_equal(st.inflight_seqs, 0);
  assert_serves(e);
  omega_engine_close(e);
  omega__fault_configure("");
}

static void test_fault_names(void **state) {
  (void)state;
  assert_int_equal(omega__fault_configure("batch_window_oom:twice"), OMEGA_EINVAL);
  assert_int_equal(omega__fault_configure("batch_window_oom:once,batch_buffers_oom:once"), 0);
  assert_true(omega__fault_take(OMEGA_FAULT_BATCH_WINDOW_OOM));
  assert_false(omega__fault_take(OMEGA_FAULT_BATCH_WINDOW_OOM));
  assert_true(omega__fault_take(OMEGA_FAULT_BATCH_BUFFERS_OOM));
  omega__fault_configure("");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window_oom_fails_its_jobs),
      cmocka_unit_test(test_buffers_oom_fails_the_batch),
      cmocka_unit_test(test_fault_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

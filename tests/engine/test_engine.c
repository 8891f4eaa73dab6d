/* The engine's synchronous and asynchronous paths: callbacks, waiting, many threads
 * submitting at once (coalesced into shared batches), back-pressure, drain on close, and
 * memory the batcher cannot get failing the jobs it was for at once. */
#include "testutil.h"

#include "core/clock.h"
#include "core/fault.h"
#include "omega/omega.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SMALL "--hidden 32 --layers 2 --heads 2 --intermediate 64 --max-seq-length 16 --seed 9"

static char *model_dir;
static const char *sentences[] = {"first sentence", "a second, longer sentence with more words in it", "",
                                  "third", "the fourth sentence of the test set", "fifth!"};
#define NS (sizeof sentences / sizeof sentences[0])
static float ref[NS * 32];

static omega_engine_t *open_engine(size_t max_batch, size_t queue_cap) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.tuning.max_batch = max_batch;
  o.tuning.queue_capacity = queue_cap;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  return e;
}

static void texts_of(omega_text_t *t) {
  for (size_t i = 0; i < NS; i++)
    t[i] = (omega_text_t){sentences[i], strlen(sentences[i])};
}

static int setup(void **state) {
  (void)state;
  model_dir = tu_mkdtemp();
  tu_genmodel(model_dir, SMALL);
  omega_engine_t *e = open_engine(1, 0);
  omega_text_t t[NS];
  texts_of(t);
  int rc = omega_engine_embed(e, t, NS, 0, ref);
  omega_engine_close(e);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(model_dir);
  free(model_dir);
  return 0;
}

static void assert_rows_close(const float *got, size_t first, size_t n) {
  for (size_t i = 0; i < n * 32; i++)
    assert_true(fabsf(got[i] - ref[first * 32 + i]) < 1e-5f);
}

static void test_info(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(32, 0);
  omega_engine_info_t info;
  omega_engine_info(e, &info);
  assert_int_equal(info.dim, 32);
  assert_int_equal(info.max_seq_length, 16);
  assert_string_equal(info.pooling, "mean");
  assert_string_equal(info.backend, "cpu");
  assert_int_equal(info.normalize, 1);
  assert_non_null(omega_engine_tokenizer(e));
  omega_engine_close(e);
}

typedef struct {
  atomic_int calls;
  int status;
  float rows[NS * 32];
} cb_state_t;

static void on_done(omega_job_t *job, void *user) {
  cb_state_t *s = user;
  size_t n, dim;
  const float *v = omega_job_embeddings(job, &n, &dim);
  s->status = omega_job_status(job);
  if (s->status == 0)
    memcpy(s->rows, v, n * dim * sizeof *v);
  atomic_fetch_add(&s->calls, 1);
}

static void test_async_callback_and_wait(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(32, 0);
  omega_text_t t[NS];
  texts_of(t);
  cb_state_t s = {0};
  omega_job_t *job;
  assert_int_equal(omega_engine_submit(e, t, NS, 0, on_done, &s, &job), 0);
  assert_int_equal(omega_job_wait(job), 0);
  size_t n, dim;
  const float *v = omega_job_embeddings(job, &n, &dim);
  assert_int_equal(n, NS);
  assert_int_equal(dim, 32);
  assert_rows_close(v, 0, NS);
  assert_true(omega_job_tokens(job) >= 2 * NS);
  omega_job_release(job);
  /* callback only, no handle */
  cb_state_t s2 = {0};
  assert_int_equal(omega_engine_submit(e, t + 1, 2, 0, on_done, &s2, NULL), 0);
  omega_engine_close(e); /* drains: the callback has run when close returns */
  assert_int_equal(atomic_load(&s.calls), 1);
  assert_int_equal(atomic_load(&s2.calls), 1);
  assert_int_equal(s2.status, 0);
  assert_rows_close(s2.rows, 1, 2);
}

static void test_empty_and_errors(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(32, 0);
  omega_job_t *job;
  assert_int_equal(omega_engine_submit(e, NULL, 0, 0, NULL, NULL, &job), 0);
  assert_int_equal(omega_job_wait(job), 0);
  omega_job_release(job);
  /* input errors come back from submit, naming the input */
  omega_text_t bad[2] = {{"fine", 4}, {"bad \xC3(", 6}};
  assert_int_equal(omega_engine_submit(e, bad, 2, 0, NULL, NULL, &job), OMEGA_EUTF8);
  assert_non_null(strstr(omega_errmsg(), "input 1"));
  assert_int_equal(omega_engine_submit(e, bad, 2, OMEGA_TOK_UTF8_REPLACE, NULL, NULL, &job), 0);
  assert_int_equal(omega_job_wait(job), 0);
  omega_job_release(job);
  omega_text_t lng = {"one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen", 0};
  lng.len = strlen(lng.ptr);
  float out[32];
  assert_int_equal(omega_engine_embed(e, &lng, 1, OMEGA_EMBED_NO_TRUNCATE, out), OMEGA_ERANGE);
  assert_non_null(strstr(omega_errmsg(), "max_seq_length 16"));
  assert_int_equal(omega_engine_embed(e, &lng, 1, 0, out), 0); /* truncated by default */
  omega_engine_close(e);
}

typedef struct {
  omega_engine_t *e;
  int id;
  int failures;
} worker_t;

static void *submitter(void *arg) {
  worker_t *w = arg;
  omega_text_t t[NS];
  texts_of(t);
  for (int r = 0; r < 40; r++) {
    size_t first = (size_t)(w->id + r) % NS, n = 1 + (size_t)(r % (int)(NS - first));
    float out[NS * 32];
    if (omega_engine_embed(w->e, t + first, n, 0, out) != 0) {
      w->failures++;
      continue;
    }
    for (size_t i = 0; i < n * 32; i++)
      if (fabsf(out[i] - ref[first * 32 + i]) >= 1e-5f) {
        w->failures++;
        break;
      }
  }
  return NULL;
}

static void test_concurrent_submitters(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(8, 0);
  pthread_t th[8];
  worker_t w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (worker_t){e, i, 0};
    pthread_create(&th[i], NULL, submitter, &w[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].failures, 0);
  }
  omega_engine_close(e);
}

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int entered, release;
} gate_t;

/* Holds the (only) runner thread inside a completion callback so the queue cannot drain. */
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

/* A one-text job whose callback holds the runner, returning once it does. */
static void gate_hold(omega_engine_t *e, const omega_text_t *t, gate_t *g) {
  assert_int_equal(omega_engine_submit(e, t, 1, 0, gate_cb, g, NULL), 0);
  pthread_mutex_lock(&g->mu);
  while (!g->entered)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate_t *g) {
  pthread_mutex_lock(&g->mu);
  g->release = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void test_queue_capacity(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(1, 4);
  omega_text_t t[NS];
  texts_of(t);
  omega_job_t *job, *queued;
  assert_int_equal(omega_engine_submit(e, t, 5, 0, NULL, NULL, &job), OMEGA_EINVAL); /* more than capacity */
  gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  gate_hold(e, t, &g);
  assert_int_equal(omega_engine_submit(e, t, 4, 0, NULL, NULL, &queued), 0); /* fills the queue */
  assert_int_equal(omega_engine_submit(e, t, 1, 0, NULL, NULL, &job), OMEGA_EAGAIN);
  assert_non_null(strstr(omega_errmsg(), "queue full"));
  gate_open(&g);
  assert_int_equal(omega_job_wait(queued), 0);
  omega_job_release(queued);
  assert_int_equal(omega_engine_submit(e, t, 4, 0, NULL, NULL, &job), 0); /* room again */
  assert_int_equal(omega_job_wait(job), 0);
  omega_job_release(job);
  omega_engine_close(e);
}

/* Pre-tokenized input ids: the same ids as the texts give the same embeddings. */
static void test_token_id_input(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(32, 0);
  omega_text_t t[2] = {{sentences[0], strlen(sentences[0])}, {sentences[1], strlen(sentences[1])}};
  omega_job_t *job;
  assert_int_equal(omega_engine_submit(e, t, 2, 0, NULL, NULL, &job), 0);
  assert_int_equal(omega_job_wait(job), 0);
  size_t l0, l1;
  const int32_t *ids[2] = {omega_job_ids(job, 0, &l0), omega_job_ids(job, 1, &l1)};
  size_t lens[2] = {l0, l1};
  assert_int_equal(ids[0][0], 101);
  assert_null(omega_job_ids(job, 2, &l0));
  omega_request_t r = {.ids = ids, .id_lens = lens, .n = 2};
  omega_job_t *j2;
  assert_int_equal(omega_engine_submit_request(e, &r, NULL, NULL, &j2), 0);
  assert_int_equal(omega_job_wait(j2), 0);
  assert_rows_close(omega_job_embeddings(j2, NULL, NULL), 0, 2);
  omega_job_release(j2);
  omega_job_release(job);
  const int32_t bad_ids[3] = {101, 999999, 102};
  const int32_t *bp = bad_ids;
  size_t bl = 3;
  omega_request_t bad = {.ids = &bp, .id_lens = &bl, .n = 1};
  assert_int_equal(omega_engine_submit_request(e, &bad, NULL, NULL, &j2), OMEGA_EINVAL);
  assert_non_null(strstr(omega_errmsg(), "999999"));
  bl = 0;
  assert_int_equal(omega_engine_submit_request(e, &bad, NULL, NULL, &j2), OMEGA_EINVAL);
  omega_engine_close(e);
}

static double row_norm(const float *v) {
  double s = 0;
  for (int i = 0; i < 32; i++)
    s += (double)v[i] * v[i];
  return sqrt(s);
}

static void test_normalize_flags(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(32, 0);
  omega_text_t t = {sentences[0], strlen(sentences[0])};
  float norm[32], raw[32];
  assert_int_equal(omega_engine_embed(e, &t, 1, 0, norm), 0);
  assert_int_equal(omega_engine_embed(e, &t, 1, OMEGA_EMBED_NO_NORMALIZE, raw), 0);
  assert_true(fabs(row_norm(norm) - 1.0) < 1e-5);
  assert_true(fabs(row_norm(raw) - 1.0) > 1e-3);
  double n = row_norm(raw);
  for (int i = 0; i < 32; i++)
    assert_true(fabsf(raw[i] / (float)n - norm[i]) < 1e-5f);
  omega_engine_close(e);
}

/* Work that cannot start before its deadline is dropped; a canceled job completes with
 * OMEGA_ECANCELED; both free their queue slots. */
static void test_deadline_and_cancel(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(1, 0);
  omega_text_t t[NS];
  texts_of(t);
  gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  gate_hold(e, t, &g);
  omega_request_t r = {.texts = t, .n = 3, .timeout_ms = 1};
  omega_job_t *late, *canceled, *fine;
  assert_int_equal(omega_engine_submit_request(e, &r, NULL, NULL, &late), 0);
  assert_int_equal(omega_engine_submit(e, t, 3, 0, NULL, NULL, &canceled), 0);
  assert_int_equal(omega_engine_submit(e, t, 2, 0, NULL, NULL, &fine), 0);
  omega_job_cancel(canceled);
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  assert_int_equal(st.queued_seqs, 8);
  assert_int_equal(st.queued_jobs, 3);
  usleep(20000);
  gate_open(&g);
  assert_int_equal(omega_job_wait(late), OMEGA_ETIMEDOUT);
  assert_int_equal(omega_job_wait(canceled), OMEGA_ECANCELED);
  assert_int_equal(omega_job_wait(fine), 0);
  assert_string_equal(omega_job_errmsg(late), "deadline exceeded: 3 of 3 inputs had not started");
  assert_string_equal(omega_job_errmsg(canceled), "canceled: 3 of 3 inputs had not started");
  assert_string_equal(omega_job_errmsg(fine), "");
  assert_rows_close(omega_job_embeddings(fine, NULL, NULL), 0, 2);
  omega_engine_stats(e, &st);
  assert_int_equal(st.queued_seqs, 0);
  assert_int_equal(st.jobs_timed_out, 1);
  assert_int_equal(st.jobs_canceled, 1);
  assert_int_equal(st.sequences, 3); /* gate 1 + fine 2: nothing of the dropped jobs ran */
  omega_job_release(late);
  omega_job_release(canceled);
  omega_job_release(fine);
  omega_engine_close(e);
}

/* A large request is tokenized on the engine's pool: same results as one text at a time,
 * and a bad input still fails the request naming that input. */
static void test_large_request_parallel_tokenize(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(32, 0);
  enum { N = 300 };
  static omega_text_t t[N];
  static float big[N * 32], one[32];
  for (int i = 0; i < N; i++)
    t[i] = (omega_text_t){sentences[i % NS], strlen(sentences[i % NS])};
  assert_int_equal(omega_engine_embed(e, t, N, 0, big), 0);
  for (int i = 0; i < N; i++) {
    assert_int_equal(omega_engine_embed(e, &t[i], 1, 0, one), 0);
    for (int d = 0; d < 32; d++)
      assert_true(fabsf(one[d] - big[i * 32 + d]) < 1e-6f);
  }
  t[201] = (omega_text_t){"bad \xff utf-8", 11};
  assert_int_equal(omega_engine_embed(e, t, N, 0, big), OMEGA_EUTF8);
  assert_non_null(strstr(omega_errmsg(), "input 201"));
  omega_engine_close(e);
}

typedef struct {
  atomic_int batches;
  atomic_int max_seq;
} obs_t;

static void observe(const omega_batch_info_t *b, void *user) {
  obs_t *o = user;
  atomic_fetch_add(&o->batches, 1);
  if ((int)b->n_seq > atomic_load(&o->max_seq))
    atomic_store(&o->max_seq, (int)b->n_seq);
  assert_true(b->tokens >= 2 * b->n_seq);
  assert_int_equal(b->route, OMEGA_ROUTE_CPU);
}

/* Concurrent submissions share batches; the ceiling (and a retune) bound them. */
static void test_coalescing_and_tune(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(4, 0);
  obs_t o = {0};
  omega_engine_set_observer(e, observe, &o);
  omega_text_t t[NS];
  texts_of(t);
  gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  gate_hold(e, t, &g);
  omega_job_t *jobs[6];
  for (int i = 0; i < 6; i++) /* 6 one-sentence jobs queue behind the gate */
    assert_int_equal(omega_engine_submit(e, t + i, 1, 0, NULL, NULL, &jobs[i]), 0);
  gate_open(&g);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(omega_job_wait(jobs[i]), 0);
    assert_rows_close(omega_job_embeddings(jobs[i], NULL, NULL), (size_t)i, 1);
    double tk, q, inf;
    omega_job_timing(jobs[i], &tk, &q, &inf);
    assert_true(tk >= 0 && q >= 0 && inf > 0);
    assert_int_equal(omega_job_route(jobs[i]), OMEGA_ROUTE_CPU);
    omega_job_release(jobs[i]);
  }
  assert_int_equal(atomic_load(&o.max_seq), 4);   /* coalesced up to the ceiling */
  assert_int_equal(atomic_load(&o.batches), 1 + 2); /* the gate, then 4 + 2 */
  omega_engine_tuning_t tu = {.max_batch = 2, .max_batch_tokens = 4096, .adaptive = 0, .target_latency_ms = 50};
  assert_int_equal(omega_engine_tune(e, &tu), 0);
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  assert_int_equal(st.batch_ceiling, 2);
  tu.max_batch = 0;
  assert_int_equal(omega_engine_tune(e, &tu), OMEGA_EINVAL);
  omega_engine_close(e);
}

static void max_tokens(const omega_batch_info_t *b, void *user) {
  atomic_int *m = user;
  if ((int)b->tokens > atomic_load(m))
    atomic_store(m, (int)b->tokens);
}

/* A batch past the CPU backend's 1024 tokens runs as sub-batches of whole sequences: every
 * row is still the sentence's own embedding, in its place. */
static void test_batch_past_cpu_chunk(void **state) {
  (void)state;
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.tuning.max_batch = 512;
  o.tuning.max_batch_tokens = 16384;
  o.tuning.adaptive = 0;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  atomic_int most = 0;
  omega_engine_set_observer(e, max_tokens, &most);
  enum { N = 500 };
  static omega_text_t t[N];
  static float big[N * 32];
  for (int i = 0; i < N; i++)
    t[i] = (omega_text_t){sentences[(i * 5) % NS], strlen(sentences[(i * 5) % NS])};
  assert_int_equal(omega_engine_embed(e, t, N, 0, big), 0);
  assert_true(atomic_load(&most) > 2 * 1024); /* at least three sub-batches */
  for (int i = 0; i < N; i++)
    assert_rows_close(big + (size_t)i * 32, (size_t)(i * 5) % NS, 1);
  omega_engine_close(e);
}

static void test_open_errors(void **state) {
  (void)state;
  omega_engine_t *e = NULL;
  assert_int_equal(omega_engine_open("/nonexistent/model", NULL, &e), OMEGA_ENOENT);
  assert_null(e);
  assert_non_null(strstr(omega_errmsg(), "/nonexistent/model"));
  assert_string_equal(omega_strerror(OMEGA_ENOENT), "no such file or directory");
  assert_string_equal(omega_err_name(OMEGA_EUTF8), "OMEGA_EUTF8");
  assert_string_equal(omega_strerror(12345), "unknown error");
}

/* ---- memory the batcher cannot get ----
 * The jobs it was for fail at once with OMEGA_ENOMEM and a message naming what could not be
 * allocated (the batcher used to sleep a second and retry, holding every later request
 * behind it); the engine then serves normally. Injected at the two places the batcher
 * allocates: its window of queued sequences, and a runner's buffers for one batch. */

#define PROMPT_MS 900.0 /* well before the old one-second retry */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int called, status;
  char msg[512];
} seen_t;
#define SEEN_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, -1, ""}

/* What a completion callback sees: the status and the job's own message. */
static void record_cb(omega_job_t *job, void *user) {
  seen_t *s = user;
  pthread_mutex_lock(&s->mu);
  s->status = omega_job_status(job);
  snprintf(s->msg, sizeof s->msg, "%s", omega_job_errmsg(job));
  s->called = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* A waiter may return before the callback has run: the status is published first. */
static void seen_wait(seen_t *s) {
  pthread_mutex_lock(&s->mu);
  while (!s->called)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

static void assert_serves(omega_engine_t *e) {
  omega_text_t t[NS];
  texts_of(t);
  float out[NS * 32];
  assert_int_equal(omega_engine_embed(e, t, NS, 0, out), 0);
  assert_rows_close(out, 0, NS);
}

static void test_window_oom_fails_its_jobs(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(4, 0);
  omega_text_t t[NS];
  texts_of(t);
  gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  gate_hold(e, t, &g);
  /* three jobs wait behind the gate for the next window, which cannot be allocated */
  assert_int_equal(omega__fault_configure("batch_window_oom:once"), 0);
  omega_job_t *jobs[3];
  seen_t seen = SEEN_INIT;
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(omega_engine_submit(e, t + i, i + 1, 0, i == 2 ? record_cb : NULL, &seen, &jobs[i]), 0);
  const int64_t t0 = omega__now_ns();
  gate_open(&g);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(omega_job_wait(jobs[i]), OMEGA_ENOMEM);
    const char *msg = omega_job_errmsg(jobs[i]);
    if (!strstr(msg, "out of memory: the batcher could not allocate its window of 16 sequences"))
      fail_msg("job %zu: \"%s\" does not name the window", i, msg);
    omega_job_release(jobs[i]);
  }
  const double ms = (double)(omega__now_ns() - t0) / 1e6;
  if (ms > PROMPT_MS)
    fail_msg("the jobs failed after %.0f ms", ms);
  seen_wait(&seen);
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

/* A window of three batches of two, the first of which gets no buffers. */
static void test_buffers_oom_fails_the_batch(void **state) {
  (void)state;
  omega_engine_t *e = open_engine(2, 0);
  omega_text_t t[NS];
  texts_of(t);
  assert_int_equal(omega__fault_configure("batch_buffers_oom:once"), 0);
  seen_t seen = SEEN_INIT;
  omega_job_t *j;
  const int64_t t0 = omega__now_ns();
  assert_int_equal(omega_engine_submit(e, t, NS, 0, record_cb, &seen, &j), 0);
  assert_int_equal(omega_job_wait(j), OMEGA_ENOMEM);
  const double ms = (double)(omega__now_ns() - t0) / 1e6;
  if (ms > PROMPT_MS)
    fail_msg("the job failed after %.0f ms", ms);
  const char *want = "out of memory: a batch runner could not allocate its buffers for 2 sequences of";
  if (!strstr(omega_job_errmsg(j), want))
    fail_msg("\"%s\" does not name the buffers", omega_job_errmsg(j));
  seen_wait(&seen);
  assert_int_equal(seen.status, OMEGA_ENOMEM);
  assert_string_equal(seen.msg, omega_job_errmsg(j));
  omega_job_release(j);
  /* a blocking call hands the job's message to the caller's thread */
  assert_int_equal(omega__fault_configure("batch_buffers_oom:once"), 0);
  float out[NS * 32];
  assert_int_equal(omega_engine_embed(e, t, NS, 0, out), OMEGA_ENOMEM);
  assert_non_null(strstr(omega_errmsg(), want));
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  assert_int_equal(st.jobs_failed, 2);
  assert_int_equal(st.inflight_seqs, 0);
  assert_serves(e);
  omega_engine_close(e);
  omega__fault_configure("");
}

static void test_batch_oom_fault_names(void **state) {
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
      cmocka_unit_test(test_info),          cmocka_unit_test(test_async_callback_and_wait),
      cmocka_unit_test(test_empty_and_errors), cmocka_unit_test(test_concurrent_submitters),
      cmocka_unit_test(test_queue_capacity), cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_token_id_input), cmocka_unit_test(test_normalize_flags),
      cmocka_unit_test(test_deadline_and_cancel), cmocka_unit_test(test_coalescing_and_tune),
      cmocka_unit_test(test_large_request_parallel_tokenize), cmocka_unit_test(test_batch_past_cpu_chunk),
      cmocka_unit_test(test_window_oom_fails_its_jobs), cmocka_unit_test(test_buffers_oom_fails_the_batch),
      cmocka_unit_test(test_batch_oom_fault_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

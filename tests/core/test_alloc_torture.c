/* Allocation-failure torture (the curl/SQLite habit): an engine's life (open, submit, wait,
 * close), a persistent collection's (create, upsert, search, delete, close, reopen, search,
 * close) and a configuration's (create, reload, runtime change) are run again and again with
 * their Nth allocation failed, N = 1, 2, ... until a run makes fewer than N allocations.
 * Every failure must end in an error code with a message (or be absorbed with the right
 * results), without a crash, a hang (ctest's timeout), a leaked block or a state in which
 * the next normal run fails. A second pass fails the Nth allocation and every later one.
 *
 * The program installs a tracking allocator through omega_set_allocator before anything
 * else: it counts live blocks (a leak shows at once, also without AddressSanitizer), and its
 * header makes any block freed by the wrong free (libc's on the hook's memory, the hook's on
 * libc's) abort. Runs past OMEGA_TORTURE_FULL allocations are sampled with a stride that
 * keeps each pass to about OMEGA_TORTURE_RUNS runs; the first OMEGA_TORTURE_FULL are all
 * covered, so every start-up path is. OMEGA_TORTURE_ONLY=test_engine runs one workload,
 * OMEGA_TORTURE_VERBOSE=1 names each allocation failed. */
#include "testutil.h"

#include "config/config.h"
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/log.h"
#include "omega/omega.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the tracking allocator ---- */

#define MAGIC 0x0a11c8edu
typedef struct {
  uint32_t magic, off; /* off: bytes from the malloc'd base to the block */
  size_t size;
} hdr_t;
_Static_assert(sizeof(hdr_t) == 16, "the header fills malloc's 16-byte alignment");

static atomic_long live;

static hdr_t *header_of(void *p) {
  hdr_t *h = (hdr_t *)p - 1;
  if (h->magic != MAGIC) {
    fprintf(stderr, "test_alloc_torture: the hook was asked to free %p, which it did not allocate\n", p);
    abort();
  }
  return h;
}

static void *track(char *base, size_t off, size_t size) {
  if (!base)
    return NULL;
  hdr_t *h = (hdr_t *)(base + off) - 1;
  *h = (hdr_t){MAGIC, (uint32_t)off, size};
  atomic_fetch_add(&live, 1);
  return base + off;
}

static void *t_malloc(size_t size, void *user) { return track(malloc(size + 16), 16, size); }

static void *t_aligned_alloc(size_t align, size_t size, void *user) {
  size_t off = align < 16 ? 16 : align;
  return track(aligned_alloc(align, size + off), off, size);
}

static void t_free(void *p, void *user) {
  hdr_t *h = header_of(p);
  h->magic = 0;
  free((char *)p - h->off);
  atomic_fetch_sub(&live, 1);
}

static void *t_realloc(void *p, size_t size, void *user) {
  hdr_t *h = header_of(p);
  if (h->off != 16) { /* an aligned block: a fresh one and a copy */
    void *q = t_malloc(size, user);
    if (q) {
      memcpy(q, p, h->size < size ? h->size : size);
      t_free(p, user);
    }
    return q;
  }
  char *base = realloc((char *)p - 16, size + 16);
  if (!base)
    return NULL;
  ((hdr_t *)base)->size = size;
  return base + 16;
}

static const omega_allocator_t tracking = {t_malloc, t_realloc, t_aligned_alloc, t_free, NULL};

/* ---- the three workloads; each returns 0 or an error code with its message in msg ---- */

typedef int (*workload_fn)(char *msg, size_t cap);

static char *tmp_dir, model_dir[4096], coll_dir[4096], cfg_file[4096];

static int failed_with(int rc, const char *detail, char *msg, size_t cap) {
  snprintf(msg, cap, "%s", detail);
  return rc;
}

#define DIM 32
static const char *texts[] = {"hello world", "the quick brown fox jumps over the lazy dog", ""};
#define NT (sizeof texts / sizeof texts[0])
static float engine_ref[NT * DIM];
static bool engine_ref_set;

/* Waits for the job (NULL: its submission failed) and checks its rows: text i % NT each. */
static int finish_job(omega_job_t *job, int rc, size_t n_texts, char *msg, size_t cap) {
  if (rc)
    return failed_with(rc, omega_errmsg(), msg, cap);
  if ((rc = omega_job_wait(job))) {
    failed_with(rc, omega_job_errmsg(job), msg, cap);
  } else {
    size_t n, dim;
    const float *v = omega_job_embeddings(job, &n, &dim);
    assert_int_equal(n, n_texts);
    assert_int_equal(dim, DIM);
    if (!engine_ref_set)
      memcpy(engine_ref, v, sizeof engine_ref);
    engine_ref_set = true;
    for (size_t i = 0; i < n * DIM; i++)
      assert_true(fabsf(v[i] - engine_ref[i % (NT * DIM)]) < 1e-5f);
  }
  omega_job_release(job);
  return rc;
}

/* A small job and, at once, one of 64 texts (tokenized on the engine's pool threads). */
static int run_engine(char *msg, size_t cap) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.accel.mode = OMEGA_ACCEL_CPU;
  omega_engine_t *e;
  int rc = omega_engine_open(model_dir, &o, &e);
  if (rc)
    return failed_with(rc, omega_errmsg(), msg, cap);
  omega_text_t t[64];
  for (size_t i = 0; i < 64; i++)
    t[i] = (omega_text_t){texts[i % NT], strlen(texts[i % NT])};
  omega_job_t *small = NULL, *large = NULL;
  int rc_small = omega_engine_submit(e, t, NT, 0, NULL, NULL, &small);
  char small_msg[1024];
  snprintf(small_msg, sizeof small_msg, "%s", omega_errmsg());
  int rc_large = omega_engine_submit(e, t, 64, 0, NULL, NULL, &large);
  rc = finish_job(large, rc_large, 64, msg, cap);
  if (rc_small)
    omega__seterr(rc_small, "%s", small_msg);
  int rc2 = finish_job(small, rc_small, NT, msg, cap);
  omega_engine_close(e);
  return rc2 ? rc2 : rc;
}

#define CN 48
#define CD 8
#define CK 5

/* Searches three queries; the first successful run's results are the reference. */
static int search_check(omega_collection_t *c, int pass, char *msg, size_t cap) {
  static omega_result_t ref[2][2][3 * CK];
  static bool ref_set[2][2];
  float q[3 * CD];
  for (size_t i = 0; i < 3 * CD; i++)
    q[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
  omega_search_opts_t so = {.k = CK};
  omega_result_t out[3 * CK];
  size_t counts[3];
  int rc = omega_collection_search(c, q, 3, &so, out, counts);
  if (rc)
    return failed_with(rc, omega_errmsg(), msg, cap);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  int kind = st.params.kind == OMEGA_INDEX_HNSW;
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(counts[i], CK);
  if (!ref_set[kind][pass])
    memcpy(ref[kind][pass], out, sizeof out);
  ref_set[kind][pass] = true;
  for (size_t i = 0; i < 3 * CK; i++) {
    assert_int_equal(out[i].is_str, ref[kind][pass][i].is_str);
    assert_int_equal(out[i].num, ref[kind][pass][i].num);
    assert_string_equal(out[i].str, ref[kind][pass][i].str);
    assert_true(out[i].score == ref[kind][pass][i].score);
  }
  return 0;
}

static int run_collection_kind(omega_index_kind_t kind, char *msg, size_t cap) {
  tu_rmtree(coll_dir);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = CD;
  p.metric = OMEGA_METRIC_COSINE;
  p.kind = kind;
  omega_collection_opts_t o = {.dir = coll_dir};
  omega_collection_t *c;
  int rc = omega_collection_create("torture", &p, &o, &c);
  if (rc)
    return failed_with(rc, omega_errmsg(), msg, cap);
  float v[CN * CD];
  omega_id_t ids[CN];
  char names[CN][16];
  for (size_t i = 0; i < CN; i++) {
    for (size_t j = 0; j < CD; j++)
      v[i * CD + j] = (float)(((i + 3) * (j + 5)) % 13) / 13.0f - 0.4f;
    snprintf(names[i], sizeof names[i], "doc-%zu", i);
    ids[i] = i % 2 ? (omega_id_t){.is_str = 1, .str = names[i], .len = strlen(names[i])}
                   : (omega_id_t){.num = (int64_t)i};
  }
  size_t deleted;
  if ((rc = omega_collection_upsert(c, ids, v, CN / 2, 1)) ||
      (rc = omega_collection_upsert(c, ids + CN / 2, v + CN / 2 * CD, CN / 2, 2)) ||
      (rc = omega_collection_delete(c, ids + 1, 2, &deleted))) {
    omega_collection_close(c);
    return failed_with(rc, omega_errmsg(), msg, cap);
  }
  rc = search_check(c, 0, msg, cap);
  omega_collection_close(c);
  if (rc)
    return rc;
  /* whatever close could not checkpoint, the log holds: the reopened collection is the same */
  if ((rc = omega_collection_open(coll_dir, &o, &c)))
    return failed_with(rc, omega_errmsg(), msg, cap);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, CN - 2);
  rc = search_check(c, 1, msg, cap);
  omega_collection_close(c);
  return rc;
}

static int run_collection(char *msg, size_t cap) {
  int rc = run_collection_kind(OMEGA_INDEX_FLAT, msg, cap);
  return rc ? rc : run_collection_kind(OMEGA_INDEX_HNSW, msg, cap);
}

static void write_config(const char *text) { tu_write_file(cfg_file, text, strlen(text)); }

static void expect_setting(omega_config_t *c, const char *name, const char *want) {
  size_t idx;
  char buf[256];
  assert_non_null(omega__config_find(name, &idx));
  omega__config_value(c, idx, false, buf, sizeof buf, NULL);
  assert_string_equal(buf, want);
}

static int run_config(char *msg, size_t cap) {
  write_config("EMBED_MAX_BATCH=16\nOMEGA_REQUEST_TIMEOUT_MS=5000\n");
  char pair[4200];
  snprintf(pair, sizeof pair, "OMEGA_CONFIG_FILE=%s", cfg_file);
  const char *cli[] = {pair, "EMBED_BATCH_WINDOW_MS=3"};
  omega_config_t *c;
  int rc = omega__config_create(cli, 2, &c);
  if (rc)
    return failed_with(rc, omega_errmsg(), msg, cap);
  expect_setting(c, "EMBED_MAX_BATCH", "16");
  write_config("EMBED_MAX_BATCH=24\nOMEGA_REQUEST_TIMEOUT_MS=6000\n");
  msg[0] = '\0';
  if ((rc = omega__config_reload(c, msg, cap))) {
    omega__config_free(c);
    return rc;
  }
  expect_setting(c, "EMBED_MAX_BATCH", "24");
  expect_setting(c, "OMEGA_REQUEST_TIMEOUT_MS", "6000");
  const char *keys[] = {"EMBED_MAX_BATCH"}, *values[] = {"40"};
  if ((rc = omega__config_set_runtime(c, "torture", keys, values, 1, msg, cap))) {
    omega__config_free(c);
    return rc;
  }
  expect_setting(c, "EMBED_MAX_BATCH", "40");
  expect_setting(c, "EMBED_BATCH_WINDOW_MS", "3");
  omega__config_free(c);
  return 0;
}

/* ---- the loop ---- */

static long env_long(const char *name, long def) {
  const char *s = getenv(name);
  return s && *s ? strtol(s, NULL, 10) : def;
}

static void torture(const char *name, workload_fn run) {
  char msg[1024];
  /* twice normally first: what is allocated once per process or thread (the tokenizer's
   * scratch) is in place before blocks are counted */
  for (int i = 0; i < 2; i++)
    if (run(msg, sizeof msg))
      fail_msg("%s: a normal run fails: %s", name, msg);
  const long base = atomic_load(&live);
  omega__alloc_fail_after(0, false);
  assert_int_equal(run(msg, sizeof msg), 0);
  const long total = omega__alloc_count();
  omega__alloc_fail_after(-1, false);
  const bool verbose = env_long("OMEGA_TORTURE_VERBOSE", 0);
  const long full = env_long("OMEGA_TORTURE_FULL", 2000), runs = env_long("OMEGA_TORTURE_RUNS", 400);
  const long stride = total > full ? (total - full) / runs + 1 : 1;

  for (int all_later = 0; all_later < 2; all_later++) {
    long tried = 0, refused = 0, absorbed = 0;
    for (long n = 1;; n += n < full ? 1 : stride) {
      omega__clearerr();
      msg[0] = '\0';
      if (verbose)
        fprintf(stderr, "%s: failing allocation %ld%s\n", name, n, all_later ? " and later" : "");
      omega__alloc_fail_after(n, all_later);
      int rc = run(msg, sizeof msg);
      long count = omega__alloc_count();
      omega__alloc_fail_after(-1, false);
      if (atomic_load(&live) != base)
        fail_msg("%s: allocation %ld failed%s: %ld blocks leaked (rc %d, %s)", name, n, all_later ? " and later" : "",
                 atomic_load(&live) - base, rc, msg);
      if (count < n) { /* past the last allocation: nothing failed */
        if (rc)
          fail_msg("%s: a run with no failure injected fails: %s", name, msg);
        break;
      }
      tried++;
      if (rc) {
        if (rc >= 0 || !msg[0])
          fail_msg("%s: allocation %ld failed: error %d (%s) without a message", name, n, rc, omega_err_name(rc));
        refused++;
      } else {
        absorbed++;
      }
      if (run(msg, sizeof msg))
        fail_msg("%s: after allocation %ld failed, a normal run fails: %s", name, n, msg);
      if (atomic_load(&live) != base)
        fail_msg("%s: after allocation %ld failed, a normal run leaks %ld blocks", name, n, atomic_load(&live) - base);
    }
    printf("%s: ~%ld allocations a run; failed %s: N = 1..%ld each, then every %ld; %ld runs: %ld clean errors, %ld "
           "absorbed\n",
           name, total, all_later ? "the Nth and every later one" : "the Nth only", total < full ? total : full, stride,
           tried, refused, absorbed);
  }
}

static void test_engine(void **state) { torture("engine", run_engine); }
static void test_collection(void **state) { torture("collection", run_collection); }
static void test_config(void **state) { torture("config", run_config); }

/* the allocator is in place for good: a second one is refused */
static void test_late_install_refused(void **state) {
  assert_int_equal(omega_set_allocator(&tracking), OMEGA_EINVAL);
  assert_int_equal(omega_set_allocator(NULL), OMEGA_EINVAL);
}

static int setup(void **state) {
  tmp_dir = tu_mkdtemp();
  snprintf(model_dir, sizeof model_dir, "%s/model", tmp_dir);
  snprintf(coll_dir, sizeof coll_dir, "%s/collection", tmp_dir);
  snprintf(cfg_file, sizeof cfg_file, "%s/omega.env", tmp_dir);
  /* a small vocabulary keeps a model load to a few hundred allocations */
  char vocab[4200];
  snprintf(vocab, sizeof vocab, "%s/vocab.txt", tmp_dir);
  static const char words[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nquick\nbrown\nfox\njumps\nover\nlazy\ndog\n"
                              "hello\nworld\n##s\n##ed\na\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\no\np\nq\nr\ns\nt\nu\n"
                              "v\nw\nx\ny\nz\n##a\n##e\n##o\n.\n,\n!\n";
  tu_write_file(vocab, words, strlen(words));
  char args[8400];
  snprintf(args, sizeof args,
           "--hidden %d --layers 2 --heads 2 --intermediate 64 --max-seq-length 16 --seed 5 --vocab %s", DIM, vocab);
  tu_genmodel(model_dir, args);
  for (size_t i = 0; i < omega__cfg_count; i++)
    unsetenv(omega__cfg_table[i].name);
  return 0;
}

static int teardown(void **state) {
  tu_rmtree(tmp_dir);
  free(tmp_dir);
  return 0;
}

int main(void) {
  /* before Omega allocates anything; libc's allocations of this test are not counted */
  if (omega_set_allocator(&tracking)) {
    fprintf(stderr, "omega_set_allocator: %s\n", omega_errmsg());
    return 1;
  }
  omega__log_set_level(OMEGA_LOG_ERROR); /* the config's runtime changes log each run */
  if (getenv("OMEGA_TORTURE_ONLY"))
    cmocka_set_test_filter(getenv("OMEGA_TORTURE_ONLY"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_collection),
      cmocka_unit_test(test_engine),
      cmocka_unit_test(test_late_install_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

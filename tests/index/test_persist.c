/* Persistence with real files in a temporary folder: create / upsert / close / reopen;
 * crashes (a child process killed or exiting without closing) with write-ahead-log replay
 * of every acknowledged write; a torn log tail (dropped) versus a damaged log (refused);
 * damaged or truncated snapshots (refused with an error naming the file); checkpoints
 * when the log passes wal_checkpoint_bytes; save_file / load_file; drop. Also checks
 * that the committed fuzz seeds still parse (OMEGA_WRITE_FUZZ_CORPUS=1 rewrites them). */
#include "ref.h"

#include "index/persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define D 8

static char *tmp;

static int setup(void **state) {
  (void)state;
  tmp = tu_mkdtemp();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(tmp);
  free(tmp);
  return 0;
}

static void path_of(char *out, size_t cap, const char *a, const char *b) {
  if (b)
    snprintf(out, cap, "%s/%s/%s", tmp, a, b);
  else
    snprintf(out, cap, "%s/%s", tmp, a);
}

static omega_collection_t *create_at(const char *sub, omega_index_kind_t kind, omega_metric_t metric, int fsync_always,
                                     size_t checkpoint) {
  char dir[4200];
  path_of(dir, sizeof dir, sub, NULL);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = D;
  p.kind = kind;
  p.metric = metric;
  p.m = 8;
  p.ef_construction = 60;
  omega_collection_opts_t o = {.dir = dir, .fsync_always = fsync_always, .wal_checkpoint_bytes = checkpoint};
  omega_collection_t *c = NULL;
  if (omega_collection_create(sub, &p, &o, &c))
    fail_msg("create %s: %s", dir, omega_errmsg());
  return c;
}

static int open_at(const char *sub, omega_collection_t **c) {
  char dir[4200];
  path_of(dir, sizeof dir, sub, NULL);
  omega_collection_opts_t o = {.fsync_always = 1};
  return omega_collection_open(dir, &o, c);
}

static omega_collection_t *must_open(const char *sub) {
  omega_collection_t *c = NULL;
  if (open_at(sub, &c))
    fail_msg("open %s: %s", sub, omega_errmsg());
  return c;
}

static void copy_file(const char *from, const char *to) {
  size_t n;
  char *b = tu_read_file(from, &n);
  tu_write_file(to, b, n);
  free(b);
}

/* Copy a live collection's files: the state a crash at this moment would leave. */
static void crash_image(const char *sub, const char *img) {
  char a[4200], b[4200];
  path_of(b, sizeof b, img, NULL);
  mkdir(b, 0755);
  static const char *const files[] = {"snapshot.omg", "wal.log"};
  for (size_t i = 0; i < 2; i++) {
    path_of(a, sizeof a, sub, files[i]);
    path_of(b, sizeof b, img, files[i]);
    copy_file(a, b);
  }
}

static size_t file_size(const char *sub, const char *file) {
  char p[4200];
  path_of(p, sizeof p, sub, file);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  return (size_t)st.st_size;
}

static void flip_byte(const char *sub, const char *file, size_t at) {
  char p[4200];
  path_of(p, sizeof p, sub, file);
  size_t n;
  char *b = tu_read_file(p, &n);
  assert_true(at < n);
  b[at] ^= 0x20;
  tu_write_file(p, b, n);
  free(b);
}

/* Many flips of one file: read once, write once (flip_bytes_done). */
static char *fast_buf;
static size_t fast_len;
static void flip_byte_fast(const char *sub, const char *file, size_t at) {
  if (!fast_buf) {
    char p[4200];
    path_of(p, sizeof p, sub, file);
    fast_buf = tu_read_file(p, &fast_len);
  }
  assert_true(at < fast_len);
  fast_buf[at] ^= 0x20;
}
static void flip_bytes_done(const char *sub, const char *file) {
  char p[4200];
  path_of(p, sizeof p, sub, file);
  tu_write_file(p, fast_buf, fast_len);
  free(fast_buf);
  fast_buf = NULL;
}

static void truncate_file(const char *sub, const char *file, size_t len) {
  char p[4200];
  path_of(p, sizeof p, sub, file);
  assert_int_equal(truncate(p, (off_t)len), 0);
}

/* The collection holds exactly the model: every id at its vector (each finds itself with
 * distance 0 first... or ties with an equal vector), and the same count. */
static void expect_contents(omega_collection_t *c, const ref_model_t *m) {
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  if (st.count != m->n)
    fail_msg("collection has %zu vectors, expected %zu", st.count, m->n);
  const size_t k = 5;
  omega_search_opts_t o = {.k = k, .threads = 2};
  omega_result_t *res = malloc((m->n ? m->n : 1) * k * sizeof *res);
  size_t *counts = malloc((m->n ? m->n : 1) * sizeof *counts);
  assert_int_equal(omega_collection_search(c, m->vecs, m->n, &o, res, counts), 0);
  for (size_t i = 0; i < m->n; i++) {
    char what[64];
    snprintf(what, sizeof what, "contents, query %zu", i);
    if (st.params.kind == OMEGA_INDEX_FLAT) {
      expect_exact(m, m->vecs + i * m->dim, k, NULL, 0, res + i * k, counts[i], what);
    } else {
      bool found = false;
      for (size_t j = 0; j < counts[i]; j++)
        found |= res[i * k + j].num == m->ids[i];
      if (!found)
        fail_msg("id %lld is not found by its own vector", (long long)m->ids[i]);
    }
  }
  free(res);
  free(counts);
}

static void upsert_one(omega_collection_t *c, ref_model_t *m, int64_t id, const float *v) {
  omega_id_t x = int_id(id);
  if (omega_collection_upsert(c, &x, v, 1, 1))
    fail_msg("upsert %lld: %s", (long long)id, omega_errmsg());
  if (m)
    ref_upsert(m, id, v);
}

static void delete_one(omega_collection_t *c, ref_model_t *m, int64_t id) {
  omega_id_t x = int_id(id);
  assert_int_equal(omega_collection_delete(c, &x, 1, NULL), 0);
  if (m)
    ref_delete(m, id);
}

static void test_reopen(void **state) {
  (void)state;
  static const omega_index_kind_t kinds[] = {OMEGA_INDEX_FLAT, OMEGA_INDEX_HNSW};
  for (int ki = 0; ki < 2; ki++) {
    const char *sub = ki ? "reopen-hnsw" : "reopen-flat";
    omega_collection_t *c = create_at(sub, kinds[ki], OMEGA_METRIC_COSINE, 0, 0);
    ref_model_t m;
    ref_init(&m, D, OMEGA_METRIC_COSINE);
    float *v = gen_uniform(600, D, 41);
    upsert_rows(c, &m, v, 500, 0, 2);
    for (int64_t i = 0; i < 500; i += 5)
      delete_one(c, &m, i);
    for (int64_t i = 1; i < 100; i += 5)
      upsert_one(c, &m, i, v + (500 + i) * D);
    /* creating again over it is refused */
    char dir[4200];
    path_of(dir, sizeof dir, sub, NULL);
    omega_index_params_t p;
    omega_index_params_init(&p);
    p.dim = D;
    omega_collection_opts_t o = {.dir = dir};
    omega_collection_t *again;
    assert_int_equal(omega_collection_create("x", &p, &o, &again), OMEGA_EINVAL);
    omega_collection_close(c);
    c = must_open(sub);
    omega_collection_stats_t st;
    omega_collection_stats(c, &st);
    assert_string_equal(st.name, sub);
    assert_int_equal(st.params.kind, kinds[ki]);
    assert_int_equal(st.params.metric, OMEGA_METRIC_COSINE);
    assert_int_equal(st.params.dim, D);
    assert_true(st.persistent);
    expect_contents(c, &m);
    /* keep writing after the reopen, reopen again */
    upsert_rows(c, &m, v + 500 * D, 100, 1000, 1);
    omega_collection_close(c);
    c = must_open(sub);
    expect_contents(c, &m);
    omega_collection_close(c);
    ref_free(&m);
    free(v);
  }
}

/* A child process writes with fsync_always and exits without closing: the log replay
 * restores every acknowledged write. */
static void test_exit_without_close(void **state) {
  (void)state;
  omega_collection_t *c = create_at("crash", OMEGA_INDEX_HNSW, OMEGA_METRIC_L2, 1, 0);
  float *v = gen_uniform(300, D, 43);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  upsert_rows(c, &m, v, 100, 0, 1);
  omega_collection_close(c); /* snapshot holds 0..99 */
  for (int64_t i = 100; i < 250; i++)
    ref_upsert(&m, i, v + i * D);
  for (int64_t i = 0; i < 40; i += 2)
    ref_delete(&m, i);
  ref_upsert(&m, 5, v + 299 * D);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    omega_collection_t *cc;
    if (open_at("crash", &cc))
      _exit(3);
    for (int64_t i = 100; i < 250; i++) {
      omega_id_t x = int_id(i);
      if (omega_collection_upsert(cc, &x, v + i * D, 1, 1))
        _exit(4);
    }
    for (int64_t i = 0; i < 40; i += 2) {
      omega_id_t x = int_id(i);
      if (omega_collection_delete(cc, &x, 1, NULL))
        _exit(5);
    }
    omega_id_t five = int_id(5);
    if (omega_collection_upsert(cc, &five, v + 299 * D, 1, 1))
      _exit(6);
    _exit(0); /* no close, no checkpoint, no atexit handlers */
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_true(file_size("crash", "wal.log") > OMEGA_WAL_HEADER);
  c = must_open("crash");
  expect_contents(c, &m);
  omega_collection_stats_t s;
  omega_collection_stats(c, &s);
  assert_int_equal(s.snapshots, 0); /* restored from the log, not a snapshot */
  assert_true(s.wal_bytes > OMEGA_WAL_HEADER);
  omega_collection_close(c);
  /* after a clean close the log is folded into the snapshot */
  assert_int_equal(file_size("crash", "wal.log"), OMEGA_WAL_HEADER);
  c = must_open("crash");
  expect_contents(c, &m);
  omega_collection_close(c);
  ref_free(&m);
  free(v);
}

/* kill -9 at random moments while a child writes (with checkpoints now and then): after
 * each kill, every write the child reported as acknowledged is there. */
static void test_kill_loop(void **state) {
  (void)state;
  omega_collection_t *c = create_at("kill", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 2048);
  omega_collection_close(c);
  const size_t total = 4000;
  float *v = gen_uniform(total, D, 47);
  int64_t next = 0;
  uint64_t rs = 11;
  for (int round = 0; round < 6; round++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      omega_collection_t *cc;
      char dir[4200];
      path_of(dir, sizeof dir, "kill", NULL);
      omega_collection_opts_t o = {.fsync_always = 1, .wal_checkpoint_bytes = 2048};
      if (omega_collection_open(dir, &o, &cc))
        _exit(3);
      for (int64_t i = next; i < (int64_t)total; i += 3) {
        omega_id_t ids[3] = {int_id(i), int_id(i + 1), int_id(i + 2)};
        if (omega_collection_upsert(cc, ids, v + (size_t)i * D, 3, 1))
          _exit(4);
        int64_t acked = i + 2;
        if (write(fds[1], &acked, sizeof acked) != (ssize_t)sizeof acked)
          _exit(5);
      }
      _exit(0);
    }
    close(fds[1]);
    size_t want_acks = 5 + tu_rand(&rs) % 40;
    int64_t last = next - 1, got;
    for (size_t a = 0; a < want_acks && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got; a++)
      last = got;
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    /* acks written before the kill may still be in the pipe */
    while (read(fds[0], &got, sizeof got) == (ssize_t)sizeof got)
      last = got;
    close(fds[0]);
    omega_collection_t *r = must_open("kill");
    omega_search_opts_t o = {.k = 1};
    for (int64_t i = 0; i <= last; i++) {
      omega_result_t res;
      size_t cnt;
      assert_int_equal(omega_collection_search(r, v + (size_t)i * D, 1, &o, &res, &cnt), 0);
      if (cnt != 1 || res.num != i)
        fail_msg("round %d: acknowledged id %lld (of 0..%lld) is missing after the kill", round, (long long)i,
                 (long long)last);
    }
    omega_collection_stats_t s;
    omega_collection_stats(r, &s);
    assert_true(s.count >= (size_t)(last + 1));
    omega_collection_close(r);
    next = last + 1;
    if (next >= (int64_t)total - 3)
      break;
  }
  assert_true(next > 30);
  free(v);
}

/* Build a log of ten single-record writes and take a crash image of it. Written without
 * fsync (and no background one), so its header commits none of them: what follows the
 * committed length is judged by the torn-tail rules. */
static void make_ten(const char *sub, const char *img, ref_model_t *m, float *v) {
  omega_collection_t *c = create_at(sub, OMEGA_INDEX_FLAT, OMEGA_METRIC_IP, 0, 0);
  for (int64_t i = 0; i < 10; i++)
    upsert_one(c, m, i, v + i * D);
  crash_image(sub, img);
  omega_collection_close(c);
}

static void test_torn_tail(void **state) {
  (void)state;
  float *v = gen_uniform(20, D, 53);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_IP);
  make_ten("torn-src", "torn", &m, v);
  const size_t rec = 8 + 3 + 9 + D * 4, full = OMEGA_WAL_HEADER + 10 * rec;
  assert_int_equal(file_size("torn", "wal.log"), full);
  /* a tail cut anywhere inside the last record: the first nine are kept */
  ref_delete(&m, 9);
  for (size_t cut = 1; cut < rec; cut += 13) {
    crash_image("torn", "torn2"); /* a fresh copy of the ten-record image */
    truncate_file("torn2", "wal.log", full - cut);
    omega_collection_t *c = must_open("torn2");
    expect_contents(c, &m);
    /* the torn bytes are cut off, and new writes follow the good records */
    assert_int_equal(file_size("torn2", "wal.log"), full - rec);
    upsert_one(c, NULL, 9, v + 9 * D);
    crash_image("torn2", "torn3");
    omega_collection_close(c);
    c = must_open("torn3");
    omega_collection_stats_t st;
    omega_collection_stats(c, &st);
    assert_int_equal(st.count, 10);
    omega_collection_close(c);
  }
  /* zeros after the last whole record (allocated, never written): a torn tail too; but
   * zeros with a valid record after them are damage */
  crash_image("torn", "torn4");
  char w[4200];
  path_of(w, sizeof w, "torn4", "wal.log");
  assert_int_equal(truncate(w, (off_t)(full + 3 * rec)), 0);
  omega_collection_t *z = must_open("torn4");
  omega_collection_stats_t zs;
  omega_collection_stats(z, &zs);
  assert_int_equal(zs.count, 10);
  assert_int_equal(file_size("torn4", "wal.log"), full);
  omega_collection_close(z);
  crash_image("torn", "torn5");
  path_of(w, sizeof w, "torn5", "wal.log");
  size_t wl;
  char *wb = tu_read_file(w, &wl), *wz = calloc(wl + 100, 1);
  memcpy(wz, wb, OMEGA_WAL_HEADER + 5 * rec);
  memcpy(wz + OMEGA_WAL_HEADER + 5 * rec + 100, wb + OMEGA_WAL_HEADER + 5 * rec, 5 * rec);
  tu_write_file(w, wz, wl + 100);
  free(wb);
  free(wz);
  assert_int_equal(open_at("torn5", &z), OMEGA_EFORMAT);
  /* a log cut inside its header: what it committed cannot be known, so it is refused */
  truncate_file("torn", "wal.log", 10);
  omega_collection_t *c = NULL;
  assert_int_equal(open_at("torn", &c), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "wal.log: too short for a log header"));
  ref_free(&m);
  free(v);
}

static void test_damaged_log(void **state) {
  (void)state;
  float *v = gen_uniform(20, D, 59);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_IP);
  make_ten("dmg-src", "dmg", &m, v);
  const size_t rec = 8 + 3 + 9 + D * 4;
  char a[4200], b[4200];
  /* a flipped byte anywhere in records 0..8 (length, checksum, payload): refused */
  for (size_t at = OMEGA_WAL_HEADER; at < OMEGA_WAL_HEADER + 9 * rec; at += 7) {
    path_of(a, sizeof a, "dmg", "wal.log");
    path_of(b, sizeof b, "dmg2", NULL);
    mkdir(b, 0755);
    path_of(b, sizeof b, "dmg2", "wal.log");
    copy_file(a, b);
    path_of(a, sizeof a, "dmg", "snapshot.omg");
    path_of(b, sizeof b, "dmg2", "snapshot.omg");
    copy_file(a, b);
    flip_byte("dmg2", "wal.log", at);
    omega_collection_t *c = NULL;
    int rc = open_at("dmg2", &c);
    if (rc != OMEGA_EFORMAT) {
      if (c)
        omega_collection_close(c);
      fail_msg("a flipped byte at %zu of the log: open gave %d, expected OMEGA_EFORMAT", at, rc);
    }
    const char *msg = omega_errmsg();
    if (!strstr(msg, "wal.log") || !strstr(msg, "corrupt"))
      fail_msg("unclear error: %s", msg);
  }
  /* a damaged header: refused */
  flip_byte("dmg", "wal.log", 2);
  omega_collection_t *c = NULL;
  assert_int_equal(open_at("dmg", &c), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "wal.log"));
  flip_byte("dmg", "wal.log", 2);
  c = must_open("dmg");
  expect_contents(c, &m);
  omega_collection_close(c);
  ref_free(&m);
  free(v);
}

/* A damaged first record of a big log is found quickly: the search for valid records after
 * it checks each record's shape before its checksum (a checksum at every byte offset whose
 * bytes look like a plausible length would take hours on a log of this size). */
static void test_damaged_big_log(void **state) {
  (void)state;
  const size_t dd = 256, n = 4000;
  char dir[4200];
  path_of(dir, sizeof dir, "big", NULL);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = dd;
  omega_collection_opts_t o = {.dir = dir};
  omega_collection_t *c;
  assert_int_equal(omega_collection_create("big", &p, &o, &c), 0);
  float *v = gen_uniform(n, dd, 97);
  upsert_rows(c, NULL, v, n, 0, 1);
  crash_image("big", "big-crash");
  omega_collection_close(c);
  const size_t rec = 8 + 3 + 9 + dd * 4;
  assert_int_equal(file_size("big-crash", "wal.log"), OMEGA_WAL_HEADER + n * rec);
  flip_byte("big-crash", "wal.log", OMEGA_WAL_HEADER + 100);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  omega_collection_t *r = NULL;
  assert_int_equal(open_at("big-crash", &r), OMEGA_EFORMAT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  printf("a damaged first record of a %zu-byte log found in %.3f s\n", OMEGA_WAL_HEADER + n * rec, s);
  assert_true(s < 5.0);
  /* every record damaged (a bad stretch of disk): refused, not taken for a torn tail and
   * opened empty; and found quickly, though no valid record follows the first bad one */
  for (size_t i = 1; i < n; i++)
    flip_byte_fast("big-crash", "wal.log", OMEGA_WAL_HEADER + i * rec + 100 + i % 900);
  flip_bytes_done("big-crash", "wal.log");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(open_at("big-crash", &r), OMEGA_EFORMAT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  printf("a log with every record damaged refused in %.3f s: %s\n", s, omega_errmsg());
  assert_true(s < 5.0);
  char want[64];
  snprintf(want, sizeof want, "corrupt record at byte %d with", OMEGA_WAL_HEADER);
  assert_non_null(strstr(omega_errmsg(), want));
  /* the first n-1 repaired, the flip in the last record stays: a torn tail, the rest loads */
  for (size_t i = 0; i < n - 1; i++)
    flip_byte_fast("big-crash", "wal.log", OMEGA_WAL_HEADER + i * rec + 100 + i % 900);
  flip_bytes_done("big-crash", "wal.log");
  r = must_open("big-crash");
  omega_collection_stats_t st;
  omega_collection_stats(r, &st);
  assert_int_equal(st.count, n - 1);
  omega_collection_close(r);
  free(v);
}

/* A log older than the snapshot (a crash between the snapshot's rename and the new log)
 * is ignored, not applied twice. */
static void test_stale_log(void **state) {
  (void)state;
  float *v = gen_uniform(20, D, 61);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  omega_collection_t *c = create_at("stale", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0);
  for (int64_t i = 0; i < 10; i++)
    upsert_one(c, &m, i, v + i * D);
  char a[4200], b[4200];
  path_of(a, sizeof a, "stale", "wal.log");
  path_of(b, sizeof b, "stale", "old-wal");
  copy_file(a, b);
  assert_int_equal(omega_collection_snapshot(c), 0);
  omega_collection_close(c);
  copy_file(b, a);
  unlink(b);
  c = must_open("stale");
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.slots, 10); /* nothing replayed */
  expect_contents(c, &m);
  omega_collection_close(c);
  ref_free(&m);
  free(v);
}

/* Every single flipped byte and every truncation of a snapshot is refused, with an error
 * naming the file. */
static void test_damaged_snapshot(void **state) {
  (void)state;
  static const omega_index_kind_t kinds[] = {OMEGA_INDEX_FLAT, OMEGA_INDEX_HNSW};
  float *v = gen_uniform(40, D, 67);
  for (int ki = 0; ki < 2; ki++) {
    omega_collection_t *c = create_at(ki ? "snap-h" : "snap-f", kinds[ki], OMEGA_METRIC_L2, 0, 0);
    upsert_rows(c, NULL, v, 12, 0, 1);
    omega_id_t s = {1, 0, "a-string-id", 11};
    assert_int_equal(omega_collection_upsert(c, &s, v + 30 * D, 1, 1), 0);
    delete_one(c, NULL, 3);
    char path[4200], bad[4200];
    path_of(path, sizeof path, "snap-file.omg", NULL);
    path_of(bad, sizeof bad, "snap-bad.omg", NULL);
    assert_int_equal(omega_collection_save_file(c, path), 0);
    omega_collection_close(c);
    size_t n;
    char *orig = tu_read_file(path, &n), *buf = malloc(n + 8);
    omega_collection_t *l;
    assert_int_equal(omega_collection_load_file(path, &l), 0);
    omega_collection_close(l);
    for (size_t at = 0; at < n; at++) {
      memcpy(buf, orig, n);
      buf[at] ^= (char)(1u << (at % 8));
      tu_write_file(bad, buf, n);
      int rc = omega_collection_load_file(bad, &l);
      if (rc == 0) {
        omega_collection_close(l);
        fail_msg("%s snapshot: a flipped bit in byte %zu of %zu was loaded silently", ki ? "hnsw" : "flat", at, n);
      }
      assert_int_equal(rc, OMEGA_EFORMAT);
      if (!strstr(omega_errmsg(), "snap-bad.omg"))
        fail_msg("error does not name the file: %s", omega_errmsg());
    }
    for (size_t len = 0; len < n; len += len < 80 ? 1 : 5) {
      tu_write_file(bad, orig, len);
      int rc = omega_collection_load_file(bad, &l);
      if (rc == 0) {
        omega_collection_close(l);
        fail_msg("a snapshot cut to %zu of %zu bytes was loaded", len, n);
      }
      if (len >= 64 && !strstr(omega_errmsg(), "snap-bad.omg"))
        fail_msg("error does not name the file: %s", omega_errmsg());
    }
    /* bytes appended after the end are refused too */
    memcpy(buf, orig, n);
    memcpy(buf + n, "garbage!", 8);
    tu_write_file(bad, buf, n + 8);
    assert_int_equal(omega_collection_load_file(bad, &l), OMEGA_EFORMAT);
    /* the specific messages */
    memcpy(buf, orig, n);
    buf[0] = 'X';
    tu_write_file(bad, buf, n);
    assert_int_equal(omega_collection_load_file(bad, &l), OMEGA_EFORMAT);
    assert_non_null(strstr(omega_errmsg(), "bad magic"));
    memcpy(buf, orig, n);
    buf[n - 40] ^= 1;
    tu_write_file(bad, buf, n);
    assert_int_equal(omega_collection_load_file(bad, &l), OMEGA_EFORMAT);
    assert_non_null(strstr(omega_errmsg(), "checksum"));
    tu_write_file(bad, orig, n - 10);
    assert_int_equal(omega_collection_load_file(bad, &l), OMEGA_EFORMAT);
    assert_non_null(strstr(omega_errmsg(), "truncated"));
    /* a persistent collection with a damaged snapshot does not open */
    char sp[4200];
    path_of(sp, sizeof sp, ki ? "snap-h" : "snap-f", "snapshot.omg");
    size_t sn;
    char *sb = tu_read_file(sp, &sn);
    sb[sn / 2] ^= 4;
    tu_write_file(sp, sb, sn);
    free(sb);
    omega_collection_t *o;
    assert_int_equal(open_at(ki ? "snap-h" : "snap-f", &o), OMEGA_EFORMAT);
    assert_non_null(strstr(omega_errmsg(), "snapshot.omg"));
    free(orig);
    free(buf);
  }
  free(v);
  omega_collection_t *l;
  assert_true(omega_collection_load_file("/nonexistent/x.omg", &l) != 0);
}

/* ---- crafted snapshots: well-checksummed files with a bad structure ---- */

typedef struct {
  uint32_t tag;
  size_t at, len; /* the section header's offset, the payload's length */
} sect_t;

static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* The snapshot header's fixed bytes before the name: format 1 or 2. */
static size_t snap_fixed(const unsigned char *b) { return rd32(b + 8) == 1 ? 60 : 92; }

static size_t split_sections(const unsigned char *b, size_t n, size_t *hdr, sect_t *out, size_t max) {
  *hdr = snap_fixed(b) + b[30] + 4;
  size_t k = 0;
  for (size_t p = *hdr; p + 12 <= n && k < max;) {
    size_t len = (size_t)rd32(b + p + 4) | (size_t)rd32(b + p + 8) << 32;
    out[k++] = (sect_t){rd32(b + p), p, len};
    p += 12 + len + 4;
  }
  return k;
}

#define TAGV(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* The header, then the sections named by tag (in that order, repeats allowed), every
 * checksum recomputed. */
static unsigned char *assemble(const unsigned char *b, size_t hdr, const sect_t *ss, size_t ns, const uint32_t *tags,
                               size_t nt, size_t *out_len) {
  size_t total = hdr;
  for (size_t t = 0; t < nt; t++)
    for (size_t i = 0; i < ns; i++)
      if (ss[i].tag == tags[t])
        total += 16 + ss[i].len;
  unsigned char *o = malloc(total), *p = o;
  memcpy(p, b, hdr);
  p += hdr;
  for (size_t t = 0; t < nt; t++)
    for (size_t i = 0; i < ns; i++)
      if (ss[i].tag == tags[t]) {
        memcpy(p, b + ss[i].at, 12 + ss[i].len);
        wr32(p + 12 + ss[i].len, (uint32_t)crc32(crc32(0L, Z_NULL, 0), p + 12, (uInt)ss[i].len));
        p += 16 + ss[i].len;
        break;
      }
  wr32(o + hdr - 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), o, (uInt)(hdr - 4)));
  *out_len = (size_t)(p - o);
  return o;
}

/* Load bytes as a snapshot: expect success or OMEGA_EFORMAT naming the file. */
static int load_bytes(const unsigned char *b, size_t n) {
  char path[4200];
  path_of(path, sizeof path, "crafted.omg", NULL);
  tu_write_file(path, b, n);
  omega_collection_t *c;
  int rc = omega_collection_load_file(path, &c);
  if (rc == 0) {
    omega_collection_close(c);
    return 0;
  }
  if (rc != OMEGA_EFORMAT || !strstr(omega_errmsg(), "crafted.omg"))
    fail_msg("crafted snapshot: %d (%s)", rc, omega_errmsg());
  return rc;
}

static void expect_refused(const unsigned char *b, size_t n, const char *what, const char *msg) {
  if (load_bytes(b, n) == 0)
    fail_msg("crafted snapshot (%s) was loaded", what);
  if (msg && !strstr(omega_errmsg(), msg))
    fail_msg("crafted snapshot (%s): unexpected error: %s", what, omega_errmsg());
}

static void test_snapshot_structure(void **state) {
  (void)state;
  const uint32_t V = TAGV('V', 'E', 'C', 'S'), Dd = TAGV('D', 'E', 'A', 'D'), K = TAGV('K', 'E', 'Y', 'S'),
                 H = TAGV('H', 'N', 'S', 'W'), E = TAGV('E', 'N', 'D', '!');
  float *v = gen_uniform(60, D, 89);
  char path[4200];
  path_of(path, sizeof path, "structure.omg", NULL);
  /* ---- flat ---- */
  omega_collection_t *c = new_collection(D, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  upsert_rows(c, NULL, v, 10, 0, 1);
  assert_int_equal(omega_collection_save_file(c, path), 0);
  omega_collection_close(c);
  size_t n, hdr, len;
  unsigned char *b = (unsigned char *)tu_read_file(path, &n), *o;
  sect_t ss[8];
  size_t ns = split_sections(b, n, &hdr, ss, 8);
  assert_int_equal(ns, 4);
  const uint32_t good[] = {V, Dd, K, E};
  o = assemble(b, hdr, ss, ns, good, 4, &len);
  assert_int_equal(len, n);
  assert_int_equal(load_bytes(o, len), 0); /* the helper rebuilds a good file */
  free(o);
  static const struct {
    uint32_t t[6];
    size_t nt;
    const char *what;
  } orders[] = {
      {{V, V, Dd, K, E}, 5, "vectors twice"},   {{V, Dd, Dd, K, E}, 5, "tombstones twice"},
      {{V, Dd, K, K, E}, 5, "ids twice"},       {{V, K, E}, 3, "no tombstones"},
      {{Dd, V, K, E}, 4, "tombstones first"},   {{V, Dd, K}, 3, "no end"},
      {{V, Dd, K, E, E}, 5, "two ends"},        {{E}, 1, "nothing"},
  };
  for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
    o = assemble(b, hdr, ss, ns, orders[i].t, orders[i].nt, &len);
    expect_refused(o, len, orders[i].what, NULL);
    free(o);
  }
  /* a name longer than the 127 bytes a name may have (the header checksum is right) */
  {
    const size_t fx = snap_fixed(b), nl = 200, hl = fx + nl + 4;
    unsigned char *x = malloc(n - hdr + hl);
    memcpy(x, b, fx);
    x[30] = (unsigned char)nl;
    memset(x + fx, 'n', nl);
    wr32(x + fx + nl, (uint32_t)crc32(crc32(0L, Z_NULL, 0), x, (uInt)(fx + nl)));
    memcpy(x + hl, b + hdr, n - hdr);
    expect_refused(x, n - hdr + hl, "a 200-byte name", "name");
    free(x);
  }
  /* ids: one twice, an empty string, a short integer; a NaN vector */
  for (int which = 0; which < 4; which++) {
    unsigned char *x = malloc(n);
    memcpy(x, b, n);
    const size_t keys = ss[2].at + 12, vecs = ss[0].at + 12;
    if (which == 0) {
      memcpy(x + keys + 2 + 9 + 2, x + keys + 2, 9); /* slot 1 gets slot 0's id */
    } else if (which == 1) {
      x[keys] = 1; /* slot 0: a key of one byte */
      x[keys + 2] = 's';
    } else if (which == 2) {
      x[keys] = 1; /* an integer key of one byte */
    } else {
      float nan = NAN;
      memcpy(x + vecs + 4 * D, &nan, 4);
    }
    sect_t xs[8];
    size_t xh, xn = split_sections(x, n, &xh, xs, 8);
    unsigned char *y = assemble(x, xh, xs, xn, good, 4, &len);
    static const char *const whats[] = {"an id twice", "an empty string id", "a short integer id", "a NaN"};
    expect_refused(y, len, whats[which], NULL);
    free(y);
    free(x);
  }
  free(b);

  /* ---- hnsw: graph sections that pass their checksum but would crash a search ---- */
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = D;
  p.kind = OMEGA_INDEX_HNSW;
  p.m = 4;
  p.ef_construction = 20;
  assert_int_equal(omega_collection_create("g", &p, NULL, &c), 0);
  upsert_rows(c, NULL, v, 60, 0, 1);
  assert_int_equal(omega_collection_save_file(c, path), 0);
  omega_collection_close(c);
  b = (unsigned char *)tu_read_file(path, &n);
  ns = split_sections(b, n, &hdr, ss, 8);
  assert_int_equal(ns, 5);
  assert_int_equal(ss[3].tag, H);
  const size_t gn = 60, M0 = 8, M = 4, g = ss[3].at + 12, lv = g + 16, l0 = lv + gn, up = l0 + gn * (1 + M0) * 4;
  const uint32_t entry = rd32(b + g + 8), top = rd32(b + g + 12);
  assert_true(top >= 1 && top < 31);
  assert_int_equal(b[lv + entry], top);
  /* a node of level >= 1 with a level-1 link, and a node of level 0 */
  size_t upper_at = 0, zero = gn;
  for (size_t i = 0, off = up; i < gn; i++) {
    if (b[lv + i] == 0 && zero == gn)
      zero = i;
    if (b[lv + i] >= 1 && !upper_at && rd32(b + off) >= 1)
      upper_at = off;
    off += (size_t)b[lv + i] * (1 + M) * 4;
  }
  assert_true(upper_at && zero < gn);
  const uint32_t ghood[] = {V, Dd, K, H, E};
  for (int which = 0; which < 8; which++) {
    unsigned char *x = malloc(n);
    memcpy(x, b, n);
    static const char *const whats[] = {"entry below the top level", "a level-1 link to a level-0 node",
                                        "a neighbour out of range", "a count over capacity",
                                        "a negative count", "M unlike the header",
                                        "the graph before the ids", "no graph"};
    uint32_t order[5] = {V, Dd, K, H, E};
    size_t no = 5;
    if (which == 0)
      x[lv + entry] = 0;
    else if (which == 1)
      wr32(x + upper_at + 4, (uint32_t)zero);
    else if (which == 2)
      wr32(x + l0 + 4, (uint32_t)gn + 3);
    else if (which == 3)
      wr32(x + l0, (uint32_t)M0 + 1);
    else if (which == 4)
      wr32(x + l0 + (1 + M0) * 4, 0xFFFFFFFFu);
    else if (which == 5)
      wr32(x + g, 5);
    else if (which == 6) {
      order[2] = H;
      order[3] = K;
    } else {
      order[3] = E;
      no = 4;
    }
    sect_t xs[8];
    size_t xh, xn = split_sections(x, n, &xh, xs, 8);
    unsigned char *y = assemble(x, xh, xs, xn, order, no, &len);
    expect_refused(y, len, whats[which], NULL);
    free(y);
    free(x);
  }
  o = assemble(b, hdr, ss, ns, ghood, 5, &len);
  assert_int_equal(load_bytes(o, len), 0);
  free(o);
  free(b);
  free(v);
}

static void test_checkpoint(void **state) {
  (void)state;
  omega_collection_t *c = create_at("ckpt", OMEGA_INDEX_HNSW, OMEGA_METRIC_L2, 0, 4096);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  float *v = gen_uniform(400, D, 71);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  const unsigned long long s0 = st.snapshots;
  size_t max_wal = 0;
  for (int64_t i = 0; i < 400; i++) {
    upsert_one(c, &m, i, v + i * D);
    omega_collection_stats(c, &st);
    if (st.wal_bytes > max_wal)
      max_wal = st.wal_bytes;
  }
  omega_collection_stats(c, &st);
  /* each record is 60 bytes: 400 of them pass 4096 bytes about five times */
  assert_true(st.snapshots >= s0 + 5);
  assert_true(max_wal <= 4096 + 100);
  assert_true(st.wal_bytes <= 4096 + 100);
  crash_image("ckpt", "ckpt-crash");
  omega_collection_close(c);
  c = must_open("ckpt-crash");
  expect_contents(c, &m);
  omega_collection_close(c);
  c = must_open("ckpt");
  expect_contents(c, &m);
  /* an explicit snapshot empties the log */
  upsert_one(c, &m, 1000, v);
  assert_int_equal(omega_collection_snapshot(c), 0);
  omega_collection_stats(c, &st);
  assert_int_equal(st.wal_bytes, OMEGA_WAL_HEADER);
  assert_true(st.last_snapshot_ms >= 0);
  omega_collection_close(c);
  ref_free(&m);
  free(v);
}

/* fsync every N ms in the background. */
static void test_background_fsync(void **state) {
  (void)state;
  char dir[4200];
  path_of(dir, sizeof dir, "bg", NULL);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = D;
  omega_collection_opts_t o = {.dir = dir, .fsync_interval_ms = 5};
  omega_collection_t *c;
  assert_int_equal(omega_collection_create("bg", &p, &o, &c), 0);
  float *v = gen_uniform(50, D, 73);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  for (int64_t i = 0; i < 50; i++) {
    upsert_one(c, &m, i, v + i * D);
    if (i % 10 == 0)
      usleep(7000);
  }
  crash_image("bg", "bg-crash");
  omega_collection_close(c);
  c = must_open("bg-crash");
  expect_contents(c, &m);
  omega_collection_close(c);
  ref_free(&m);
  free(v);
}

static void test_save_load_drop(void **state) {
  (void)state;
  omega_collection_t *c = new_collection(D, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  float *v = gen_uniform(300, D, 79);
  upsert_rows(c, &m, v, 300, -150, 1);
  for (int64_t i = -150; i < 150; i += 4)
    delete_one(c, &m, i);
  char path[4200];
  path_of(path, sizeof path, "one.omg", NULL);
  assert_int_equal(omega_collection_save_file(c, path), 0);
  omega_collection_t *l;
  assert_int_equal(omega_collection_load_file(path, &l), 0);
  expect_contents(l, &m);
  omega_collection_stats_t a, b;
  omega_collection_stats(c, &a);
  omega_collection_stats(l, &b);
  assert_int_equal(a.slots, b.slots);
  assert_int_equal(a.deleted, b.deleted);
  assert_false(b.persistent);
  assert_int_equal(b.wal_bytes, 0);
  /* a loaded file takes writes in memory */
  upsert_one(l, &m, 999, v);
  expect_contents(l, &m);
  omega_collection_close(l);
  omega_collection_close(c);
  /* a log is not a snapshot */
  omega_collection_t *p = create_at("notsnap", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 0, 0);
  char wal[4200];
  path_of(wal, sizeof wal, "notsnap", "wal.log");
  assert_int_equal(omega_collection_load_file(wal, &l), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "magic"));
  /* drop removes the folder */
  char dir[4200];
  path_of(dir, sizeof dir, "notsnap", NULL);
  assert_int_equal(omega_collection_drop(p), 0);
  struct stat st;
  assert_int_equal(stat(dir, &st), -1);
  assert_int_equal(errno, ENOENT);
  /* an in-memory drop just frees */
  assert_int_equal(omega_collection_drop(new_collection(D, OMEGA_METRIC_L2, OMEGA_INDEX_HNSW)), 0);
  /* opening a folder without a collection fails */
  omega_collection_t *o;
  assert_true(open_at("nothing-here", &o) != 0);
  /* a one-file index (tied to no log) as a folder's snapshot opens as a collection */
  char fdir[4200], fsnap[4200];
  path_of(fdir, sizeof fdir, "from-file", NULL);
  path_of(fsnap, sizeof fsnap, "from-file", "snapshot.omg");
  mkdir(fdir, 0755);
  copy_file(path, fsnap);
  ref_delete(&m, 999); /* written after the file was saved */
  o = must_open("from-file");
  upsert_one(o, &m, 1000, v);
  omega_collection_close(o);
  o = must_open("from-file");
  expect_contents(o, &m);
  omega_collection_close(o);
  ref_free(&m);
  free(v);
}

/* ---- lost writes: every way a log can lose acknowledged ones is refused ---- */

#define REC (8 + 3 + 9 + D * 4) /* one single-vector upsert of an integer id */

/* A crash image `img` of a live collection (fsync always) whose snapshot (generation 2)
 * holds ids 0..base-1 and whose log holds n more acknowledged single-vector writes. */
static void make_acked(const char *sub, const char *img, size_t base, size_t n, ref_model_t *m, const float *v) {
  omega_collection_t *c = create_at(sub, OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0);
  for (size_t i = 0; i < base + n; i++) {
    if (i == base)
      assert_int_equal(omega_collection_snapshot(c), 0);
    upsert_one(c, m, (int64_t)i, v + i * D);
  }
  crash_image(sub, img);
  omega_collection_close(c);
}

/* Open sub (accept_loss as given), with what it logs captured: the open's code; *log
 * (malloc'ed) holds the lines, also echoed. */
static int open_logged(const char *sub, int accept, omega_collection_t **c, char **log) {
  char dir[4200], lp[4200];
  path_of(dir, sizeof dir, sub, NULL);
  path_of(lp, sizeof lp, "captured.log", NULL);
  fflush(stderr);
  const int saved = dup(2), fd = open(lp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
  omega_collection_opts_t o = {.fsync_always = 1, .accept_loss = accept};
  *c = NULL;
  const int rc = omega_collection_open(dir, &o, c);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  size_t n;
  *log = tu_read_file(lp, &n);
  fputs(*log, stdout);
  return rc;
}

/* The open of sub is refused with OMEGA_EFORMAT, a message holding each of want[] (NULL
 * ended), and every file of the folder as it was. */
static void expect_refused_open(const char *sub, const char *const *want) {
  char p[4200];
  size_t n[2] = {0, 0};
  char *before[2];
  static const char *const files[] = {"snapshot.omg", "wal.log"};
  for (int i = 0; i < 2; i++) {
    path_of(p, sizeof p, sub, files[i]);
    before[i] = (access(p, F_OK) == 0) ? tu_read_file(p, &n[i]) : NULL;
  }
  omega_collection_t *c = NULL;
  int rc = open_at(sub, &c);
  if (rc == 0) {
    omega_collection_close(c);
    fail_msg("%s: opened, though acknowledged writes are lost", sub);
  }
  for (size_t i = 0; want[i]; i++)
    if (!strstr(omega_errmsg(), want[i]))
      fail_msg("%s: the refusal does not say \"%s\": %s", sub, want[i], omega_errmsg());
  printf("%s: refused: %s\n", sub, omega_errmsg());
  for (int i = 0; i < 2; i++) {
    path_of(p, sizeof p, sub, files[i]);
    size_t m = 0;
    char *after = (access(p, F_OK) == 0) ? tu_read_file(p, &m) : NULL;
    if (!before[i] != !after || m != n[i] || (after && memcmp(before[i], after, m) != 0))
      fail_msg("%s: the refused open changed %s", sub, files[i]);
    free(before[i]);
    free(after);
  }
}

static void expect_count(const char *sub, size_t want) {
  omega_collection_t *c = must_open(sub);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  if (st.count != want)
    fail_msg("%s: %zu vectors, expected %zu", sub, st.count, want);
  omega_collection_close(c);
}

/* A log cut anywhere inside what its header says was acknowledged: to half (the probe's
 * case), at a record boundary (one whole acknowledged write gone), inside the last record,
 * down to its header. */
static void test_truncated_log(void **state) {
  (void)state;
  float *v = gen_uniform(60, D, 101);
  make_acked("cut-src", "cut", 10, 40, NULL, v);
  const size_t full = OMEGA_WAL_HEADER + 40 * REC;
  assert_int_equal(file_size("cut", "wal.log"), full);
  static const struct {
    size_t len;
    const char *lost;
  } cuts[] = {{full / 2, "21 acknowledged records"}, {full - REC, "1 acknowledged records"},
              {full - 5, "1 acknowledged records"}, {OMEGA_WAL_HEADER, "40 acknowledged records"}};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    crash_image("cut", "cut2");
    truncate_file("cut2", "wal.log", cuts[i].len);
    const char *const want[] = {"wal.log", "cut short", cuts[i].lost, NULL};
    expect_refused_open("cut2", want);
  }
  /* a damaged record inside the committed part: refused, even as the last one */
  crash_image("cut", "cut3");
  flip_byte("cut3", "wal.log", full - 3);
  const char *const want[] = {"wal.log", "corrupt record at byte", "inside the", "1 acknowledged records", NULL};
  expect_refused_open("cut3", want);
  expect_count("cut", 50);
  free(v);
}

/* A deleted or emptied log: the writes after the snapshot are gone, their count unknown. */
static void test_missing_log(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 103);
  make_acked("gone-src", "gone", 5, 20, NULL, v);
  char p[4200];
  path_of(p, sizeof p, "gone", "wal.log");
  assert_int_equal(unlink(p), 0);
  const char *const missing[] = {"wal.log is missing", "not known", NULL};
  expect_refused_open("gone", missing);
  crash_image("gone-src", "empty");
  truncate_file("empty", "wal.log", 0);
  const char *const empty[] = {"wal.log: empty", NULL};
  expect_refused_open("empty", empty);
  /* also when nothing was ever written to it */
  omega_collection_close(create_at("gone-new", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0));
  path_of(p, sizeof p, "gone-new", "wal.log");
  assert_int_equal(unlink(p), 0);
  expect_refused_open("gone-new", missing);
  free(v);
}

/* Flipped bits in the log's header: one in the generation, its collection id or anything
 * else the checksums cover is refused (the probe lowered generation 2 to 0 and the log was
 * skipped as old); one in a commit slot spoils that slot only, and the other one still
 * serves (everything is replayed). */
static void test_log_header_flips(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 107);
  make_acked("hdr-src", "hdr", 5, 10, NULL, v);
  char p[4200];
  path_of(p, sizeof p, "hdr", "wal.log");
  size_t n;
  unsigned char *b = (unsigned char *)tu_read_file(p, &n);
  assert_int_equal(b[16], 2); /* generation 2 */
  for (size_t bit = 0; bit < 8 * OMEGA_WAL_HEADER; bit++) {
    crash_image("hdr", "hdr2");
    path_of(p, sizeof p, "hdr2", "wal.log");
    b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    if (bit == 16 * 8 + 1)
      assert_int_equal(b[16], 0); /* the probe's 2 -> 0 */
    tu_write_file(p, b, n);
    b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    omega_collection_t *c = NULL;
    int rc = open_at("hdr2", &c);
    if (bit < 8 * 32) {
      if (rc != OMEGA_EFORMAT || !strstr(omega_errmsg(), "wal.log"))
        fail_msg("bit %zu of the log header flipped: open gave %d (%s)", bit, rc, rc ? omega_errmsg() : "opened");
    } else {
      if (rc)
        fail_msg("bit %zu (a commit slot) flipped: %s", bit, omega_errmsg());
      omega_collection_stats_t st;
      omega_collection_stats(c, &st);
      assert_int_equal(st.count, 15);
      omega_collection_close(c);
    }
  }
  free(b);
  free(v);
}

/* Rewrite a log's header (checksums right) with another generation or collection id. */
static void forge_header(const char *sub, int64_t dgen, uint64_t uid_xor) {
  char p[4200];
  path_of(p, sizeof p, sub, "wal.log");
  size_t n;
  unsigned char *b = (unsigned char *)tu_read_file(p, &n), h[OMEGA_WAL_HEADER];
  uint64_t gen = 0, uid = 0;
  for (int i = 7; i >= 0; i--) {
    gen = gen << 8 | b[16 + i];
    uid = uid << 8 | b[24 + i];
  }
  omega__wal_header(h, gen + (uint64_t)dgen, uid ^ uid_xor);
  omega__wal_slot(h + 32, 0, gen + (uint64_t)dgen, uid ^ uid_xor, n, 0);
  memcpy(b, h, sizeof h);
  tu_write_file(p, b, n);
  free(b);
}

/* A log that is not the one following the snapshot: another collection's (the same
 * generation), an older or newer generation of this one, the absorbed log with another
 * length. */
static void test_foreign_log(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 109);
  make_acked("fgn-a", "fgn", 5, 10, NULL, v);
  make_acked("fgn-b", "fgn-b2", 5, 10, NULL, v);
  char a[4200], b[4200];
  path_of(a, sizeof a, "fgn-b2", "wal.log");
  path_of(b, sizeof b, "fgn", "wal.log");
  copy_file(a, b);
  const char *const other[] = {"wal.log", "another collection", NULL};
  expect_refused_open("fgn", other);
  static const int64_t dgens[] = {-1, 1, -2};
  for (size_t i = 0; i < 3; i++) {
    crash_image("fgn-b2", "fgn2");
    forge_header("fgn2", dgens[i], 0);
    const char *const want[] = {"wal.log: log of generation", "neither the one that follows", NULL};
    expect_refused_open("fgn2", want);
  }
  crash_image("fgn-b2", "fgn3");
  forge_header("fgn3", 0, 1);
  expect_refused_open("fgn3", other);
  /* the log the snapshot absorbed, but not as long as the snapshot says */
  omega_collection_t *c = create_at("fgn-old", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0);
  for (int64_t i = 0; i < 5; i++)
    upsert_one(c, NULL, i, v + i * D);
  path_of(a, sizeof a, "fgn-old", "wal.log");
  path_of(b, sizeof b, "old.log", NULL);
  copy_file(a, b);
  assert_int_equal(omega_collection_snapshot(c), 0);
  omega_collection_close(c);
  copy_file(b, a);
  truncate_file("fgn-old", "wal.log", OMEGA_WAL_HEADER + 4 * REC);
  const char *const shorter[] = {"neither the one that follows", "nor the one it absorbed", NULL};
  expect_refused_open("fgn-old", shorter);
  free(v);
}

/* A deleted snapshot with its log still there: refused, naming both; never a fresh start. */
static void test_missing_snapshot(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 113);
  make_acked("nosnap-src", "nosnap", 5, 10, NULL, v);
  char p[4200];
  path_of(p, sizeof p, "nosnap", "snapshot.omg");
  assert_int_equal(unlink(p), 0);
  omega_collection_t *c = NULL;
  assert_int_equal(open_at("nosnap", &c), OMEGA_ENOENT);
  assert_non_null(strstr(omega_errmsg(), "snapshot.omg is missing"));
  assert_non_null(strstr(omega_errmsg(), "wal.log ("));
  /* accepting a loss does not cover it: the log alone is no collection */
  char dir[4200];
  path_of(dir, sizeof dir, "nosnap", NULL);
  omega_collection_opts_t o = {.accept_loss = 1};
  assert_int_equal(omega_collection_open(dir, &o, &c), OMEGA_ENOENT);
  free(v);
}

/* Sorted names of a folder's entries, joined by spaces. */
static void list_dir(const char *sub, char *out, size_t cap) {
  char dir[4200];
  path_of(dir, sizeof dir, sub, NULL);
  DIR *d = opendir(dir);
  assert_non_null(d);
  char names[16][256];
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 16;)
    if (e->d_name[0] != '.')
      snprintf(names[n++], 256, "%s", e->d_name);
  closedir(d);
  qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", names[i]);
}

/* A create in a folder holding a collection's files (a log whose snapshot was deleted, a
 * snapshot alone, a whole collection) is refused and leaves every byte as it was; debris
 * of a create cut short is no collection and is written over. */
static void test_create_over_files(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 127);
  make_acked("over-src", "over", 5, 10, NULL, v);
  char p[4200];
  path_of(p, sizeof p, "over", "snapshot.omg");
  assert_int_equal(unlink(p), 0);
  for (int which = 0; which < 3; which++) {
    if (which == 1) { /* the snapshot alone */
      crash_image("over-src", "over");
      path_of(p, sizeof p, "over", "wal.log");
      assert_int_equal(unlink(p), 0);
    } else if (which == 2) {
      crash_image("over-src", "over");
    }
    char before[512], after[512], wal[4200], dir[4200];
    list_dir("over", before, sizeof before);
    path_of(wal, sizeof wal, "over", which == 1 ? "snapshot.omg" : "wal.log");
    size_t n0, n1;
    char *b0 = tu_read_file(wal, &n0);
    path_of(dir, sizeof dir, "over", NULL);
    omega_index_params_t prm;
    omega_index_params_init(&prm);
    prm.dim = D;
    omega_collection_opts_t o = {.dir = dir, .fsync_always = 1};
    omega_collection_t *c = NULL;
    assert_int_equal(omega_collection_create("over", &prm, &o, &c), OMEGA_EINVAL);
    assert_non_null(strstr(omega_errmsg(), "already holds collection files"));
    list_dir("over", after, sizeof after);
    assert_string_equal(before, after);
    char *b1 = tu_read_file(wal, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(b0, b1, n0);
    free(b0);
    free(b1);
  }
  /* temp files only (a create cut short): a create goes ahead */
  char dir[4200], t[4200];
  path_of(dir, sizeof dir, "debris", NULL);
  mkdir(dir, 0755);
  path_of(t, sizeof t, "debris", "wal.log.tmp");
  tu_write_file(t, "junk", 4);
  path_of(t, sizeof t, "debris", "snapshot.omg.tmp");
  tu_write_file(t, "junk", 4);
  omega_collection_close(create_at("debris", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0));
  char names[512];
  list_dir("debris", names, sizeof names);
  assert_string_equal(names, "snapshot.omg wal.log");
  expect_count("debris", 0);
  free(v);
}

/* The crash windows of a checkpoint's two renames open as they should: after the snapshot's
 * rename the old log is still wal.log (exactly what the snapshot absorbed: ignored, not
 * replayed twice) beside the new one as wal.log.tmp; at a collection's creation there is no
 * old log, only wal.log.tmp. */
static void test_crash_between_renames(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 131);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  omega_collection_t *c = create_at("win", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0);
  for (int64_t i = 0; i < 10; i++)
    upsert_one(c, &m, i, v + i * D);
  char w[4200], old[4200], nl[4200];
  path_of(w, sizeof w, "win", "wal.log");
  path_of(old, sizeof old, "win-old.log", NULL);
  path_of(nl, sizeof nl, "win", "wal.log.tmp");
  copy_file(w, old);
  assert_int_equal(omega_collection_snapshot(c), 0);
  copy_file(w, nl); /* the new log, not yet renamed */
  copy_file(old, w);
  crash_image("win", "win-img");
  path_of(w, sizeof w, "win-img", "wal.log.tmp");
  copy_file(nl, w);
  omega_collection_close(c);
  char *log;
  assert_int_equal(open_logged("win-img", 0, &c, &log), 0);
  assert_non_null(strstr(log, "the log the snapshot absorbed"));
  free(log);
  expect_contents(c, &m);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.slots, 10); /* nothing replayed twice */
  upsert_one(c, &m, 10, v + 10 * D);
  omega_collection_close(c);
  char names[512];
  list_dir("win-img", names, sizeof names);
  assert_string_equal(names, "snapshot.omg wal.log");
  c = must_open("win-img");
  expect_contents(c, &m);
  omega_collection_close(c);
  /* creation: snapshot.omg, and the first log still wal.log.tmp */
  omega_collection_close(create_at("win-new", OMEGA_INDEX_FLAT, OMEGA_METRIC_L2, 1, 0));
  path_of(w, sizeof w, "win-new", "wal.log");
  path_of(nl, sizeof nl, "win-new", "wal.log.tmp");
  assert_int_equal(rename(w, nl), 0);
  expect_count("win-new", 0);
  list_dir("win-new", names, sizeof names);
  assert_string_equal(names, "snapshot.omg wal.log");
  /* but a wal.log.tmp that is not that fresh log does not stand in for a missing wal.log */
  c = must_open("win-new");
  upsert_one(c, NULL, 1, v);
  omega_collection_close(c); /* checkpoint: generation 2 */
  crash_image("win-new", "win-new2");
  path_of(w, sizeof w, "win-new2", "wal.log");
  path_of(nl, sizeof nl, "win-new2", "wal.log.tmp");
  c = must_open("win-new2");
  upsert_one(c, NULL, 2, v);
  crash_image("win-new2", "win-new3");
  omega_collection_close(c);
  path_of(w, sizeof w, "win-new3", "wal.log");
  path_of(nl, sizeof nl, "win-new3", "wal.log.tmp");
  assert_int_equal(rename(w, nl), 0); /* a log with a record in it */
  const char *const missing[] = {"wal.log is missing", NULL};
  expect_refused_open("win-new3", missing);
  ref_free(&m);
  free(v);
}

/* A torn tail (a write cut short, after the committed length) is cut, and said so with its
 * byte count. */
static void test_torn_tail_logged(void **state) {
  (void)state;
  float *v = gen_uniform(20, D, 137);
  make_ten("tl-src", "tl", NULL, v);
  truncate_file("tl", "wal.log", OMEGA_WAL_HEADER + 10 * REC - 5);
  omega_collection_t *c;
  char *log, want[128];
  assert_int_equal(open_logged("tl", 0, &c, &log), 0);
  snprintf(want, sizeof want, "wal.log: cut a torn tail of %d bytes after byte %d", REC - 5, OMEGA_WAL_HEADER + 9 * REC);
  if (!strstr(log, want))
    fail_msg("the torn tail is not logged as \"%s\": %s", want, log);
  free(log);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 9);
  omega_collection_close(c);
  free(v);
}

/* accept_loss: the open goes on with what survives, says how many acknowledged records were
 * lost (or that the count is unknown), and leaves a consistent snapshot and log that open
 * without it. */
static void test_accept_loss(void **state) {
  (void)state;
  float *v = gen_uniform(60, D, 139);
  make_acked("acc-src", "acc", 10, 40, NULL, v);
  static const char *const subs[] = {"acc-half", "acc-gone", "acc-flip", "acc-foreign"};
  static const char *const says[] = {"21 acknowledged records lost", "an unknown number of acknowledged records lost",
                                     "an unknown number of", "an unknown number of"};
  static const size_t left[] = {10 + 19, 10, 10, 10};
  for (size_t i = 0; i < 4; i++) {
    crash_image("acc", subs[i]);
    char p[4200];
    path_of(p, sizeof p, subs[i], "wal.log");
    if (i == 0)
      truncate_file(subs[i], "wal.log", (OMEGA_WAL_HEADER + 40 * REC) / 2);
    else if (i == 1)
      assert_int_equal(unlink(p), 0);
    else if (i == 2)
      flip_byte(subs[i], "wal.log", 17);
    else
      forge_header(subs[i], -1, 0);
    omega_collection_t *c;
    char *log;
    if (open_logged(subs[i], 1, &c, &log))
      fail_msg("%s: accept_loss did not open it: %s", subs[i], omega_errmsg());
    if (!strstr(log, "accepting the loss") || !strstr(log, says[i]))
      fail_msg("%s: the loss is not reported as \"%s\": %s", subs[i], says[i], log);
    free(log);
    omega_collection_close(c);
    expect_count(subs[i], left[i]);
  }
  free(v);
}

/* Rewrite a format 2 snapshot and log as format 1 (what a previous release wrote). */
static void to_format1(const char *sub) {
  char p[4200];
  size_t n;
  path_of(p, sizeof p, sub, "snapshot.omg");
  unsigned char *b = (unsigned char *)tu_read_file(p, &n);
  const size_t name_len = b[30], h2 = 92 + name_len, h1 = 60 + name_len;
  unsigned char *o = malloc(n);
  memcpy(o, b, 60);
  memcpy(o + 60, b + 92, name_len);
  wr32(o + 8, 1);
  wr32(o + h1, (uint32_t)crc32(crc32(0L, Z_NULL, 0), o, (uInt)h1));
  memcpy(o + h1 + 4, b + h2 + 4, n - h2 - 4);
  tu_write_file(p, o, n - (h2 - h1));
  free(b);
  path_of(p, sizeof p, sub, "wal.log");
  b = (unsigned char *)tu_read_file(p, &n);
  memset(o, 0, OMEGA_WAL_HEADER_V1);
  memcpy(o, b, 8);
  wr32(o + 8, 1);
  memcpy(o + 16, b + 16, 8);
  memcpy(o + OMEGA_WAL_HEADER_V1, b + OMEGA_WAL_HEADER, n - OMEGA_WAL_HEADER);
  tu_write_file(p, o, n - (OMEGA_WAL_HEADER - OMEGA_WAL_HEADER_V1));
  free(b);
  free(o);
}

/* Format 1 files (a snapshot and the log after it) still open, everything in them, and are
 * rewritten as format 2 at once; a format 1 log older than its snapshot is ignored as
 * format 1 did. */
static void test_format1_opens(void **state) {
  (void)state;
  float *v = gen_uniform(30, D, 149);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  make_acked("v1-src", "v1", 10, 10, &m, v);
  crash_image("v1", "v1-old");
  to_format1("v1");
  char p[4200];
  size_t n;
  path_of(p, sizeof p, "v1", "snapshot.omg");
  omega_collection_t *c;
  assert_int_equal(omega_collection_load_file(p, &c), 0); /* the converter makes a valid file */
  omega_collection_close(c);
  c = must_open("v1");
  expect_contents(c, &m);
  omega_collection_close(c);
  static const char *const files[] = {"snapshot.omg", "wal.log"};
  for (int i = 0; i < 2; i++) {
    path_of(p, sizeof p, "v1", files[i]);
    unsigned char *b = (unsigned char *)tu_read_file(p, &n);
    assert_int_equal(b[8], 2);
    free(b);
  }
  c = must_open("v1");
  expect_contents(c, &m);
  omega_collection_close(c);
  /* format 1: a log of an older generation was absorbed by the snapshot */
  to_format1("v1-old");
  path_of(p, sizeof p, "v1-old", "wal.log");
  unsigned char *b = (unsigned char *)tu_read_file(p, &n);
  b[16] = 1;
  tu_write_file(p, b, n);
  free(b);
  expect_count("v1-old", 10);
  ref_free(&m);
  free(v);
}

/* ---- fuzz seeds ---- */

static void corpus_dir(char *out, size_t cap, const char *which) {
  snprintf(out, cap, "%s/tests/fuzz/corpus/%s", OMEGA_SOURCE_DIR, which);
}

/* A small log of dimension 4: five upserts, a string id, two deletes (the committed seed),
 * or the same written without commits, its last record cut short (the torn seed). */
static void write_seed_wal(const char *out, const float *v, bool torn) {
  omega_collection_t *c;
  omega_index_params_t prm;
  omega_index_params_init(&prm);
  prm.dim = 4;
  char dir[4200], p[4400];
  path_of(dir, sizeof dir, "seedwal", NULL);
  omega_collection_opts_t o = {.dir = dir, .fsync_always = !torn};
  assert_int_equal(omega_collection_create("w", &prm, &o, &c), 0);
  upsert_rows(c, NULL, v, 5, 0, 1);
  omega_id_t s = {1, 0, "key", 3};
  assert_int_equal(omega_collection_upsert(c, &s, v + 20, 1, 1), 0);
  delete_one(c, NULL, 1);
  assert_int_equal(omega_collection_delete(c, &s, 1, NULL), 0);
  char wal[4200];
  path_of(wal, sizeof wal, "seedwal", "wal.log");
  size_t n;
  char *b = tu_read_file(wal, &n);
  snprintf(p, sizeof p, "%s/%s", out, torn ? "torn2.wal" : "records2.wal");
  tu_write_file(p, b, torn ? n - 7 : n);
  free(b);
  omega_collection_drop(c);
}

/* (Re)write the seed corpora of fuzz_snapshot and fuzz_wal: small valid files of the
 * current format (the format 1 seeds beside them stay as they are: still read). */
static void write_corpus(void) {
  char out[4200], p[4400];
  float *v = gen_grid(40, 4, 83);
  /* snapshots: flat (int + string ids, a tombstone), hnsw cosine, empty, and a tiny hnsw
   * (dimension 1, m 2: mutations hit its levels and links often) */
  corpus_dir(out, sizeof out, "snapshot");
  mkdir(out, 0755);
  static const char *const names[] = {"flat2", "hnsw2", "empty2", "hnsw-tiny2"};
  for (int i = 0; i < 4; i++) {
    omega_index_params_t prm;
    omega_index_params_init(&prm);
    prm.dim = i == 3 ? 1 : 4;
    prm.kind = i % 2 ? OMEGA_INDEX_HNSW : OMEGA_INDEX_FLAT;
    prm.metric = i == 1 ? OMEGA_METRIC_COSINE : OMEGA_METRIC_L2;
    prm.m = i == 3 ? 2 : 4;
    prm.ef_construction = 16;
    omega_collection_t *c;
    assert_int_equal(omega_collection_create(i == 2 ? "empty" : "seed", &prm, NULL, &c), 0);
    if (i == 3) {
      upsert_rows(c, NULL, v, 12, 0, 1);
      delete_one(c, NULL, 4);
    } else if (i < 2) {
      upsert_rows(c, NULL, v, i ? 30 : 6, 0, 1);
      omega_id_t s[2] = {{1, 0, "str-id", 6}, {1, 0, "x", 1}};
      assert_int_equal(omega_collection_upsert(c, s, v + 32 * 4, 2, 1), 0);
      delete_one(c, NULL, 2);
    }
    snprintf(p, sizeof p, "%s/%s.omg", out, names[i]);
    assert_int_equal(omega_collection_save_file(c, p), 0);
    omega_collection_close(c);
  }
  corpus_dir(out, sizeof out, "wal");
  mkdir(out, 0755);
  write_seed_wal(out, v, false);
  write_seed_wal(out, v, true);
  free(v);
}

typedef struct {
  size_t upserts, deletes;
} count_t;

static int count_rec(void *user, omega_wal_op_t op, const unsigned char *key, size_t klen, const float *vec) {
  count_t *c = user;
  (void)key;
  (void)klen;
  (void)vec;
  if (op == OMEGA_WAL_UPSERT)
    c->upserts++;
  else
    c->deletes++;
  return 0;
}

static void test_fuzz_corpus(void **state) {
  (void)state;
  if (getenv("OMEGA_WRITE_FUZZ_CORPUS"))
    write_corpus();
  char dir[4200], p[4400];
  corpus_dir(dir, sizeof dir, "snapshot");
  static const char *const snaps[] = {"flat.omg",  "hnsw.omg",  "empty.omg",  "hnsw-tiny.omg",
                                      "flat2.omg", "hnsw2.omg", "empty2.omg", "hnsw-tiny2.omg"};
  for (size_t i = 0; i < 8; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, snaps[i]);
    omega_collection_t *c;
    if (omega_collection_load_file(p, &c))
      fail_msg("fuzz seed %s: %s (rerun with OMEGA_WRITE_FUZZ_CORPUS=1 after a format change)", p, omega_errmsg());
    omega_collection_close(c);
  }
  corpus_dir(dir, sizeof dir, "wal");
  /* format 1 (no commits), then format 2: all committed, and written without commits and
   * torn (a tail of 8 bytes cut) */
  static const char *const wals[] = {"records.wal", "torn.wal", "records2.wal", "torn2.wal"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, wals[i]);
    size_t n;
    char *b = tu_read_file(p, &n);
    omega_wal_head_t h;
    if (omega__wal_head(p, (unsigned char *)b, n, &h))
      fail_msg("fuzz seed %s: %s", p, omega_errmsg());
    assert_int_equal(h.version, i < 2 ? 1 : 2);
    count_t cnt = {0, 0};
    omega_wal_result_t res;
    if (omega__wal_parse(p, (unsigned char *)b, n, &h, 4, count_rec, &cnt, &res))
      fail_msg("fuzz seed %s: %s", p, omega_errmsg());
    free(b);
    const bool torn = i % 2;
    assert_int_equal(cnt.upserts, 6);
    assert_int_equal(cnt.deletes, torn ? 1 : 2);
    assert_int_equal(res.records, cnt.upserts + cnt.deletes);
    assert_int_equal(res.good_len + res.torn_bytes, n);
    assert_int_equal(res.torn_bytes, torn ? 8 : 0);
    assert_int_equal(h.committed_records, i == 2 ? 8 : 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reopen),         cmocka_unit_test(test_exit_without_close),
      cmocka_unit_test(test_kill_loop),      cmocka_unit_test(test_torn_tail),
      cmocka_unit_test(test_damaged_log),    cmocka_unit_test(test_damaged_big_log),
      cmocka_unit_test(test_stale_log),
      cmocka_unit_test(test_damaged_snapshot), cmocka_unit_test(test_snapshot_structure),
      cmocka_unit_test(test_checkpoint),
      cmocka_unit_test(test_background_fsync), cmocka_unit_test(test_save_load_drop),
      cmocka_unit_test(test_truncated_log),    cmocka_unit_test(test_missing_log),
      cmocka_unit_test(test_log_header_flips), cmocka_unit_test(test_foreign_log),
      cmocka_unit_test(test_missing_snapshot), cmocka_unit_test(test_create_over_files),
      cmocka_unit_test(test_crash_between_renames), cmocka_unit_test(test_torn_tail_logged),
      cmocka_unit_test(test_accept_loss),      cmocka_unit_test(test_format1_opens),
      cmocka_unit_test(test_fuzz_corpus),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

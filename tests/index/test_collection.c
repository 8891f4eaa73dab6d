/* Memory: exact reservations (omega_collection_reserve, used by `omega index build` so an
 * index of N rows allocates N slots, not the ~1.5x of the usual growth), bytes reported
 * per collection, and the memory limit (OMEGA_ERANGE with nothing changed, never passed).
 * Also `omega index build / search / stats` end to end against the brute force, and the
 * bound on a vector's norm that keeps every float32 distance finite. */
#include "ref.h"

#include "index/simd.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes a flat collection of n integer ids needs at most once reserved exactly: vectors,
 * norms, tombstones, and ids (slot keys, key bytes, a hash table at most 4 entries per id). */
static size_t flat_budget(size_t n, size_t d) { return n * (d * 4 + 4 + 1) + n * (8 + 9 + 16) + 8192; }

static void test_reserve_flat(void **state) {
  (void)state;
  const size_t n = 20000, d = 64;
  float *v = gen_uniform(n, d, 101);
  omega_collection_stats_t st, st_reserved;
  /* reserved: bytes right after the reserve do not move while n vectors go in */
  omega_collection_t *c = new_collection(d, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  assert_int_equal(omega_collection_reserve(c, n), 0);
  omega_collection_stats(c, &st_reserved);
  for (size_t i = 0; i < n; i += 8192)
    upsert_rows(c, NULL, v + i * d, n - i < 8192 ? n - i : 8192, (int64_t)i, 1);
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, n);
  assert_int_equal(st.slots, n);
  assert_int_equal(st.bytes, st_reserved.bytes);
  printf("flat %zu x %zu reserved: %zu bytes (%.3f x the vectors)\n", n, d, st.bytes,
         (double)st.bytes / (double)(n * d * 4));
  assert_true(st.bytes >= n * d * 4);
  assert_true(st.bytes <= flat_budget(n, d));
  /* reserving less than what is there, or again, changes nothing */
  assert_int_equal(omega_collection_reserve(c, 10), 0);
  assert_int_equal(omega_collection_reserve(c, n), 0);
  omega_collection_stats(c, &st_reserved);
  assert_int_equal(st_reserved.bytes, st.bytes);
  omega_collection_close(c);

  /* not reserved: the usual growth over-allocates (so the check above can fail) */
  c = new_collection(d, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  for (size_t i = 0; i < n; i += 8192)
    upsert_rows(c, NULL, v + i * d, n - i < 8192 ? n - i : 8192, (int64_t)i, 1);
  omega_collection_stats_t grown;
  omega_collection_stats(c, &grown);
  printf("flat %zu x %zu grown: %zu bytes\n", n, d, grown.bytes);
  assert_true(grown.bytes > flat_budget(n, d));
  omega_collection_close(c);
  free(v);
}

static void test_reserve_hnsw(void **state) {
  (void)state;
  const size_t n = 3000, d = 16, m = 8;
  float *v = gen_uniform(n, d, 103);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = d;
  p.kind = OMEGA_INDEX_HNSW;
  p.m = m;
  p.ef_construction = 40;
  omega_collection_t *c;
  assert_int_equal(omega_collection_create("h", &p, NULL, &c), 0);
  assert_int_equal(omega_collection_reserve(c, n), 0);
  upsert_rows(c, NULL, v, n, 0, 2);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  /* level-0 lists and pointers per slot, upper levels about 1/(m-1) of a list each */
  const size_t graph = n * ((1 + 2 * m) * 4 + sizeof(void *) + 1) + n * (1 + m) * 4 / (m - 1) * 2;
  /* and the half-precision copy the walks read, built at the end of a build this size */
  const size_t half = n * d * 2;
  printf("hnsw %zu x %zu reserved: %zu bytes\n", n, d, st.bytes);
  assert_true(st.bytes <= flat_budget(n, d) + graph + half);
  omega_collection_close(c);
  free(v);
}

/* A build (an upsert of many rows) ends by setting up what the first search would: the
 * half-precision copy is there before any search, and a search adds no bytes; a small upsert
 * after it leaves its rows' part of the copy to the next search. */
static void test_build_warms_the_first_search(void **state) {
  (void)state;
  const size_t n = 2000, d = 24;
  float *v = gen_uniform(n + 10, d, 107);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = d;
  p.kind = OMEGA_INDEX_HNSW;
  p.m = 8;
  p.ef_construction = 40;
  omega_collection_t *c;
  assert_int_equal(omega_collection_create("w", &p, NULL, &c), 0);
  omega_collection_stats_t before, built, searched, small, resized;
  omega_collection_stats(c, &before);
  upsert_rows(c, NULL, v, n, 0, 2);
  omega_collection_stats(c, &built);
  omega_result_t res[5];
  size_t count;
  omega_search_opts_t so = {.k = 5};
  assert_int_equal(omega_collection_search(c, v, 1, &so, res, &count), 0);
  assert_int_equal(count, 5);
  omega_collection_stats(c, &searched);
  printf("before %zu, built %zu, searched %zu bytes\n", before.bytes, built.bytes, searched.bytes);
  assert_true(built.bytes >= before.bytes + n * d * 2); /* the copy is there */
  assert_int_equal(searched.bytes, built.bytes);
  upsert_rows(c, NULL, v + n * d, 10, (int64_t)n, 1);
  omega_collection_stats(c, &small);
  assert_int_equal(omega_collection_search(c, v + n * d, 1, &so, res, &count), 0);
  assert_true(!res[0].is_str && res[0].num == (int64_t)n);
  omega_collection_stats(c, &resized);
  assert_true(resized.bytes >= small.bytes);
  omega_collection_close(c);
  /* under a memory limit without room for the copy, a build leaves it out */
  omega_collection_opts_t o = {.memory_limit = built.bytes - n * d};
  assert_int_equal(omega_collection_create("w", &p, &o, &c), 0);
  upsert_rows(c, NULL, v, n, 0, 2);
  omega_collection_stats(c, &small);
  assert_true(small.bytes <= o.memory_limit);
  assert_true(small.bytes + n * d * 2 > o.memory_limit);
  assert_int_equal(omega_collection_search(c, v, 1, &so, res, &count), 0);
  omega_collection_stats(c, &searched);
  assert_int_equal(searched.bytes, small.bytes);
  omega_collection_close(c);
  free(v);
}

/* Insert batches until the limit refuses one: never past the limit, a refusal changes
 * nothing (count, bytes, log), and the limit is used, not refused far below it. */
static void fill_to_limit(omega_index_kind_t kind, const char *dir) {
  const size_t d = 16, limit = kind == OMEGA_INDEX_FLAT ? 300000 : 400000;
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = d;
  p.kind = kind;
  p.m = 6;
  p.ef_construction = 20;
  omega_collection_opts_t o = {.dir = dir, .memory_limit = limit};
  omega_collection_t *c;
  if (omega_collection_create("lim", &p, &o, &c))
    fail_msg("create: %s", omega_errmsg());
  float *v = gen_uniform(20000, d, 107);
  omega_collection_stats_t st, after;
  size_t n = 0, batch = 50;
  int rc = 0;
  while (n + batch <= 20000) {
    omega_collection_stats(c, &st);
    omega_id_t ids[50];
    for (size_t i = 0; i < batch; i++)
      ids[i] = int_id((int64_t)(n + i));
    rc = omega_collection_upsert(c, ids, v + n * d, batch, 1);
    omega_collection_stats(c, &after);
    if (rc)
      break;
    if (after.bytes > limit)
      fail_msg("%s: %zu bytes in use after an insert, past the limit of %zu", omega_index_kind_name(kind), after.bytes,
               limit);
    n += batch;
  }
  assert_int_equal(rc, OMEGA_ERANGE);
  assert_non_null(strstr(omega_errmsg(), "memory limit"));
  assert_int_equal(after.count, n);
  assert_int_equal(after.slots, st.slots);
  assert_int_equal(after.bytes, st.bytes);
  assert_int_equal(after.wal_bytes, st.wal_bytes);
  printf("%s: %zu vectors, %zu of %zu bytes when refused\n", omega_index_kind_name(kind), n, after.bytes, limit);
  assert_true(after.bytes >= limit * 6 / 10);
  /* one at a time gets no further than the limit either */
  for (size_t i = 0; i < 200; i++) {
    omega_id_t id = int_id((int64_t)(n + i));
    if (omega_collection_upsert(c, &id, v + (n + i) * d, 1, 1) != 0)
      break;
    omega_collection_stats(c, &after);
    assert_true(after.bytes <= limit);
  }
  /* replacing is an insert too (a new slot), deletes are always allowed */
  omega_id_t all[50];
  for (size_t i = 0; i < 50; i++)
    all[i] = int_id((int64_t)i);
  size_t deleted = 0;
  assert_int_equal(omega_collection_delete(c, all, 50, &deleted), 0);
  assert_int_equal(deleted, 50);
  /* reserving beyond the limit is refused */
  assert_int_equal(omega_collection_reserve(c, 1000000), OMEGA_ERANGE);
  /* the limit is remembered across a reopen only through the options: reopen without one */
  omega_collection_stats(c, &st);
  omega_collection_close(c);
  omega_collection_t *r;
  omega_collection_opts_t ro = {.memory_limit = 0};
  assert_int_equal(omega_collection_open(dir, &ro, &r), 0);
  omega_collection_stats(r, &after);
  assert_int_equal(after.count, st.count);
  omega_collection_close(r);
  free(v);
}

static void test_memory_limit(void **state) {
  (void)state;
  char *tmp = tu_mkdtemp(), dir[4200];
  snprintf(dir, sizeof dir, "%s/flat", tmp);
  fill_to_limit(OMEGA_INDEX_FLAT, dir);
  snprintf(dir, sizeof dir, "%s/hnsw", tmp);
  fill_to_limit(OMEGA_INDEX_HNSW, dir);
  /* a limit below what an empty collection already uses refuses the first insert */
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = 4;
  omega_collection_opts_t o = {.memory_limit = 100};
  omega_collection_t *c;
  assert_int_equal(omega_collection_create("tiny", &p, &o, &c), 0);
  omega_id_t id = int_id(1);
  float x[4] = {1, 2, 3, 4};
  assert_int_equal(omega_collection_upsert(c, &id, x, 1, 1), OMEGA_ERANGE);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 0);
  omega_collection_close(c);
  tu_rmtree(tmp);
  free(tmp);
}

/* What an index builds on demand (flat: AMX tiles of the vectors for batches, projection
 * bounds for single queries; HNSW: the vectors in half precision for walks) is built only
 * where it fits the memory limit, and counts against it once built. */
/* Below the size from which an upsert counts as a build (which builds the copies at once, as
 * test_build_warms_the_first_search checks), so the first search builds them here. */
static void upsert_small_batches(omega_collection_t *c, const omega_id_t *ids, const float *v, size_t n, size_t d) {
  for (size_t i = 0; i < n; i += 500)
    assert_int_equal(omega_collection_upsert(c, ids + i, v + i * d, n - i < 500 ? n - i : 500, 1), 0);
}

static void check_copy_limit(omega_index_kind_t kind, size_t d, size_t n, size_t nq) {
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = d;
  p.metric = OMEGA_METRIC_L2;
  p.kind = kind;
  float *v = gen_uniform(n + 8, d, 31);
  omega_id_t *ids = malloc((n + 8) * sizeof *ids);
  for (size_t i = 0; i < n + 8; i++)
    ids[i] = int_id((int64_t)i);
  omega_result_t res[8 * 5];
  size_t counts[8];
  omega_search_opts_t so = {.k = 5, .threads = 1};
  /* without a limit: the bytes before the first search, and what the copy adds (0: no such path here) */
  size_t base, copy;
  {
    omega_collection_t *c;
    assert_int_equal(omega_collection_create("probe", &p, NULL, &c), 0);
    upsert_small_batches(c, ids, v, n, d);
    omega_collection_stats_t st;
    omega_collection_stats(c, &st);
    base = st.bytes;
    for (size_t q = 0; q < 8; q += nq)
      assert_int_equal(omega_collection_search(c, v + q * d, nq, &so, res + q * 5, counts + q), 0);
    omega_collection_stats(c, &st);
    copy = st.bytes - base;
    omega_collection_close(c);
  }
  for (int roomy = 0; roomy < 2; roomy++) {
    const size_t limit = roomy ? base + 2 * copy + (1 << 20) : base + copy / 2 + 1;
    omega_collection_opts_t o = {.memory_limit = limit};
    omega_collection_t *c;
    assert_int_equal(omega_collection_create("copy", &p, &o, &c), 0);
    upsert_small_batches(c, ids, v, n, d);
    omega_collection_stats_t before, after;
    omega_collection_stats(c, &before);
    for (size_t q = 0; q < 8; q += nq)
      assert_int_equal(omega_collection_search(c, v + q * d, nq, &so, res + q * 5, counts + q), 0);
    for (size_t i = 0; i < 8; i++)
      assert_true(counts[i] == 5 && res[i * 5].num == (int64_t)i); /* each query is a stored vector */
    omega_collection_stats(c, &after);
    assert_true(after.bytes <= limit);
    if (!roomy || !copy) /* no room, or no such path here */
      assert_int_equal(after.bytes, before.bytes);
    else
      assert_int_equal(after.bytes, before.bytes + copy);
    printf("%s (%zu bytes), limit %zu: %zu bytes before a search, %zu after\n",
           kind == OMEGA_INDEX_HNSW ? "HNSW half-precision copy"
           : nq == 1                ? "flat projection bounds"
                                    : "flat AMX copy",
           copy, limit, before.bytes, after.bytes);
    /* inserts are still checked against the limit, copy included */
    for (size_t i = 0; i < 200; i++) {
      omega_id_t id = int_id((int64_t)(n + 100 + i));
      if (omega_collection_upsert(c, &id, v, 1, 1) != 0)
        break;
      omega_collection_stats(c, &after);
      assert_true(after.bytes <= limit);
    }
    omega_collection_close(c);
  }
  free(v);
  free(ids);
}

static void test_memory_limit_copies(void **state) {
  (void)state;
  check_copy_limit(OMEGA_INDEX_FLAT, 64, 3000, 8);
  check_copy_limit(OMEGA_INDEX_HNSW, 64, 3000, 8);
  check_copy_limit(OMEGA_INDEX_FLAT, 96, 5000, 1); /* one query at a time: the bounds' path */
}

/* ---- the command line ---- */

static double parse_mb(const char *text, const char *after) {
  const char *p = strstr(text, after);
  if (!p)
    fail_msg("no \"%s\" in: %s", after, text);
  return strtod(p + strlen(after), NULL);
}

static void test_cli_build_search(void **state) {
  (void)state;
  char omega[4200];
  snprintf(omega, sizeof omega, "%s/omega", OMEGA_BUILD_DIR);
  if (access(omega, X_OK) != 0) {
    printf("SKIP: %s is not built\n", omega);
    return;
  }
  const size_t n = 20000, d = 64, nq = 20, k = 10;
  char *tmp = tu_mkdtemp(), base[4200], qf[4200], idx[4200], ids[4200], err[4200];
  snprintf(base, sizeof base, "%s/base.f32", tmp);
  snprintf(qf, sizeof qf, "%s/q.f32", tmp);
  snprintf(idx, sizeof idx, "%s/flat.omg", tmp);
  snprintf(ids, sizeof ids, "%s/ids.i32", tmp);
  snprintf(err, sizeof err, "%s/err.txt", tmp);
  float *v = gen_uniform(n, d, 109), *qs = gen_uniform(nq, d, 110);
  tu_write_file(base, v, n * d * sizeof *v);
  tu_write_file(qf, qs, nq * d * sizeof *qs);
  assert_int_equal(tu_system("%s '%s' index build --input '%s' --dim %zu --metric l2 --kind flat --out '%s' --quiet "
                             "2>'%s'",
                             OMEGA_EMULATOR, omega, base, d, idx, err),
                   0);
  char *msg = tu_read_file(err, NULL);
  /* "...; X MB in memory": N slots exactly, not the 1.5x growth */
  double mb = parse_mb(msg, "s with 1 threads; ");
  printf("omega index build: %.1f MB in memory for %.1f MB of vectors\n", mb, (double)(n * d * 4) / 1048576.0);
  assert_true(mb * 1048576.0 <= (double)flat_budget(n, d) + 0.05 * 1048576.0);
  assert_true(mb * 1048576.0 >= (double)(n * d * 4) - 0.05 * 1048576.0);
  free(msg);
  assert_int_equal(tu_system("%s '%s' index stats --index '%s' >'%s'", OMEGA_EMULATOR, omega, idx, err), 0);
  msg = tu_read_file(err, NULL);
  assert_non_null(strstr(msg, "vectors:     20000"));
  assert_non_null(strstr(msg, "kind:        flat"));
  free(msg);
  /* search: the exact neighbours, as int32 ids */
  assert_int_equal(tu_system("%s '%s' index search --index '%s' --queries '%s' --k %zu --output '%s' 2>'%s'", OMEGA_EMULATOR, omega, idx,
                             qf, k, ids, err),
                   0);
  size_t len;
  char *out = tu_read_file(ids, &len);
  assert_int_equal(len, nq * k * sizeof(int32_t));
  ref_model_t m;
  ref_init(&m, d, OMEGA_METRIC_L2);
  for (size_t i = 0; i < n; i++)
    ref_upsert(&m, (int64_t)i, v + i * d);
  ref_hit_t want[10];
  for (size_t q = 0; q < nq; q++) {
    assert_int_equal(ref_search(&m, qs + q * d, k, NULL, 0, want), k);
    for (size_t j = 0; j < k; j++) {
      int32_t got;
      memcpy(&got, out + (q * k + j) * sizeof got, sizeof got);
      assert_int_equal(got, want[j].id);
    }
  }
  free(out);
  ref_free(&m);
  /* a file that is not whole rows is refused */
  tu_write_file(base, v, 100);
  assert_true(tu_system("%s '%s' index build --input '%s' --dim %zu --metric l2 --kind flat --out '%s' --quiet 2>/dev/null",
                        OMEGA_EMULATOR, omega, base, d, idx) != 0);
  free(v);
  free(qs);
  tu_rmtree(tmp);
  free(tmp);
}

/* Vectors and queries with a norm past OMEGA_VECTOR_NORM_MAX are refused, naming the point
 * and the bound; at the bound, the largest distances there are (opposite vectors, every
 * metric, single queries and GEMM batches, flat and HNSW) are finite. */
static void test_norm_bound(void **state) {
  (void)state;
  enum { DD = 16, NQ = 9 };
  static const omega_metric_t metrics[] = {OMEGA_METRIC_L2, OMEGA_METRIC_IP, OMEGA_METRIC_COSINE};
  const float at_bound = (float)(OMEGA_VECTOR_NORM_MAX * 0.999 / sqrt(DD));
  float v[4][DD], qs[NQ * DD], past[DD];
  for (size_t j = 0; j < DD; j++) {
    v[0][j] = at_bound;
    v[1][j] = -at_bound;
    v[2][j] = j % 2 ? at_bound : -at_bound;
    v[3][j] = (float)j;
    past[j] = (float)(OMEGA_VECTOR_NORM_MAX * 1.01 / sqrt(DD));
  }
  for (size_t i = 0; i < NQ; i++)
    memcpy(qs + i * DD, v[i % 3], sizeof v[0]);
  for (int kind = 0; kind < 2; kind++)
    for (size_t mi = 0; mi < 3; mi++) {
      omega_collection_t *c = new_collection(DD, metrics[mi], kind ? OMEGA_INDEX_HNSW : OMEGA_INDEX_FLAT);
      omega_id_t ids[2] = {int_id(1), int_id(2)};
      float two[2 * DD];
      memcpy(two, v[3], sizeof v[3]);
      memcpy(two + DD, past, sizeof past);
      assert_int_equal(omega_collection_upsert(c, ids, two, 2, 1), OMEGA_EINVAL);
      if (!strstr(omega_errmsg(), "point 1") || !strstr(omega_errmsg(), "1e+18"))
        fail_msg("the refusal names neither the point nor the bound: %s", omega_errmsg());
      omega_collection_stats_t st;
      omega_collection_stats(c, &st);
      assert_int_equal(st.count, 0); /* nothing of the batch went in */
      upsert_rows(c, NULL, &v[0][0], 4, 0, 1);
      omega_search_opts_t o = {.k = 4};
      omega_result_t res[NQ * 4];
      size_t counts[NQ];
      for (size_t nq = 1; nq <= NQ; nq += NQ - 1) /* one query, then a batch (GEMM blocks) */
        for (size_t i = 0; i < nq; i++) {
          assert_int_equal(omega_collection_search(c, qs, nq, &o, res, counts), 0);
          for (size_t h = 0; h < counts[i]; h++)
            if (!isfinite(res[i * 4 + h].score))
              fail_msg("%s %s, %zu queries: query %zu, hit %zu scores %g", kind ? "hnsw" : "flat",
                       omega_metric_name(metrics[mi]), nq, i, h, res[i * 4 + h].score);
        }
      assert_int_equal(omega_collection_search(c, past, 1, &o, res, counts), OMEGA_EINVAL);
      assert_non_null(strstr(omega_errmsg(), "query 0"));
      omega_collection_close(c);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reserve_flat),
      cmocka_unit_test(test_reserve_hnsw),
      cmocka_unit_test(test_build_warms_the_first_search),
      cmocka_unit_test(test_memory_limit),
      cmocka_unit_test(test_memory_limit_copies),
      cmocka_unit_test(test_cli_build_search),
      cmocka_unit_test(test_norm_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

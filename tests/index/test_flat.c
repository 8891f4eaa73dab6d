/* Flat (exact) search equals the double-precision brute force exactly: same ids, same
 * order, ties broken by the smaller id, for l2 / ip / cosine, single queries and query
 * batches (the GEMM path), duplicate vectors and tied distances, allow-list filters,
 * deletes, upserts that replace a vector, k larger than the collection. The whole suite
 * runs once per SIMD dispatch path (OMEGA_SIMD in a child process; paths this CPU lacks
 * are skipped with a message), amx being the path whose batches score on AMX tiles. */
#include "ref.h"

#include "index/heap.h"
#include "index/simd.h"

#include <sys/wait.h>
#include <unistd.h>

static const omega_metric_t metrics[] = {OMEGA_METRIC_L2, OMEGA_METRIC_IP, OMEGA_METRIC_COSINE};

/* Search nq queries one call each (per-query path) and all in one call (nq >= 8: GEMM),
 * each checked against the reference. */
static void check_queries(omega_collection_t *c, const ref_model_t *m, const float *qs, size_t nq, size_t k,
                          const int64_t *allow, size_t n_allow, const char *what) {
  omega_id_t *aids = NULL;
  if (allow) {
    aids = malloc((n_allow ? n_allow : 1) * sizeof *aids);
    assert_non_null(aids);
    for (size_t i = 0; i < n_allow; i++)
      aids[i] = int_id(allow[i]);
  }
  omega_search_opts_t o = {.k = k, .allow = aids, .n_allow = n_allow, .threads = 1};
  omega_result_t *res = malloc(nq * k * sizeof *res);
  size_t *counts = malloc(nq * sizeof *counts);
  assert_non_null(res);
  assert_non_null(counts);
  char msg[256];
  for (size_t i = 0; i < nq; i++) {
    if (omega_collection_search(c, qs + i * m->dim, 1, &o, res, counts))
      fail_msg("search: %s", omega_errmsg());
    snprintf(msg, sizeof msg, "%s (%s, k %zu, single query %zu)", what, omega_metric_name(m->metric), k, i);
    expect_exact(m, qs + i * m->dim, k, allow, n_allow, res, counts[0], msg);
  }
  for (int threads = 1; threads <= 2; threads++) {
    o.threads = threads;
    memset(res, 0, nq * k * sizeof *res);
    if (omega_collection_search(c, qs, nq, &o, res, counts))
      fail_msg("batch search: %s", omega_errmsg());
    for (size_t i = 0; i < nq; i++) {
      snprintf(msg, sizeof msg, "%s (%s, k %zu, batch of %zu, query %zu, %d threads)", what,
               omega_metric_name(m->metric), k, nq, i, threads);
      expect_exact(m, qs + i * m->dim, k, allow, n_allow, res + i * k, counts[i], msg);
    }
  }
  free(res);
  free(counts);
  free(aids);
}

/* The dispatch path in use is the one OMEGA_SIMD asked for. */
/* The distance the reference and the re-rank share, against values worked out by hand;
 * the last pair overflows float but not double. */
static void test_dist_f64(void **state) {
  (void)state;
  const float q[3] = {1, 2, 3}, x[3] = {4, 6, 3}, big[1] = {1e20f};
  assert_true(omega__dist_f64(OMEGA_METRIC_L2, q, x, 3) == 25.0);
  assert_true(omega__dist_f64(OMEGA_METRIC_IP, q, x, 3) == -25.0);
  assert_true(omega__dist_f64(OMEGA_METRIC_COSINE, q, x, 3) == -25.0);
  assert_true(omega__dist_f64(OMEGA_METRIC_L2, x, x, 3) == 0.0);
  const double ip = omega__dist_f64(OMEGA_METRIC_IP, big, big, 1);
  assert_true(isfinite(ip) && fabs(ip / ((double)1e20f * (double)1e20f) + 1.0) < 1e-15);
}

/* The bounded max-heap keeps the `cap` smallest of what it is offered; capacity 0 keeps
 * nothing (it used to pop an empty heap). */
static void test_heap_offer_keeps_the_smallest(void **state) {
  (void)state;
  for (size_t cap = 0; cap <= 7; cap++) {
    omega_heap_t h = {0};
    for (uint32_t i = 0; i < 50; i++)
      omega__heap_offer(&h, cap, (float)((i * 37) % 50), i);
    assert_int_equal(h.n, cap);
    float worst = -1;
    for (size_t i = 0; i < h.n; i++)
      worst = h.v[i].dist > worst ? h.v[i].dist : worst;
    if (cap)
      assert_true(worst == (float)(cap - 1) && h.v[0].dist == worst);
    omega__heap_free(&h);
  }
}

static void test_path_in_use(void **state) {
  (void)state;
  const char *want = getenv("OMEGA_SIMD");
  assert_non_null(want);
  assert_string_equal(omega__simd()->name, want);
}

/* Random data: every metric, several k, single queries and batches (two GEMM query blocks). */
static void test_random(void **state) {
  (void)state;
  const size_t n = 1500, d = 17, nq = 70;
  float *v = gen_uniform(n, d, 1), *qs = gen_uniform(nq, d, 2);
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    upsert_rows(c, &m, v, n, 0, 1);
    static const size_t ks[] = {1, 10, 100};
    for (size_t ki = 0; ki < 3; ki++)
      check_queries(c, &m, qs, ks[ki] == 100 ? 10 : nq, ks[ki], NULL, 0, "random");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
}

/* More rows than one scan block (4096), a wide dimension, and queries that are rows. */
static void test_blocks_and_wide(void **state) {
  (void)state;
  const size_t n = 5000, d = 8, nq = 12;
  float *v = gen_uniform(n, d, 3), *qs = gen_uniform(nq, d, 4);
  memcpy(qs, v + 4500 * d, d * sizeof *qs); /* a stored row in the second block */
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    upsert_rows(c, &m, v, n, 0, 1);
    check_queries(c, &m, qs, nq, 10, NULL, 0, "5000 rows");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
  const size_t n2 = 300, d2 = 784;
  v = gen_uniform(n2, d2, 5);
  qs = gen_uniform(9, d2, 6);
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d2, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d2, metrics[mi]);
    upsert_rows(c, &m, v, n2, 0, 1);
    check_queries(c, &m, qs, 9, 10, NULL, 0, "784-d");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
}

/* Small integer coordinates: many duplicate vectors and exactly tied distances, so the
 * boundary of the top k falls inside tie groups. Ids are inserted in a shuffled order so
 * slot order is not id order. */
static void test_ties(void **state) {
  (void)state;
  const size_t n = 3000, d = 3, nq = 20;
  float *v = gen_grid(n, d, 7), *qs = gen_grid(nq, d, 8);
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    /* ids: a permutation of 0..n-1, in blocks that run backwards */
    for (size_t b = 0; b < n; b += 500) {
      for (size_t i = b + 500; i-- > b;) {
        omega_id_t id = int_id((int64_t)i);
        if (omega_collection_upsert(c, &id, v + i * d, 1, 1))
          fail_msg("upsert: %s", omega_errmsg());
        ref_upsert(&m, (int64_t)i, v + i * d);
      }
    }
    check_queries(c, &m, qs, nq, 10, NULL, 0, "ties");
    check_queries(c, &m, qs, nq, 37, NULL, 0, "ties");
    /* exact duplicates of one vector: k of them, the smallest ids first */
    float dup[3] = {0.5f, 0.25f, -1.0f};
    for (int64_t id = 100000; id > 99900; id--) {
      omega_id_t x = int_id(id);
      assert_int_equal(omega_collection_upsert(c, &x, dup, 1, 1), 0);
      ref_upsert(&m, id, dup);
    }
    check_queries(c, &m, dup, 1, 25, NULL, 0, "duplicates");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
}

/* Allow lists: small (searched alone), large (filtered scan), with unknown and deleted ids. */
static void test_filters(void **state) {
  (void)state;
  const size_t n = 2000, d = 12, nq = 10;
  float *v = gen_uniform(n, d, 9), *qs = gen_uniform(nq, d, 10);
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    upsert_rows(c, &m, v, n, 0, 1);
    int64_t small[40], big[1200];
    for (size_t i = 0; i < 40; i++)
      small[i] = (int64_t)(i * 47 % n);
    small[39] = 987654; /* unknown: ignored */
    for (size_t i = 0; i < 1200; i++)
      big[i] = (int64_t)(i * 3 % 2400); /* some beyond n: unknown */
    check_queries(c, &m, qs, nq, 10, small, 40, "small filter");
    check_queries(c, &m, qs, nq, 100, small, 40, "small filter, k > allowed");
    check_queries(c, &m, qs, nq, 10, big, 1200, "large filter");
    /* delete some allowed ids: never returned */
    omega_id_t del[20];
    for (size_t i = 0; i < 20; i++) {
      del[i] = int_id(small[i]);
      ref_delete(&m, small[i]);
    }
    size_t nd = 0;
    assert_int_equal(omega_collection_delete(c, del, 20, &nd), 0);
    assert_int_equal(nd, 20);
    check_queries(c, &m, qs, nq, 10, small, 40, "small filter after deletes");
    check_queries(c, &m, qs, nq, 10, big, 1200, "large filter after deletes");
    /* an empty allow list allows nothing */
    int64_t none[1] = {-5};
    check_queries(c, &m, qs, 2, 10, none, 0, "empty filter");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
}

/* Deletes and upserts that replace a vector, then k larger than what is left. */
static void test_deletes_upserts(void **state) {
  (void)state;
  const size_t n = 1000, d = 16, nq = 12;
  float *v = gen_uniform(n, d, 11), *v2 = gen_uniform(n, d, 12), *qs = gen_uniform(nq, d, 13);
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    upsert_rows(c, &m, v, n, 0, 1);
    /* replace every third vector, and move the queries' neighbours */
    for (size_t i = 0; i < n; i += 3) {
      omega_id_t id = int_id((int64_t)i);
      assert_int_equal(omega_collection_upsert(c, &id, v2 + i * d, 1, 1), 0);
      ref_upsert(&m, (int64_t)i, v2 + i * d);
    }
    /* a replacement that is a query itself: it must come first */
    omega_id_t q0 = int_id(500);
    assert_int_equal(omega_collection_upsert(c, &q0, qs, 1, 1), 0);
    ref_upsert(&m, 500, qs);
    check_queries(c, &m, qs, nq, 10, NULL, 0, "after upserts");
    /* delete every other id */
    for (size_t i = 0; i < n; i += 2) {
      omega_id_t id = int_id((int64_t)i);
      size_t nd = 9;
      assert_int_equal(omega_collection_delete(c, &id, 1, &nd), 0);
      assert_int_equal(nd, 1);
      ref_delete(&m, (int64_t)i);
    }
    omega_collection_stats_t st;
    omega_collection_stats(c, &st);
    assert_int_equal(st.count, m.n);
    check_queries(c, &m, qs, nq, 10, NULL, 0, "after deletes");
    check_queries(c, &m, qs, nq, 600, NULL, 0, "k > count");
    /* delete all but 3: k = 10 gives 3 */
    for (size_t i = 1; i < n - 6; i += 2) {
      omega_id_t id = int_id((int64_t)i);
      assert_int_equal(omega_collection_delete(c, &id, 1, NULL), 0);
      ref_delete(&m, (int64_t)i);
    }
    assert_int_equal(m.n, 3);
    check_queries(c, &m, qs, nq, 10, NULL, 0, "three left");
    /* compaction keeps the results */
    assert_int_equal(omega_collection_compact(c), 0);
    check_queries(c, &m, qs, nq, 10, NULL, 0, "three left, compacted");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(v2);
  free(qs);
}

/* Upserting the same vector under ids given in descending order, and replacing an id so
 * its slot is the newest: ties still go to the smaller id. */
static void test_ties_by_id_not_slot(void **state) {
  (void)state;
  const size_t d = 4;
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    float x[4] = {1, 2, 3, 4}, y[4] = {-1, 0, 2, 1};
    for (int64_t id = 50; id >= 1; id--) {
      omega_id_t i = int_id(id);
      assert_int_equal(omega_collection_upsert(c, &i, id % 2 ? x : y, 1, 1), 0);
      ref_upsert(&m, id, id % 2 ? x : y);
    }
    /* id 3 gets a fresh slot holding the same vector */
    omega_id_t three = int_id(3);
    assert_int_equal(omega_collection_upsert(c, &three, x, 1, 1), 0);
    check_queries(c, &m, x, 1, 5, NULL, 0, "ties by id");
    check_queries(c, &m, y, 1, 30, NULL, 0, "ties by id");
    float qs[8 * 4];
    for (size_t i = 0; i < 8; i++)
      memcpy(qs + i * 4, i % 2 ? x : y, sizeof x);
    check_queries(c, &m, qs, 8, 7, NULL, 0, "ties by id, batch");
    ref_free(&m);
    omega_collection_close(c);
  }
}

/* Vectors far from the origin (1e4 plus noise of 1): |q|^2 + |x|^2 - 2 q.x cancels all but a
 * few bits of every distance, so the batch's float proofs fail (the AMX bound first, then
 * fp32's) and the fallbacks must still give the exact answer. 48 dimensions: the amx path's
 * batches run on tiles. */
static void test_far_from_origin(void **state) {
  (void)state;
  const size_t n = 3000, d = 48, nq = 20;
  float *v = gen_uniform(n, d, 11), *qs = gen_uniform(nq, d, 12);
  for (size_t i = 0; i < n * d; i++)
    v[i] += 1e4f;
  for (size_t i = 0; i < nq * d; i++)
    qs[i] += 1e4f;
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    upsert_rows(c, &m, v, n, 0, 1);
    check_queries(c, &m, qs, nq, 10, NULL, 0, "far from the origin");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
}

/* Large magnitudes (as large as OMEGA_VECTOR_NORM_MAX lets a vector be; past it an upsert is
 * refused, since a distance could overflow) beside tiny ones: the float kernels lose every
 * digit of the small terms, the answer stays exact. */
static void test_extreme_values(void **state) {
  (void)state;
  const size_t n = 200, d = 5;
  float *v = gen_uniform(n, d, 14), *qs = gen_uniform(8, d, 15);
  for (size_t i = 0; i < n * d; i++)
    v[i] *= i % 7 == 0 ? 4e17f : i % 5 == 0 ? 1e-20f : 1.0f; /* a norm below sqrt(5) * 4e17 < 1e18 */
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_collection(d, metrics[mi], OMEGA_INDEX_FLAT);
    ref_model_t m;
    ref_init(&m, d, metrics[mi]);
    upsert_rows(c, &m, v, n, 0, 1);
    check_queries(c, &m, qs, 8, 10, NULL, 0, "extreme values");
    ref_free(&m);
    omega_collection_close(c);
  }
  free(v);
  free(qs);
}

/* Empty collections and bad arguments. */
static void test_edges(void **state) {
  (void)state;
  omega_collection_t *c = new_collection(3, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  float q[3] = {1, 2, 3};
  omega_result_t r[4];
  size_t cnt = 7;
  omega_search_opts_t o = {.k = 4};
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 0);
  o.k = 0;
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), OMEGA_EINVAL);
  o.k = 10001;
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), OMEGA_EINVAL);
  o.k = 4;
  float bad[3] = {1, NAN, 3};
  assert_int_equal(omega_collection_search(c, bad, 1, &o, r, &cnt), OMEGA_EINVAL);
  omega_id_t id = int_id(1);
  assert_int_equal(omega_collection_upsert(c, &id, bad, 1, 1), OMEGA_EINVAL);
  bad[1] = INFINITY;
  assert_int_equal(omega_collection_upsert(c, &id, bad, 1, 1), OMEGA_EINVAL);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 0);
  assert_int_equal(st.slots, 0);
  assert_int_equal(omega_collection_upsert(c, &id, q, 0, 1), 0);
  omega_collection_close(c);

  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = 0;
  assert_int_equal(omega_collection_create("x", &p, NULL, &c), OMEGA_EINVAL);
  p.dim = 4;
  assert_int_equal(omega_collection_create("", &p, NULL, &c), OMEGA_EINVAL);
  assert_int_equal(omega_collection_create(".hidden", &p, NULL, &c), OMEGA_EINVAL);
  assert_int_equal(omega_collection_create("a/b", &p, NULL, &c), OMEGA_EINVAL);
  p.kind = OMEGA_INDEX_GPU_FLAT; /* exists with or without a GPU (served on the CPU without one) */
  assert_int_equal(omega_collection_create("g", &p, NULL, &c), 0);
  omega_collection_close(c);
  omega_metric_t mt;
  omega_index_kind_t kd;
  assert_int_equal(omega_metric_parse("cosine", &mt), 0);
  assert_int_equal(mt, OMEGA_METRIC_COSINE);
  assert_int_equal(omega_metric_parse("l1", &mt), OMEGA_EINVAL);
  assert_int_equal(omega_index_kind_parse("hnsw", &kd), 0);
  assert_int_equal(kd, OMEGA_INDEX_HNSW);
  assert_int_equal(omega_index_kind_parse("ivf", &kd), OMEGA_EINVAL);
}

static int run_suite(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dist_f64),        cmocka_unit_test(test_heap_offer_keeps_the_smallest),
      cmocka_unit_test(test_path_in_use),     cmocka_unit_test(test_random),
      cmocka_unit_test(test_blocks_and_wide), cmocka_unit_test(test_ties),
      cmocka_unit_test(test_filters),         cmocka_unit_test(test_deletes_upserts),
      cmocka_unit_test(test_ties_by_id_not_slot), cmocka_unit_test(test_extreme_values),
      cmocka_unit_test(test_far_from_origin),
      cmocka_unit_test(test_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void) {
  const char *forced = getenv("OMEGA_SIMD");
  if (forced && *forced) {
    tu_cpu_caps_from_env();
    return run_suite();
  }
  static const char *const paths[] = {"portable", "avx2", "avx512", "amx", "neon"};
  int failed = 0, ran = 0;
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    if (!omega__simd_named(paths[i])) {
      printf("SKIP: the %s path (this CPU lacks it)\n", paths[i]);
      continue;
    }
    printf("=== flat search on the %s path ===\n", paths[i]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
      return 1;
    if (pid == 0) {
      setenv("OMEGA_SIMD", paths[i], 1);
      tu_cpu_caps_from_env();
      exit(run_suite() ? 1 : 0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      printf("FAILED on the %s path\n", paths[i]);
      failed++;
    }
    ran++;
  }
  return failed || !ran ? 1 : 0;
}

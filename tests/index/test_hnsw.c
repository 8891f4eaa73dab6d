/* HNSW: recall@10 against the brute force on clustered and uniform data, single- and
 * multi-threaded builds, incremental inserts after a build, deletes never returned,
 * compaction reclaiming tombstones, allow-list filters (the exact path for small lists,
 * the filtered graph walk for large ones), and a save/load round trip that gives
 * identical results. */
#include "ref.h"

#include <unistd.h>

#define N 5000
#define D 32
#define NQ 100
#define K 10

static float *data, *queries;

static int setup(void **state) {
  (void)state;
  data = gen_clustered(N, D, 50, 0.3f, 21);
  /* queries: near points of the set (so in its clusters), not equal to them */
  queries = malloc(NQ * D * sizeof *queries);
  uint64_t s = 5;
  for (size_t i = 0; i < NQ; i++) {
    const float *base = data + (tu_rand(&s) % N) * D;
    for (size_t j = 0; j < D; j++)
      queries[i * D + j] = base[j] + 0.05f * tu_randf(&s);
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(data);
  free(queries);
  return 0;
}

static omega_collection_t *new_hnsw(omega_metric_t metric, size_t m, size_t efc, size_t ef) {
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = D;
  p.metric = metric;
  p.kind = OMEGA_INDEX_HNSW;
  p.m = m;
  p.ef_construction = efc;
  p.ef_search = ef;
  omega_collection_t *c = NULL;
  if (omega_collection_create("hnsw", &p, NULL, &c))
    fail_msg("create: %s", omega_errmsg());
  return c;
}

static double recall(omega_collection_t *c, const ref_model_t *m, const float *qs, size_t nq, size_t k, size_t ef,
                     const int64_t *allow, size_t n_allow, int threads) {
  omega_id_t *aids = NULL;
  if (allow) {
    aids = malloc(n_allow * sizeof *aids);
    for (size_t i = 0; i < n_allow; i++)
      aids[i] = int_id(allow[i]);
  }
  omega_search_opts_t o = {.k = k, .ef = ef, .allow = aids, .n_allow = n_allow, .threads = threads};
  omega_result_t *res = malloc(nq * k * sizeof *res);
  size_t *counts = malloc(nq * sizeof *counts);
  if (omega_collection_search(c, qs, nq, &o, res, counts))
    fail_msg("search: %s", omega_errmsg());
  /* whatever the recall: never a deleted, unknown or filtered-out id, never twice, in order */
  for (size_t i = 0; i < nq; i++) {
    assert_true(counts[i] <= k);
    for (size_t a = 0; a < counts[i]; a++) {
      const omega_result_t *r = &res[i * k + a];
      assert_false(r->is_str);
      if (ref_find(m, r->num) < 0)
        fail_msg("query %zu: result %zu is id %lld, which is not live", i, a, (long long)r->num);
      if (allow && !ref_in(allow, n_allow, r->num))
        fail_msg("query %zu: result %zu is id %lld, which the filter excludes", i, a, (long long)r->num);
      for (size_t b = 0; b < a; b++)
        assert_true(res[i * k + b].num != r->num);
      if (a) {
        float prev = res[i * k + a - 1].score;
        assert_true(m->metric == OMEGA_METRIC_L2 ? prev <= r->score : prev >= r->score);
      }
    }
  }
  double rc = recall_of(m, qs, nq, k, allow, n_allow, res, counts);
  free(res);
  free(counts);
  free(aids);
  return rc;
}

static void test_recall(void **state) {
  (void)state;
  static const omega_metric_t ms[] = {OMEGA_METRIC_L2, OMEGA_METRIC_COSINE, OMEGA_METRIC_IP};
  for (size_t mi = 0; mi < 3; mi++) {
    omega_collection_t *c = new_hnsw(ms[mi], 16, 100, 64);
    ref_model_t m;
    ref_init(&m, D, ms[mi]);
    upsert_rows(c, &m, data, N, 0, mi ? 2 : 1); /* l2: one thread; the others: two */
    double r = recall(c, &m, queries, NQ, K, 100, NULL, 0, 1);
    printf("%s: recall@10 %.4f (ef 100)\n", omega_metric_name(ms[mi]), r);
    if (r < 0.95)
      fail_msg("%s: recall@10 %.4f < 0.95", omega_metric_name(ms[mi]), r);
    ref_free(&m);
    omega_collection_close(c);
  }
}

/* Uniform data is harder for a graph than clusters. */
static void test_recall_uniform(void **state) {
  (void)state;
  const size_t n = 4000, d = 16;
  float *v = gen_uniform(n, d, 31), *qs = gen_uniform(50, d, 32);
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = d;
  p.kind = OMEGA_INDEX_HNSW;
  p.ef_construction = 100;
  omega_collection_t *c;
  assert_int_equal(omega_collection_create("u", &p, NULL, &c), 0);
  ref_model_t m;
  ref_init(&m, d, OMEGA_METRIC_L2);
  upsert_rows(c, &m, v, n, 0, 2);
  omega_search_opts_t o = {.k = K, .ef = 128, .threads = 2};
  omega_result_t *res = malloc(50 * K * sizeof *res);
  size_t counts[50];
  assert_int_equal(omega_collection_search(c, qs, 50, &o, res, counts), 0);
  double r = recall_of(&m, qs, 50, K, NULL, 0, res, counts);
  printf("uniform 16-d: recall@10 %.4f (ef 128)\n", r);
  assert_true(r >= 0.95);
  free(res);
  free(v);
  free(qs);
  ref_free(&m);
  omega_collection_close(c);
}

static void test_recall_multi_thread(void **state) {
  (void)state;
  omega_collection_t *c = new_hnsw(OMEGA_METRIC_L2, 16, 100, 64);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  upsert_rows(c, &m, data, N, 0, 4);
  double r = recall(c, &m, queries, NQ, K, 100, NULL, 0, 3);
  printf("4-thread build: recall@10 %.4f\n", r);
  assert_true(r >= 0.95);
  /* every vector finds itself first: no node was left unreachable by a concurrent insert */
  omega_search_opts_t o = {.k = 1, .ef = 32, .threads = 2};
  omega_result_t *res = malloc(N * sizeof *res);
  size_t *counts = malloc(N * sizeof *counts);
  assert_int_equal(omega_collection_search(c, data, N, &o, res, counts), 0);
  size_t lost = 0;
  for (size_t i = 0; i < N; i++)
    lost += counts[i] != 1 || res[i].num != (int64_t)i;
  printf("4-thread build: %zu of %d vectors do not find themselves\n", lost, N);
  assert_true(lost <= 3);
  free(res);
  free(counts);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, N);
  assert_true(st.bytes > (size_t)N * D * 4);
  ref_free(&m);
  omega_collection_close(c);
}

/* A built graph, then inserts in small batches (some with threads), some replacing ids. */
static void test_incremental(void **state) {
  (void)state;
  omega_collection_t *c = new_hnsw(OMEGA_METRIC_L2, 12, 100, 64);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  upsert_rows(c, &m, data, 3000, 0, 2);
  for (size_t i = 3000; i < N; i += 100)
    upsert_rows(c, &m, data + i * D, 100, (int64_t)i, i % 200 ? 1 : 3);
  /* replace 200 ids with other points of the set */
  upsert_rows(c, &m, data + 4000 * D, 200, 0, 1);
  double r = recall(c, &m, queries, NQ, K, 100, NULL, 0, 1);
  printf("incremental: recall@10 %.4f\n", r);
  assert_true(r >= 0.95);
  /* the late inserts are reachable: each finds itself (or its twin among the replacements) */
  omega_search_opts_t o = {.k = 2, .ef = 64, .threads = 1};
  size_t found = 0;
  for (size_t i = 4500; i < N; i++) {
    omega_result_t res[2];
    size_t cnt;
    assert_int_equal(omega_collection_search(c, data + i * D, 1, &o, res, &cnt), 0);
    found += cnt >= 1 && res[0].score == 0.0f;
  }
  assert_true(found >= 495);
  ref_free(&m);
  omega_collection_close(c);
}

static void test_deletes_and_compaction(void **state) {
  (void)state;
  omega_collection_t *c = new_hnsw(OMEGA_METRIC_COSINE, 16, 100, 64);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_COSINE);
  upsert_rows(c, &m, data, N, 0, 2);
  /* delete a third, including the neighbours of the first queries */
  omega_id_t *del = malloc(N * sizeof *del);
  size_t nd = 0;
  for (size_t i = 0; i < N; i += 3)
    del[nd++] = int_id((int64_t)i);
  size_t deleted = 0;
  assert_int_equal(omega_collection_delete(c, del, nd, &deleted), 0);
  assert_int_equal(deleted, nd);
  for (size_t i = 0; i < nd; i++)
    ref_delete(&m, del[i].num);
  /* deleting again deletes nothing */
  assert_int_equal(omega_collection_delete(c, del, 10, &deleted), 0);
  assert_int_equal(deleted, 0);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, N - nd);
  assert_int_equal(st.deleted, nd);
  assert_int_equal(st.slots, N);
  double r = recall(c, &m, queries, NQ, K, 128, NULL, 0, 2); /* checks no deleted id comes back */
  printf("after deleting a third: recall@10 %.4f\n", r);
  assert_true(r >= 0.93);
  /* queries that are deleted vectors themselves */
  r = recall(c, &m, data, 60, K, 128, NULL, 0, 1);
  assert_true(r >= 0.9);

  assert_int_equal(omega_collection_compact(c), 0);
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, N - nd);
  assert_int_equal(st.slots, st.count);
  assert_int_equal(st.deleted, 0);
  r = recall(c, &m, queries, NQ, K, 100, NULL, 0, 2);
  printf("compacted: recall@10 %.4f\n", r);
  assert_true(r >= 0.95);
  /* deleting everything leaves an index that answers nothing */
  for (size_t i = 0, k = 0; i < N; i++)
    if (i % 3)
      del[k++] = int_id((int64_t)i);
  assert_int_equal(omega_collection_delete(c, del, N - nd, &deleted), 0);
  assert_int_equal(deleted, N - nd);
  omega_search_opts_t o = {.k = K};
  omega_result_t res[K];
  size_t cnt = 99;
  assert_int_equal(omega_collection_search(c, queries, 1, &o, res, &cnt), 0);
  assert_int_equal(cnt, 0);
  assert_int_equal(omega_collection_compact(c), 0);
  omega_collection_stats(c, &st);
  assert_int_equal(st.slots, 0);
  assert_int_equal(omega_collection_search(c, queries, 1, &o, res, &cnt), 0);
  assert_int_equal(cnt, 0);
  /* and it takes inserts again */
  upsert_rows(c, NULL, data, 100, 7, 1);
  assert_int_equal(omega_collection_search(c, data, 1, &o, res, &cnt), 0);
  assert_int_equal(cnt, K);
  assert_int_equal(res[0].num, 7);
  free(del);
  ref_free(&m);
  omega_collection_close(c);
}

static void test_filters(void **state) {
  (void)state;
  omega_collection_t *c = new_hnsw(OMEGA_METRIC_L2, 16, 100, 64);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_L2);
  upsert_rows(c, &m, data, N, 0, 2);
  /* small list: searched exactly, so equal to the reference */
  int64_t small[300];
  for (size_t i = 0; i < 300; i++)
    small[i] = (int64_t)(i * 16 + 3);
  omega_id_t aids[300];
  for (size_t i = 0; i < 300; i++)
    aids[i] = int_id(small[i]);
  omega_search_opts_t o = {.k = K, .allow = aids, .n_allow = 300, .threads = 1};
  for (size_t q = 0; q < 20; q++) {
    omega_result_t res[K];
    size_t cnt;
    assert_int_equal(omega_collection_search(c, queries + q * D, 1, &o, res, &cnt), 0);
    expect_exact(&m, queries + q * D, K, small, 300, res, cnt, "hnsw, small filter");
  }
  /* large list (beyond the exact-path size): the graph walk, filtered */
  size_t nb = 0;
  int64_t *big = malloc(N * sizeof *big);
  for (size_t i = 0; i < N; i++)
    if (i % 7)
      big[nb++] = (int64_t)i;
  assert_true(nb > 4096);
  double r = recall(c, &m, queries, NQ, K, 100, big, nb, 2);
  printf("filter of %zu ids: recall@10 %.4f\n", nb, r);
  assert_true(r >= 0.95);
  free(big);
  ref_free(&m);
  omega_collection_close(c);
}

/* Save and load: the same graph, so the same results, ids and scores. */
static void test_round_trip(void **state) {
  (void)state;
  char *dir = tu_mkdtemp(), path[4200];
  snprintf(path, sizeof path, "%s/g.omg", dir);
  omega_collection_t *c = new_hnsw(OMEGA_METRIC_IP, 8, 64, 40);
  ref_model_t m;
  ref_init(&m, D, OMEGA_METRIC_IP);
  upsert_rows(c, &m, data, 2000, 0, 3);
  omega_id_t del[50];
  for (size_t i = 0; i < 50; i++)
    del[i] = int_id((int64_t)(i * 17));
  assert_int_equal(omega_collection_delete(c, del, 50, NULL), 0);
  assert_int_equal(omega_collection_save_file(c, path), 0);
  omega_collection_t *l;
  if (omega_collection_load_file(path, &l))
    fail_msg("load: %s", omega_errmsg());
  omega_collection_stats_t a, b;
  omega_collection_stats(c, &a);
  omega_collection_stats(l, &b);
  assert_string_equal(a.name, b.name);
  assert_int_equal(b.params.kind, OMEGA_INDEX_HNSW);
  assert_int_equal(b.params.metric, OMEGA_METRIC_IP);
  assert_int_equal(b.params.m, 8);
  assert_int_equal(b.params.ef_construction, 64);
  assert_int_equal(b.params.ef_search, 40);
  assert_int_equal(a.count, b.count);
  assert_int_equal(a.deleted, b.deleted);
  omega_search_opts_t o = {.k = K, .threads = 1};
  omega_result_t r1[NQ * K], r2[NQ * K];
  size_t c1[NQ], c2[NQ];
  assert_int_equal(omega_collection_search(c, queries, NQ, &o, r1, c1), 0);
  assert_int_equal(omega_collection_search(l, queries, NQ, &o, r2, c2), 0);
  for (size_t i = 0; i < NQ; i++) {
    assert_int_equal(c1[i], c2[i]);
    for (size_t j = 0; j < c1[i]; j++) {
      assert_int_equal(r1[i * K + j].num, r2[i * K + j].num);
      assert_true(r1[i * K + j].score == r2[i * K + j].score);
    }
  }
  /* the loaded graph takes inserts */
  upsert_rows(l, NULL, data + 2000 * D, 500, 2000, 2);
  omega_collection_stats(l, &b);
  assert_int_equal(b.count, a.count + 500);
  omega_collection_close(l);
  omega_collection_close(c);
  ref_free(&m);
  tu_rmtree(dir);
  free(dir);
}

/* The same seed and one thread give the same graph twice. */
static void test_deterministic(void **state) {
  (void)state;
  char *dir = tu_mkdtemp(), p1[4200], p2[4200];
  snprintf(p1, sizeof p1, "%s/a.omg", dir);
  snprintf(p2, sizeof p2, "%s/b.omg", dir);
  for (int i = 0; i < 2; i++) {
    omega_collection_t *c = new_hnsw(OMEGA_METRIC_L2, 8, 40, 40);
    upsert_rows(c, NULL, data, 1000, 0, 1);
    assert_int_equal(omega_collection_save_file(c, i ? p2 : p1), 0);
    omega_collection_close(c);
  }
  size_t l1, l2;
  char *a = tu_read_file(p1, &l1), *b = tu_read_file(p2, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(a, b, l1);
  free(a);
  free(b);
  tu_rmtree(dir);
  free(dir);
}

/* Parameters out of range are refused. */
static void test_params(void **state) {
  (void)state;
  omega_index_params_t p;
  omega_index_params_init(&p);
  assert_int_equal(p.m, 16);
  assert_int_equal(p.ef_construction, 200);
  assert_int_equal(p.ef_search, 64);
  p.dim = 4;
  p.kind = OMEGA_INDEX_HNSW;
  omega_collection_t *c;
  p.m = 1;
  assert_int_equal(omega_collection_create("x", &p, NULL, &c), OMEGA_EINVAL);
  p.m = 257;
  assert_int_equal(omega_collection_create("x", &p, NULL, &c), OMEGA_EINVAL);
  p.m = 2;
  p.ef_construction = 0;
  assert_int_equal(omega_collection_create("x", &p, NULL, &c), OMEGA_EINVAL);
  /* the smallest graph works */
  p.ef_construction = 1;
  p.ef_search = 1;
  assert_int_equal(omega_collection_create("x", &p, NULL, &c), 0);
  upsert_rows(c, NULL, data, 50, 0, 2);
  omega_search_opts_t o = {.k = 5};
  omega_result_t res[5];
  size_t cnt;
  assert_int_equal(omega_collection_search(c, data, 1, &o, res, &cnt), 0);
  assert_int_equal(cnt, 5);
  omega_collection_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recall), cmocka_unit_test(test_recall_uniform),
      cmocka_unit_test(test_recall_multi_thread),  cmocka_unit_test(test_incremental),
      cmocka_unit_test(test_deletes_and_compaction), cmocka_unit_test(test_filters),
      cmocka_unit_test(test_round_trip),           cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_params),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* External ids: the id map itself (many keys, growth, tombstones reused, replacement) and
 * through collections: 64-bit integer and string ids, upsert replaces, delete, the string
 * id limits (empty or longer than 256 bytes: OMEGA_EINVAL, nothing changed). */
#include "ref.h"

#include "index/idmap.h"

static size_t key_int(int64_t v, unsigned char out[OMEGA_KEY_MAX]) {
  omega_id_t id = int_id(v);
  return omega__id_key(&id, out);
}

static void test_keys(void **state) {
  (void)state;
  unsigned char k[OMEGA_KEY_MAX];
  omega_result_t r;
  static const int64_t nums[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1ll << 40};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    size_t n = key_int(nums[i], k);
    assert_int_equal(n, 9);
    omega__key_to_result(k, n, &r);
    assert_false(r.is_str);
    assert_true(r.num == nums[i]);
  }
  char s[OMEGA_ID_MAX + 2];
  memset(s, 'x', sizeof s);
  s[0] = '\0'; /* an embedded NUL byte is part of the id */
  omega_id_t id = {1, 0, s, OMEGA_ID_MAX};
  size_t n = omega__id_key(&id, k);
  assert_int_equal(n, OMEGA_ID_MAX + 1);
  omega__key_to_result(k, n, &r);
  assert_true(r.is_str);
  assert_memory_equal(r.str, s, OMEGA_ID_MAX);
  assert_int_equal(r.str[OMEGA_ID_MAX], '\0');
  id.len = OMEGA_ID_MAX + 1;
  assert_int_equal(omega__id_key(&id, k), 0);
  id.len = 0;
  assert_int_equal(omega__id_key(&id, k), 0);
  id = (omega_id_t){1, 0, NULL, 3};
  assert_int_equal(omega__id_key(&id, k), 0);
  /* "5" and 5 are different keys */
  unsigned char a[OMEGA_KEY_MAX], b[OMEGA_KEY_MAX];
  omega_id_t sid = {1, 0, "5", 1};
  size_t na = omega__id_key(&sid, a), nb = key_int(5, b);
  assert_false(na == nb && memcmp(a, b, na) == 0);
}

/* The map against a plain array model: inserts, replacements, removals, re-inserts. */
static void test_map(void **state) {
  (void)state;
  omega_idmap_t m;
  assert_int_equal(omega__idmap_init(&m), 0);
  const size_t total = 60000, space = 20000;
  uint32_t *where = malloc(space * sizeof *where); /* model: id -> slot or UINT32_MAX */
  for (size_t i = 0; i < space; i++)
    where[i] = UINT32_MAX;
  uint64_t s = 3;
  unsigned char k[OMEGA_KEY_MAX];
  for (uint32_t slot = 0; slot < total; slot++) {
    int64_t id = (int64_t)(tu_rand(&s) % space);
    size_t n = key_int(id, k);
    if (tu_rand(&s) % 4 == 0) { /* remove one instead (every slot still gets its key) */
      omega__idmap_remove(&m, k, n);
      where[id] = UINT32_MAX;
    }
    assert_int_equal(omega__idmap_append_slot(&m, k, n), 0);
    assert_int_equal(omega__idmap_put(&m, slot), 0);
    where[id] = slot;
    if (slot % 9973 == 0) /* spot check everything */
      for (size_t j = 0; j < space; j++) {
        size_t nj = key_int((int64_t)j, k);
        assert_int_equal(omega__idmap_get(&m, k, nj), where[j]);
      }
  }
  for (size_t j = 0; j < space; j++) {
    size_t nj = key_int((int64_t)j, k);
    assert_int_equal(omega__idmap_get(&m, k, nj), where[j]);
    if (where[j] != UINT32_MAX) {
      size_t len;
      const unsigned char *sk = omega__idmap_key(&m, where[j], &len);
      assert_int_equal(len, nj);
      assert_memory_equal(sk, k, nj);
    }
  }
  /* remove everything: all gone; removing twice is harmless */
  for (size_t j = 0; j < space; j++) {
    size_t nj = key_int((int64_t)j, k);
    omega__idmap_remove(&m, k, nj);
    omega__idmap_remove(&m, k, nj);
  }
  for (size_t j = 0; j < space; j++) {
    size_t nj = key_int((int64_t)j, k);
    assert_int_equal(omega__idmap_get(&m, k, nj), UINT32_MAX);
  }
  assert_int_equal(m.used, 0);
  assert_true(omega__idmap_bytes(&m) > 0);
  free(where);
  omega__idmap_free(&m);
}

static omega_id_t str_id(const char *s) { return (omega_id_t){1, 0, s, strlen(s)}; }

/* Collections with integer, string and mixed ids. */
static void test_collection_ids(void **state) {
  (void)state;
  omega_collection_t *c = new_collection(2, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  char long_id[OMEGA_ID_MAX + 1];
  memset(long_id, 'L', OMEGA_ID_MAX);
  long_id[OMEGA_ID_MAX] = '\0';
  omega_id_t ids[6] = {int_id(INT64_MIN), int_id(INT64_MAX), int_id(-7), str_id("alpha"), str_id("-7"),
                       {1, 0, long_id, OMEGA_ID_MAX}};
  float v[12] = {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0};
  assert_int_equal(omega_collection_upsert(c, ids, v, 6, 1), 0);
  omega_search_opts_t o = {.k = 6};
  omega_result_t r[6];
  size_t cnt;
  float q[2] = {0, 0};
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 6);
  assert_true(!r[0].is_str && r[0].num == INT64_MIN);
  assert_true(!r[1].is_str && r[1].num == INT64_MAX);
  assert_true(!r[2].is_str && r[2].num == -7);
  assert_true(r[3].is_str && strcmp(r[3].str, "alpha") == 0);
  assert_true(r[4].is_str && strcmp(r[4].str, "-7") == 0);
  assert_true(r[5].is_str && strcmp(r[5].str, long_id) == 0);
  assert_true(r[5].score == 25.0f);

  /* upsert replaces: same count, new position */
  omega_id_t a = str_id("alpha");
  float far[2] = {100, 0};
  assert_int_equal(omega_collection_upsert(c, &a, far, 1, 1), 0);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 6);
  assert_int_equal(st.deleted, 1);
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 6);
  assert_true(r[5].is_str && strcmp(r[5].str, "alpha") == 0);
  assert_true(r[5].score == 10000.0f);
  /* the same id twice in one batch: the last one wins */
  omega_id_t twice[2] = {int_id(-7), int_id(-7)};
  float tv[4] = {50, 0, 0.5f, 0};
  assert_int_equal(omega_collection_upsert(c, twice, tv, 2, 1), 0);
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 6);
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), 0);
  assert_true(!r[1].is_str && r[1].num == -7 && r[1].score == 0.25f);

  /* delete: by integer and by string, unknown ids count nothing */
  omega_id_t del[4] = {int_id(INT64_MAX), str_id("-7"), str_id("nope"), int_id(12345)};
  size_t nd = 0;
  assert_int_equal(omega_collection_delete(c, del, 4, &nd), 0);
  assert_int_equal(nd, 2);
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 4);
  for (size_t i = 0; i < cnt; i++) {
    assert_false(!r[i].is_str && r[i].num == INT64_MAX);
    assert_false(r[i].is_str && strcmp(r[i].str, "-7") == 0);
  }
  /* a deleted id can come back */
  assert_int_equal(omega_collection_upsert(c, &del[1], q, 1, 1), 0);
  assert_int_equal(omega_collection_search(c, q, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 5);
  omega_collection_close(c);
}

/* String id limits: refused with OMEGA_EINVAL and nothing changes. */
static void test_string_limits(void **state) {
  (void)state;
  omega_collection_t *c = new_collection(2, OMEGA_METRIC_IP, OMEGA_INDEX_FLAT);
  char big[OMEGA_ID_MAX + 2];
  memset(big, 'b', sizeof big);
  float v[4] = {1, 2, 3, 4};
  omega_id_t bad[4] = {{1, 0, "", 0}, {1, 0, big, OMEGA_ID_MAX + 1}, {1, 0, NULL, 4}, {1, 0, big, 100000}};
  for (size_t i = 0; i < 4; i++) {
    omega_id_t pair[2] = {str_id("fine"), bad[i]};
    assert_int_equal(omega_collection_upsert(c, pair, v, 2, 1), OMEGA_EINVAL);
    assert_non_null(strstr(omega_errmsg(), "1-256"));
    size_t nd = 5;
    assert_int_equal(omega_collection_delete(c, pair, 2, &nd), OMEGA_EINVAL);
  }
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 0);
  assert_int_equal(st.slots, 0);
  /* exactly 256 bytes is fine, one byte is fine */
  omega_id_t ok[2] = {{1, 0, big, OMEGA_ID_MAX}, {1, 0, "z", 1}};
  assert_int_equal(omega_collection_upsert(c, ok, v, 2, 1), 0);
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, 2);
  /* a bad id in an allow list matches nothing; it is not an error */
  omega_search_opts_t o = {.k = 2, .allow = bad, .n_allow = 2};
  omega_result_t r[2];
  size_t cnt = 9;
  assert_int_equal(omega_collection_search(c, v, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 0);
  o.allow = ok + 1;
  o.n_allow = 1;
  assert_int_equal(omega_collection_search(c, v, 1, &o, r, &cnt), 0);
  assert_int_equal(cnt, 1);
  assert_string_equal(r[0].str, "z");
  omega_collection_close(c);
}

/* Many string ids through a collection with replacements: the map survives growth. */
static void test_many_strings(void **state) {
  (void)state;
  omega_collection_t *c = new_collection(1, OMEGA_METRIC_L2, OMEGA_INDEX_FLAT);
  const size_t n = 5000;
  char (*names)[32] = malloc(n * sizeof *names);
  omega_id_t *ids = malloc(n * sizeof *ids);
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "doc-%zu-%s", i, i % 2 ? "odd" : "even");
    ids[i] = str_id(names[i]);
    v[i] = (float)i;
  }
  assert_int_equal(omega_collection_upsert(c, ids, v, n, 1), 0);
  for (size_t i = 0; i < n; i++)
    v[i] = (float)(i + n); /* move every point */
  assert_int_equal(omega_collection_upsert(c, ids, v, n, 1), 0);
  omega_collection_stats_t st;
  omega_collection_stats(c, &st);
  assert_int_equal(st.count, n);
  assert_int_equal(st.deleted, n);
  assert_int_equal(omega_collection_compact(c), 0);
  omega_search_opts_t o = {.k = 1};
  for (size_t i = 0; i < n; i += 397) {
    float q = (float)(i + n);
    omega_result_t r;
    size_t cnt;
    assert_int_equal(omega_collection_search(c, &q, 1, &o, &r, &cnt), 0);
    assert_int_equal(cnt, 1);
    assert_true(r.is_str);
    assert_string_equal(r.str, names[i]);
    assert_true(r.score == 0.0f);
  }
  free(names);
  free(ids);
  free(v);
  omega_collection_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),           cmocka_unit_test(test_map),
      cmocka_unit_test(test_collection_ids), cmocka_unit_test(test_string_limits),
      cmocka_unit_test(test_many_strings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

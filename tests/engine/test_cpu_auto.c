/* EMBED_CPU_PRECISION=auto: the policy on hand-made measurements, then the engine measuring a
 * generated model, running what it chose, and keeping the choice in its cache folder. */
#include "testutil.h"

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/packed.h"
#include "engine/cpu_auto.h"
#include "omega/omega.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#define MODEL "--hidden 64 --layers 2 --heads 4 --intermediate 256 --max-seq-length 64 --seed 5"

static char *model_dir, *cache_dir;

/* ---- the policy ---- */

static size_t choose(omega_cpu_trial_t *t, size_t n, double bound) { return omega__cpu_auto_choose(t, n, bound); }

static void test_policy_picks_the_fastest_mode_within_the_bound(void **state) {
  (void)state;
  omega_cpu_trial_t t[] = {{OMEGA_CPU_FP32, 10, 1, 0}, {OMEGA_CPU_BF16, 5, 0.99999, 0}, {OMEGA_CPU_INT8, 7, 0.9999, 0}};
  assert_int_equal(choose(t, 3, 0.9999), 1);
  assert_true(t[0].accepted && t[1].accepted && t[2].accepted);
}

static void test_policy_never_runs_a_mode_below_the_bound(void **state) {
  (void)state;
  omega_cpu_trial_t t[] = {{OMEGA_CPU_FP32, 10, 1, 0}, {OMEGA_CPU_BF16, 6, 0.99999, 0}, {OMEGA_CPU_INT8, 3, 0.9997, 0}};
  assert_int_equal(choose(t, 3, 0.9999), 1);
  assert_false(t[2].accepted);
  /* a looser bound lets it run */
  assert_int_equal(choose(t, 3, 0.999), 2);
}

static void test_policy_keeps_the_more_exact_mode_when_the_gain_is_within_the_margin(void **state) {
  (void)state;
  omega_cpu_trial_t t[] = {{OMEGA_CPU_FP32, 10, 1, 0}, {OMEGA_CPU_INT8, 9.7, 0.99995, 0}};
  assert_int_equal(choose(t, 2, 0.9999), 0);
  t[1].ms = 10 / (1 + OMEGA_CPU_AUTO_MARGIN) - 0.01;
  assert_int_equal(choose(t, 2, 0.9999), 1);
  /* among three: int8 fastest, bf16 within the margin of it and more exact */
  omega_cpu_trial_t u[] = {{OMEGA_CPU_FP32, 10, 1, 0}, {OMEGA_CPU_BF16, 6.1, 0.99999, 0}, {OMEGA_CPU_INT8, 6, 0.9999, 0}};
  assert_int_equal(choose(u, 3, 0.9999), 1);
}

static void test_policy_runs_fp32_when_nothing_is_faster_or_exact_enough(void **state) {
  (void)state;
  omega_cpu_trial_t t[] = {{OMEGA_CPU_FP32, 4, 1, 0}, {OMEGA_CPU_BF16, 5, 0.99999, 0}};
  assert_int_equal(choose(t, 2, 0.9999), 0);
  omega_cpu_trial_t u[] = {{OMEGA_CPU_FP32, 10, 1, 0}, {OMEGA_CPU_BF16, 5, 0.999, 0}, {OMEGA_CPU_INT8, 3, 0.99, 0}};
  assert_int_equal(choose(u, 3, 1), 0);
  assert_true(u[0].accepted);
  assert_false(u[1].accepted || u[2].accepted);
}

/* ---- the engine ---- */

static omega_engine_t *open_auto(double bound, const char *cache, omega_engine_info_t *info) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.accel.mode = OMEGA_ACCEL_CPU;
  o.cpu_precision = OMEGA_CPU_AUTO;
  o.cpu_auto_min_cosine = bound;
  o.cpu_auto_cache_dir = cache;
  omega_engine_t *e;
  if (omega_engine_open(model_dir, &o, &e))
    fail_msg("%s", omega_errmsg());
  omega_engine_info(e, info);
  assert_non_null(info->cpu_auto);
  return e;
}

static size_t modes_of_this_cpu(void) {
  size_t n = 0;
  for (int p = 0; p < OMEGA_CPU_KERNEL_PRECISIONS; p++)
    n += omega__precision_unsupported((omega_cpu_precision_t)p, omega__cpu_isa()) == NULL;
  return n;
}

static void embed(omega_engine_t *e, float *out) {
  static const char *const s[] = {"the first text", "a second and longer text, with a comma", "3"};
  omega_text_t t[3];
  for (int i = 0; i < 3; i++)
    t[i] = (omega_text_t){s[i], strlen(s[i])};
  if (omega_engine_embed(e, t, 3, 0, out))
    fail_msg("%s", omega_errmsg());
}

static void test_auto_measures_every_mode_and_runs_the_one_it_chose(void **state) {
  (void)state;
  omega_engine_info_t info;
  omega_engine_t *e = open_auto(OMEGA_ENGINE_CPU_AUTO_MIN_COSINE_DEFAULT, NULL, &info);
  const omega_cpu_auto_t *a = info.cpu_auto;
  assert_int_equal(a->n_trials, modes_of_this_cpu());
  assert_int_equal(a->trials[0].precision, OMEGA_CPU_FP32);
  assert_true(a->trials[0].min_cosine == 1);
  for (size_t i = 0; i < a->n_trials; i++) {
    assert_true(a->trials[i].ms > 0);
    assert_true(a->trials[i].min_cosine > 0.99 && a->trials[i].min_cosine <= 1);
    print_message("  %s %.3f ms cos %.9f%s\n", omega_cpu_precision_name(a->trials[i].precision), a->trials[i].ms,
                  a->trials[i].min_cosine, a->trials[i].accepted ? "" : " (below)");
  }
  assert_false(a->cached);
  assert_string_equal(a->cache, "off");
  assert_int_equal(a->probe_texts, 16);
  assert_true(a->probe_tokens > a->probe_texts * 3);
  omega_cpu_trial_t copy[OMEGA_CPU_KERNEL_PRECISIONS];
  memcpy(copy, a->trials, sizeof copy);
  assert_int_equal(a->chosen, copy[omega__cpu_auto_choose(copy, a->n_trials, a->min_cosine)].precision);
  assert_string_equal(info.cpu_precision, omega_cpu_precision_name(a->chosen));

  /* the embeddings are those of the chosen mode set by hand */
  float got[3 * 64], want[3 * 64];
  embed(e, got);
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.accel.mode = OMEGA_ACCEL_CPU;
  o.cpu_precision = a->chosen;
  omega_engine_t *f;
  assert_int_equal(omega_engine_open(model_dir, &o, &f), 0);
  embed(f, want);
  omega_engine_info_t fi;
  omega_engine_info(f, &fi);
  assert_null(fi.cpu_auto);
  assert_memory_equal(got, want, sizeof got);
  omega_engine_close(f);
  omega_engine_close(e);
}

static void test_auto_bound_decides_which_modes_may_run(void **state) {
  (void)state;
  const double bounds[] = {0, 0.9999, 1};
  for (size_t b = 0; b < 3; b++) {
    omega_engine_info_t info;
    omega_engine_t *e = open_auto(bounds[b], NULL, &info);
    const omega_cpu_auto_t *a = info.cpu_auto;
    for (size_t i = 0; i < a->n_trials; i++) {
      const omega_cpu_trial_t *t = &a->trials[i];
      assert_int_equal(t->accepted, t->precision == OMEGA_CPU_FP32 || t->min_cosine >= bounds[b]);
      if (t->precision == a->chosen)
        assert_true(t->accepted);
    }
    if (bounds[b] == 0) /* every mode may run: the chosen one is within the margin of the fastest */
      for (size_t i = 0; i < a->n_trials; i++)
        for (size_t j = 0; j < a->n_trials; j++)
          if (a->trials[j].precision == a->chosen)
            assert_true(a->trials[j].ms <= a->trials[i].ms * (1 + OMEGA_CPU_AUTO_MARGIN));
    omega_engine_close(e);
  }
}

static char *cache_file(void) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls %s/cpu-precision-*.json 2>/dev/null | head -1 > %s/which", cache_dir, cache_dir);
  tu_system("%s", cmd);
  char path[4200];
  snprintf(path, sizeof path, "%s/which", cache_dir);
  char *name = tu_read_file(path, NULL);
  name[strcspn(name, "\n")] = 0;
  return name;
}

static void test_auto_second_open_reads_the_cache(void **state) {
  (void)state;
  tu_system("rm -rf %s/*", cache_dir);
  omega_engine_info_t first, second;
  omega_engine_t *e = open_auto(0.9999, cache_dir, &first);
  assert_false(first.cpu_auto->cached);
  char *file = cache_file();
  assert_true(file[0]);
  assert_string_equal(first.cpu_auto->cache, file);
  omega_engine_t *f = open_auto(0.9999, cache_dir, &second);
  assert_true(second.cpu_auto->cached);
  assert_int_equal(second.cpu_auto->chosen, first.cpu_auto->chosen);
  assert_int_equal(second.cpu_auto->n_trials, first.cpu_auto->n_trials);
  for (size_t i = 0; i < first.cpu_auto->n_trials; i++) {
    assert_int_equal(second.cpu_auto->trials[i].precision, first.cpu_auto->trials[i].precision);
    assert_true(second.cpu_auto->trials[i].ms == first.cpu_auto->trials[i].ms);
    assert_true(second.cpu_auto->trials[i].min_cosine == first.cpu_auto->trials[i].min_cosine);
  }
  assert_string_equal(second.cpu_auto->cache, file);
  assert_string_equal(second.cpu_precision, first.cpu_precision);
  free(file);
  omega_engine_close(f);
  omega_engine_close(e);
}

static void open_expect_cached(double bound, int cached) {
  omega_engine_info_t info;
  omega_engine_t *e = open_auto(bound, cache_dir, &info);
  if (info.cpu_auto->cached != cached)
    fail_msg("cached %d, expected %d (%s)", info.cpu_auto->cached, cached, info.cpu_auto->cache);
  omega_engine_close(e);
}

static void test_auto_cache_misses_when_the_bound_or_the_model_changes(void **state) {
  (void)state;
  tu_system("rm -rf %s/*", cache_dir);
  open_expect_cached(0.9999, 0);
  open_expect_cached(0.9999, 1);
  open_expect_cached(0.999, 0); /* another bound: another entry */
  open_expect_cached(0.999, 1);
  char cfg[4200];
  snprintf(cfg, sizeof cfg, "%s/config.json", model_dir);
  struct utimbuf later = {time(NULL) + 5, time(NULL) + 5};
  assert_int_equal(utime(cfg, &later), 0); /* the folder changed: measured again */
  open_expect_cached(0.9999, 0);
  open_expect_cached(0.9999, 1);
}

static void test_auto_damaged_cache_is_measured_again_and_rewritten(void **state) {
  (void)state;
  tu_system("rm -rf %s/*", cache_dir);
  open_expect_cached(0.9999, 0);
  char *file = cache_file();
  static const char *const bad[] = {
      "{not json",
      "{\"key\":\"another\",\"probe_texts\":16,\"probe_tokens\":300,\"trials\":[]}",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tu_write_file(file, bad[i], strlen(bad[i]));
    omega_engine_info_t info;
    omega_engine_t *e = open_auto(0.9999, cache_dir, &info);
    assert_false(info.cpu_auto->cached);
    assert_string_equal(info.cpu_auto->cache, file); /* written afresh */
    omega_engine_close(e);
    open_expect_cached(0.9999, 1);
  }
  /* a whole file with the right key but a trial edited out of range */
  char *text = tu_read_file(file, NULL);
  char *ms = strstr(text, "\"ms\": ");
  assert_non_null(ms);
  const size_t at = (size_t)(ms - text) + 6, len = strlen(text);
  char *edited = malloc(len + 2);
  memcpy(edited, text, at);
  edited[at] = '-';
  memcpy(edited + at + 1, text + at, len - at + 1);
  tu_write_file(file, edited, len + 1);
  free(edited);
  open_expect_cached(0.9999, 0);
  free(text);
  free(file);
}

static void test_auto_opens_where_the_cache_cannot_be_written(void **state) {
  (void)state;
  omega_engine_info_t info;
  omega_engine_t *e = open_auto(0.9999, "/dev/null/omega-cache", &info);
  assert_false(info.cpu_auto->cached);
  assert_non_null(strstr(info.cpu_auto->cache, "not written"));
  omega_engine_close(e);
}

static void test_auto_tries_only_the_modes_the_kernels_allow(void **state) {
  (void)state;
  static const omega_isa_cap_t caps[] = {OMEGA_ISA_CAP_AVX2, OMEGA_ISA_CAP_PORTABLE};
  for (size_t c = 0; c < 2; c++) {
    assert_int_equal(omega_cpu_isa_force(caps[c]), 0);
    if (omega__cpu_isa()->level != (caps[c] == OMEGA_ISA_CAP_AVX2 ? OMEGA_ISA_AVX2 : OMEGA_ISA_PORTABLE))
      continue; /* a CPU without AVX2 runs portable for both */
    omega_engine_info_t info;
    omega_engine_t *e = open_auto(0.9999, NULL, &info);
    const omega_cpu_auto_t *a = info.cpu_auto;
    assert_int_equal(a->n_trials, caps[c] == OMEGA_ISA_CAP_AVX2 ? 2 : 1);
    assert_int_equal(a->trials[0].precision, OMEGA_CPU_FP32);
    if (a->n_trials == 2)
      assert_int_equal(a->trials[1].precision, OMEGA_CPU_INT8);
    omega_engine_close(e);
  }
  assert_int_equal(omega_cpu_isa_force(OMEGA_ISA_CAP_AUTO), 0);
  tu_cpu_caps_from_env();
}

static void test_auto_bound_outside_a_cosine_is_refused(void **state) {
  (void)state;
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.accel.mode = OMEGA_ACCEL_CPU;
  o.cpu_precision = OMEGA_CPU_AUTO;
  o.cpu_auto_min_cosine = 1.5;
  omega_engine_t *e = NULL;
  assert_int_equal(omega_engine_open(model_dir, &o, &e), OMEGA_EINVAL);
  assert_non_null(strstr(omega_errmsg(), "[0, 1]"));
  assert_null(e);
}

static int setup(void **state) {
  (void)state;
  model_dir = tu_mkdtemp();
  cache_dir = tu_mkdtemp();
  tu_genmodel(model_dir, MODEL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(model_dir);
  tu_rmtree(cache_dir);
  free(model_dir);
  free(cache_dir);
  return 0;
}

int main(void) {
  tu_cpu_caps_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_picks_the_fastest_mode_within_the_bound),
      cmocka_unit_test(test_policy_never_runs_a_mode_below_the_bound),
      cmocka_unit_test(test_policy_keeps_the_more_exact_mode_when_the_gain_is_within_the_margin),
      cmocka_unit_test(test_policy_runs_fp32_when_nothing_is_faster_or_exact_enough),
      cmocka_unit_test(test_auto_measures_every_mode_and_runs_the_one_it_chose),
      cmocka_unit_test(test_auto_bound_decides_which_modes_may_run),
      cmocka_unit_test(test_auto_second_open_reads_the_cache),
      cmocka_unit_test(test_auto_cache_misses_when_the_bound_or_the_model_changes),
      cmocka_unit_test(test_auto_damaged_cache_is_measured_again_and_rewritten),
      cmocka_unit_test(test_auto_opens_where_the_cache_cannot_be_written),
      cmocka_unit_test(test_auto_tries_only_the_modes_the_kernels_allow),
      cmocka_unit_test(test_auto_bound_outside_a_cosine_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* The settings table: layers (default < profile < file < env < cli < runtime), validation,
 * all-or-nothing reloads and runtime changes, restart-only settings, rollback. */
#include "testutil.h"

#include "config/config.h"
#include "config/library_opts.h"
#include "omega/cpu.h"
#include "omega/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static char file[4096];

static int setup(void **state) {
  (void)state;
  for (size_t i = 0; i < omega__cfg_count; i++)
    unsetenv(omega__cfg_table[i].name);
  dir = tu_mkdtemp();
  snprintf(file, sizeof file, "%s/omega.env", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(dir);
  free(dir);
  return 0;
}

static void write_cfg(const char *text) { tu_write_file(file, text, strlen(text)); }

static omega_config_t *make(const char *const *cli, size_t n) {
  omega_config_t *c;
  if (omega__config_create(cli, n, &c))
    fail_msg("%s", omega_errmsg());
  return c;
}

static const char *val(omega_config_t *c, const char *name, omega_cfg_source_t *src) {
  static char buf[1100];
  size_t idx;
  assert_non_null(omega__config_find(name, &idx));
  omega__config_value(c, idx, true, buf, sizeof buf, src);
  return buf;
}

static void test_defaults(void **state) {
  (void)state;
  omega_config_t *c = make(NULL, 0);
  omega_settings_t s;
  omega__config_get(c, &s);
  assert_int_equal(s.embed_max_batch, 64);
  assert_int_equal(s.omega_port, 8080);
  assert_true(s.embed_prefer_gpu);
  assert_int_equal(s.omega_accel, 0);
  omega_cfg_source_t src;
  assert_string_equal(val(c, "ACCEL_TARGET_LAT_MS", &src), "100");
  assert_int_equal(src, OMEGA_SRC_DEFAULT);
  /* every declared default is valid for its own declaration */
  for (size_t i = 0; i < omega__cfg_count; i++) {
    char msg[256];
    assert_int_equal(omega__config_parse_value(&omega__cfg_table[i], omega__cfg_table[i].def, &s, msg, sizeof msg), 0);
  }
  omega__config_free(c);
}

static void test_layers(void **state) {
  (void)state;
  write_cfg("# comment\n\nEMBED_MAX_BATCH=100\nexport EMBED_GPU_SLOTS = 3\nOMEGA_HOST=\"0.0.0.0\"\n"
            "ACCEL_TARGET_LAT_MS=40\n");
  setenv("OMEGA_CONFIG_FILE", file, 1);
  setenv("OMEGA_PROFILE", "LOW_LATENCY", 1);
  setenv("EMBED_GPU_SLOTS", "5", 1);
  const char *cli[] = {"EMBED_GPU_SLOTS=7", "OMEGA_PORT=9000"};
  omega_config_t *c = make(cli, 2);
  omega_cfg_source_t src;
  assert_string_equal(val(c, "EMBED_MAX_BATCH", &src), "100"); /* file over profile (16) */
  assert_int_equal(src, OMEGA_SRC_FILE);
  assert_string_equal(val(c, "EMBED_GPU_SLOTS", &src), "7"); /* cli over env over file */
  assert_int_equal(src, OMEGA_SRC_CLI);
  assert_string_equal(val(c, "OMEGA_HOST", &src), "0.0.0.0");
  assert_string_equal(val(c, "EMBED_QUEUE_CAPACITY", &src), "1024"); /* from the profile */
  assert_int_equal(src, OMEGA_SRC_PROFILE);
  assert_string_equal(val(c, "OMEGA_PROFILE", &src), "LOW_LATENCY");
  assert_int_equal(src, OMEGA_SRC_ENV);
  assert_string_equal(val(c, "OMEGA_PORT", &src), "9000");
  omega__config_free(c);
  unsetenv("OMEGA_CONFIG_FILE");
  unsetenv("OMEGA_PROFILE");
  unsetenv("EMBED_GPU_SLOTS");
}

static void expect_create_error(const char *const *cli, size_t n, const char *msg) {
  omega_config_t *c = NULL;
  assert_int_equal(omega__config_create(cli, n, &c), OMEGA_EINVAL);
  assert_null(c);
  if (!strstr(omega_errmsg(), msg))
    fail_msg("message \"%s\" lacks \"%s\"", omega_errmsg(), msg);
}

static void test_invalid_values(void **state) {
  (void)state;
  const char *a[] = {"EMBED_MAX_BATCH=0"};
  expect_create_error(a, 1, "EMBED_MAX_BATCH must be an integer in [1, 4096]");
  const char *b[] = {"EMBED_PREFER_GPU=maybe"};
  expect_create_error(b, 1, "true or false");
  const char *d[] = {"OMEGA_ACCEL=tpu"};
  expect_create_error(d, 1, "one of auto, gpu, cpu");
  const char *e[] = {"NOT_A_SETTING=1"};
  expect_create_error(e, 1, "unknown setting");
  static const char *const reals[] = {"EMBED_CPU_AUTO_MIN_COSINE=1.5", "EMBED_CPU_AUTO_MIN_COSINE=-0.1",
                                      "EMBED_CPU_AUTO_MIN_COSINE=nan", "EMBED_CPU_AUTO_MIN_COSINE=0.9x",
                                      "EMBED_CPU_AUTO_MIN_COSINE="};
  for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
    expect_create_error(&reals[i], 1, "EMBED_CPU_AUTO_MIN_COSINE must be a number in [0, 1]");
  const char *ok[] = {"EMBED_CPU_AUTO_MIN_COSINE= 0.99 "};
  omega_config_t *c = NULL;
  assert_int_equal(omega__config_create(ok, 1, &c), 0);
  omega_settings_t set;
  omega__config_get(c, &set);
  assert_true(set.embed_cpu_auto_min_cosine == 0.99);
  assert_string_equal(val(c, "EMBED_CPU_AUTO_MIN_COSINE", NULL), "0.99");
  omega__config_free(c);
  setenv("OMEGA_PORT", "http", 1);
  expect_create_error(NULL, 0, "environment OMEGA_PORT");
  unsetenv("OMEGA_PORT");
  write_cfg("EMBED_MAX_BATCH=8\nBOGUS=1\n");
  setenv("OMEGA_CONFIG_FILE", file, 1);
  expect_create_error(NULL, 0, "omega.env:2: unknown setting BOGUS");
  write_cfg("EMBED_MAX_BATCH 8\n");
  expect_create_error(NULL, 0, "omega.env:1: expected KEY=VALUE");
  unsetenv("OMEGA_CONFIG_FILE");
}

/* An enum setting's choices are the names of its enum, from their one list: count, order and
 * spelling (an index stored for one list and read through another ran bf16x3 as int8 once). */
static void expect_choices(const char *setting, int count, const char *(*name_of)(int)) {
  const omega_cfg_def_t *d = omega__config_find(setting, NULL);
  assert_non_null(d);
  assert_int_equal(d->type, OMEGA_CFG_ENUM);
  for (int i = 0; i < count; i++) {
    assert_non_null(d->choices[i]);
    assert_string_equal(d->choices[i], name_of(i));
  }
  assert_null(d->choices[count]);
}

static const char *accel_name(int i) { return omega_accel_mode_name((omega_accel_mode_t)i); }
static const char *dtype_name(int i) { return omega_gpu_dtype_name((omega_gpu_dtype_t)i); }
static const char *precision_name(int i) { return omega_cpu_precision_name((omega_cpu_precision_t)i); }
static const char *isa_name(int i) { return omega_isa_cap_names[i]; }
static const char *profile_name(int i) { return omega__profile_names[i]; }
static const char *log_name(int i) { return omega__cfg_log_level_names[i]; }
static const char *fsync_name(int i) { return omega__cfg_fsync_names[i]; }

static void test_enum_choices(void **state) {
  (void)state;
  expect_choices("OMEGA_ACCEL", OMEGA_ACCEL_COUNT, accel_name);
  expect_choices("EMBED_GPU_DTYPE", OMEGA_GPU_DTYPE_COUNT, dtype_name);
  expect_choices("EMBED_CPU_PRECISION", OMEGA_CPU_PRECISION_COUNT, precision_name);
  expect_choices("OMEGA_CPU_ISA", OMEGA_ISA_CAP_COUNT, isa_name);
  expect_choices("OMEGA_SIMD", OMEGA_ISA_CAP_COUNT, isa_name);
  expect_choices("OMEGA_PROFILE", OMEGA_PROFILE_COUNT, profile_name);
  expect_choices("OMEGA_LOG_LEVEL", OMEGA_CFG_LOG_COUNT, log_name);
  expect_choices("OMEGA_INDEX_FSYNC", OMEGA_CFG_FSYNC_COUNT, fsync_name);
  /* every enum setting is one of those */
  size_t enums = 0;
  for (size_t i = 0; i < omega__cfg_count; i++)
    enums += omega__cfg_table[i].type == OMEGA_CFG_ENUM;
  assert_int_equal(enums, 8);
  /* a value lands in the typed field as its enum */
  const char *cli[] = {"EMBED_CPU_PRECISION=bf16x3", "OMEGA_ACCEL=cpu", "EMBED_GPU_DTYPE=tf32",
                       "OMEGA_CPU_ISA=avx2",         "OMEGA_SIMD=portable", "OMEGA_LOG_LEVEL=warn",
                       "OMEGA_INDEX_FSYNC=interval", "OMEGA_PROFILE=LOW_LATENCY"};
  omega_config_t *c = make(cli, sizeof cli / sizeof cli[0]);
  omega_settings_t s;
  omega__config_get(c, &s);
  assert_int_equal(s.embed_cpu_precision, OMEGA_CPU_BF16X3);
  assert_int_equal(s.omega_accel, OMEGA_ACCEL_CPU);
  assert_int_equal(s.embed_gpu_dtype, OMEGA_GPU_DTYPE_TF32);
  assert_int_equal(s.omega_cpu_isa, OMEGA_ISA_CAP_AVX2);
  assert_int_equal(s.omega_simd, OMEGA_ISA_CAP_PORTABLE);
  assert_int_equal(s.omega_log_level, OMEGA_LOG_WARN);
  assert_int_equal(s.omega_index_fsync, OMEGA_CFG_FSYNC_INTERVAL);
  assert_int_equal(s.omega_profile, OMEGA_PROFILE_LOW_LATENCY);
  omega__config_free(c);
}

/* OMEGA_CPU_ISA and OMEGA_SIMD are restart-only settings of the table like any other. */
static void test_cpu_caps(void **state) {
  (void)state;
  const char *names[] = {"OMEGA_CPU_ISA", "OMEGA_SIMD"};
  for (int k = 0; k < 2; k++) {
    const omega_cfg_def_t *d = omega__config_find(names[k], NULL);
    assert_non_null(d);
    assert_string_equal(d->def, "auto");
    assert_false(d->flags & OMEGA_CFG_HOT);
    char arg[64];
    snprintf(arg, sizeof arg, "%s=avx1024", names[k]);
    const char *cli[] = {arg};
    char want[128];
    snprintf(want, sizeof want, "%s must be one of auto, amx, avx512, avx2, neon, portable", names[k]);
    expect_create_error(cli, 1, want);
    setenv(names[k], "AVX3", 1);
    snprintf(want, sizeof want, "environment %s", names[k]);
    expect_create_error(NULL, 0, want);
    unsetenv(names[k]);
    omega_config_t *c = make(NULL, 0);
    char msg[1024];
    const char *v[] = {"portable"};
    assert_int_equal(omega__config_set_runtime(c, "test", &names[k], v, 1, msg, sizeof msg), OMEGA_EINVAL);
    assert_non_null(strstr(msg, "restart-only"));
    omega__config_free(c);
  }
  /* the library takes only its enum */
  assert_int_equal(omega_cpu_isa_force(OMEGA_ISA_CAP_COUNT), OMEGA_EINVAL);
  assert_int_equal(omega_simd_force((omega_isa_cap_t)-1), OMEGA_EINVAL);
  omega_isa_cap_t cap;
  assert_int_equal(omega_isa_cap_parse("avx512", &cap), 0);
  assert_int_equal(cap, OMEGA_ISA_CAP_AVX512);
  assert_int_equal(omega_isa_cap_parse("AVX512", &cap), OMEGA_EINVAL);
}

/* The engine's own defaults are the table's (max_batch was 32 in the engine, 64 in the table),
 * but for the queue: unbounded in the library, bounded by the server. */
static void test_engine_defaults(void **state) {
  (void)state;
  omega_config_t *c = make(NULL, 0);
  omega_settings_t s;
  omega__config_get(c, &s);
  omega_engine_opts_t lib, cfg;
  omega_engine_opts_init(&lib);
  omega__config_engine_opts(&s, &s, &cfg);
  assert_int_equal(lib.tuning.queue_capacity, 0);
  assert_int_equal(cfg.tuning.queue_capacity, 4096);
#define SAME(f) assert_int_equal(lib.f, cfg.f)
  SAME(tuning.max_batch);
  SAME(tuning.max_batch_tokens);
  SAME(tuning.batch_window_ms);
  SAME(tuning.adaptive);
  SAME(tuning.target_latency_ms);
  SAME(tuning.gpu_slots);
  SAME(tuning.prefer_gpu);
  SAME(tuning.oom_cpu_fallback);
  SAME(tuning.cuda_graph_tokens);
  SAME(threads);
  SAME(accel.max_slots);
  SAME(accel.device);
#undef SAME
  assert_int_equal(lib.tuning.max_batch, 64);
  assert_int_equal(lib.accel.mode, cfg.accel.mode);
  /* the library's default is the exact mode, the program's auto (a caller of the library
   * chooses; a server should run the fastest mode within the bound), with the same bound */
  assert_string_equal(omega_cpu_precision_name(lib.cpu_precision), "fp32");
  assert_string_equal(omega_cpu_precision_name(cfg.cpu_precision), "auto");
  assert_true(lib.cpu_auto_min_cosine == cfg.cpu_auto_min_cosine);
  assert_string_equal(omega_gpu_dtype_name(cfg.accel.dtype), "auto");
  omega__config_free(c);
}

typedef struct {
  int calls, fail;
  long long last_batch;
} apply_t;

static int on_apply(const omega_settings_t *old, const omega_settings_t *now, void *user) {
  (void)old;
  apply_t *a = user;
  a->calls++;
  if (a->fail && now->embed_max_batch == 13)
    return OMEGA_EINVAL;
  a->last_batch = now->embed_max_batch;
  return 0;
}

static void test_reload(void **state) {
  (void)state;
  write_cfg("EMBED_MAX_BATCH=10\n");
  const char *cli[] = {"OMEGA_CONFIG_FILE=x"};
  char arg[4200];
  snprintf(arg, sizeof arg, "OMEGA_CONFIG_FILE=%s", file);
  cli[0] = arg;
  omega_config_t *c = make(cli, 1);
  apply_t a = {0};
  omega__config_set_apply(c, on_apply, &a);
  char msg[1024];
  write_cfg("EMBED_MAX_BATCH=20\n");
  assert_int_equal(omega__config_reload(c, msg, sizeof msg), 0);
  assert_int_equal(a.last_batch, 20);
  /* invalid file: rejected as a whole, old values kept */
  write_cfg("EMBED_MAX_BATCH=30\nACCEL_TARGET_LAT_MS=-5\n");
  assert_int_equal(omega__config_reload(c, msg, sizeof msg), OMEGA_EINVAL);
  assert_non_null(strstr(msg, "omega.env:2"));
  assert_string_equal(val(c, "EMBED_MAX_BATCH", NULL), "20");
  /* a restart-only change is reported and not applied; the rest is */
  write_cfg("EMBED_MAX_BATCH=40\nOMEGA_PORT=9999\n");
  assert_int_equal(omega__config_reload(c, msg, sizeof msg), 0);
  assert_non_null(strstr(msg, "OMEGA_PORT changed but needs a restart"));
  assert_string_equal(val(c, "EMBED_MAX_BATCH", NULL), "40");
  assert_string_equal(val(c, "OMEGA_PORT", NULL), "8080");
  /* the apply callback failing rolls everything back */
  a.fail = 1;
  write_cfg("EMBED_MAX_BATCH=13\nEMBED_GPU_SLOTS=9\n");
  assert_int_equal(omega__config_reload(c, msg, sizeof msg), OMEGA_EINVAL);
  assert_string_equal(val(c, "EMBED_MAX_BATCH", NULL), "40");
  assert_string_equal(val(c, "EMBED_GPU_SLOTS", NULL), "2");
  assert_int_equal(a.last_batch, 40); /* the callback saw the rollback */
  omega_cfg_stats_t st;
  omega__config_stats(c, &st);
  assert_int_equal(st.reloads_ok, 2);
  assert_int_equal(st.reloads_failed, 2);
  omega__config_free(c);
}

static void test_runtime(void **state) {
  (void)state;
  omega_config_t *c = make(NULL, 0);
  char msg[1024];
  const char *k1[] = {"EMBED_MAX_BATCH", "ACCEL_TARGET_LAT_MS"}, *v1[] = {"12", "250"};
  assert_int_equal(omega__config_set_runtime(c, "test", k1, v1, 2, msg, sizeof msg), 0);
  omega_cfg_source_t src;
  assert_string_equal(val(c, "EMBED_MAX_BATCH", &src), "12");
  assert_int_equal(src, OMEGA_SRC_RUNTIME);
  /* all or nothing: one bad value rejects the whole change */
  const char *v2[] = {"30", "nope"};
  assert_int_equal(omega__config_set_runtime(c, "test", k1, v2, 2, msg, sizeof msg), OMEGA_EINVAL);
  assert_non_null(strstr(msg, "ACCEL_TARGET_LAT_MS"));
  assert_string_equal(val(c, "EMBED_MAX_BATCH", NULL), "12");
  const char *k3[] = {"OMEGA_PORT"}, *v3[] = {"1234"};
  assert_int_equal(omega__config_set_runtime(c, "test", k3, v3, 1, msg, sizeof msg), OMEGA_EINVAL);
  assert_non_null(strstr(msg, "restart-only"));
  const char *k4[] = {"NOPE"}, *v4[] = {"1"};
  assert_int_equal(omega__config_set_runtime(c, "test", k4, v4, 1, msg, sizeof msg), OMEGA_EINVAL);
  assert_non_null(strstr(msg, "unknown setting NOPE"));
  /* a profile switch at run time re-derives the profile layer; explicit values still win */
  const char *k5[] = {"OMEGA_PROFILE"}, *v5[] = {"HIGH_THROUGHPUT"};
  assert_int_equal(omega__config_set_runtime(c, "test", k5, v5, 1, msg, sizeof msg), 0);
  assert_string_equal(val(c, "EMBED_MAX_BATCH_TOKENS", &src), "65536");
  assert_int_equal(src, OMEGA_SRC_PROFILE);
  assert_string_equal(val(c, "EMBED_MAX_BATCH", NULL), "12");
  /* secrets are never shown */
  const char *k6[] = {"OMEGA_HMAC_SECRET"}, *v6[] = {"hunter2"};
  assert_int_equal(omega__config_set_runtime(c, "test", k6, v6, 1, msg, sizeof msg), 0);
  assert_string_equal(val(c, "OMEGA_HMAC_SECRET", NULL), "(set)");
  omega__config_free(c);
}

/* A config file broken after it was loaded blocks reloads, not runtime changes: they go
 * over the file as last loaded, whose values stay in force. */
static void test_runtime_over_last_good_file(void **state) {
  (void)state;
  write_cfg("EMBED_MAX_BATCH=10\nACCEL_TARGET_LAT_MS=40\n");
  setenv("OMEGA_CONFIG_FILE", file, 1);
  omega_config_t *c = make(NULL, 0);
  char msg[1024];
  write_cfg("EMBED_MAX_BATCH=30\nbroken line\n");
  assert_int_equal(omega__config_reload(c, msg, sizeof msg), OMEGA_EINVAL);
  const char *k[] = {"EMBED_GPU_SLOTS"}, *v[] = {"3"};
  assert_int_equal(omega__config_set_runtime(c, "test", k, v, 1, msg, sizeof msg), 0);
  omega_cfg_source_t src;
  assert_string_equal(val(c, "EMBED_GPU_SLOTS", &src), "3");
  assert_int_equal(src, OMEGA_SRC_RUNTIME);
  assert_string_equal(val(c, "EMBED_MAX_BATCH", &src), "10"); /* the last good file, not the broken one */
  assert_int_equal(src, OMEGA_SRC_FILE);
  assert_string_equal(val(c, "ACCEL_TARGET_LAT_MS", &src), "40");
  assert_int_equal(src, OMEGA_SRC_FILE);
  /* a file gone is no different */
  unlink(file);
  const char *v2[] = {"4"};
  assert_int_equal(omega__config_set_runtime(c, "test", k, v2, 1, msg, sizeof msg), 0);
  assert_string_equal(val(c, "EMBED_GPU_SLOTS", NULL), "4");
  assert_string_equal(val(c, "EMBED_MAX_BATCH", NULL), "10");
  /* once the file is good again a reload takes it, and the runtime layer stays on top */
  write_cfg("EMBED_MAX_BATCH=20\nEMBED_GPU_SLOTS=9\n");
  assert_int_equal(omega__config_reload(c, msg, sizeof msg), 0);
  assert_string_equal(val(c, "EMBED_MAX_BATCH", &src), "20");
  assert_int_equal(src, OMEGA_SRC_FILE);
  assert_string_equal(val(c, "ACCEL_TARGET_LAT_MS", &src), "100"); /* no longer in the file */
  assert_int_equal(src, OMEGA_SRC_DEFAULT);
  assert_string_equal(val(c, "EMBED_GPU_SLOTS", &src), "4");
  assert_int_equal(src, OMEGA_SRC_RUNTIME);
  omega__config_free(c);
  unsetenv("OMEGA_CONFIG_FILE");
}

/* Setting every hot key to its current value changes nothing (Redis' config test). */
static void test_set_every_key_to_itself(void **state) {
  (void)state;
  setenv("OMEGA_PROFILE", "MEMORY_CONSTRAINED", 1);
  omega_config_t *c = make(NULL, 0);
  omega_settings_t before, after;
  omega__config_get(c, &before);
  char msg[1024];
  size_t n = 0;
  const char *keys[64], *vals[64];
  static char bufs[64][1100];
  for (size_t i = 0; i < omega__cfg_count; i++) {
    if (!(omega__cfg_table[i].flags & OMEGA_CFG_HOT))
      continue;
    omega__config_value(c, i, false, bufs[n], sizeof bufs[n], NULL);
    keys[n] = omega__cfg_table[i].name;
    vals[n] = bufs[n];
    n++;
  }
  assert_int_equal(omega__config_set_runtime(c, "test", keys, vals, n, msg, sizeof msg), 0);
  omega__config_get(c, &after);
  assert_memory_equal(&before, &after, sizeof before);
  omega__config_free(c);
  unsetenv("OMEGA_PROFILE");
}

/* The shipped defaults file is valid and says what the table says. */
static void test_ops_defaults_file(void **state) {
  (void)state;
  setenv("OMEGA_CONFIG_FILE", OMEGA_SOURCE_DIR "/ops/config/omega-accel-defaults.env", 1);
  omega_config_t *c = make(NULL, 0);
  omega_cfg_source_t src;
  assert_string_equal(val(c, "EMBED_MAX_BATCH", &src), "64");
  assert_int_equal(src, OMEGA_SRC_FILE);
  assert_string_equal(val(c, "OMEGA_HOST", NULL), "0.0.0.0");
  omega__config_free(c);
  unsetenv("OMEGA_CONFIG_FILE");
}

static void test_markdown(void **state) {
  (void)state;
  char *md;
  size_t len;
  omega__config_markdown(&md, &len);
  for (size_t i = 0; i < omega__cfg_count; i++) {
    char needle[128];
    snprintf(needle, sizeof needle, "| `%s` |", omega__cfg_table[i].name);
    assert_non_null(strstr(md, needle));
  }
  /* the README carries exactly this table between its markers */
  size_t rl;
  char *readme = tu_read_file(OMEGA_SOURCE_DIR "/README.md", &rl);
  const char *b = strstr(readme, "<!-- settings:begin -->\n"), *e = strstr(readme, "<!-- settings:end -->");
  assert_non_null(b);
  assert_non_null(e);
  b += strlen("<!-- settings:begin -->\n");
  if ((size_t)(e - b) != len || memcmp(b, md, len) != 0)
    fail_msg("README settings table is out of date: regenerate it with `omega config --markdown`");
  free(readme);
  free(md);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),       cmocka_unit_test(test_layers),
      cmocka_unit_test(test_invalid_values), cmocka_unit_test(test_reload),
      cmocka_unit_test(test_runtime),        cmocka_unit_test(test_runtime_over_last_good_file),
      cmocka_unit_test(test_set_every_key_to_itself),
      cmocka_unit_test(test_ops_defaults_file), cmocka_unit_test(test_markdown),
      cmocka_unit_test(test_enum_choices),   cmocka_unit_test(test_cpu_caps),
      cmocka_unit_test(test_engine_defaults),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* Each CPU precision against fp32 on the shared corpora (corpus_en.txt and the tokenizer's
 * hostile dev.txt): cosine >= 0.999 on every row, min and mean printed. The model is a
 * random-weight MiniLM-L6 shape from omega-genmodel (smaller in the sanitizer build), or
 * $OMEGA_TEST_MODEL (used to measure the benchmark models). Also: a mode the CPU cannot run
 * is refused with the reason, and int8 / fp32 still work with the dispatch capped by
 * OMEGA_CPU_ISA (in child processes, since the choice is made once per process; OMEGA_CPU_ISA=avx512 is
 * AVX-512 without AMX). */
#include "testutil.h"

#include "backend/cpu/cpu_isa.h"
#include "omega/omega.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIN_COS 0.999
/* The sanitizer build runs unoptimised, and an emulator (a cross build) interprets: tens of
 * times slower, so a smaller model and every 8th line. */
#ifdef __SANITIZE_ADDRESS__
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
static int slow(void) { return SANITIZED || tu_emulated(); }

static char model_dir[4096];
static char *tmp;
static omega_text_t *texts;
static size_t n_en, n_all;
static char *bufs[2];
static float *ref;
static int is_child;
static int dim;

static float *embed_all(const char *precision, int *rc_out) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = 2;
  o.accel.mode = OMEGA_ACCEL_CPU;
  assert_int_equal(omega_cpu_precision_parse(precision, &o.cpu_precision), 0);
  omega_engine_t *e;
  *rc_out = omega_engine_open(model_dir, &o, &e);
  if (*rc_out)
    return NULL;
  omega_engine_info_t info;
  omega_engine_info(e, &info);
  assert_string_equal(info.cpu_precision, precision); /* what runs, by name */
  dim = info.dim;
  float *out = malloc(n_all * (size_t)dim * sizeof *out);
  *rc_out = omega_engine_embed(e, texts, n_all, OMEGA_TOK_UTF8_REPLACE, out);
  omega_engine_close(e);
  return out;
}

static size_t add_lines(const char *rel, int slot, size_t at) {
  char p[4096];
  if (!tu_shared_path(p, sizeof p, rel))
    return 0;
  size_t len, *lens;
  char **lines;
  bufs[slot] = tu_read_file(p, &len);
  size_t n = tu_split_lines(bufs[slot], len, &lines, &lens);
  const size_t step = slow() ? 8 : 1;
  size_t k = 0;
  for (size_t i = 0; i < n; i += step)
    texts[at + k++] = (omega_text_t){lines[i], lens[i]};
  free(lines);
  free(lens);
  return k;
}

static int setup(void **state) {
  (void)state;
  const char *m = getenv("OMEGA_TEST_MODEL");
  if (m && *m) {
    snprintf(model_dir, sizeof model_dir, "%s", m);
  } else {
    tmp = tu_mkdtemp();
    snprintf(model_dir, sizeof model_dir, "%s/model", tmp);
    tu_genmodel(model_dir, slow() ? "--shape mid --seed 11" : "--shape minilm --seed 11");
  }
  texts = calloc(8192, sizeof *texts);
  n_en = add_lines("data/corpus_en.txt", 0, 0);
  n_all = n_en + add_lines("data/tokenizer/dev.txt", 1, n_en);
  if (is_child) { /* a slice of each corpus is enough (the portable GEMM and the emulator are slow: less) */
    const char *isa = getenv("OMEGA_CPU_ISA");
    const size_t k = (isa && strcmp(isa, "portable") == 0) || tu_emulated() ? 16 : 200;
    const size_t ke = n_en < k ? n_en : k, kd = n_all - n_en < k ? n_all - n_en : k;
    memmove(texts + ke, texts + n_en, kd * sizeof *texts);
    n_en = ke;
    n_all = ke + kd;
  }
  int rc;
  ref = embed_all("fp32", &rc);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  free(ref);
  free(texts);
  free(bufs[0]);
  free(bufs[1]);
  if (tmp) {
    tu_rmtree(tmp);
    free(tmp);
  }
  return 0;
}

/* Rows [r0, r1) of got against the fp32 reference: the worst row's cosine, and the mean. */
static double row_cos(const float *got, size_t r0, size_t r1, double *mean) {
  double worst = 1, sum = 0;
  for (size_t r = r0; r < r1; r++) {
    double dot = 0, na = 0, nb = 0;
    for (int k = 0; k < dim; k++) {
      double a = got[r * dim + k], b = ref[r * dim + k];
      dot += a * b, na += a * a, nb += b * b;
    }
    const double c = dot / sqrt(na * nb);
    worst = fmin(worst, c);
    sum += c;
  }
  *mean = sum / (double)(r1 - r0);
  return worst;
}

static void check_mode(const char *precision, double min_cos) {
  int rc;
  float *got = embed_all(precision, &rc);
  if (rc == OMEGA_EINVAL && !got) {
    fprintf(stderr, "%s: refused on this CPU: %s\n", precision, omega_errmsg());
    return;
  }
  assert_int_equal(rc, 0);
  double mean_en, mean_dev;
  const double min_en = row_cos(got, 0, n_en, &mean_en), min_dev = row_cos(got, n_en, n_all, &mean_dev);
  fprintf(stderr, "%s vs fp32, %s: corpus_en %zu rows min cosine %.9f mean %.9f; dev.txt %zu rows min %.9f mean %.9f\n",
          precision, model_dir, n_en, min_en, mean_en, n_all - n_en, min_dev, mean_dev);
  assert_true(min_en >= min_cos);
  assert_true(min_dev >= min_cos);
  free(got);
}

static void test_bf16(void **state) {
  (void)state;
  check_mode("bf16", MIN_COS);
}

/* bf16x3 is fp32-class: every row within 1e-5 of the fp32 embedding's direction. */
static void test_bf16x3(void **state) {
  (void)state;
  check_mode("bf16x3", 0.99999);
}

static void test_int8(void **state) {
  (void)state;
  check_mode("int8", MIN_COS);
}

static void test_unknown_mode(void **state) {
  (void)state;
  omega_cpu_precision_t p;
  assert_int_equal(omega_cpu_precision_parse("fp8", &p), OMEGA_EINVAL);
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.accel.mode = OMEGA_ACCEL_CPU;
  o.cpu_precision = OMEGA_CPU_PRECISION_COUNT;
  omega_engine_t *e;
  assert_int_equal(omega_engine_open(model_dir, &o, &e), OMEGA_EINVAL);
  assert_non_null(strstr(omega_errmsg(), "is not fp32, bf16, bf16x3 or int8"));
}

/* In a child with OMEGA_CPU_ISA=isa: bf16x3 must be refused naming AMX; bf16 must agree with
 * fp32 on the AVX512-BF16 kernels where the capped CPU has them (avx512: AMX off) and be
 * refused naming AVX512-BF16 otherwise; int8 must be refused (portable, and ARM: no int8 kernels yet) or agree
 * with fp32; fp32 must equal the
 * parent's result closely. */
static int child(const char *isa) {
  int rc;
  double mean = 0;
  float *b = embed_all("bf16x3", &rc);
  if (b || rc != OMEGA_EINVAL || !strstr(omega_errmsg(), "AMX")) {
    fprintf(stderr, "%s: bf16x3 was not refused (%d: %s)\n", isa, rc, omega_errmsg());
    return 1;
  }
  b = embed_all("bf16", &rc);
  if (omega__cpu_isa()->bf16) { /* avx512 on a CPU with AVX512-BF16: the vdpbf16ps kernels */
    const double worst = b && !rc ? row_cos(b, 0, n_all, &mean) : 0;
    fprintf(stderr, "bf16 on %s without AMX vs fp32: min cosine %.7f mean %.7f\n", isa, worst, mean);
    free(b);
    if (worst < MIN_COS)
      return 1;
  } else if (b || rc != OMEGA_EINVAL || !strstr(omega_errmsg(), "AVX512-BF16")) {
    fprintf(stderr, "%s: bf16 was not refused (%d: %s)\n", isa, rc, omega_errmsg());
    return 1;
  }
  float *f = embed_all("fp32", &rc);
  if (rc || row_cos(f, 0, n_all, &mean) < 0.99999) {
    fprintf(stderr, "%s: fp32 differs (%d)\n", isa, rc);
    return 1;
  }
  free(f);
  float *q = embed_all("int8", &rc);
  if (strcmp(isa, "portable") == 0 || omega__cpu_isa()->level == OMEGA_ISA_NEON) { /* no int8 kernels */
    if (q || rc != OMEGA_EINVAL || !strstr(omega_errmsg(), "AVX2")) {
      fprintf(stderr, "%s: int8 was not refused (%d: %s)\n", isa, rc, omega_errmsg());
      return 1;
    }
    return 0;
  }
  const double worst = q && !rc ? row_cos(q, 0, n_all, &mean) : 0;
  fprintf(stderr, "int8 on %s vs fp32: min cosine %.7f mean %.7f\n", isa, worst, mean);
  free(q);
  return worst >= MIN_COS ? 0 : 1;
}

static char self[4096];

static void test_forced_isa(void **state) {
  (void)state;
  const char *isas[] = {"avx512", "avx2", "portable"};
  for (int i = 0; i < 3; i++) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      setenv("OMEGA_CPU_ISA", isas[i], 1);
      setenv("OMEGA_TEST_MODEL", model_dir, 1);
      if (tu_emulated()) { /* the kernel cannot start a foreign binary by itself */
        char cmd[8300];
        snprintf(cmd, sizeof cmd, "exec %s '%s' --child %s", OMEGA_EMULATOR, self, isas[i]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
      } else {
        execl(self, self, "--child", isas[i], (char *)NULL);
      }
      _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fail_msg("OMEGA_CPU_ISA=%s: child failed", isas[i]);
  }
}

int main(int argc, char **argv) {
  tu_cpu_caps_from_env(); /* the child's OMEGA_CPU_ISA */
  char p[4096];
  if (!tu_shared_path(p, sizeof p, "data/corpus_en.txt") || !tu_shared_path(p, sizeof p, "data/tokenizer/dev.txt"))
    return TU_SKIP_CODE;
  if (argc == 3 && strcmp(argv[1], "--child") == 0) {
    /* a fresh process, so nothing has run on the kernels before the cap */
    is_child = 1;
    if (setup(NULL))
      return 1;
    int rc = child(argv[2]);
    teardown(NULL);
    return rc;
  }
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return 1;
  self[n] = 0;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bf16), cmocka_unit_test(test_bf16x3),
                                     cmocka_unit_test(test_int8),
                                     cmocka_unit_test(test_unknown_mode), cmocka_unit_test(test_forced_isa)};
  return cmocka_run_group_tests(tests, setup, teardown);
}

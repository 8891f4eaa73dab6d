/* The distance kernels of every dispatch path (portable, AVX2, AVX-512; a path the CPU
 * lacks is skipped with a message) against a plain double-precision reference, on random
 * inputs of awkward sizes and alignments, with exact-size buffers so ASan sees any read
 * past a row; and the OMEGA_SIMD override (amx: the AVX-512 kernels, named apart because the
 * flat index's batch GEMM then runs on AMX tiles). */
#include "testutil.h"

#include "index/simd.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const paths[] = {"portable", "avx2", "avx512", "neon"};
static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 47, 48, 63, 64, 65, 100, 127, 128, 384, 784, 1000, 1536};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static double ref_l2(const float *a, const float *b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++) {
    double t = (double)a[i] - b[i];
    s += t * t;
  }
  return s;
}

static double ref_dot(const float *a, const float *b, size_t d, double *mag) {
  double s = 0, m = 0;
  for (size_t i = 0; i < d; i++) {
    s += (double)a[i] * b[i];
    m += fabs((double)a[i] * b[i]);
  }
  *mag = m;
  return s;
}

/* The rounding bound of a float sum of d terms in any order (with the products and
 * differences rounded too), relative to the sum of the terms' magnitudes. */
static double bound(size_t d, double mag) { return (double)(d + 4) * FLT_EPSILON * 0.5 * mag + 1e-30; }

/* Check one kernel set: l2sq and dot on pairs, l2sq_many and dot_many on row blocks. */
static void check_set(const omega_simd_t *s, uint64_t seed) {
  uint64_t st = seed;
  for (size_t si = 0; si < NSIZES; si++) {
    const size_t d = sizes[si];
    for (int rep = 0; rep < 3; rep++) {
      /* rep 1: an unaligned start (one float past a 16-byte boundary); rep 2: large values */
      const size_t off = rep == 1 ? 1 : 0;
      float *ab = malloc((d + off) * sizeof *ab), *bb = malloc((d + off) * sizeof *bb);
      assert_non_null(ab);
      assert_non_null(bb);
      float *a = ab + off, *b = bb + off;
      const float scale = rep == 2 ? 1000.0f : 1.0f;
      for (size_t i = 0; i < d; i++) {
        a[i] = tu_randf(&st) * scale;
        b[i] = tu_randf(&st) * scale;
      }
      double l2 = ref_l2(a, b, d), mag;
      double dot = ref_dot(a, b, d, &mag);
      double got_l2 = s->l2sq(a, b, d), got_dot = s->dot(a, b, d);
      if (fabs(got_l2 - l2) > bound(d, l2))
        fail_msg("%s l2sq d=%zu rep %d: %.9g, reference %.9g", s->name, d, rep, got_l2, l2);
      if (fabs(got_dot - dot) > bound(d, mag))
        fail_msg("%s dot d=%zu rep %d: %.9g, reference %.9g", s->name, d, rep, got_dot, dot);
      /* a vector against itself: l2 exactly 0, dot its norm */
      assert_true(s->l2sq(a, a, d) == 0.0f);
      double nrm = ref_dot(a, a, d, &mag);
      assert_true(fabs(s->dot(a, a, d) - nrm) <= bound(d, mag));
      free(ab);
      free(bb);
    }
    /* row blocks of awkward counts (the AVX-512 kernels do four rows at a time) */
    static const size_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 13};
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
      const size_t n = counts[ci];
      float *q = malloc(d * sizeof *q), *rows = malloc(n * d * sizeof *rows);
      float *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
      assert_non_null(q);
      assert_non_null(rows);
      assert_non_null(o1);
      assert_non_null(o2);
      for (size_t i = 0; i < d; i++)
        q[i] = tu_randf(&st);
      for (size_t i = 0; i < n * d; i++)
        rows[i] = tu_randf(&st);
      s->l2sq_many(q, rows, n, d, o1);
      s->dot_many(q, rows, n, d, o2);
      for (size_t r = 0; r < n; r++) {
        double l2 = ref_l2(q, rows + r * d, d), mag;
        double dot = ref_dot(q, rows + r * d, d, &mag);
        if (fabs(o1[r] - l2) > bound(d, l2))
          fail_msg("%s l2sq_many d=%zu n=%zu row %zu: %.9g, reference %.9g", s->name, d, n, r, (double)o1[r], l2);
        if (fabs(o2[r] - dot) > bound(d, mag))
          fail_msg("%s dot_many d=%zu n=%zu row %zu: %.9g, reference %.9g", s->name, d, n, r, (double)o2[r], dot);
      }
      free(q);
      free(rows);
      free(o1);
      free(o2);
    }
  }
}

/* IEEE half to float, for the reference (normal and zero values only, as the tests make). */
static double half_value(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
  return (h & 0x8000) ? -v : v;
}

/* The half-precision kernels, one row and four rows at a time (the graph walk's), against the
 * double reference over the rows' exact values, on every size, each row its own exact-size
 * buffer. */
static void check_f16(const omega_simd_t *s, uint64_t seed) {
  if (!s->l2sq_f16) {
    assert_null(s->l2sq_f16_x4);
    return;
  }
  uint64_t st = seed;
  for (size_t si = 0; si < NSIZES; si++) {
    const size_t d = sizes[si];
    float *q = malloc(d * sizeof *q);
    uint16_t *x[4];
    double *xv = malloc(4 * d * sizeof *xv);
    for (size_t i = 0; i < d; i++)
      q[i] = tu_randf(&st);
    for (int r = 0; r < 4; r++) {
      x[r] = malloc(d * sizeof *x[r]);
      for (size_t i = 0; i < d; i++) { /* exponents 10..17: magnitudes 2^-5..2^3 */
        x[r][i] = (uint16_t)((tu_rand(&st) & 0x8000) | (10 + tu_rand(&st) % 8) << 10 | (tu_rand(&st) & 1023));
        xv[r * d + i] = half_value(x[r][i]);
      }
    }
    float l2x4[4], dotx4[4];
    s->l2sq_f16_x4(q, (const uint16_t *const *)x, d, l2x4);
    s->dot_f16_x4(q, (const uint16_t *const *)x, d, dotx4);
    for (int r = 0; r < 4; r++) {
      double l2 = 0, dot = 0, mag = 0;
      for (size_t i = 0; i < d; i++) {
        const double t = q[i] - xv[r * d + i];
        l2 += t * t;
        dot += q[i] * xv[r * d + i];
        mag += fabs(q[i] * xv[r * d + i]);
      }
      const float one_l2 = s->l2sq_f16(q, x[r], d), one_dot = s->dot_f16(q, x[r], d);
      if (fabs(one_l2 - l2) > bound(d, l2) || fabs(l2x4[r] - l2) > bound(d, l2))
        fail_msg("%s l2sq_f16 d=%zu row %d: %.9g, four at once %.9g, reference %.9g", s->name, d, r, (double)one_l2,
                 (double)l2x4[r], l2);
      if (fabs(one_dot - dot) > bound(d, mag) || fabs(dotx4[r] - dot) > bound(d, mag))
        fail_msg("%s dot_f16 d=%zu row %d: %.9g, four at once %.9g, reference %.9g", s->name, d, r, (double)one_dot,
                 (double)dotx4[r], dot);
    }
    for (int r = 0; r < 4; r++)
      free(x[r]);
    free(q);
    free(xv);
  }
}

static int checked;

static void test_path(const char *name) {
  const omega_simd_t *s = omega__simd_named(name);
  if (!s) {
    printf("SKIP: this CPU cannot run the %s kernels\n", name);
    return;
  }
  assert_string_equal(s->name, name);
  check_set(s, 1234);
  check_f16(s, 4321);
  checked++;
}

static void test_portable(void **state) {
  (void)state;
  test_path("portable");
}
static void test_avx2(void **state) {
  (void)state;
  test_path("avx2");
}
static void test_avx512(void **state) {
  (void)state;
  test_path("avx512");
}

/* Every path agrees with the others on the same inputs (to the rounding bound). */
static void test_paths_agree(void **state) {
  (void)state;
  const omega_simd_t *p = omega__simd_named("portable");
  assert_non_null(p);
  assert_null(omega__simd_named("no-such-isa"));
  uint64_t st = 99;
  for (size_t si = 0; si < NSIZES; si++) {
    const size_t d = sizes[si];
    float *a = malloc(d * sizeof *a), *b = malloc(d * sizeof *b);
    for (size_t i = 0; i < d; i++) {
      a[i] = tu_randf(&st);
      b[i] = tu_randf(&st);
    }
    double mag;
    ref_dot(a, b, d, &mag);
    for (size_t k = 1; k < 3; k++) {
      const omega_simd_t *s = omega__simd_named(paths[k]);
      if (!s)
        continue;
      assert_true(fabs(s->dot(a, b, d) - p->dot(a, b, d)) <= 2 * bound(d, mag));
      double l2 = ref_l2(a, b, d);
      assert_true(fabs(s->l2sq(a, b, d) - p->l2sq(a, b, d)) <= 2 * bound(d, l2));
    }
    free(a);
    free(b);
  }
}

/* OMEGA_SIMD=name makes omega__simd() pick that path (each in a fresh child process, as
 * the choice is made once per process); an unknown name falls back to the best one. */
static void test_override(void **state) {
  (void)state;
  const char *want[] = {"portable", "avx2", "avx512", "amx", "neon", "bogus"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const omega_simd_t *s = omega__simd_named(want[i]);
    const char *expect = s ? s->name : NULL;
    if (!expect && strcmp(want[i], "neon") == 0) /* an x86 CPU under the NEON cap */
      expect = "portable";
    if (!expect) /* the fallback: the best this CPU has */
      expect = omega__simd_named("amx")      ? "amx"
               : omega__simd_named("avx512") ? "avx512"
               : omega__simd_named("avx2")   ? "avx2"
               : omega__simd_named("neon")   ? "neon"
                                             : "portable";
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      setenv("OMEGA_SIMD", want[i], 1);
      tu_cpu_caps_from_env();
      const omega_simd_t *c = omega__simd();
      _exit(c && strcmp(c->name, expect) == 0 && omega__simd() == c ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fail_msg("OMEGA_SIMD=%s did not select %s", want[i], expect);
  }
}

static void test_some_checked(void **state) {
  (void)state;
  assert_true(checked >= 1); /* the portable path at least ran */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_override),   cmocka_unit_test(test_portable),  cmocka_unit_test(test_avx2),
      cmocka_unit_test(test_avx512),     cmocka_unit_test(test_paths_agree), cmocka_unit_test(test_some_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "bench_common.h"

#include "omega/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void bench_cpu_caps_from_env(void) {
  const char *names[2] = {getenv("OMEGA_CPU_ISA"), getenv("OMEGA_SIMD")};
  int (*force[2])(omega_isa_cap_t) = {omega_cpu_isa_force, omega_simd_force};
  for (int i = 0; i < 2; i++) {
    omega_isa_cap_t cap;
    if (names[i] && omega_isa_cap_parse(names[i], &cap) == 0)
      force[i](cap);
  }
}

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t bench_read_lines(const char *path, size_t limit, char **buf, char ***lines, size_t **lens) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  *buf = malloc((size_t)len + 1);
  if (fread(*buf, 1, (size_t)len, f) != (size_t)len) {
    perror(path);
    exit(1);
  }
  fclose(f);
  size_t n = 0;
  for (long i = 0; i < len; i++)
    n += (*buf)[i] == '\n';
  if (len && (*buf)[len - 1] != '\n')
    n++;
  if (limit && n > limit)
    n = limit;
  *lines = malloc((n + 1) * sizeof **lines);
  *lens = malloc((n + 1) * sizeof **lens);
  char *p = *buf, *end = *buf + len;
  for (size_t i = 0; i < n; i++) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    (*lines)[i] = p;
    (*lens)[i] = (size_t)((nl ? nl : end) - p);
    p = nl ? nl + 1 : end;
  }
  return n;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_percentile(double *v, size_t n, double p) {
  if (!n)
    return 0;
  qsort(v, n, sizeof *v, cmp_d);
  double idx = p / 100.0 * (double)(n - 1);
  size_t lo = (size_t)idx;
  size_t hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (v[hi] - v[lo]) * (idx - (double)lo);
}

double bench_median(double *v, size_t n) { return bench_percentile(v, n, 50); }

long bench_peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

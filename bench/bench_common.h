/* Shared helpers of the benchmark programs: timing, corpus loading, statistics. */
#ifndef OMEGA_BENCH_COMMON_H
#define OMEGA_BENCH_COMMON_H

#include <stddef.h>

/* Cap the CPU kernels as OMEGA_CPU_ISA and OMEGA_SIMD say (the library reads no environment). */
void bench_cpu_caps_from_env(void);
double bench_now(void);
/* Lines of a text file (split on \n, final \n not a line); at most limit lines when limit > 0. */
size_t bench_read_lines(const char *path, size_t limit, char **buf, char ***lines, size_t **lens);
double bench_percentile(double *v, size_t n, double p); /* sorts v */
double bench_median(double *v, size_t n);
long bench_peak_rss_kb(void);

#endif

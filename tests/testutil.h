#ifndef OMEGA_TESTUTIL_H
#define OMEGA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

/* ../shared, or $OMEGA_SHARED_DIR; NULL when absent (the caller skips). */
const char *tu_shared_dir(void);
/* Path under ../shared into buf, or NULL (with a skip message printed) when it is absent. */
const char *tu_shared_path(char *buf, size_t cap, const char *rel);
/* Cap the CPU kernels as OMEGA_CPU_ISA and OMEGA_SIMD say (the omega program's settings; the
 * library reads no environment), so a test binary or its child can be run as a smaller CPU;
 * an unknown or empty value leaves the best the CPU has. */
void tu_cpu_caps_from_env(void);
/* A fresh temporary directory (removed by tu_rmtree). */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);
/* Whole file into a NUL-terminated buffer (cmocka fails the test on error). */
char *tu_read_file(const char *path, size_t *len);
void tu_write_file(const char *path, const void *data, size_t len);
/* Split buf into lines (on \n, a final \n not starting a new line); pointers into buf. */
size_t tu_split_lines(char *buf, size_t len, char ***lines, size_t **lens);
/* Deterministic random numbers for tests. */
uint64_t tu_rand(uint64_t *state);
float tu_randf(uint64_t *state); /* uniform in [-1, 1) */
/* The larger of a and b (a when b is NaN), for worst-error loops: GCC 12 for aarch64 stops
 * with an internal error vectorising an fmax() reduction. */
static inline double tu_max(double a, double b) { return b > a ? b : a; }
/* Whether the tests run under an emulator (a cross build, tools/cross-arm64.sh): programs
 * they start need OMEGA_EMULATOR in front, and the emulator's own memory makes address-space
 * limits and allocator statistics mean something else. */
static inline int tu_emulated(void) { return OMEGA_EMULATOR[0] != '\0'; }
/* fn(arg) in a child process whose address space is capped headroom bytes above its size, so
 * that allocations fail; returns fn's result as the child's exit status (3: the cap could not
 * be set). Not under ASan, whose shadow mappings do not fit a cap: callers skip there. */
int tu_capped_child(size_t headroom, int (*fn)(void *arg), void *arg);

#define TU_SKIP_CODE 77



/* Run omega-genmodel from the build tree: writes a model into dir with extra args. */
void tu_genmodel(const char *dir, const char *args);
/* Run a shell command; returns its exit status (or -1). */
int tu_system(const char *fmt, ...);
#endif

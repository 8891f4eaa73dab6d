#include "backend/cpu/cpu_isa.h"

#include "core/error_internal.h"
#include "core/names.h"
#include "omega/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

const char *omega__isa_name(omega_isa_t level) {
  return level == OMEGA_ISA_AVX512 ? "avx512"
         : level == OMEGA_ISA_AVX2 ? "avx2"
         : level == OMEGA_ISA_NEON ? "neon"
                                   : "portable";
}

#if defined(__x86_64__)
/* Linux hands out the 8 KiB AMX register state only to processes that ask for it
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA); asked once, for every thread. */
static int amx_granted;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_request(void) {
#if defined(__linux__) && defined(__x86_64__)
  /* GCC 12's __builtin_cpu_supports does not report AMX: CPUID leaf 7 EDX bits 22 (BF16),
   * 24 (TILE), 25 (INT8), and the OS must enable the tile state in XCR0 (bits 17, 18). */
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || (d & (1u << 22 | 1u << 24 | 1u << 25)) != (1u << 22 | 1u << 24 | 1u << 25))
    return;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17))
    return;
  amx_granted = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#endif
}
#endif

omega_cpu_isa_t omega__cpu_isa_capped(omega_isa_t cap) {
  omega_cpu_isa_t f = {OMEGA_ISA_PORTABLE, 0, 0, 0};
#if defined(__aarch64__)
  /* Advanced SIMD is part of AArch64 */
  f.level = cap == OMEGA_ISA_PORTABLE ? OMEGA_ISA_PORTABLE : OMEGA_ISA_NEON;
#else
  if (cap == OMEGA_ISA_NEON)
    cap = OMEGA_ISA_PORTABLE;
#endif
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    f.level = OMEGA_ISA_AVX2;
  /* The AVX-512 kernels use byte/word and 256-bit forms as well as the foundation. */
  if (f.level == OMEGA_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    f.level = OMEGA_ISA_AVX512;
    f.bf16 = __builtin_cpu_supports("avx512bf16");
    f.vnni = __builtin_cpu_supports("avx512vnni");
    if (f.bf16 && f.vnni) {
      pthread_once(&amx_once, amx_request);
      f.amx = amx_granted;
    }
  }
#endif
#if !defined(__aarch64__)
  if (f.level > cap) {
    f.level = cap;
    f.bf16 = f.vnni = f.amx = 0;
  }
#endif
  return f;
}

static omega_cpu_isa_t chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void) {
#if defined(__aarch64__)
  chosen = omega__cpu_isa_capped(OMEGA_ISA_NEON);
#else
  chosen = omega__cpu_isa_capped(OMEGA_ISA_AVX512);
#endif
}

const omega_cpu_isa_t *omega__cpu_isa(void) {
  pthread_once(&once, choose);
  return &chosen;
}

void omega__cpu_isa_force(omega_isa_t cap) {
  pthread_once(&once, choose);
  chosen = omega__cpu_isa_capped(cap);
}

void omega__cpu_brand(char *buf, size_t cap) {
  snprintf(buf, cap, "unknown CPU");
#if defined(__x86_64__)
  unsigned r[12];
  if (__get_cpuid_max(0x80000000u, NULL) < 0x80000004u)
    return;
  for (unsigned i = 0; i < 3; i++)
    __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
  char s[49];
  memcpy(s, r, 48);
  s[48] = 0;
  const char *b = s;
  while (*b == ' ')
    b++;
  snprintf(buf, cap, "%s", b);
#endif
}

const char *const omega_isa_cap_names[OMEGA_ISA_CAP_COUNT + 1] = {"auto", "amx",  "avx512",   "avx2",
                                                                   "neon", "portable", NULL};

int omega_isa_cap_parse(const char *name, omega_isa_cap_t *out) {
  const int i = omega__name_index(omega_isa_cap_names, name);
  if (i >= 0) {
    *out = (omega_isa_cap_t)i;
    return 0;
  }
  return omega__seterr(OMEGA_EINVAL, "unknown instruction set cap \"%s\"", name ? name : "(null)");
}

int omega_cpu_isa_force(omega_isa_cap_t cap) {
  static const omega_isa_t level[OMEGA_ISA_CAP_COUNT] = {OMEGA_ISA_AVX512, OMEGA_ISA_AVX512, OMEGA_ISA_AVX512,
                                                         OMEGA_ISA_AVX2,   OMEGA_ISA_NEON,   OMEGA_ISA_PORTABLE};
  if ((unsigned)cap >= OMEGA_ISA_CAP_COUNT)
    return omega__seterr(OMEGA_EINVAL, "instruction set cap %d is not one of omega_isa_cap_t", (int)cap);
  omega__cpu_isa_force(level[cap]);
  if (cap == OMEGA_ISA_CAP_AVX512) /* the kernels of an AVX-512 CPU without the tiles */
    chosen.amx = 0;
  return 0;
}

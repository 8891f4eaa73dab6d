#include "testutil.h"

#include "omega/cpu.h"

#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_shared_dir(void) {
  const char *env = getenv("OMEGA_SHARED_DIR");
  const char *dir = env && *env ? env : OMEGA_DEFAULT_SHARED_DIR;
  struct stat st;
  return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

const char *tu_shared_path(char *buf, size_t cap, const char *rel) {
  const char *dir = tu_shared_dir();
  struct stat st;
  if (!dir) {
    fprintf(stderr, "SKIP: shared reference data not found (set OMEGA_SHARED_DIR or place it at %s)\n",
            OMEGA_DEFAULT_SHARED_DIR);
    return NULL;
  }
  snprintf(buf, cap, "%s/%s", dir, rel);
  if (stat(buf, &st) != 0) {
    fprintf(stderr, "SKIP: %s not found\n", buf);
    return NULL;
  }
  return buf;
}

void tu_cpu_caps_from_env(void) {
  const char *isa = getenv("OMEGA_CPU_ISA"), *simd = getenv("OMEGA_SIMD");
  omega_isa_cap_t cap;
  if (isa && omega_isa_cap_parse(isa, &cap) == 0)
    omega_cpu_isa_force(cap);
  if (simd && omega_isa_cap_parse(simd, &cap) == 0)
    omega_simd_force(cap);
}

char *tu_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/omega-test-XXXXXX", base && *base ? base : "/tmp");
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void tu_rmtree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = (size_t)n;
  return buf;
}

void tu_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f)
    fail_msg("cannot create %s", path);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

size_t tu_split_lines(char *buf, size_t len, char ***lines, size_t **lens) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += buf[i] == '\n';
  if (len && buf[len - 1] != '\n')
    n++;
  *lines = calloc(n + 1, sizeof **lines);
  *lens = calloc(n + 1, sizeof **lens);
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    char *nl = memchr(buf + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - buf) : len;
    (*lines)[i] = buf + pos;
    (*lens)[i] = end - pos;
    pos = end + 1;
  }
  return n;
}

uint64_t tu_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float tu_randf(uint64_t *s) { return (float)((tu_rand(s) >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0); }

int tu_capped_child(size_t headroom, int (*fn)(void *arg), void *arg) {
  if (tu_emulated()) { /* the emulator reserves the guest's address space up front: no cap bites */
    printf("SKIP: an address-space cap means nothing under the emulator\n");
    skip();
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    fail_msg("fork failed");
  if (pid == 0) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1)
      _exit(3);
    fclose(f);
    const rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + headroom;
    if (setrlimit(RLIMIT_AS, &(struct rlimit){cap, cap}) != 0)
      _exit(3);
    _exit(fn(arg));
  }
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
    fail_msg("the capped child did not exit normally");
  return WEXITSTATUS(st);
}

int tu_system(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tu_genmodel(const char *dir, const char *args) {
  int rc = tu_system("%s '%s/omega-genmodel' --out '%s' %s 2>/dev/null", OMEGA_EMULATOR, OMEGA_BUILD_DIR, dir, args);
  if (rc != 0)
    fail_msg("omega-genmodel %s failed (%d)", args, rc);
}

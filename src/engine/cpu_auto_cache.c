/* The auto precision's cache: one small JSON file per key in a folder. The key names
 * everything the measurement depends on, so a stale entry is never found, only left behind:
 * the CPU (brand and the kernels allowed), the threads, the model folder's files (size and
 * modification time), the pooling, the bound and the Omega version. A file is found by a hash
 * of the key and holds the key itself, so a hash collision reads as a miss. */
#include "engine/cpu_auto.h"

#include "backend/cpu/cpu_isa.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/json_util.h"
#include "omega/version.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAX_BYTES 65536

typedef struct {
  char *buf;
  size_t cap, len;
  int overflow;
} keybuf_t;

static void add(keybuf_t *k, const char *fmt, ...) OMEGA_PRINTF(2, 3);
static void add(keybuf_t *k, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = k->len < k->cap ? vsnprintf(k->buf + k->len, k->cap - k->len, fmt, ap) : 0;
  va_end(ap);
  if (n < 0 || k->len + (size_t)n >= k->cap)
    k->overflow = 1;
  else
    k->len += (size_t)n;
}

static int not_dot(const struct dirent *d) { return d->d_name[0] != '.'; }

/* The files of dir and of its folders one level down (1_Pooling, 2_Dense), by name. */
static int add_files(keybuf_t *k, const char *dir, const char *rel, int depth) {
  struct dirent **names;
  const int n = scandir(dir, &names, not_dot, alphasort);
  if (n < 0)
    return omega__seterr(OMEGA_EIO, "%s: %s", dir, strerror(errno));
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[PATH_MAX];
    struct stat st;
    if (!rc && omega__path_join(path, sizeof path, dir, names[i]->d_name) == 0 && stat(path, &st) == 0) {
      if (S_ISREG(st.st_mode))
        add(k, "file %s%s %lld %lld.%09ld\n", rel, names[i]->d_name, (long long)st.st_size,
            (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
      else if (S_ISDIR(st.st_mode) && depth > 0) {
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s%s/", rel, names[i]->d_name);
        rc = add_files(k, path, sub, depth - 1);
      }
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int omega__cpu_auto_key(const omega_model_t *m, int threads, double bound, char *key, size_t cap) {
  keybuf_t k = {key, cap, 0, 0};
  char brand[128], real[PATH_MAX], pool[96];
  omega__cpu_brand(brand, sizeof brand);
  const omega_cpu_isa_t *isa = omega__cpu_isa();
  add(&k, "omega %s\ncpu %s\nkernels %s bf16 %d vnni %d amx %d\nthreads %d\nbound %.17g\n", OMEGA_VERSION_STRING, brand,
      omega__isa_name(isa->level), !!isa->bf16, !!isa->vnni, !!isa->amx, threads, bound);
  add(&k, "model %s\npooling %s\n", realpath(m->dir, real) ? real : m->dir,
      omega__pool_name(m->st.pooling, pool, sizeof pool));
  int rc = add_files(&k, m->dir, "", 1);
  if (!rc && k.overflow)
    rc = omega__seterr(OMEGA_ERANGE, "the auto precision's cache key of %s is too long", m->dir);
  return rc;
}

static void file_of(const char *dir, const char *key, char *path, size_t cap) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *c = key; *c; c++)
    h = (h ^ (unsigned char)*c) * 1099511628211ull;
  char name[64];
  snprintf(name, sizeof name, "cpu-precision-%016llx.json", (unsigned long long)h);
  if (omega__path_join(path, cap, dir, name))
    path[0] = 0;
}

static int parse(const json_t *doc, const char *key, omega_cpu_auto_t *rep) {
  const char *what = "auto precision cache", *k;
  const json_t *trials = json_object_get(doc, "trials");
  int64_t texts, tokens;
  int rc;
  if ((rc = omega__json_str(doc, what, "key", NULL, &k)))
    return rc;
  if (!k || strcmp(k, key) != 0)
    return omega__seterr(OMEGA_ENOENT, "written for another key");
  if ((rc = omega__json_int(doc, what, "probe_texts", 0, 0, 1 << 20, &texts)) ||
      (rc = omega__json_int(doc, what, "probe_tokens", 0, 0, 1 << 30, &tokens)))
    return rc;
  if (!json_is_array(trials) || json_array_size(trials) < 1 || json_array_size(trials) > OMEGA_CPU_KERNEL_PRECISIONS)
    return omega__seterr(OMEGA_EFORMAT, "trials must be an array of 1 to %d modes", OMEGA_CPU_KERNEL_PRECISIONS);
  rep->n_trials = json_array_size(trials);
  for (size_t i = 0; i < rep->n_trials; i++) {
    const json_t *t = json_array_get(trials, i);
    const char *name;
    omega_cpu_trial_t *o = &rep->trials[i];
    if ((rc = omega__json_str(t, what, "precision", NULL, &name)) ||
        (rc = omega__json_num(t, what, "ms", -1, 0, 1e9, &o->ms)) ||
        (rc = omega__json_num(t, what, "min_cosine", -2, -1, 1, &o->min_cosine)))
      return rc;
    if (o->ms < 0 || o->min_cosine < -1)
      return omega__seterr(OMEGA_EFORMAT, "trial %zu lacks ms or min_cosine", i);
    if (!name || omega_cpu_precision_parse(name, &o->precision) || o->precision >= OMEGA_CPU_KERNEL_PRECISIONS)
      return omega__seterr(OMEGA_EFORMAT, "trial %zu has no precision mode", i);
    if ((i == 0) != (o->precision == OMEGA_CPU_FP32))
      return omega__seterr(OMEGA_EFORMAT, "fp32 must be the first trial and only the first");
  }
  rep->probe_texts = (size_t)texts;
  rep->probe_tokens = (size_t)tokens;
  /* the policy decides again from the measurements: the file records what was measured */
  rep->chosen = rep->trials[omega__cpu_auto_choose(rep->trials, rep->n_trials, rep->min_cosine)].precision;
  return 0;
}

int omega__cpu_auto_cache_read(const char *dir, const char *key, omega_cpu_auto_t *rep) {
  char path[PATH_MAX];
  file_of(dir, key, path, sizeof path);
  json_t *doc = NULL;
  if (!path[0] || !omega__is_file(path)) {
    snprintf(rep->cache, sizeof rep->cache, "%s: no entry yet", path[0] ? path : dir);
    return 0;
  }
  int rc = omega__json_load_file(path, CACHE_MAX_BYTES, &doc);
  if (!rc)
    rc = parse(doc, key, rep);
  json_decref(doc);
  if (rc) {
    snprintf(rep->cache, sizeof rep->cache, "%s: not used (%.300s)", path, omega_errmsg());
    return 0;
  }
  rep->cached = 1;
  snprintf(rep->cache, sizeof rep->cache, "%s", path);
  return 1;
}

void omega__cpu_auto_cache_write(const char *dir, const char *key, omega_cpu_auto_t *rep) {
  char path[PATH_MAX], tmp[PATH_MAX + 16];
  file_of(dir, key, path, sizeof path);
  json_t *doc = json_object(), *trials = json_array();
  json_object_set_new(doc, "key", json_string(key));
  json_object_set_new(doc, "chosen", json_string(omega_cpu_precision_name(rep->chosen)));
  json_object_set_new(doc, "probe_texts", json_integer((json_int_t)rep->probe_texts));
  json_object_set_new(doc, "probe_tokens", json_integer((json_int_t)rep->probe_tokens));
  for (size_t i = 0; i < rep->n_trials; i++) {
    const omega_cpu_trial_t *t = &rep->trials[i];
    json_array_append_new(trials, json_pack("{s:s, s:f, s:f}", "precision", omega_cpu_precision_name(t->precision),
                                            "ms", t->ms, "min_cosine", t->min_cosine));
  }
  json_object_set_new(doc, "trials", trials);
  char *text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
  json_decref(doc);
  const char *err = NULL;
  int fd = -1;
  if (!path[0] || !text)
    err = "the path is too long, or out of memory";
  else if (omega__mkdir_p(dir))
    err = omega_errmsg();
  else if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path), (fd = mkstemp(tmp)) < 0)
    err = strerror(errno);
  else {
    const size_t n = strlen(text);
    const int bad = write(fd, text, n) != (ssize_t)n;
    const int saved = errno;
    if (close(fd) || bad || rename(tmp, path)) {
      err = strerror(bad ? saved : errno);
      unlink(tmp);
    }
  }
  free(text);
  if (err)
    snprintf(rep->cache, sizeof rep->cache, "not written to %s: %s", dir, err);
  else
    snprintf(rep->cache, sizeof rep->cache, "%s", path);
}

#include "cli/cli.h"

#include "config/library_opts.h"
#include "core/alloc.h"
#include "core/file.h"
#include "core/log.h"
#include "model/config.h"
#include "omega/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool omega__cli_parse_size(const char *opt, const char *s, size_t min, size_t max, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
    fprintf(stderr, "omega: %s expects an integer in [%zu, %zu], got \"%s\"\n", opt, min, max, s);
    return false;
  }
  *out = (size_t)v;
  return true;
}

int omega__cli_fail(const char *what, int rc) { return omega__cli_fail_detail(what, rc, omega_errmsg()); }

int omega__cli_fail_detail(const char *what, int rc, const char *detail) {
  fprintf(stderr, "omega: %s: %s\n", what, detail[0] ? detail : omega_strerror(rc));
  return rc == OMEGA_EUTF8 ? OMEGA_EXIT_DATA : OMEGA_EXIT_FAILURE;
}

long omega__cli_getline(FILE *f, char **buf, size_t *cap) {
  ssize_t n = getdelim(buf, cap, '\n', f);
  if (n < 0)
    return -1;
  if (n > 0 && (*buf)[n - 1] == '\n')
    n--;
  return (long)n;
}

FILE *omega__cli_open(const char *path, const char *mode) {
  if (strcmp(path, "-") == 0)
    return mode[0] == 'r' ? stdin : stdout;
  FILE *f = fopen(path, mode);
  if (!f)
    fprintf(stderr, "omega: %s: %s\n", path, strerror(errno));
  return f;
}

int omega__cli_default_max_len(const char *path, size_t *out) {
  *out = 0;
  char cfg[4096];
  if (!omega__is_dir(path) || omega__path_join(cfg, sizeof cfg, path, "config.json") || !omega__is_file(cfg))
    return 0;
  omega_bert_config_t b;
  omega_st_config_t st;
  int rc = omega__bert_config_load(path, &b);
  if (rc == 0)
    rc = omega__st_config_load(path, &b, &st);
  if (rc == 0) {
    *out = (size_t)st.max_seq_length;
    omega__st_config_free(&st);
  }
  return rc;
}

bool omega__cli_pairs_add(omega_cli_pairs_t *p, const char *cmd, const char *key, const char *value) {
  if (!key && !strchr(value, '=')) {
    fprintf(stderr, "omega %s: --set expects KEY=VALUE, got \"%s\"\n", cmd, value);
    return false;
  }
  char **v = omega__realloc(p->v, (p->n + 1) * sizeof *v);
  if (v)
    p->v = v;
  const size_t len = (key ? strlen(key) + 1 : 0) + strlen(value) + 1;
  char *pair = v ? omega__malloc(len) : NULL;
  if (!pair) {
    fprintf(stderr, "omega %s: out of memory\n", cmd);
    return false;
  }
  snprintf(pair, len, "%s%s%s", key ? key : "", key ? "=" : "", value);
  p->v[p->n++] = pair;
  return true;
}

void omega__cli_pairs_free(omega_cli_pairs_t *p) {
  for (size_t i = 0; i < p->n; i++)
    omega__free(p->v[i]);
  omega__free(p->v);
  *p = (omega_cli_pairs_t){0};
}

int omega__cli_settings(const char *cmd, const omega_cli_pairs_t *pairs, omega_settings_t *out) {
  omega_config_t *cfg;
  int rc = omega__config_create(pairs ? (const char *const *)pairs->v : NULL, pairs ? pairs->n : 0, &cfg);
  if (rc == 0) {
    omega__config_get(cfg, out);
    omega__config_free(cfg);
    omega__log_set_level(out->omega_log_level);
    rc = omega__config_force_cpu(out);
  }
  if (rc) {
    fprintf(stderr, "omega %s: %s\n", cmd, omega_errmsg());
    return OMEGA_EXIT_FAILURE;
  }
  return 0;
}

void omega__cli_json_str(FILE *f, const char *s, size_t len) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + len; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7F)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

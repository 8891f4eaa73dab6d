#include "cli/cli.h"

#include "core/file.h"
#include "model/config.h"
#include "omega/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool omega_cli_parse_size(const char *opt, const char *s, size_t min, size_t max, size_t *out) {
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

int omega_cli_fail(const char *what, int rc) { return omega_cli_fail_detail(what, rc, omega_errmsg()); }

int omega_cli_fail_detail(const char *what, int rc, const char *detail) {
  fprintf(stderr, "omega: %s: %s\n", what, detail[0] ? detail : omega_strerror(rc));
  return rc == OMEGA_EUTF8 ? OMEGA_EXIT_DATA : OMEGA_EXIT_FAILURE;
}

long omega_cli_getline(FILE *f, char **buf, size_t *cap) {
  ssize_t n = getdelim(buf, cap, '\n', f);
  if (n < 0)
    return -1;
  if (n > 0 && (*buf)[n - 1] == '\n')
    n--;
  return (long)n;
}

FILE *omega_cli_open(const char *path, const char *mode) {
  if (strcmp(path, "-") == 0)
    return mode[0] == 'r' ? stdin : stdout;
  FILE *f = fopen(path, mode);
  if (!f)
    fprintf(stderr, "omega: %s: %s\n", path, strerror(errno));
  return f;
}

int omega_cli_default_max_len(const char *path, size_t *out) {
  *out = 0;
  char cfg[4096];
  if (!omega__is_dir(path) || omega__path_join(cfg, sizeof cfg, path, "config.json") || !omega__is_file(cfg))
    return 0;
  omega_bert_config_t b;
  omega_st_config_t st;
  int rc = omega__bert_config_load(path, &b);
  if (rc == 0)
    rc = omega__st_config_load(path, &b, &st);
  if (rc == 0)
    *out = (size_t)st.max_seq_length;
  return rc;
}

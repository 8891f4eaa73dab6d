#include "config/config.h"

#include "config/profiles.h"
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CONFIG_FILE (1u << 20)

struct omega_config {
  pthread_mutex_t mu;
  omega_settings_t cur;
  omega_cfg_source_t src[OMEGA_CFG_COUNT];
  char **cli;  /* per setting: command-line value or NULL */
  char **file; /* per setting: the config file's value as last loaded, or NULL */
  char **rt;   /* per setting: runtime value or NULL */
  omega_cfg_apply_fn apply;
  void *user;
  omega_cfg_stats_t stats;
};

const omega_cfg_def_t *omega__config_find(const char *name, size_t *idx) {
  for (size_t i = 0; i < omega__cfg_count; i++)
    if (strcasecmp(omega__cfg_table[i].name, name) == 0) {
      if (idx)
        *idx = i;
      return &omega__cfg_table[i];
    }
  return NULL;
}

const char *omega__config_source_name(omega_cfg_source_t s) {
  static const char *const n[] = {"default", "profile", "file", "env", "cli", "runtime"};
  return s < OMEGA_SRC_COUNT ? n[s] : "?";
}

static void *field(omega_settings_t *s, const omega_cfg_def_t *d) { return (char *)s + d->offset; }
static const void *cfield(const omega_settings_t *s, const omega_cfg_def_t *d) {
  return (const char *)s + d->offset;
}

int omega__config_parse_value(const omega_cfg_def_t *d, const char *v, omega_settings_t *s, char *msg, size_t cap) {
  switch (d->type) {
  case OMEGA_CFG_INT: {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end && isspace((unsigned char)*end))
      end++;
    if (errno || end == v || *end || x < d->min || x > d->max) {
      snprintf(msg, cap, "%s must be an integer in [%lld, %lld], got \"%.64s\"", d->name, d->min, d->max, v);
      return OMEGA_EINVAL;
    }
    *(long long *)field(s, d) = x;
    return 0;
  }
  case OMEGA_CFG_REAL: {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    while (*end && isspace((unsigned char)*end))
      end++;
    if (errno || end == v || *end || !(x >= d->rmin && x <= d->rmax)) {
      snprintf(msg, cap, "%s must be a number in [%g, %g], got \"%.64s\"", d->name, d->rmin, d->rmax, v);
      return OMEGA_EINVAL;
    }
    *(double *)field(s, d) = x;
    return 0;
  }
  case OMEGA_CFG_BOOL: {
    static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
      if (strcasecmp(v, yes[i]) == 0) {
        *(bool *)field(s, d) = true;
        return 0;
      }
      if (strcasecmp(v, no[i]) == 0) {
        *(bool *)field(s, d) = false;
        return 0;
      }
    }
    snprintf(msg, cap, "%s must be true or false, got \"%.64s\"", d->name, v);
    return OMEGA_EINVAL;
  }
  case OMEGA_CFG_ENUM:
    for (int i = 0; d->choices[i]; i++)
      if (strcasecmp(v, d->choices[i]) == 0) {
        *(int *)field(s, d) = i;
        return 0;
      }
    {
      size_t k = (size_t)snprintf(msg, cap, "%s must be one of", d->name);
      for (int i = 0; d->choices[i] && k < cap; i++)
        k += (size_t)snprintf(msg + k, cap - k, "%s%s", i ? ", " : " ", d->choices[i]);
      if (k < cap)
        snprintf(msg + k, cap - k, "; got \"%.64s\"", v);
    }
    return OMEGA_EINVAL;
  case OMEGA_CFG_STRING:
    if ((long long)strlen(v) > d->max) {
      snprintf(msg, cap, "%s is longer than %lld characters", d->name, d->max);
      return OMEGA_EINVAL;
    }
    snprintf((char *)field(s, d), (size_t)d->max + 1, "%s", v);
    return 0;
  }
  return OMEGA_EINVAL;
}

static void format_value(const omega_cfg_def_t *d, const omega_settings_t *s, char *buf, size_t cap) {
  switch (d->type) {
  case OMEGA_CFG_INT:
    snprintf(buf, cap, "%lld", *(const long long *)cfield(s, d));
    break;
  case OMEGA_CFG_REAL: { /* the shortest text that reads back as the same double */
    const double x = *(const double *)cfield(s, d);
    snprintf(buf, cap, "%.15g", x);
    if (strtod(buf, NULL) != x)
      snprintf(buf, cap, "%.17g", x);
    break;
  }
  case OMEGA_CFG_BOOL:
    snprintf(buf, cap, "%s", *(const bool *)cfield(s, d) ? "true" : "false");
    break;
  case OMEGA_CFG_ENUM:
    snprintf(buf, cap, "%s", d->choices[*(const int *)cfield(s, d)]);
    break;
  case OMEGA_CFG_STRING:
    snprintf(buf, cap, "%s", (const char *)cfield(s, d));
    break;
  }
}

/* ---- building the layered set ---- */

typedef struct {
  omega_settings_t s;
  omega_cfg_source_t src[OMEGA_CFG_COUNT];
} layered_t;

static int set_from(layered_t *L, size_t i, const char *v, omega_cfg_source_t src, const char *where, char *msg,
                    size_t cap) {
  char m[512];
  if (omega__config_parse_value(&omega__cfg_table[i], v, &L->s, m, sizeof m)) {
    snprintf(msg, cap, "%s: %s", where, m);
    return OMEGA_EINVAL;
  }
  L->src[i] = src;
  return 0;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

/* KEY=VALUE lines (the format of ops/config/omega-accel-defaults.env): # comments, blank
 * lines, an optional "export " prefix and matching quotes around the value. Parses text in
 * place; `what` names the source in messages. With `ov`, each value is also kept there. */
static int parse_kv_text(layered_t *L, char **ov, const char *what, char *text, char *msg, size_t cap) {
  int lineno = 0;
  for (char *line = text, *next; line && *line; line = next) {
    lineno++;
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    char *s = trim(line);
    if (!*s || *s == '#')
      continue;
    if (strncmp(s, "export ", 7) == 0)
      s = trim(s + 7);
    char *eq = strchr(s, '=');
    char where[1200];
    snprintf(where, sizeof where, "%s:%d", what, lineno);
    if (!eq) {
      snprintf(msg, cap, "%s: expected KEY=VALUE", where);
      return OMEGA_EINVAL;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t vl = strlen(val);
    if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
      val[vl - 1] = '\0';
      val++;
    }
    size_t idx;
    if (!omega__config_find(key, &idx)) {
      snprintf(msg, cap, "%s: unknown setting %.64s", where, key);
      return OMEGA_EINVAL;
    }
    int rc = set_from(L, idx, val, OMEGA_SRC_FILE, where, msg, cap);
    if (rc)
      return rc;
    if (ov) {
      omega__free(ov[idx]);
      if (!(ov[idx] = omega__strdup(val))) {
        snprintf(msg, cap, "%s: out of memory", where);
        return OMEGA_ENOMEM;
      }
    }
  }
  return 0;
}

static void free_overlay(char **o) {
  for (size_t i = 0; o && i < omega__cfg_count; i++)
    omega__free(o[i]);
  omega__free(o);
}

/* Parse the file into an overlay (validated: each value parses for its setting). */
static int read_file_layer(const char *path, char **ov, char *msg, size_t cap) {
  char *buf;
  size_t len;
  int rc = omega__read_file(path, MAX_CONFIG_FILE, &buf, &len);
  if (rc) {
    snprintf(msg, cap, "%s", omega_errmsg());
    return rc;
  }
  if (memchr(buf, '\0', len)) {
    snprintf(msg, cap, "%s: contains a NUL byte", path);
    omega__free(buf);
    return OMEGA_EINVAL;
  }
  layered_t scratch;
  memset(&scratch, 0, sizeof scratch);
  rc = parse_kv_text(&scratch, ov, path, buf, msg, cap);
  omega__free(buf);
  return rc;
}

int omega__config_parse_text(const char *what, const char *text, size_t len, omega_settings_t *out, char *msg,
                             size_t cap) {
  layered_t L;
  memset(&L, 0, sizeof L);
  for (size_t i = 0; i < omega__cfg_count; i++)
    if (set_from(&L, i, omega__cfg_table[i].def, OMEGA_SRC_DEFAULT, "default", msg, cap))
      return OMEGA_EINTERNAL;
  char *copy = omega__malloc(len + 1);
  if (!copy) {
    snprintf(msg, cap, "%s: out of memory", what);
    return OMEGA_ENOMEM;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  int rc = parse_kv_text(&L, NULL, what, copy, msg, cap);
  omega__free(copy);
  if (rc == 0)
    *out = L.s;
  return rc;
}

/* The value of one setting from the layers above the file (runtime > cli > env). */
static const char *upper_value(const omega_config_t *c, size_t i) {
  if (c->rt[i])
    return c->rt[i];
  if (c->cli[i])
    return c->cli[i];
  return getenv(omega__cfg_table[i].name);
}

/* The config file's layer as it is now on disk: per setting its value or NULL (all NULL
 * without a file). Nothing is kept on failure. */
static int load_file_layer(const omega_config_t *c, char ***out, char *msg, size_t cap) {
  char **ov = omega__calloc(omega__cfg_count, sizeof *ov);
  if (!ov) {
    snprintf(msg, cap, "config: out of memory");
    return OMEGA_ENOMEM;
  }
  const char *path = upper_value(c, OMEGA_CFG_IDX_OMEGA_CONFIG_FILE);
  int rc = path && *path ? read_file_layer(path, ov, msg, cap) : 0;
  if (rc) {
    free_overlay(ov);
    return rc;
  }
  *out = ov;
  return 0;
}

/* Every layer over the defaults. The file layer is given, not read: a runtime change is
 * applied over the file as last loaded, so a file broken since then blocks only reloads. */
static int build(const omega_config_t *c, char *const *file_layer, layered_t *L, char *msg, size_t cap) {
  memset(L, 0, sizeof *L);
  for (size_t i = 0; i < omega__cfg_count; i++)
    if (set_from(L, i, omega__cfg_table[i].def, OMEGA_SRC_DEFAULT, "default", msg, cap))
      return OMEGA_EINTERNAL;
  /* The profile and the config file path can only come from the layers above the file
   * (a file cannot name itself, nor its own profile: it overrides the profile anyway). */
  const size_t pi = OMEGA_CFG_IDX_OMEGA_PROFILE, fi = OMEGA_CFG_IDX_OMEGA_CONFIG_FILE;
  const char *pv = upper_value(c, pi);
  if (pv && set_from(L, pi, pv, OMEGA_SRC_ENV, "OMEGA_PROFILE", msg, cap))
    return OMEGA_EINVAL;
  const omega_profile_entry_t *p = omega__profiles[L->s.omega_profile];
  for (; p && p->name; p++) {
    size_t idx;
    if (!omega__config_find(p->name, &idx) || set_from(L, idx, p->value, OMEGA_SRC_PROFILE, "profile", msg, cap))
      return OMEGA_EINTERNAL;
  }
  const char *file = upper_value(c, fi);
  for (size_t i = 0; i < omega__cfg_count; i++)
    if (file_layer[i] && set_from(L, i, file_layer[i], OMEGA_SRC_FILE, file, msg, cap))
      return OMEGA_EINVAL;
  for (size_t i = 0; i < omega__cfg_count; i++) {
    const char *e = getenv(omega__cfg_table[i].name);
    char where[128];
    snprintf(where, sizeof where, "environment %s", omega__cfg_table[i].name);
    if (e && set_from(L, i, e, OMEGA_SRC_ENV, where, msg, cap))
      return OMEGA_EINVAL;
  }
  for (size_t i = 0; i < omega__cfg_count; i++)
    if (c->cli[i] && set_from(L, i, c->cli[i], OMEGA_SRC_CLI, "command line", msg, cap))
      return OMEGA_EINVAL;
  for (size_t i = 0; i < omega__cfg_count; i++)
    if (c->rt[i] && set_from(L, i, c->rt[i], OMEGA_SRC_RUNTIME, "runtime", msg, cap))
      return OMEGA_EINVAL;
  if (pv)
    L->src[pi] = c->rt[pi] ? OMEGA_SRC_RUNTIME : c->cli[pi] ? OMEGA_SRC_CLI : OMEGA_SRC_ENV;
  if (file && *file)
    L->src[fi] = c->cli[fi] ? OMEGA_SRC_CLI : OMEGA_SRC_ENV;
  return 0;
}

static bool same_value(const omega_cfg_def_t *d, const omega_settings_t *a, const omega_settings_t *b) {
  char x[1100], y[1100];
  format_value(d, a, x, sizeof x);
  format_value(d, b, y, sizeof y);
  return strcmp(x, y) == 0;
}

/* Apply a new layered set (lock held): restart-only changes are kept out, the callback
 * applies the rest, and a failing callback rolls everything back. */
static int commit(omega_config_t *c, layered_t *L, char *msg, size_t cap) {
  size_t k = strlen(msg);
  for (size_t i = 0; i < omega__cfg_count; i++) {
    const omega_cfg_def_t *d = &omega__cfg_table[i];
    if ((d->flags & OMEGA_CFG_HOT) || same_value(d, &c->cur, &L->s))
      continue;
    /* keep the running value: copy it back */
    memcpy(field(&L->s, d), cfield(&c->cur, d),
           d->type == OMEGA_CFG_STRING ? (size_t)d->max + 1
           : d->type == OMEGA_CFG_INT  ? sizeof(long long)
           : d->type == OMEGA_CFG_REAL ? sizeof(double)
           : d->type == OMEGA_CFG_BOOL ? sizeof(bool)
                                       : sizeof(int));
    L->src[i] = c->src[i];
    if (k < cap)
      k += (size_t)snprintf(msg + k, cap - k, "%s%s changed but needs a restart; keeping the running value",
                            k ? "; " : "", d->name);
  }
  if (c->apply) {
    int rc = c->apply(&c->cur, &L->s, c->user);
    if (rc) {
      c->apply(&L->s, &c->cur, c->user);
      if (k < cap)
        snprintf(msg + k, cap - k, "%sapplying the new settings failed: %s; rolled back", k ? "; " : "",
                 omega_errmsg());
      return rc;
    }
  }
  c->cur = L->s;
  memcpy(c->src, L->src, sizeof c->src);
  return 0;
}

int omega__config_create(const char *const *cli_pairs, size_t n_cli, omega_config_t **out) {
  omega_config_t *c = omega__calloc(1, sizeof *c);
  if (!c)
    return omega__seterr(OMEGA_ENOMEM, "config: out of memory");
  c->cli = omega__calloc(omega__cfg_count, sizeof *c->cli);
  c->rt = omega__calloc(omega__cfg_count, sizeof *c->rt);
  pthread_mutex_init(&c->mu, NULL);
  int rc = (!c->cli || !c->rt) ? omega__seterr(OMEGA_ENOMEM, "config: out of memory") : 0;
  char msg[1024] = "";
  for (size_t i = 0; i < n_cli && rc == 0; i++) {
    const char *eq = strchr(cli_pairs[i], '=');
    char key[128];
    size_t idx;
    snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - cli_pairs[i]) : 0, cli_pairs[i]);
    if (!eq || !omega__config_find(key, &idx)) {
      rc = omega__seterr(OMEGA_EINVAL, "command line: unknown setting \"%s\"", cli_pairs[i]);
      break;
    }
    omega__free(c->cli[idx]);
    if (!(c->cli[idx] = omega__strdup(eq + 1)))
      rc = omega__seterr(OMEGA_ENOMEM, "config: out of memory");
  }
  layered_t L;
  if (rc == 0 && ((rc = load_file_layer(c, &c->file, msg, sizeof msg)) ||
                  (rc = build(c, c->file, &L, msg, sizeof msg))))
    omega__seterr(rc, "%s", msg);
  if (rc) {
    omega__config_free(c);
    return rc;
  }
  c->cur = L.s;
  memcpy(c->src, L.src, sizeof c->src);
  *out = c;
  return 0;
}

void omega__config_free(omega_config_t *c) {
  if (!c)
    return;
  for (size_t i = 0; i < omega__cfg_count; i++) {
    if (c->cli)
      omega__free(c->cli[i]);
    if (c->rt)
      omega__free(c->rt[i]);
  }
  omega__free(c->cli);
  omega__free(c->rt);
  free_overlay(c->file);
  pthread_mutex_destroy(&c->mu);
  omega__free(c);
}

void omega__config_set_apply(omega_config_t *c, omega_cfg_apply_fn fn, void *user) {
  pthread_mutex_lock(&c->mu);
  c->apply = fn;
  c->user = user;
  pthread_mutex_unlock(&c->mu);
}

void omega__config_get(const omega_config_t *c, omega_settings_t *out) {
  omega_config_t *m = (omega_config_t *)c;
  pthread_mutex_lock(&m->mu);
  *out = m->cur;
  pthread_mutex_unlock(&m->mu);
}

int omega__config_reload(omega_config_t *c, char *msg, size_t cap) {
  pthread_mutex_lock(&c->mu);
  layered_t L;
  msg[0] = '\0';
  char **file = NULL;
  int rc = load_file_layer(c, &file, msg, cap);
  if (rc == 0)
    rc = build(c, file, &L, msg, cap);
  if (rc == 0) {
    msg[0] = '\0';
    rc = commit(c, &L, msg, cap);
  }
  if (rc == 0) {
    free_overlay(c->file);
    c->file = file;
  } else {
    free_overlay(file);
  }
  if (rc)
    c->stats.reloads_failed++;
  else
    c->stats.reloads_ok++;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* A value as the audit log shows it: secrets only as (set) or (empty), the rest quoted with
 * control characters escaped, so a value cannot forge a log line. */
static void shown(const omega_cfg_def_t *d, const omega_settings_t *s, char *out, size_t cap) {
  char v[1100];
  format_value(d, s, v, sizeof v);
  if (d->flags & OMEGA_CFG_SECRET) {
    snprintf(out, cap, "%s", v[0] ? "(set)" : "(empty)");
    return;
  }
  size_t k = 0;
  out[k++] = '"';
  for (const unsigned char *p = (const unsigned char *)v; *p && k + 6 < cap; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
      k += (size_t)snprintf(out + k, cap - k, "\\x%02x", *p);
    else
      out[k++] = (char)*p;
  }
  out[k++] = '"';
  out[k] = '\0';
}

/* The audit trail of runtime changes: one line per setting that moved (a profile switch
 * moves several). */
static void log_changes(const char *who, const omega_settings_t *old, const omega_settings_t *now) {
  int n = 0;
  for (size_t i = 0; i < omega__cfg_count; i++) {
    const omega_cfg_def_t *d = &omega__cfg_table[i];
    if (same_value(d, old, now))
      continue;
    char a[4400], b[4400];
    shown(d, old, a, sizeof a);
    shown(d, now, b, sizeof b);
    omega__log(OMEGA_LOG_INFO, "runtime change by %s: %s %s -> %s", who, d->name, a, b);
    n++;
  }
  if (!n)
    omega__log(OMEGA_LOG_INFO, "runtime change by %s: no setting changed", who);
}

int omega__config_set_runtime(omega_config_t *c, const char *who, const char *const *keys, const char *const *values,
                             size_t n, char *msg, size_t cap) {
  msg[0] = '\0';
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  /* Validate every pair on a scratch copy first: all or nothing. */
  omega_settings_t scratch = c->cur;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const omega_cfg_def_t *d = omega__config_find(keys[i], NULL);
    if (!d) {
      snprintf(msg, cap, "unknown setting %s", keys[i]);
      rc = OMEGA_EINVAL;
    } else if (!(d->flags & OMEGA_CFG_HOT)) {
      snprintf(msg, cap, "%s is restart-only: set it in the config file, environment or command line and restart",
               d->name);
      rc = OMEGA_EINVAL;
    } else {
      rc = omega__config_parse_value(d, values[i], &scratch, msg, cap);
    }
  }
  char **nrt = rc ? NULL : omega__calloc(omega__cfg_count, sizeof *nrt);
  if (rc == 0 && !nrt)
    rc = OMEGA_ENOMEM;
  for (size_t i = 0; rc == 0 && i < omega__cfg_count; i++)
    if (c->rt[i] && !(nrt[i] = omega__strdup(c->rt[i])))
      rc = OMEGA_ENOMEM;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    size_t idx;
    omega__config_find(keys[i], &idx);
    omega__free(nrt[idx]);
    if (!(nrt[idx] = omega__strdup(values[i])))
      rc = OMEGA_ENOMEM;
  }
  if (rc == OMEGA_ENOMEM)
    snprintf(msg, cap, "config: out of memory");
  if (rc == 0) {
    char **old = c->rt;
    const omega_settings_t before = c->cur;
    c->rt = nrt;
    layered_t L;
    rc = build(c, c->file, &L, msg, cap);
    if (rc == 0)
      rc = commit(c, &L, msg, cap);
    if (rc) {
      c->rt = old;
      free_overlay(nrt);
    } else {
      free_overlay(old);
      log_changes(who, &before, &c->cur);
    }
  } else {
    free_overlay(nrt);
  }
  if (rc) {
    c->stats.runtime_failed++;
    omega__log(OMEGA_LOG_WARN, "runtime change by %s rejected: %s", who, msg);
  } else {
    c->stats.runtime_ok++;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void omega__config_stats(const omega_config_t *c, omega_cfg_stats_t *s) {
  omega_config_t *m = (omega_config_t *)c;
  pthread_mutex_lock(&m->mu);
  *s = m->stats;
  pthread_mutex_unlock(&m->mu);
}

void omega__config_value(const omega_config_t *c, size_t idx, bool redact, char *buf, size_t cap,
                        omega_cfg_source_t *src) {
  omega_config_t *m = (omega_config_t *)c;
  const omega_cfg_def_t *d = &omega__cfg_table[idx];
  pthread_mutex_lock(&m->mu);
  if (redact && (d->flags & OMEGA_CFG_SECRET))
    snprintf(buf, cap, "%s", ((const char *)cfield(&m->cur, d))[0] ? "(set)" : "");
  else
    format_value(d, &m->cur, buf, cap);
  if (src)
    *src = m->src[idx];
  pthread_mutex_unlock(&m->mu);
}

void omega__config_markdown(char **out, size_t *len) {
  FILE *f = open_memstream(out, len);
  fputs("| Setting | Default | Values | Hot reload | What it does |\n|---|---|---|---|---|\n", f);
  for (size_t i = 0; i < omega__cfg_count; i++) {
    const omega_cfg_def_t *d = &omega__cfg_table[i];
    fprintf(f, "| `%s` | %s%s%s | ", d->name, d->def[0] ? "`" : "", d->def[0] ? d->def : "(empty)",
            d->def[0] ? "`" : "");
    switch (d->type) {
    case OMEGA_CFG_INT:
      fprintf(f, "%lld..%lld", d->min, d->max);
      break;
    case OMEGA_CFG_REAL:
      fprintf(f, "%g..%g", d->rmin, d->rmax);
      break;
    case OMEGA_CFG_BOOL:
      fputs("true, false", f);
      break;
    case OMEGA_CFG_ENUM:
      for (int k = 0; d->choices[k]; k++)
        fprintf(f, "%s%s", k ? ", " : "", d->choices[k]);
      break;
    case OMEGA_CFG_STRING:
      fputs((d->flags & OMEGA_CFG_SECRET) ? "text (secret)" : "text", f);
      break;
    }
    fprintf(f, " | %s | %s |\n", (d->flags & OMEGA_CFG_HOT) ? "yes" : "restart", d->help);
  }
  fclose(f);
}

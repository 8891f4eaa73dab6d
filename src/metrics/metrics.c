#include "core/alloc.h"
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 3
#define MAX_BUCKETS 32
#define MAX_HOOKS 16

struct omega__series {
  char *values[MAX_LABELS];
  _Atomic uint64_t bits; /* double value (counters, gauges) or histogram sum */
  _Atomic uint64_t count;
  _Atomic uint64_t buckets[MAX_BUCKETS + 1];
  omega_family_t *fam;
  omega_series_t *next;
};

struct omega_family {
  char *name, *help;
  omega_metric_type_t type;
  char *labels[MAX_LABELS];
  int n_labels;
  double bounds[MAX_BUCKETS];
  size_t n_bounds;
  pthread_mutex_t mu;
  omega_series_t *first, *last;
  omega_family_t *next;
};

struct omega_metrics {
  pthread_mutex_t mu;
  omega_family_t *first, *last;
  omega_collect_fn hooks[MAX_HOOKS];
  void *hook_user[MAX_HOOKS];
  int n_hooks;
};

static double from_bits(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static uint64_t to_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

static void atomic_add_double(_Atomic uint64_t *p, double v) {
  uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(p, &old, to_bits(from_bits(old) + v), memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

static void series_free(omega_series_t *s) {
  for (int i = 0; i < MAX_LABELS; i++)
    omega__free(s->values[i]);
  omega__free(s);
}

/* Whether s is the series for label values v (NULL reads as ""). */
static bool has_labels(const omega_family_t *f, const omega_series_t *s, const char *const v[MAX_LABELS]) {
  for (int i = 0; i < f->n_labels && i < MAX_LABELS; i++)
    if (strcmp(s->values[i], v[i] ? v[i] : "") != 0)
      return false;
  return true;
}

int omega__metrics_create(omega_metrics_t **out) {
  omega_metrics_t *m = omega__calloc(1, sizeof *m);
  if (!m)
    return -1;
  pthread_mutex_init(&m->mu, NULL);
  *out = m;
  return 0;
}

void omega__metrics_free(omega_metrics_t *m) {
  if (!m)
    return;
  for (omega_family_t *f = m->first, *fn; f; f = fn) {
    fn = f->next;
    for (omega_series_t *s = f->first, *sn; s; s = sn) {
      sn = s->next;
      series_free(s);
    }
    for (int i = 0; i < MAX_LABELS; i++)
      omega__free(f->labels[i]);
    omega__free(f->name);
    omega__free(f->help);
    pthread_mutex_destroy(&f->mu);
    omega__free(f);
  }
  pthread_mutex_destroy(&m->mu);
  omega__free(m);
}

omega_family_t *omega__metrics_family(omega_metrics_t *m, const char *name, const char *help, omega_metric_type_t type,
                                     const char *const *label_names, const double *buckets, size_t n_buckets) {
  omega_family_t *f = omega__calloc(1, sizeof *f);
  if (!f)
    abort(); /* registration happens at start-up; nothing can run without it */
  f->name = omega__strdup(name);
  f->help = omega__strdup(help);
  f->type = type;
  for (int i = 0; label_names && label_names[i] && i < MAX_LABELS; i++)
    f->labels[f->n_labels++] = omega__strdup(label_names[i]);
  f->n_bounds = n_buckets < MAX_BUCKETS ? n_buckets : MAX_BUCKETS;
  if (buckets)
    memcpy(f->bounds, buckets, f->n_bounds * sizeof *buckets);
  pthread_mutex_init(&f->mu, NULL);
  pthread_mutex_lock(&m->mu);
  if (m->last)
    m->last->next = f;
  else
    m->first = f;
  m->last = f;
  pthread_mutex_unlock(&m->mu);
  return f;
}

void omega__metrics_register(omega_metrics_t *m, const omega_family_def_t *defs, size_t n, void *out) {
  for (size_t i = 0; i < n; i++) {
    const omega_family_def_t *d = &defs[i];
    omega_family_t *f = omega__metrics_family(m, d->name, d->help, d->type, d->labels, d->buckets, d->n_buckets);
    memcpy((char *)out + d->slot, &f, sizeof f);
    if (d->series && !f->n_labels)
      omega__series(f, NULL, NULL, NULL);
    for (const char *const *v = d->series; v && f->n_labels && v[0]; v += f->n_labels)
      omega__series(f, v[0], f->n_labels > 1 ? v[1] : NULL, f->n_labels > 2 ? v[2] : NULL);
  }
}

omega_series_t *omega__series(omega_family_t *f, const char *v1, const char *v2, const char *v3) {
  const char *v[MAX_LABELS] = {v1, v2, v3};
  pthread_mutex_lock(&f->mu);
  for (omega_series_t *s = f->first; s; s = s->next)
    if (has_labels(f, s, v)) {
      pthread_mutex_unlock(&f->mu);
      return s;
    }
  omega_series_t *s = omega__calloc(1, sizeof *s);
  for (int i = 0; s && i < f->n_labels && i < MAX_LABELS; i++)
    if (!(s->values[i] = omega__strdup(v[i] ? v[i] : ""))) {
      series_free(s);
      s = NULL;
    }
  if (!s) { /* out of memory: the update is lost, the request is not */
    pthread_mutex_unlock(&f->mu);
    return NULL;
  }
  s->fam = f;
  if (f->last)
    f->last->next = s;
  else
    f->first = s;
  f->last = s;
  pthread_mutex_unlock(&f->mu);
  return s;
}

void omega__series_remove(omega_family_t *f, const char *v1, const char *v2, const char *v3) {
  const char *v[MAX_LABELS] = {v1, v2, v3};
  pthread_mutex_lock(&f->mu);
  for (omega_series_t **pp = &f->first, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
    omega_series_t *s = *pp;
    if (!has_labels(f, s, v))
      continue;
    *pp = s->next;
    if (f->last == s)
      f->last = prev;
    series_free(s);
    break;
  }
  pthread_mutex_unlock(&f->mu);
}

void omega__series_add(omega_series_t *s, double v) {
  if (s)
    atomic_add_double(&s->bits, v);
}

void omega__series_set(omega_series_t *s, double v) {
  if (s)
    atomic_store_explicit(&s->bits, to_bits(v), memory_order_relaxed);
}

void omega__series_observe(omega_series_t *s, double v) {
  if (!s)
    return;
  const omega_family_t *f = s->fam;
  size_t b = 0;
  while (b < f->n_bounds && v > f->bounds[b])
    b++;
  atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
  atomic_add_double(&s->bits, v);
}

double omega__series_value(const omega_series_t *s) {
  if (!s)
    return 0;
  if (s->fam->type == OMEGA_METRIC_HISTOGRAM)
    return (double)atomic_load(&((omega_series_t *)s)->count);
  return from_bits(atomic_load(&((omega_series_t *)s)->bits));
}

double omega__series_sum(const omega_series_t *s) {
  return s ? from_bits(atomic_load(&((omega_series_t *)s)->bits)) : 0;
}

double omega__series_quantile(const omega_series_t *s, double q) {
  if (!s)
    return 0;
  const omega_family_t *f = s->fam;
  uint64_t counts[MAX_BUCKETS + 1], total = 0;
  for (size_t b = 0; b <= f->n_bounds; b++)
    total += counts[b] = atomic_load(&((omega_series_t *)s)->buckets[b]);
  if (!total)
    return 0;
  double rank = q * (double)total, cum = 0;
  for (size_t b = 0; b <= f->n_bounds; b++) {
    if (cum + (double)counts[b] >= rank && counts[b]) {
      if (b == f->n_bounds)
        return f->n_bounds ? f->bounds[f->n_bounds - 1] : 0; /* beyond the last bound */
      double lo = b ? f->bounds[b - 1] : 0, hi = f->bounds[b];
      return lo + (hi - lo) * (rank - cum) / (double)counts[b];
    }
    cum += (double)counts[b];
  }
  return f->n_bounds ? f->bounds[f->n_bounds - 1] : 0;
}

void omega__metrics_on_collect(omega_metrics_t *m, omega_collect_fn fn, void *user) {
  pthread_mutex_lock(&m->mu);
  if (m->n_hooks < MAX_HOOKS) {
    m->hooks[m->n_hooks] = fn;
    m->hook_user[m->n_hooks++] = user;
  }
  pthread_mutex_unlock(&m->mu);
}

void omega__metrics_collect(omega_metrics_t *m) {
  pthread_mutex_lock(&m->mu);
  int n = m->n_hooks;
  pthread_mutex_unlock(&m->mu);
  for (int i = 0; i < n; i++)
    m->hooks[i](m->hook_user[i]);
}

/* Label values escaped as the text format requires: backslash, quote, newline. */
static void write_labels(FILE *f, const omega_family_t *fam, const omega_series_t *s, const char *extra_name,
                         const char *extra_value) {
  if (!fam->n_labels && !extra_name)
    return;
  fputc('{', f);
  for (int i = 0; i < fam->n_labels; i++) {
    fprintf(f, "%s%s=\"", i ? "," : "", fam->labels[i]);
    for (const char *p = s->values[i]; *p; p++) {
      if (*p == '\\' || *p == '"')
        fputc('\\', f);
      if (*p == '\n')
        fputs("\\n", f);
      else
        fputc(*p, f);
    }
    fputc('"', f);
  }
  if (extra_name)
    fprintf(f, "%s%s=\"%s\"", fam->n_labels ? "," : "", extra_name, extra_value);
  fputc('}', f);
}

static void write_number(FILE *f, double v) {
  if (isinf(v))
    fputs(v > 0 ? "+Inf" : "-Inf", f);
  else if (isnan(v))
    fputs("NaN", f);
  else if (v == (double)(long long)v && fabs(v) < 1e15)
    fprintf(f, "%lld", (long long)v);
  else
    fprintf(f, "%.9g", v);
}

void omega__metrics_write(omega_metrics_t *m, FILE *f) {
  static const char *const types[] = {"counter", "gauge", "histogram"};
  omega__metrics_collect(m);
  pthread_mutex_lock(&m->mu);
  for (omega_family_t *fam = m->first; fam; fam = fam->next) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, types[fam->type]);
    pthread_mutex_lock(&fam->mu);
    for (omega_series_t *s = fam->first; s; s = s->next) {
      if (fam->type != OMEGA_METRIC_HISTOGRAM) {
        fputs(fam->name, f);
        write_labels(f, fam, s, NULL, NULL);
        fputc(' ', f);
        write_number(f, omega__series_value(s));
        fputc('\n', f);
        continue;
      }
      uint64_t cum = 0;
      for (size_t b = 0; b <= fam->n_bounds; b++) {
        char le[32];
        cum += atomic_load(&s->buckets[b]);
        if (b < fam->n_bounds)
          snprintf(le, sizeof le, "%g", fam->bounds[b]);
        else
          snprintf(le, sizeof le, "+Inf");
        fprintf(f, "%s_bucket", fam->name);
        write_labels(f, fam, s, "le", le);
        fprintf(f, " %llu\n", (unsigned long long)cum);
      }
      fprintf(f, "%s_sum", fam->name);
      write_labels(f, fam, s, NULL, NULL);
      fputc(' ', f);
      write_number(f, omega__series_sum(s));
      fprintf(f, "\n%s_count", fam->name);
      write_labels(f, fam, s, NULL, NULL);
      fprintf(f, " %llu\n", (unsigned long long)atomic_load(&s->count));
    }
    pthread_mutex_unlock(&fam->mu);
  }
  pthread_mutex_unlock(&m->mu);
}

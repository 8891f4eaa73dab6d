/* Counters, gauges and histograms with labels, and their Prometheus text exposition
 * (format 0.0.4). The registry is the one source of the numbers /metrics and
 * /accel/health show. Hot paths keep a series pointer and update it lock-free. */
#ifndef OMEGA_METRICS_METRICS_H
#define OMEGA_METRICS_METRICS_H

#include <stddef.h>
#include <stdio.h>

typedef enum { OMEGA_METRIC_COUNTER, OMEGA_METRIC_GAUGE, OMEGA_METRIC_HISTOGRAM } omega_metric_type_t;

typedef struct omega_metrics omega_metrics_t;
typedef struct omega_family omega_family_t;
typedef struct omega__series omega_series_t;

int omega__metrics_create(omega_metrics_t **out);
void omega__metrics_free(omega_metrics_t *m);

/* Register a family. label_names: up to 3 names, NULL-terminated (NULL: no labels).
 * buckets: upper bounds for histograms (ascending), n_buckets of them; +Inf is implied. */
omega_family_t *omega__metrics_family(omega_metrics_t *m, const char *name, const char *help, omega_metric_type_t type,
                                     const char *const *label_names, const double *buckets, size_t n_buckets);
/* One row of a registration table (omega__metrics_register). */
typedef struct {
  size_t slot; /* offsetof the omega_family_t * in the caller's struct that receives the family */
  const char *name, *help;
  omega_metric_type_t type;
  const char *const *labels; /* as omega__metrics_family's label_names */
  const double *buckets;
  size_t n_buckets;
  /* Series that must show from the first scrape: each one's label values in turn, as many as
   * the family has labels, then NULL. Without labels, any list (OMEGA_METRICS_UNLABELLED)
   * creates the one series. NULL: none. */
  const char *const *series;
} omega_family_def_t;

/* The row field for "the family's one series, without labels". */
#define OMEGA_METRICS_UNLABELLED ((const char *const[]){NULL})

/* Register every family of a table in order, storing each into out at its slot, and create
 * its first series. Like omega__metrics_family, for start-up only. */
void omega__metrics_register(omega_metrics_t *m, const omega_family_def_t *defs, size_t n, void *out);

/* The series of a family for label values (as many as the family has label names);
 * created on first use, stable afterwards. NULL when a new one cannot be allocated: the
 * functions below take NULL as a series that ignores updates and reads 0. */
omega_series_t *omega__series(omega_family_t *f, const char *v1, const char *v2, const char *v3);

/* Forget the series for these label values (a dropped collection's gauges). Only for series
 * that nobody keeps a pointer to: callers look them up each time they update them. */
void omega__series_remove(omega_family_t *f, const char *v1, const char *v2, const char *v3);

void omega__series_add(omega_series_t *s, double v); /* counters and gauges */
void omega__series_set(omega_series_t *s, double v); /* gauges */
void omega__series_observe(omega_series_t *s, double v); /* histograms */
double omega__series_value(const omega_series_t *s);     /* counter/gauge value; histogram count */
double omega__series_sum(const omega_series_t *s);       /* histogram sum */
/* Quantile estimate from histogram buckets (linear within a bucket). */
double omega__series_quantile(const omega_series_t *s, double q);

/* Called before every exposition to refresh gauges that are sampled (RSS, queue depth). */
typedef void (*omega_collect_fn)(void *user);
void omega__metrics_on_collect(omega_metrics_t *m, omega_collect_fn fn, void *user);
void omega__metrics_collect(omega_metrics_t *m);
/* Prometheus text format into f (runs the collect hooks first). */
void omega__metrics_write(omega_metrics_t *m, FILE *f);

#endif

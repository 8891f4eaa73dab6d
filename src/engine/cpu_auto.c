#include "engine/cpu_auto.h"

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/packed.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error_internal.h"
#include "core/log.h"
#include "text/tokenizer_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t omega__cpu_auto_choose(omega_cpu_trial_t *t, size_t n, double bound) {
  size_t best = 0;
  for (size_t i = 0; i < n; i++) {
    t[i].accepted = t[i].precision == OMEGA_CPU_FP32 || t[i].min_cosine >= bound;
    if (t[i].accepted && (!t[best].accepted || t[i].ms < t[best].ms))
      best = i;
  }
  size_t pick = best;
  for (size_t i = 0; i < n; i++)
    if (t[i].accepted && t[i].min_cosine > t[pick].min_cosine && t[i].ms <= t[best].ms * (1 + OMEGA_CPU_AUTO_MARGIN))
      pick = i;
  return pick;
}

/* Real text of the kinds served (queries, passages, code, numbers, several scripts), so the
 * activations, and int8's per-token scales, are those of real inputs. */
static const char *const probe_texts[] = {
    "how do I reset my password",
    "The quick brown fox jumps over the lazy dog near the riverbank at dawn.",
    "Photosynthesis converts light energy into chemical energy stored in glucose, releasing oxygen as a by-product "
    "of splitting water molecules in the chloroplasts of plant cells.",
    "best pizza near me open now",
    "In 2023 the company reported revenue of $4.2 billion, up 12% year over year, driven by cloud services.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le chat dort sur le canapé pendant que la pluie tombe doucement.",
    "東京は日本の首都であり、世界最大の都市圏の一つです。",
    "What are the side effects of ibuprofen when taken with alcohol?",
    "Error: connection refused (ECONNREFUSED) at 10.0.0.12:5432 after 3 retries",
    "A vector database stores embeddings and answers nearest-neighbour queries over them, trading a little recall "
    "for orders of magnitude less search time with graph indexes such as HNSW.",
    "I absolutely loved this movie!!! 10/10 would watch again :)",
    "Symptoms include fever, dry cough, fatigue and, in some cases, loss of taste or smell.",
    "SELECT name, count(*) FROM orders GROUP BY name HAVING count(*) > 5;",
    "Kubernetes restarts a container whose liveness probe fails three times in a row.",
};
#define N_PROBE (sizeof probe_texts / sizeof probe_texts[0])

typedef struct {
  int32_t *ids;
  uint32_t offsets[N_PROBE + 1];
  omega_batch_t batch;
} probe_t;

static int probe_build(const omega_model_t *m, probe_t *p) {
  omega_idvec_t iv = {0};
  size_t cap = 0;
  int rc = 0;
  memset(p, 0, sizeof *p);
  for (size_t i = 0; i < N_PROBE && !rc; i++) {
    rc = omega__tokenizer_encode_vec(m->tok, probe_texts[i], strlen(probe_texts[i]), (size_t)m->st.max_seq_length,
                                     OMEGA_TOK_UTF8_REPLACE, &iv);
    const size_t at = p->offsets[i];
    if (!rc && at + iv.n > cap) {
      size_t ncap = (at + iv.n) * 2;
      int32_t *g = omega__realloc(p->ids, ncap * sizeof *g);
      if (!g)
        rc = omega__seterr(OMEGA_ENOMEM, "auto precision: out of memory");
      else {
        p->ids = g;
        cap = ncap;
      }
    }
    if (!rc) {
      if (iv.n)
        memcpy(p->ids + at, iv.v, iv.n * sizeof *iv.v);
      p->offsets[i + 1] = (uint32_t)(at + iv.n);
    }
  }
  omega__free(iv.v);
  p->batch = (omega_batch_t){p->ids, p->offsets, N_PROBE};
  return rc;
}

/* What a user gets per text: the embedding after the Dense modules; for a classifier, the
 * row its head reads (a one-label head's score has no direction to compare). */
static int finish_rows(const omega_model_t *m, const float *pooled, float *out, size_t *dim) {
  if (!m->st.n_post || m->cfg.head.present) {
    *dim = (size_t)m->pool_dim;
    memcpy(out, pooled, N_PROBE * *dim * sizeof *out);
    return 0;
  }
  float *tmp = omega__malloc((omega__model_post_scratch(m) + 1) * sizeof *tmp);
  if (!tmp)
    return omega__seterr(OMEGA_ENOMEM, "auto precision: out of memory");
  *dim = (size_t)m->dim;
  for (size_t r = 0; r < N_PROBE; r++)
    omega__model_post(m, pooled + r * (size_t)m->pool_dim, out + r * *dim, tmp);
  omega__free(tmp);
  return 0;
}

static double min_row_cosine(const float *a, const float *b, size_t rows, size_t dim) {
  double worst = 1;
  for (size_t r = 0; r < rows; r++) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < dim; k++) {
      const double x = a[r * dim + k], y = b[r * dim + k];
      ab += x * y, aa += x * x, bb += y * y;
    }
    const double c = aa == 0 && bb == 0 ? 1 : aa == 0 || bb == 0 ? 0 : ab / sqrt(aa * bb);
    if (!(c >= worst)) /* NaN counts as the worst */
      worst = isnan(c) ? -1 : c;
  }
  return worst;
}

/* Each mode's fastest forward pass of the probe over at least MIN_RUNS runs, more while
 * under the time budget: the smallest time is the least disturbed by other work. */
#define MIN_RUNS 3
#define MAX_RUNS 20
#define BUDGET_NS 150000000LL

static int measure(omega_backend_t *b, const probe_t *p, float *pooled, double *ms) {
  int rc = b->encode(b, 0, &p->batch, pooled); /* warm: pages, caches, the pool's threads */
  const int64_t start = omega__now_ns();
  double best = INFINITY;
  for (int run = 0; !rc && run < MAX_RUNS && (run < MIN_RUNS || omega__now_ns() - start < BUDGET_NS); run++) {
    const int64_t t0 = omega__now_ns();
    rc = b->encode(b, 0, &p->batch, pooled);
    const double t = (double)(omega__now_ns() - t0) / 1e6;
    if (t < best)
      best = t;
  }
  *ms = best;
  return rc;
}

static int run_trials(const omega_model_t *m, int threads, double bound, omega_backend_t **out, omega_cpu_auto_t *rep) {
  probe_t p;
  int rc = probe_build(m, &p);
  const size_t dmax = (size_t)(m->dim > m->pool_dim ? m->dim : m->pool_dim);
  float *pooled = omega__malloc(N_PROBE * (size_t)m->pool_dim * sizeof *pooled);
  float *ref = omega__malloc(N_PROBE * dmax * sizeof *ref), *got = omega__malloc(N_PROBE * dmax * sizeof *got);
  if (!rc && (!pooled || !ref || !got))
    rc = omega__seterr(OMEGA_ENOMEM, "auto precision: out of memory");
  rep->probe_texts = N_PROBE;
  rep->probe_tokens = p.offsets[N_PROBE];
  omega_backend_t *kept = NULL;
  size_t kept_at = 0;
  for (int prec = 0; prec < OMEGA_CPU_KERNEL_PRECISIONS && !rc; prec++) {
    if (omega__precision_unsupported((omega_cpu_precision_t)prec, omega__cpu_isa()))
      continue;
    omega_backend_t *b;
    if ((rc = omega__cpu_backend_create(m, threads, (omega_cpu_precision_t)prec, &b)))
      break;
    omega_cpu_trial_t *t = &rep->trials[rep->n_trials];
    *t = (omega_cpu_trial_t){.precision = (omega_cpu_precision_t)prec};
    size_t dim = 0;
    rc = measure(b, &p, pooled, &t->ms);
    if (!rc)
      rc = finish_rows(m, pooled, prec == OMEGA_CPU_FP32 ? ref : got, &dim);
    if (rc) {
      b->destroy(b);
      break;
    }
    t->min_cosine = prec == OMEGA_CPU_FP32 ? 1 : min_row_cosine(ref, got, N_PROBE, dim);
    const size_t pick = omega__cpu_auto_choose(rep->trials, ++rep->n_trials, bound);
    if (pick == rep->n_trials - 1) { /* keep the best so far packed, so the winner is rarely packed twice */
      if (kept)
        kept->destroy(kept);
      kept = b;
      kept_at = pick;
    } else {
      b->destroy(b);
    }
  }
  omega__free(p.ids);
  omega__free(pooled);
  omega__free(ref);
  omega__free(got);
  if (rc) {
    if (kept)
      kept->destroy(kept);
    return rc;
  }
  const size_t pick = omega__cpu_auto_choose(rep->trials, rep->n_trials, bound);
  rep->chosen = rep->trials[pick].precision;
  if (kept && kept_at == pick) {
    *out = kept;
    return 0;
  }
  if (kept)
    kept->destroy(kept);
  return omega__cpu_backend_create(m, threads, rep->chosen, out);
}

static void log_choice(const omega_cpu_auto_t *rep) {
  char line[1024];
  size_t k = 0;
  for (size_t i = 0; i < rep->n_trials && k < sizeof line; i++) {
    const omega_cpu_trial_t *t = &rep->trials[i];
    k += (size_t)snprintf(line + k, sizeof line - k, "%s%s %.3f ms cos %.9f%s", i ? ", " : "",
                          omega_cpu_precision_name(t->precision), t->ms, t->min_cosine,
                          t->accepted ? "" : " (below the bound)");
  }
  omega__log(OMEGA_LOG_INFO, "CPU precision auto: %s (%s; probe %zu texts, %zu tokens; bound cosine %.6g; %s%s)",
             omega_cpu_precision_name(rep->chosen), line, rep->probe_texts, rep->probe_tokens, rep->min_cosine,
             rep->cached ? "from the cache " : "cache ", rep->cache);
}

int omega__cpu_auto_open(const omega_model_t *m, int threads, double bound, const char *cache_dir,
                         omega_backend_t **out, omega_cpu_auto_t *rep) {
  if (!(bound >= 0 && bound <= 1))
    return omega__seterr(OMEGA_EINVAL, "the auto precision's bound must be a cosine in [0, 1], got %g", bound);
  memset(rep, 0, sizeof *rep);
  rep->min_cosine = bound;
  char key[8192];
  const int use_cache = cache_dir && cache_dir[0] && omega__cpu_auto_key(m, threads, bound, key, sizeof key) == 0;
  if (!use_cache)
    snprintf(rep->cache, sizeof rep->cache, "%s",
             cache_dir && cache_dir[0] ? "off: the model folder could not be read for the key" : "off");
  if (use_cache && omega__cpu_auto_cache_read(cache_dir, key, rep) &&
      !omega__precision_unsupported(rep->chosen, omega__cpu_isa())) {
    int rc = omega__cpu_backend_create(m, threads, rep->chosen, out);
    if (!rc)
      log_choice(rep);
    return rc;
  }
  /* a miss leaves why in rep->cache; what the read may have filled is measured afresh */
  memset(rep->trials, 0, sizeof rep->trials);
  rep->n_trials = 0;
  rep->cached = 0;
  int rc = run_trials(m, threads, bound, out, rep);
  if (rc)
    return rc;
  if (use_cache)
    omega__cpu_auto_cache_write(cache_dir, key, rep);
  log_choice(rep);
  return 0;
}

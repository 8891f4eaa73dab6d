#include "engine/controller.h"

#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void reset_window(omega_controller_t *c, int64_t now_ns) {
  c->n_samples = 0;
  c->next = 0;
  c->saturated_batches = 0;
  c->batches = 0;
  c->last_move_ns = now_ns;
}

void omega__controller_configure(omega_controller_t *c, size_t max_batch, bool adaptive, unsigned target_ms) {
  c->max_batch = max_batch ? max_batch : 1;
  c->adaptive = adaptive;
  c->target_ms = target_ms ? target_ms : 1;
  /* wait at least a few target periods before judging a new ceiling */
  int64_t cd = (int64_t)target_ms * 4 * 1000000;
  c->cooldown_ns = cd < 250000000 ? 250000000 : cd > 5000000000LL ? 5000000000LL : cd;
  if (!adaptive || c->ceiling > c->max_batch || c->ceiling == 0)
    c->ceiling = c->max_batch;
}

void omega__controller_init(omega_controller_t *c, size_t max_batch, bool adaptive, unsigned target_ms) {
  memset(c, 0, sizeof *c);
  omega__controller_configure(c, max_batch, adaptive, target_ms);
  c->ceiling = c->max_batch;
}

void omega__controller_sample(omega_controller_t *c, double latency_ms) {
  c->samples[c->next] = latency_ms;
  c->next = (c->next + 1) % OMEGA_CTL_WINDOW;
  if (c->n_samples < OMEGA_CTL_WINDOW)
    c->n_samples++;
}

void omega__controller_batch(omega_controller_t *c, size_t n_seq) {
  c->batches++;
  if (n_seq >= c->ceiling)
    c->saturated_batches++;
}

int omega__controller_step(omega_controller_t *c, int64_t now_ns) {
  if (c->n_samples >= OMEGA_CTL_MIN_SAMPLES) {
    double tmp[OMEGA_CTL_WINDOW];
    memcpy(tmp, c->samples, c->n_samples * sizeof *tmp);
    qsort(tmp, c->n_samples, sizeof *tmp, cmp_d);
    size_t idx = (size_t)(0.95 * (double)(c->n_samples - 1) + 0.5);
    c->last_p95_ms = tmp[idx];
  }
  if (!c->adaptive || c->n_samples < OMEGA_CTL_MIN_SAMPLES || now_ns - c->last_move_ns < c->cooldown_ns)
    return 0;
  if (c->last_p95_ms > c->target_ms && c->ceiling > 1) {
    size_t nc = c->ceiling * 3 / 4;
    c->ceiling = nc ? nc : 1;
    c->downs++;
    reset_window(c, now_ns);
    return -1;
  }
  /* grow only when latency has room and batches actually hit the ceiling */
  if (c->last_p95_ms < 0.8 * c->target_ms && c->ceiling < c->max_batch && c->saturated_batches * 4 >= c->batches &&
      c->saturated_batches > 0) {
    size_t step = c->ceiling / 4 ? c->ceiling / 4 : 1;
    c->ceiling = c->ceiling + step < c->max_batch ? c->ceiling + step : c->max_batch;
    c->ups++;
    reset_window(c, now_ns);
    return 1;
  }
  return 0;
}

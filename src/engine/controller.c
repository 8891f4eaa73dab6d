#include "engine/controller.h"

#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void ring_push(omega_ctl_ring_t *r, double v) {
  r->v[r->next] = v;
  r->next = (r->next + 1) % OMEGA_CTL_WINDOW;
  if (r->n < OMEGA_CTL_WINDOW)
    r->n++;
}

static double ring_p95(const omega_ctl_ring_t *r) {
  double tmp[OMEGA_CTL_WINDOW];
  memcpy(tmp, r->v, r->n * sizeof *tmp);
  qsort(tmp, r->n, sizeof *tmp, cmp_d);
  return tmp[(size_t)(0.95 * (double)(r->n - 1) + 0.5)];
}

static void reset_window(omega_controller_t *c, int64_t now_ns) {
  c->latency.n = c->latency.next = 0;
  c->run.n = c->run.next = 0;
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

void omega__controller_sample(omega_controller_t *c, double latency_ms) { ring_push(&c->latency, latency_ms); }

void omega__controller_batch(omega_controller_t *c, size_t n_seq, double run_ms) {
  ring_push(&c->run, run_ms);
  c->batches++;
  if (n_seq >= c->ceiling)
    c->saturated_batches++;
}

void omega__controller_pressure(omega_controller_t *c, int64_t now_ns) {
  c->ceiling = c->ceiling / 2 ? c->ceiling / 2 : 1;
  c->downs++;
  reset_window(c, now_ns);
}

int omega__controller_step(omega_controller_t *c, int64_t now_ns) {
  if (!c->adaptive) { /* pinned to max_batch, except for a cooldown after memory pressure */
    if (c->ceiling < c->max_batch && now_ns - c->last_move_ns >= c->cooldown_ns)
      c->ceiling = c->max_batch;
    return 0;
  }
  if (c->latency.n >= OMEGA_CTL_MIN_SAMPLES)
    c->last_p95_ms = ring_p95(&c->latency);
  if (c->run.n >= OMEGA_CTL_MIN_SAMPLES / 2)
    c->last_run_p95_ms = ring_p95(&c->run);
  if (!c->adaptive || c->latency.n < OMEGA_CTL_MIN_SAMPLES || c->run.n < OMEGA_CTL_MIN_SAMPLES / 2 ||
      now_ns - c->last_move_ns < c->cooldown_ns)
    return 0;
  const double budget = 0.5 * c->target_ms; /* the share of the target a batch may take */
  if (c->last_p95_ms > c->target_ms && c->last_run_p95_ms > budget && c->ceiling > 1) {
    size_t nc = c->ceiling * 3 / 4;
    c->ceiling = nc ? nc : 1;
    c->downs++;
    reset_window(c, now_ns);
    return -1;
  }
  if (c->ceiling < c->max_batch && c->saturated_batches > 0 && c->saturated_batches * 4 >= c->batches) {
    size_t step = c->ceiling / 4 ? c->ceiling / 4 : 1;
    size_t next = c->ceiling + step < c->max_batch ? c->ceiling + step : c->max_batch;
    if (c->last_run_p95_ms * (double)next / (double)c->ceiling <= budget) {
      c->ceiling = next;
      c->ups++;
      reset_window(c, now_ns);
      return 1;
    }
  }
  return 0;
}

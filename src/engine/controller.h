/* The latency controller of the adaptive batcher: it moves the batch ceiling to keep the
 * measured p95 request latency under a target. Additive increase while p95 is comfortably
 * under the target and batches are filling up to the ceiling; multiplicative decrease when
 * p95 is over; a cooldown after each move, with a fresh measurement window, so it does not
 * oscillate. No lock inside: the engine holds its own. */
#ifndef OMEGA_ENGINE_CONTROLLER_H
#define OMEGA_ENGINE_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OMEGA_CTL_WINDOW 256 /* latency samples kept */
#define OMEGA_CTL_MIN_SAMPLES 16

typedef struct {
  size_t ceiling, max_batch;
  bool adaptive;
  double target_ms;
  int64_t cooldown_ns, last_move_ns;
  double samples[OMEGA_CTL_WINDOW];
  size_t n_samples, next;
  size_t saturated_batches, batches; /* since the last move */
  double last_p95_ms;
  unsigned long long ups, downs;
} omega_controller_t;

void omega__controller_init(omega_controller_t *c, size_t max_batch, bool adaptive, unsigned target_ms);
/* New bounds or target (hot reload); the ceiling is clamped, or pinned when not adaptive. */
void omega__controller_configure(omega_controller_t *c, size_t max_batch, bool adaptive, unsigned target_ms);
void omega__controller_sample(omega_controller_t *c, double latency_ms);
void omega__controller_batch(omega_controller_t *c, size_t n_seq);
/* Decide; returns +1, -1 or 0 for a move up, down or none. */
int omega__controller_step(omega_controller_t *c, int64_t now_ns);

#endif

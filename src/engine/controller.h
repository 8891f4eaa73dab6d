/* The latency controller of the adaptive batcher: it moves the batch ceiling so that
 * requests meet ACCEL_TARGET_LAT_MS at p95 without giving away throughput.
 *
 * A request's latency is its queueing time plus the run time of its batch. Only the second
 * part shrinks with the batch size; queueing under overload shrinks with more throughput,
 * which bigger batches give. So the controller backs off (ceiling x 3/4) when p95 latency is
 * over the target *and* p95 batch run time takes more than half of the target, and grows
 * (ceiling + 1/4) when batches fill the ceiling and a batch of the next size is predicted (run
 * time linear in size) to stay within half of the target. After each move it waits a
 * cooldown and starts a fresh measurement window, so it does not oscillate. No lock inside:
 * the engine holds its own. */
#ifndef OMEGA_ENGINE_CONTROLLER_H
#define OMEGA_ENGINE_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OMEGA_CTL_WINDOW 256 /* samples kept, for latencies and for batch run times */
#define OMEGA_CTL_MIN_SAMPLES 16

typedef struct {
  double v[OMEGA_CTL_WINDOW];
  size_t n, next;
} omega_ctl_ring_t;

typedef struct {
  size_t ceiling, max_batch;
  bool adaptive;
  double target_ms;
  int64_t cooldown_ns, last_move_ns;
  omega_ctl_ring_t latency, run;
  size_t saturated_batches, batches; /* since the last move */
  double last_p95_ms, last_run_p95_ms;
  unsigned long long ups, downs;
} omega_controller_t;

void omega__controller_init(omega_controller_t *c, size_t max_batch, bool adaptive, unsigned target_ms);
/* New bounds or target (hot reload); the ceiling is clamped, or pinned when not adaptive. */
void omega__controller_configure(omega_controller_t *c, size_t max_batch, bool adaptive, unsigned target_ms);
/* A finished request's latency (submission to completion). */
void omega__controller_sample(omega_controller_t *c, double latency_ms);
/* A finished batch: its size and run time. */
void omega__controller_batch(omega_controller_t *c, size_t n_seq, double run_ms);
/* Device memory is nearly full: halve the ceiling now and hold it for a cooldown. */
void omega__controller_pressure(omega_controller_t *c, int64_t now_ns);
/* Decide; returns +1, -1 or 0 for a move up, down or none. */
int omega__controller_step(omega_controller_t *c, int64_t now_ns);

#endif

/* The backend interface (ggml style: a small table of functions). A backend runs batches and
 * reports how they went; it does not choose where a batch runs: the engine's router
 * (src/engine/route.h) does, and sends a batch to the CPU backend when the GPU cannot run it,
 * so a fallback runs the same code as the normal CPU path. The GPU backend wraps the CUDA
 * plugin (src/backend/cuda, loaded with dlopen) or its simulated device. */
#ifndef OMEGA_BACKEND_BACKEND_H
#define OMEGA_BACKEND_BACKEND_H

#include "model/model.h"
#include "omega/engine.h"

#include <stddef.h>
#include <stdint.h>

/* Sequences of one batch, packed without padding: sequence s is
 * ids[offsets[s] .. offsets[s+1]). Each entry holds the token id in its low OMEGA_ID_BITS
 * bits and the token type above them (1 for a cross-encoder pair's second text under BERT's
 * template; 0 everywhere else), so pairs need no second array through the engine. */
#define OMEGA_ID_BITS 24
#define OMEGA_ID_MASK ((int32_t)((1u << OMEGA_ID_BITS) - 1))
typedef struct {
  const int32_t *ids;
  const uint32_t *offsets; /* n_seq + 1 entries, offsets[0] == 0 */
  size_t n_seq;
} omega_batch_t;

typedef struct omega_backend omega_backend_t;
struct omega_backend {
  const char *name;
  int slots; /* batches that may run at once, each on its own slot 0..slots-1 */
  /* Encode a batch into out[n_seq, model->dim]: pooled, not normalised (the engine
   * normalises per request). Concurrent calls only on different slots. A device failure is
   * OMEGA_EDEVICE_OOM (out of memory: the device still works) or OMEGA_EDEVICE, with the
   * device's own message. */
  int (*encode)(omega_backend_t *b, int slot, const omega_batch_t *batch, float *out);
  /* Optional: 0 once the device has failed for good (a sticky error): it must not be sent
   * batches again. Absent: always usable. */
  int (*usable)(omega_backend_t *b);
  /* Optional: make `slot` ready for batches up to `tokens` tokens in `seqs` sequences
   * (buffers allocated, kernels loaded) before they come; a failure leaves it to grow later. */
  int (*prepare)(omega_backend_t *b, int slot, size_t tokens, size_t seqs);
  /* Optional: 1 when the device's memory is above its pressure mark (batches should shrink). */
  int (*pressure)(omega_backend_t *b);
  /* Optional: take the hot settings that concern the backend (omega_engine_tune). */
  void (*tune)(omega_backend_t *b, const omega_engine_tuning_t *t);
  /* Optional: the device's live state into a: health, last error, event counters, memory,
   * graphs and buffers. */
  void (*accel)(omega_backend_t *b, omega_engine_accel_t *a);
  void (*destroy)(omega_backend_t *b);
};

/* threads: total CPU threads to use (GEMM library and Omega's pool), >= 1. A precision this
 * CPU has no kernels for is refused with OMEGA_EINVAL and a message that says why. */
int omega__cpu_backend_create(const omega_model_t *m, int threads, omega_cpu_precision_t precision,
                              omega_backend_t **out);
/* The precision a CPU backend's weights were packed in. */
omega_cpu_precision_t omega__cpu_backend_precision(const omega_backend_t *cpu);

/* The GPU backend the accelerator options ask for (backend/gpu/device.c): the CUDA plugin, or
 * the simulated device under fault injection, with the device and its dtype chosen there.
 * *out is NULL when the CPU is to serve alone (a->reason says why); mode gpu without a
 * usable GPU is OMEGA_EDEVICE. Fills a's fixed part: mode, device, GPU name, compute
 * capability, dtype, plugin build, slots, memory at start. */
int omega__gpu_backend_open(const omega_model_t *m, const omega_accel_opts_t *o, omega_backend_t **out,
                            omega_engine_accel_t *a);

#endif

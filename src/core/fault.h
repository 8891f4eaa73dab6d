/* Fault injection at well-defined boundaries, for tests on machines without the faulty
 * hardware (OMEGA_FAULT_INJECT="name:value,..."). Off unless configured. */
#ifndef OMEGA_CORE_FAULT_H
#define OMEGA_CORE_FAULT_H

#include <stdbool.h>

typedef enum {
  OMEGA_FAULT_LOAD_DELAY_MS,  /* load_delay_ms:N   - the server waits N ms before loading the model */
  OMEGA_FAULT_BATCH_DELAY_MS, /* batch_delay_ms:N  - every batch takes N ms longer (a slow model) */
  OMEGA_FAULT_CUDA_OOM,       /* cuda_oom:P        - a GPU batch fails with out-of-memory with probability P (0..1) */
  OMEGA_FAULT_CUDA_STICKY,    /* cuda_sticky:once  - the next GPU batch fails with a sticky error (illegal address) */
  OMEGA_FAULT_GPU_SIM,        /* gpu_sim:1         - with no usable GPU, use the simulated device (CPU kernels) */
  OMEGA_FAULT_GPU_MEM_FULL,   /* gpu_mem_full:1    - device memory reads as above the pressure mark */
  OMEGA_FAULT_BATCH_WINDOW_OOM,  /* batch_window_oom:once  - the batcher's next window cannot be allocated */
  OMEGA_FAULT_BATCH_BUFFERS_OOM, /* batch_buffers_oom:once - the next batch's runner buffers cannot be allocated */
  OMEGA_FAULT_COUNT
} omega_fault_t;

/* Parse and install a spec; "" clears every fault. Unknown names or bad values: OMEGA_EINVAL. */
int omega__fault_configure(const char *spec);
/* The configured value (probabilities are in parts per million). */
long omega__fault_get(omega_fault_t f);
/* Draw a probability fault: true with the configured probability. */
bool omega__fault_roll(omega_fault_t f);
/* Consume a one-shot fault: true exactly once after it is configured. */
bool omega__fault_take(omega_fault_t f);

#endif

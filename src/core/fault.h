/* Fault injection at well-defined boundaries, for tests on machines without the faulty
 * hardware (OMEGA_FAULT_INJECT="name:value,..."). Off unless configured. */
#ifndef OMEGA_CORE_FAULT_H
#define OMEGA_CORE_FAULT_H

typedef enum {
  OMEGA_FAULT_LOAD_DELAY_MS,  /* load_delay_ms:N   - the server waits N ms before loading the model */
  OMEGA_FAULT_BATCH_DELAY_MS, /* batch_delay_ms:N  - the batcher waits N ms before every batch */
  OMEGA_FAULT_COUNT
} omega_fault_t;

/* Parse and install a spec; "" clears every fault. Unknown names or bad values: OMEGA_EINVAL. */
int omega__fault_configure(const char *spec);
long omega__fault_get(omega_fault_t f);

#endif

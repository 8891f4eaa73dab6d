/* The one clock of Omega: monotonic nanoseconds for durations and deadlines, and the
 * wall-clock deadline pthread_cond_timedwait wants. */
#ifndef OMEGA_CORE_CLOCK_H
#define OMEGA_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t omega__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_REALTIME now plus ms, normalised: the absolute time of a timed condition wait. */
static inline struct timespec omega__wall_after_ms(long ms) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

#endif

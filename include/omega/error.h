/* Omega status codes: one enum for the whole library (libuv style).
 * Functions return 0 on success or a negative OMEGA_E* code; the human detail of
 * the last failure in the calling thread is available from omega_errmsg(). */
#ifndef OMEGA_ERROR_H
#define OMEGA_ERROR_H

#include "omega/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OMEGA_ERRNO_MAP(XX)                                                     \
  XX(NOMEM, -1, "out of memory")                                                \
  XX(INVAL, -2, "invalid argument")                                             \
  XX(IO, -3, "input/output error")                                              \
  XX(NOENT, -4, "no such file or directory")                                    \
  XX(FORMAT, -5, "malformed file or data")                                      \
  XX(UNSUPPORTED, -6, "unsupported model or feature")                           \
  XX(UTF8, -7, "invalid UTF-8 input")                                           \
  XX(RANGE, -8, "value out of range")                                           \
  XX(AGAIN, -9, "resource temporarily unavailable (queue full)")                \
  XX(CANCELED, -10, "operation canceled")                                       \
  XX(TIMEDOUT, -11, "deadline exceeded")                                        \
  XX(SHUTDOWN, -12, "engine is shutting down")                                  \
  XX(DEVICE, -13, "accelerator device error")                                   \
  XX(DEVICE_OOM, -14, "accelerator out of memory")                              \
  XX(INTERNAL, -15, "internal error")

typedef enum {
  OMEGA_OK = 0,
#define XX(name, code, msg) OMEGA_E##name = (code),
  OMEGA_ERRNO_MAP(XX)
#undef XX
} omega_err_t;

/* Static description of a status code ("out of memory"). */
OMEGA_API const char *omega_strerror(int err);
/* Symbolic name of a status code ("OMEGA_ENOMEM"). */
OMEGA_API const char *omega_err_name(int err);
/* Detail of the last failure in this thread, e.g. naming the file and the problem.
 * Never NULL; empty when no detail was recorded. */
OMEGA_API const char *omega_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif

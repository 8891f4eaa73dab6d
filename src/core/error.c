#include "core/error_internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char tls_errmsg[1024];

const char *omega_strerror(int err) {
  switch (err) {
  case OMEGA_OK:
    return "success";
#define XX(name, code, msg)                                                    \
  case OMEGA_E##name:                                                          \
    return msg;
    OMEGA_ERRNO_MAP(XX)
#undef XX
  default:
    return "unknown error";
  }
}

const char *omega_err_name(int err) {
  switch (err) {
  case OMEGA_OK:
    return "OMEGA_OK";
#define XX(name, code, msg)                                                    \
  case OMEGA_E##name:                                                          \
    return "OMEGA_E" #name;
    OMEGA_ERRNO_MAP(XX)
#undef XX
  default:
    return "OMEGA_EUNKNOWN";
  }
}

const char *omega_errmsg(void) { return tls_errmsg; }

int (omega__seterr)(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tls_errmsg, sizeof tls_errmsg, fmt, ap);
  va_end(ap);
  return code;
}

int (omega__prefixerr)(int code, const char *fmt, ...) {
  char prefix[512], old[sizeof tls_errmsg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  snprintf(old, sizeof old, "%s", tls_errmsg);
  if (old[0])
    snprintf(tls_errmsg, sizeof tls_errmsg, "%s: %s", prefix, old);
  else
    snprintf(tls_errmsg, sizeof tls_errmsg, "%s: %s", prefix, omega_strerror(code));
  return code;
}

void omega__clearerr(void) { tls_errmsg[0] = '\0'; }

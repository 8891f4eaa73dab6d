#include "core/fault.h"

#include "core/error_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[OMEGA_FAULT_COUNT] = {"load_delay_ms", "batch_delay_ms"};
static atomic_long values[OMEGA_FAULT_COUNT];

int omega__fault_configure(const char *spec) {
  long next[OMEGA_FAULT_COUNT] = {0};
  const char *p = spec ? spec : "";
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    int which = -1;
    for (int i = 0; colon && i < OMEGA_FAULT_COUNT; i++)
      if (strlen(names[i]) == (size_t)(colon - p) && strncmp(p, names[i], (size_t)(colon - p)) == 0)
        which = i;
    char *num_end;
    long v = colon ? strtol(colon + 1, &num_end, 10) : 0;
    if (which < 0 || num_end != p + len || v < 0 || v > 600000)
      return omega__seterr(OMEGA_EINVAL, "OMEGA_FAULT_INJECT: bad entry \"%.*s\" (known: load_delay_ms:N, batch_delay_ms:N)",
                           (int)len, p);
    next[which] = v;
    p += len + (end ? 1 : 0);
  }
  for (int i = 0; i < OMEGA_FAULT_COUNT; i++)
    atomic_store(&values[i], next[i]);
  return 0;
}

long omega__fault_get(omega_fault_t f) { return atomic_load(&values[f]); }

/* Enum values by name: the one lookup of the parse functions of every named choice (the
 * engine's options, the CPU caps). */
#ifndef OMEGA_CORE_NAMES_H
#define OMEGA_CORE_NAMES_H

#include <string.h>

/* The index of `name` in the NULL-terminated list `names`; -1 when absent or NULL. */
static inline int omega__name_index(const char *const *names, const char *name) {
  for (int i = 0; name && names[i]; i++)
    if (strcmp(name, names[i]) == 0)
      return i;
  return -1;
}

#endif

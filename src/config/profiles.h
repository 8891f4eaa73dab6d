/* Tuning profiles (OMEGA_PROFILE): named presets over the defaults. */
#ifndef OMEGA_CONFIG_PROFILES_H
#define OMEGA_CONFIG_PROFILES_H

#include "config/config.h"

typedef struct {
  const char *name, *value;
} omega_profile_entry_t;

/* Indexed by omega_profile_t; OMEGA_PROFILE_NONE's is NULL; lists end with {NULL, NULL}. */
extern const omega_profile_entry_t *const omega__profiles[OMEGA_PROFILE_COUNT];

#endif

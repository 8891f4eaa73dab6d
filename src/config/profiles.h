/* Tuning profiles (OMEGA_PROFILE): named presets over the defaults. */
#ifndef OMEGA_CONFIG_PROFILES_H
#define OMEGA_CONFIG_PROFILES_H

typedef struct {
  const char *name, *value;
} omega_profile_entry_t;

/* Indexed like omega_profile_names; entry 0 (NONE) is NULL; lists end with {NULL, NULL}. */
extern const omega_profile_entry_t *const omega_profiles[];

#endif

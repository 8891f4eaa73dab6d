/* The one table of runtime settings (Redis config.c style). Every setting is declared
 * once in settings_list.h: name (also its environment variable and config-file key),
 * type, default, bounds, whether it can change at run time, and help. Validation, the
 * config file, the environment, the command line, PUT /accel/config, hot reload, the
 * README table and /accel/config all read that table.
 *
 * Layers, lowest first: default, profile (OMEGA_PROFILE), config file, environment,
 * command line, runtime changes. A reload re-reads the file, recomputes every layer,
 * validates the whole set, then applies it all or nothing. */
#ifndef OMEGA_CONFIG_CONFIG_H
#define OMEGA_CONFIG_CONFIG_H

#include "core/log.h"
#include "omega/cpu.h"
#include "omega/engine.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { OMEGA_CFG_INT, OMEGA_CFG_REAL, OMEGA_CFG_BOOL, OMEGA_CFG_ENUM, OMEGA_CFG_STRING } omega_cfg_type_t;

enum {
  OMEGA_CFG_HOT = 1u << 0,    /* takes effect at run time without a restart */
  OMEGA_CFG_SECRET = 1u << 1, /* never shown or logged */
};

typedef enum {
  OMEGA_SRC_DEFAULT = 0,
  OMEGA_SRC_PROFILE,
  OMEGA_SRC_FILE,
  OMEGA_SRC_ENV,
  OMEGA_SRC_CLI,
  OMEGA_SRC_RUNTIME,
  OMEGA_SRC_COUNT
} omega_cfg_source_t;

/* The config side's enum settings; the engine's (omega_accel_mode_t, ...) and the CPU caps
 * (omega_isa_cap_t) come with their names from the library. */
typedef enum {
  OMEGA_PROFILE_NONE,
  OMEGA_PROFILE_HIGH_THROUGHPUT,
  OMEGA_PROFILE_LOW_LATENCY,
  OMEGA_PROFILE_MEMORY_CONSTRAINED,
  OMEGA_PROFILE_HIGH_AVAILABILITY,
  OMEGA_PROFILE_COUNT
} omega_profile_t;
/* The levels of core/log.h, so the setting goes to omega__log_set_level as it is. */
typedef enum {
  OMEGA_CFG_LOG_DEBUG = OMEGA_LOG_DEBUG,
  OMEGA_CFG_LOG_INFO = OMEGA_LOG_INFO,
  OMEGA_CFG_LOG_WARN = OMEGA_LOG_WARN,
  OMEGA_CFG_LOG_ERROR = OMEGA_LOG_ERROR,
  OMEGA_CFG_LOG_COUNT
} omega_cfg_log_level_t;
typedef enum { OMEGA_CFG_FSYNC_ALWAYS, OMEGA_CFG_FSYNC_INTERVAL, OMEGA_CFG_FSYNC_COUNT } omega_cfg_fsync_t;

/* Their names, indexed by the enum and NULL-terminated. */
extern const char *const omega__profile_names[OMEGA_PROFILE_COUNT + 1];
extern const char *const omega__cfg_log_level_names[OMEGA_CFG_LOG_COUNT + 1];
extern const char *const omega__cfg_fsync_names[OMEGA_CFG_FSYNC_COUNT + 1];

/* Typed values of every setting (settings_list.h): fields named like the settings. */
typedef struct {
#define OMEGA_SETTING_INT(NAME, field, def, min, max, flags, help) long long field;
#define OMEGA_SETTING_REAL(NAME, field, def, min, max, flags, help) double field;
#define OMEGA_SETTING_BOOL(NAME, field, def, flags, help) bool field;
#define OMEGA_SETTING_ENUM(NAME, field, type, def, names, flags, help) type field;
#define OMEGA_SETTING_STRING(NAME, field, size, def, flags, help) char field[size];
#include "config/settings_list.h"
#undef OMEGA_SETTING_INT
#undef OMEGA_SETTING_REAL
#undef OMEGA_SETTING_BOOL
#undef OMEGA_SETTING_ENUM
#undef OMEGA_SETTING_STRING
} omega_settings_t;

/* Index of each setting in omega__cfg_table (OMEGA_CFG_IDX_EMBED_MAX_BATCH, ...), and how many
 * there are. */
enum {
#define OMEGA_SETTING_INT(NAME, field, def, min, max, flags, help) OMEGA_CFG_IDX_##NAME,
#define OMEGA_SETTING_REAL(NAME, field, def, min, max, flags, help) OMEGA_CFG_IDX_##NAME,
#define OMEGA_SETTING_BOOL(NAME, field, def, flags, help) OMEGA_CFG_IDX_##NAME,
#define OMEGA_SETTING_ENUM(NAME, field, type, def, names, flags, help) OMEGA_CFG_IDX_##NAME,
#define OMEGA_SETTING_STRING(NAME, field, size, def, flags, help) OMEGA_CFG_IDX_##NAME,
#include "config/settings_list.h"
#undef OMEGA_SETTING_INT
#undef OMEGA_SETTING_REAL
#undef OMEGA_SETTING_BOOL
#undef OMEGA_SETTING_ENUM
#undef OMEGA_SETTING_STRING
  OMEGA_CFG_COUNT
};

typedef struct {
  const char *name;
  omega_cfg_type_t type;
  const char *def;
  long long min, max;         /* OMEGA_CFG_INT bounds; max string length for strings */
  double rmin, rmax;          /* OMEGA_CFG_REAL bounds */
  const char *const *choices; /* OMEGA_CFG_ENUM, NULL-terminated */
  unsigned flags;
  size_t offset; /* into omega_settings_t */
  const char *help;
} omega_cfg_def_t;

extern const omega_cfg_def_t omega__cfg_table[OMEGA_CFG_COUNT];
extern const size_t omega__cfg_count; /* OMEGA_CFG_COUNT */

typedef struct omega_config omega_config_t;

/* Change callback: called after a successful (re)load or runtime change with the old and
 * new settings; returns 0 or an error (the whole change is then rolled back: the callback
 * is called again with the roles swapped). */
typedef int (*omega_cfg_apply_fn)(const omega_settings_t *old, const omega_settings_t *now, void *user);

/* Build the configuration from defaults, profile, the config file (cli/env may name it as
 * OMEGA_CONFIG_FILE), the process environment and command-line KEY=VALUE pairs. */
int omega__config_create(const char *const *cli_pairs, size_t n_cli, omega_config_t **out);
void omega__config_free(omega_config_t *c);
void omega__config_set_apply(omega_config_t *c, omega_cfg_apply_fn fn, void *user);
/* A consistent copy of the current values (thread-safe). */
void omega__config_get(const omega_config_t *c, omega_settings_t *out);

/* Re-read the config file and recompute every layer; all or nothing. Restart-only
 * settings that changed are kept at their old values and reported in `msg`. */
int omega__config_reload(omega_config_t *c, char *msg, size_t cap);
/* Runtime changes (PUT /accel/config): n KEY/VALUE pairs, all or nothing, over the config
 * file as last loaded (a file broken since does not block them). Restart-only or unknown
 * keys and invalid values are rejected with OMEGA_EINVAL and a message. Each setting that
 * changes is logged (INFO) with `who`, its old and new value (secrets as "(set)"); a
 * rejected change is logged too (WARN). */
int omega__config_set_runtime(omega_config_t *c, const char *who, const char *const *keys, const char *const *values,
                             size_t n, char *msg, size_t cap);

typedef struct {
  unsigned long long reloads_ok, reloads_failed, runtime_ok, runtime_failed;
} omega_cfg_stats_t;
void omega__config_stats(const omega_config_t *c, omega_cfg_stats_t *s);

/* The current value as text ("" for secrets when redact), and where it came from. */
void omega__config_value(const omega_config_t *c, size_t idx, bool redact, char *buf, size_t cap,
                        omega_cfg_source_t *src);
const char *omega__config_source_name(omega_cfg_source_t s);
const omega_cfg_def_t *omega__config_find(const char *name, size_t *idx);
/* Parse and validate one value for a setting into settings; message on failure. */
int omega__config_parse_value(const omega_cfg_def_t *d, const char *value, omega_settings_t *s, char *msg, size_t cap);
/* Parse KEY=VALUE text over the defaults (the config-file parser; for tests and fuzzing). */
int omega__config_parse_text(const char *what, const char *text, size_t len, omega_settings_t *out, char *msg,
                             size_t cap);
/* The settings table as Markdown (for the README; a test keeps them identical). */
void omega__config_markdown(char **out, size_t *len);

#endif

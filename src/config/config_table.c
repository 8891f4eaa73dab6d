/* The settings table, made from settings_list.h, and the tuning profiles. */
#include "config/config.h"
#include "config/profiles.h"

#include <stddef.h>

#define F(field) offsetof(omega_settings_t, field)
#define STRMAX(field) ((long long)sizeof(((omega_settings_t *)0)->field) - 1)
#define TEXT_(x) #x
#define TEXT(x) TEXT_(x) /* a default's value, its macros expanded */

const char *const omega__profile_names[OMEGA_PROFILE_COUNT + 1] = {
    "NONE", "HIGH_THROUGHPUT", "LOW_LATENCY", "MEMORY_CONSTRAINED", "HIGH_AVAILABILITY", NULL};
const char *const omega__cfg_log_level_names[OMEGA_CFG_LOG_COUNT + 1] = {"debug", "info", "warn", "error", NULL};
const char *const omega__cfg_fsync_names[OMEGA_CFG_FSYNC_COUNT + 1] = {"always", "interval", NULL};

const omega_cfg_def_t omega__cfg_table[OMEGA_CFG_COUNT] = {
#define OMEGA_SETTING_INT(NAME, field, def, min, max, flags, help)                                                     \
  {#NAME, OMEGA_CFG_INT, TEXT(def), min, max, 0, 0, NULL, flags, F(field), help},
#define OMEGA_SETTING_REAL(NAME, field, def, min, max, flags, help)                                                    \
  {#NAME, OMEGA_CFG_REAL, TEXT(def), 0, 0, min, max, NULL, flags, F(field), help},
#define OMEGA_SETTING_BOOL(NAME, field, def, flags, help)                                                              \
  {#NAME, OMEGA_CFG_BOOL, #def, 0, 0, 0, 0, NULL, flags, F(field), help},
#define OMEGA_SETTING_ENUM(NAME, field, type, def, names, flags, help)                                                 \
  {#NAME, OMEGA_CFG_ENUM, def, 0, 0, 0, 0, names, flags, F(field), help},
#define OMEGA_SETTING_STRING(NAME, field, size, def, flags, help)                                                      \
  {#NAME, OMEGA_CFG_STRING, def, 0, STRMAX(field), 0, 0, NULL, flags, F(field), help},
#include "config/settings_list.h"
#undef OMEGA_SETTING_INT
#undef OMEGA_SETTING_REAL
#undef OMEGA_SETTING_BOOL
#undef OMEGA_SETTING_ENUM
#undef OMEGA_SETTING_STRING
};
const size_t omega__cfg_count = OMEGA_CFG_COUNT;

/* What the compiler can check of each row: integer defaults within their bounds, string
 * defaults that fit, and enum fields as wide as the int config.c reads and writes. */
#define OMEGA_SETTING_INT(NAME, field, def, min, max, flags, help)                                                     \
  _Static_assert((def) >= (min) && (def) <= (max), #NAME ": default outside its bounds");
/* a real's default is not an integer constant expression: test_config parses every default */
#define OMEGA_SETTING_REAL(NAME, field, def, min, max, flags, help)
#define OMEGA_SETTING_BOOL(NAME, field, def, flags, help)
#define OMEGA_SETTING_ENUM(NAME, field, type, def, names, flags, help)                                                 \
  _Static_assert(sizeof(type) == sizeof(int), #NAME ": enum not the size of int");
#define OMEGA_SETTING_STRING(NAME, field, size, def, flags, help)                                                      \
  _Static_assert(sizeof(def) <= (size), #NAME ": default longer than the field");
#include "config/settings_list.h"
#undef OMEGA_SETTING_INT
#undef OMEGA_SETTING_REAL
#undef OMEGA_SETTING_BOOL
#undef OMEGA_SETTING_ENUM
#undef OMEGA_SETTING_STRING

/* Tuning profiles: values over the defaults, under everything else. */
static const omega_profile_entry_t high_throughput[] = {
    {"EMBED_MAX_BATCH", "256"},     {"EMBED_MAX_BATCH_TOKENS", "65536"}, {"EMBED_BATCH_WINDOW_MS", "5"},
    {"ACCEL_TARGET_LAT_MS", "500"}, {"EMBED_GPU_SLOTS", "4"},            {"EMBED_QUEUE_CAPACITY", "16384"},
    {NULL, NULL}};
static const omega_profile_entry_t low_latency[] = {
    {"EMBED_MAX_BATCH", "16"}, {"EMBED_BATCH_WINDOW_MS", "0"}, {"ACCEL_TARGET_LAT_MS", "25"},
    {"EMBED_GPU_SLOTS", "2"},  {"EMBED_QUEUE_CAPACITY", "1024"}, {NULL, NULL}};
static const omega_profile_entry_t memory_constrained[] = {
    {"EMBED_MAX_BATCH", "16"}, {"EMBED_MAX_BATCH_TOKENS", "4096"}, {"EMBED_GPU_SLOTS", "1"},
    {"EMBED_QUEUE_CAPACITY", "512"}, {"OMEGA_MAX_BODY_BYTES", "1048576"}, {NULL, NULL}};
static const omega_profile_entry_t high_availability[] = {
    {"ACCEL_OOM_CPU_FALLBACK", "true"}, {"EMBED_GPU_SLOTS", "2"}, {"OMEGA_DRAIN_GRACE_MS", "60000"},
    {"OMEGA_REQUEST_TIMEOUT_MS", "60000"}, {"EMBED_QUEUE_CAPACITY", "8192"}, {NULL, NULL}};

const omega_profile_entry_t *const omega__profiles[OMEGA_PROFILE_COUNT] = {
    [OMEGA_PROFILE_NONE] = NULL,
    [OMEGA_PROFILE_HIGH_THROUGHPUT] = high_throughput,
    [OMEGA_PROFILE_LOW_LATENCY] = low_latency,
    [OMEGA_PROFILE_MEMORY_CONSTRAINED] = memory_constrained,
    [OMEGA_PROFILE_HIGH_AVAILABILITY] = high_availability,
};

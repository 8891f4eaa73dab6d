/* The one table of runtime settings (Redis config.c style). Every setting is declared
 * once in config_table.c: name (also its environment variable and config-file key),
 * type, default, bounds, whether it can change at run time, and help. Validation, the
 * config file, the environment, the command line, PUT /accel/config, hot reload, the
 * README table and /accel/config all read that table.
 *
 * Layers, lowest first: default, profile (OMEGA_PROFILE), config file, environment,
 * command line, runtime changes. A reload re-reads the file, recomputes every layer,
 * validates the whole set, then applies it all or nothing. */
#ifndef OMEGA_CONFIG_CONFIG_H
#define OMEGA_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { OMEGA_CFG_INT, OMEGA_CFG_BOOL, OMEGA_CFG_ENUM, OMEGA_CFG_STRING } omega_cfg_type_t;

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

/* Typed values of every setting. Field names follow the setting names. */
typedef struct {
  /* accelerator and engine */
  int omega_accel; /* index into {"auto", "gpu", "cpu"} */
  bool embed_prefer_gpu;
  long long embed_gpu_slots;
  long long embed_max_batch;
  long long embed_max_batch_tokens;
  long long embed_batch_window_ms;
  bool embed_adaptive_batching;
  long long accel_target_lat_ms;
  bool accel_oom_cpu_fallback;
  long long embed_cuda_graph_tokens;
  int embed_gpu_dtype; /* index into {"auto", "bf16", "fp16", "fp32", "tf32"} */
  long long embed_gpu_max_slots;
  long long omega_gpu_device;
  char omega_cuda_plugin[1024];
  long long embed_queue_capacity;
  long long embed_threads;
  int embed_cpu_precision; /* index into {"fp32", "bf16", "int8"} */
  long long omega_request_timeout_ms;
  /* server */
  char omega_model[1024];
  char omega_model_name[256];
  char omega_host[256];
  long long omega_port;
  char omega_unix_socket[1024];
  long long omega_io_threads;
  long long omega_workers;
  long long omega_worker_queue;
  long long omega_max_body_bytes;
  long long omega_max_connections;
  long long omega_max_connections_per_ip;
  long long omega_http_head_timeout_ms;
  long long omega_http_body_timeout_s;
  long long omega_http_idle_timeout_s;
  long long omega_http_max_head_bytes;
  long long omega_http_max_target_bytes;
  long long omega_max_held_response_bytes;
  long long omega_max_inputs;
  long long omega_tokenize_max_tokens;
  long long omega_retry_after_s;
  long long omega_drain_grace_ms;
  char omega_hmac_secret_file[1024];
  char omega_hmac_secret[1024];
  long long omega_hmac_window_s;
  long long omega_hmac_max_rate;
  long long omega_nonce_cache;
  char omega_config_file[1024];
  int omega_profile;   /* index into omega_profile_names */
  int omega_log_level; /* index into {"debug", "info", "warn", "error"} */
  char omega_fault_inject[256];
  /* vector search */
  char omega_data_dir[1024];
  int omega_index_fsync; /* index into {"always", "interval"} */
  long long omega_index_fsync_interval_ms;
  long long omega_index_memory_limit_mb;
  char omega_index_accept_loss[1024]; /* collection names (comma-separated) or "*" */
  long long omega_search_max_k;
  long long omega_search_max_batch;
} omega_settings_t;

typedef struct {
  const char *name;
  omega_cfg_type_t type;
  const char *def;
  long long min, max;         /* OMEGA_CFG_INT bounds; max string length for strings */
  const char *const *choices; /* OMEGA_CFG_ENUM, NULL-terminated */
  unsigned flags;
  size_t offset; /* into omega_settings_t */
  const char *help;
} omega_cfg_def_t;

extern const omega_cfg_def_t omega_cfg_table[];
extern const size_t omega_cfg_count;
extern const char *const omega_profile_names[];

typedef struct omega_config omega_config_t;

/* Change callback: called after a successful (re)load or runtime change with the old and
 * new settings; returns 0 or an error (the whole change is then rolled back: the callback
 * is called again with the roles swapped). */
typedef int (*omega_cfg_apply_fn)(const omega_settings_t *old, const omega_settings_t *now, void *user);

/* Build the configuration from defaults, profile, the config file (cli/env may name it as
 * OMEGA_CONFIG_FILE), the process environment and command-line KEY=VALUE pairs. */
int omega_config_create(const char *const *cli_pairs, size_t n_cli, omega_config_t **out);
void omega_config_free(omega_config_t *c);
void omega_config_set_apply(omega_config_t *c, omega_cfg_apply_fn fn, void *user);
/* A consistent copy of the current values (thread-safe). */
void omega_config_get(const omega_config_t *c, omega_settings_t *out);

/* Re-read the config file and recompute every layer; all or nothing. Restart-only
 * settings that changed are kept at their old values and reported in `msg`. */
int omega_config_reload(omega_config_t *c, char *msg, size_t cap);
/* Runtime changes (PUT /accel/config): n KEY/VALUE pairs, all or nothing, over the config
 * file as last loaded (a file broken since does not block them). Restart-only or unknown
 * keys and invalid values are rejected with OMEGA_EINVAL and a message. Each setting that
 * changes is logged (INFO) with `who`, its old and new value (secrets as "(set)"); a
 * rejected change is logged too (WARN). */
int omega_config_set_runtime(omega_config_t *c, const char *who, const char *const *keys, const char *const *values,
                             size_t n, char *msg, size_t cap);

typedef struct {
  unsigned long long reloads_ok, reloads_failed, runtime_ok, runtime_failed;
} omega_cfg_stats_t;
void omega_config_stats(const omega_config_t *c, omega_cfg_stats_t *s);

/* The current value as text ("" for secrets when redact), and where it came from. */
void omega_config_value(const omega_config_t *c, size_t idx, bool redact, char *buf, size_t cap,
                        omega_cfg_source_t *src);
const char *omega_config_source_name(omega_cfg_source_t s);
const omega_cfg_def_t *omega_config_find(const char *name, size_t *idx);
/* The name of an enum setting's value (its index in omega_settings_t), from the table: callers
 * keep no copy of the choices (one fell out of step once: bf16x3 ran int8, int8 read past it). */
const char *omega_config_choice(const char *setting, int value);
/* Parse and validate one value for a setting into settings; message on failure. */
int omega_config_parse_value(const omega_cfg_def_t *d, const char *value, omega_settings_t *s, char *msg, size_t cap);
/* Parse KEY=VALUE text over the defaults (the config-file parser; for tests and fuzzing). */
int omega__config_parse_text(const char *what, const char *text, size_t len, omega_settings_t *out, char *msg,
                             size_t cap);
/* The settings table as Markdown (for the README; a test keeps them identical). */
void omega_config_markdown(char **out, size_t *len);

#endif

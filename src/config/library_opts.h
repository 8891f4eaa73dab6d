/* What the settings mean to the library: the engine's options and the CPU kernel caps, made
 * in this one place for every program that opens an engine (omega serve, omega embed). */
#ifndef OMEGA_CONFIG_LIBRARY_OPTS_H
#define OMEGA_CONFIG_LIBRARY_OPTS_H

#include "config/config.h"
#include "omega/engine.h"

/* The settings that can change while the engine runs (omega_engine_tune). */
void omega__config_engine_tuning(const omega_settings_t *s, omega_engine_tuning_t *t);
/* Options to open an engine: restart-only ones from `boot` (the settings at start-up), the
 * tuning from `now` (runtime changes may have come since); the GPU streams created are enough
 * for both EMBED_GPU_MAX_SLOTS and the current EMBED_GPU_SLOTS. The strings point into
 * `boot`, which must outlive omega_engine_open. */
void omega__config_engine_opts(const omega_settings_t *boot, const omega_settings_t *now, omega_engine_opts_t *o);
/* The folder EMBED_CPU_AUTO_CACHE_DIR names: the setting, "" -> $XDG_CACHE_HOME/omega or
 * $HOME/.cache/omega, "off" (or no home) -> NULL. */
const char *omega__config_cpu_auto_cache(const omega_settings_t *s);
/* Cap the CPU kernels as OMEGA_CPU_ISA and OMEGA_SIMD say; call it before anything runs
 * them (opening an engine, an index or a collection). */
int omega__config_force_cpu(const omega_settings_t *s);

#endif

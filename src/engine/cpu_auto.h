/* EMBED_CPU_PRECISION=auto: which CPU precision runs a model fastest on this CPU within an
 * accuracy bound. The mechanism (cpu_auto.c) packs the model in each mode the CPU has, runs a
 * probe batch of real text through it and times it; the policy (omega__cpu_auto_choose)
 * decides from the measurements alone; the cache (cpu_auto_cache.c) keeps a decision per CPU,
 * thread count, model folder, bound and Omega version, so a restart does not measure again. */
#ifndef OMEGA_ENGINE_CPU_AUTO_H
#define OMEGA_ENGINE_CPU_AUTO_H

#include "backend/backend.h"
#include "omega/engine.h"

#include <stddef.h>

/* A faster mode replaces a more exact one only when it saves more than this share of the
 * time: closer than that, the timing's noise could decide, and exactness should. */
#define OMEGA_CPU_AUTO_MARGIN 0.05

/* Policy: marks each trial accepted (fp32 always; the others when min_cosine >= bound) and
 * returns the index of the one to run: the fastest accepted, unless a more exact accepted
 * mode is within OMEGA_CPU_AUTO_MARGIN of its time. t[0..n) must hold fp32. */
size_t omega__cpu_auto_choose(omega_cpu_trial_t *t, size_t n, double bound);

/* Open the CPU backend for `m` in the mode the cache or a measurement picks, filling rep.
 * cache_dir NULL or "": measure and keep nothing. */
int omega__cpu_auto_open(const omega_model_t *m, int threads, double bound, const char *cache_dir,
                         omega_backend_t **out, omega_cpu_auto_t *rep);

/* The cache: the key of this CPU, thread count, model folder (its files' sizes and times),
 * bound and version into key[cap] (0, or OMEGA_EIO when the folder cannot be read). */
int omega__cpu_auto_key(const omega_model_t *m, int threads, double bound, char *key, size_t cap);
/* Reads rep's chosen mode and trials from dir's file for key: 1 when found and whole, 0 when
 * not (missing, another key, or damaged: rep->cache says which). */
int omega__cpu_auto_cache_read(const char *dir, const char *key, omega_cpu_auto_t *rep);
/* Writes rep for key into dir atomically (a failure is noted in rep->cache, not returned:
 * a server runs without its cache). */
void omega__cpu_auto_cache_write(const char *dir, const char *key, omega_cpu_auto_t *rep);

#endif

/* Logging to stderr with a timestamp and level; the level is a runtime setting. */
#ifndef OMEGA_CORE_LOG_H
#define OMEGA_CORE_LOG_H

#include "core/error_internal.h"

enum { OMEGA_LOG_DEBUG = 0, OMEGA_LOG_INFO, OMEGA_LOG_WARN, OMEGA_LOG_ERROR };

void omega__log_set_level(int level);
void omega__log(int level, const char *fmt, ...) OMEGA_PRINTF(2, 3);

#endif

#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_int log_level = OMEGA_LOG_INFO;

void omega__log_set_level(int level) { atomic_store(&log_level, level); }

void omega__log(int level, const char *fmt, ...) {
  if (level < atomic_load(&log_level))
    return;
  static const char *const names[] = {"debug", "info", "warn", "error"};
  char line[2048];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int k = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level & 3]);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line); /* one write per line: lines from threads do not interleave */
}

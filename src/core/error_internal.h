#ifndef OMEGA_CORE_ERROR_INTERNAL_H
#define OMEGA_CORE_ERROR_INTERNAL_H

#include "omega/error.h"

#if defined(__GNUC__)
#define OMEGA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define OMEGA_PRINTF(a, b)
#endif

/* Record a detail message for this thread and return `code`, so call sites read
 *   return omega__seterr(OMEGA_EFORMAT, "%s: header length %zu beyond file", path, n); */
int omega__seterr(int code, const char *fmt, ...) OMEGA_PRINTF(2, 3);
/* Prepend context ("config.json: ") to the current detail message, return `code`. */
int omega__prefixerr(int code, const char *fmt, ...) OMEGA_PRINTF(2, 3);
void omega__clearerr(void);

#ifdef __clang_analyzer__
/* The static analyzer checks one file at a time and cannot see that these return their first
 * argument; without this it follows "failed" paths as if they had succeeded. */
#define omega__seterr(code, ...) __extension__({ int omega__c = (code); (omega__seterr)(omega__c, __VA_ARGS__); omega__c; })
#define omega__prefixerr(code, ...) __extension__({ int omega__c = (code); (omega__prefixerr)(omega__c, __VA_ARGS__); omega__c; })
#endif

#endif

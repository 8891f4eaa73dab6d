/* Regular expressions as HuggingFace tokenizers runs them: Oniguruma (the library HF's
 * SysRegex wraps), default syntax, matched over code point arrays (UTF-32) so no stage
 * converts back to UTF-8. A compiled regex is immutable and safe to share across threads. */
#ifndef OMEGA_TEXT_REGEX_H
#define OMEGA_TEXT_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct omega_regex omega_regex_t;

/* Compile a UTF-8 pattern; `what` names it in the error message. */
int omega__regex_compile(const char *what, const char *pattern, size_t len, omega_regex_t **out);
/* A pattern that matches the literal string s (HF's String patterns). */
int omega__regex_literal(const char *what, const char *s, size_t len, omega_regex_t **out);
void omega__regex_free(omega_regex_t *re);

/* First match in s[from..n): true with [*ms, *me) set, false when none. A match in
 * progress that exceeds Oniguruma's limits is an error (OMEGA_ERANGE via *err). */
bool omega__regex_search(const omega_regex_t *re, const uint32_t *s, size_t n, size_t from, size_t *ms,
                         size_t *me, int *err);

#endif

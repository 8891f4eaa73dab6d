/* Oniguruma over UTF-32 code points. Patterns are converted once to UTF-32LE so subject
 * strings (the tokenizer's code point arrays) are searched in place. */
#include "text/regex.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/utf8.h"

#include <oniguruma.h>
#include <pthread.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "omega's regex layer searches uint32_t arrays as UTF-32LE"
#endif

struct omega_regex {
  regex_t *re;
};

static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static int onig_ok;

static void regex_lib_init(void) {
  OnigEncoding encs[] = {ONIG_ENCODING_UTF32_LE};
  onig_ok = onig_initialize(encs, 1) == ONIG_NORMAL;
}

int omega__regex_compile(const char *what, const char *pattern, size_t len, omega_regex_t **out) {
  pthread_once(&onig_once, regex_lib_init);
  if (!onig_ok)
    return omega__seterr(OMEGA_EINTERNAL, "%s: the regex library failed to initialise", what);
  uint32_t *cps = omega__malloc((len + 1) * sizeof *cps);
  omega_regex_t *r = omega__calloc(1, sizeof *r);
  if (!cps || !r) {
    omega__free(cps);
    omega__free(r);
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  }
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    size_t bad;
    size_t k = omega__utf8_decode((const unsigned char *)pattern + i, len - i, &cps[n], &bad);
    if (!k) {
      omega__free(cps);
      omega__free(r);
      return omega__seterr(OMEGA_EFORMAT, "%s: the pattern is not valid UTF-8", what);
    }
    i += k;
    n++;
  }
  OnigErrorInfo einfo;
  int rc = onig_new(&r->re, (const OnigUChar *)cps, (const OnigUChar *)(cps + n), ONIG_OPTION_NONE,
                    ONIG_ENCODING_UTF32_LE, ONIG_SYNTAX_DEFAULT, &einfo);
  omega__free(cps);
  if (rc != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc, &einfo);
    omega__free(r);
    if (rc == ONIGERR_MEMORY)
      return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
    return omega__seterr(OMEGA_EFORMAT, "%s: bad regex \"%.80s\": %s", what, pattern, (const char *)msg);
  }
  *out = r;
  return 0;
}

int omega__regex_literal(const char *what, const char *s, size_t len, omega_regex_t **out) {
  /* \Q...\E would break on a literal "\E"; escaping each metacharacter always works. */
  char *p = omega__malloc(2 * len + 1);
  if (!p)
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] && strchr("\\^$.|?*+()[]{}", s[i]))
      p[k++] = '\\';
    p[k++] = s[i];
  }
  int rc = omega__regex_compile(what, p, k, out);
  omega__free(p);
  return rc;
}

void omega__regex_free(omega_regex_t *r) {
  if (!r)
    return;
  onig_free(r->re);
  omega__free(r);
}

bool omega__regex_search(const omega_regex_t *r, const uint32_t *s, size_t n, size_t from, size_t *ms,
                         size_t *me, int *err) {
  *err = 0;
  if (from > n)
    return false;
  OnigRegion region;
  onig_region_init(&region);
  const OnigUChar *str = (const OnigUChar *)s, *end = (const OnigUChar *)(s + n);
  int pos = onig_search(r->re, str, end, (const OnigUChar *)(s + from), end, &region, ONIG_OPTION_NONE);
  bool found = false;
  if (pos >= 0) {
    *ms = (size_t)region.beg[0] / 4;
    *me = (size_t)region.end[0] / 4;
    found = true;
  } else if (pos != ONIG_MISMATCH) {
    *err = omega__seterr(pos == ONIGERR_MEMORY ? OMEGA_ENOMEM : OMEGA_ERANGE,
                         "tokenizer: regex search failed (code %d)", pos);
  }
  onig_region_free(&region, 0);
  return found;
}

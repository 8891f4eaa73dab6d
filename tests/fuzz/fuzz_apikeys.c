/* Fuzz target: the API keys file (apikeys.h) and the Authorization header checked against it.
 * The input up to the first NUL is the file; what follows is an Authorization value. A file
 * that parses must admit each of its literal keys (a line's third field) with that line's
 * scope, and an Authorization value is admitted only as one of the file's keys. */
#include "server/apikeys.h"

#include <openssl/sha.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the file's line that holds this literal key, by a simple reading of the format */
static bool file_has_key(const char *file, size_t flen, const char *key, size_t klen) {
  for (size_t at = 0; at < flen;) {
    const char *nl = memchr(file + at, '\n', flen - at);
    size_t end = nl ? (size_t)(nl - file) : flen;
    size_t l = end - at;
    if (l && file[at + l - 1] == '\r')
      l--;
    /* the third blank-separated field */
    const char *p = file + at, *e = p + l;
    for (int f = 0; f < 2 && p < e; f++) {
      while (p < e && (*p == ' ' || *p == '\t'))
        p++;
      while (p < e && *p != ' ' && *p != '\t')
        p++;
    }
    while (p < e && (*p == ' ' || *p == '\t'))
      p++;
    const char *q = p;
    while (q < e && *q != ' ' && *q != '\t')
      q++;
    if ((size_t)(q - p) == klen && memcmp(p, key, klen) == 0)
      return true;
    if ((size_t)(q - p) == 7 + 64 && strncasecmp(p, "sha256:", 7) == 0) {
      unsigned char d[SHA256_DIGEST_LENGTH];
      char hex[65];
      SHA256((const unsigned char *)key, klen, d);
      for (int i = 0; i < 32; i++) {
        hex[2 * i] = "0123456789abcdef"[d[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[d[i] & 15];
      }
      if (strncasecmp(p + 7, hex, 64) == 0)
        return true;
    }
    at = end + 1;
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  const size_t flen = nul ? (size_t)(nul - data) : size;
  omega_apikeys_t *k = NULL;
  char msg[256];
  if (omega__apikeys_parse((const char *)data, flen, &k, msg, sizeof msg) != 0) {
    if (!msg[0])
      abort(); /* a refusal always says why */
    return 0;
  }
  if (omega__apikeys_count(k) == 0)
    abort();
  if (nul) {
    size_t alen = size - flen - 1;
    char *auth = malloc(alen + 1);
    memcpy(auth, nul + 1, alen);
    auth[alen] = '\0';
    const char *name = NULL;
    omega_scope_t scope = 0;
    if (omega__apikeys_check(k, auth, &name, &scope) == OMEGA_KEY_OK) {
      if (!name || (scope != OMEGA_SCOPE_READ && scope != OMEGA_SCOPE_WRITE) || strncasecmp(auth, "Bearer ", 7) != 0)
        abort();
      const char *t = auth + 7;
      while (*t == ' ')
        t++;
      size_t tl = strlen(t);
      while (tl && t[tl - 1] == ' ')
        tl--;
      if (!file_has_key((const char *)data, flen, t, tl))
        abort();
    }
    free(auth);
  }
  omega__apikeys_free(k);
  return 0;
}

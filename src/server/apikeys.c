#include "server/apikeys.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define KEY_MIN 16
#define KEY_MAX 256
#define FILE_MAX (1 << 20)

typedef struct {
  char name[OMEGA_APIKEY_NAME_MAX + 1];
  omega_scope_t scope;
  unsigned char digest[SHA256_DIGEST_LENGTH];
} apikey_t;

struct omega_apikeys {
  apikey_t *keys;
  size_t n;
};

static bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

/* The blank-separated fields of one line (at most 4 are looked at). */
static size_t split(const char *line, size_t len, const char *f[4], size_t fl[4]) {
  size_t n = 0, i = 0;
  while (i < len && n < 4) {
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
      i++;
    if (i == len)
      break;
    f[n] = line + i;
    while (i < len && line[i] != ' ' && line[i] != '\t')
      i++;
    fl[n] = (size_t)(line + i - f[n]);
    n++;
  }
  return n;
}

/* One line's key into *k; false with msg set when it is not one. */
static bool parse_line(const char *line, size_t len, apikey_t *k, char *msg, size_t cap) {
  const char *f[4];
  size_t fl[4];
  if (split(line, len, f, fl) != 3) {
    snprintf(msg, cap, "expected three fields, NAME SCOPE KEY");
    return false;
  }
  bool ok = fl[0] <= OMEGA_APIKEY_NAME_MAX;
  for (size_t i = 0; ok && i < fl[0]; i++)
    ok = name_char(f[0][i]);
  if (!ok) {
    snprintf(msg, cap, "the name must be 1-%d of [A-Za-z0-9_.-]", OMEGA_APIKEY_NAME_MAX);
    return false;
  }
  memcpy(k->name, f[0], fl[0]);
  k->name[fl[0]] = '\0';
  if (fl[1] == 4 && memcmp(f[1], "read", 4) == 0)
    k->scope = OMEGA_SCOPE_READ;
  else if (fl[1] == 5 && memcmp(f[1], "write", 5) == 0)
    k->scope = OMEGA_SCOPE_WRITE;
  else {
    snprintf(msg, cap, "key %s: the scope must be read or write", k->name);
    return false;
  }
  const char *key = f[2];
  size_t kl = fl[2];
  if (kl > 7 && strncasecmp(key, "sha256:", 7) == 0) {
    if (kl != 7 + 2 * SHA256_DIGEST_LENGTH || !omega__auth_unhex(key + 7, SHA256_DIGEST_LENGTH, k->digest)) {
      snprintf(msg, cap, "key %s: sha256: must be followed by 64 hex digits", k->name);
      return false;
    }
    return true;
  }
  ok = kl >= KEY_MIN && kl <= KEY_MAX;
  for (size_t i = 0; ok && i < kl; i++)
    ok = key[i] > ' ' && key[i] < 0x7F;
  if (!ok) {
    snprintf(msg, cap, "key %s: a key is %d-%d printable ASCII characters (or sha256:<hex>)", k->name, KEY_MIN,
             KEY_MAX);
    return false;
  }
  SHA256((const unsigned char *)key, kl, k->digest);
  return true;
}

int omega__apikeys_parse(const char *text, size_t len, omega_apikeys_t **out, char *msg, size_t cap) {
  omega_apikeys_t *k = omega__calloc(1, sizeof *k);
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  lines++;
  if (k)
    k->keys = omega__calloc(lines < OMEGA_APIKEYS_MAX ? lines : OMEGA_APIKEYS_MAX, sizeof *k->keys);
  if (!k || !k->keys) {
    omega__apikeys_free(k);
    snprintf(msg, cap, "out of memory");
    return OMEGA_ENOMEM;
  }
  char why[160];
  size_t lineno = 0;
  for (size_t at = 0; at < len;) {
    const char *nl = memchr(text + at, '\n', len - at);
    size_t end = nl ? (size_t)(nl - text) : len, l = end - at;
    const char *line = text + at;
    at = end + 1;
    lineno++;
    if (l && line[l - 1] == '\r')
      l--;
    size_t skip = 0;
    while (skip < l && (line[skip] == ' ' || line[skip] == '\t'))
      skip++;
    if (skip == l || line[skip] == '#')
      continue;
    if (memchr(line, '\0', l)) {
      snprintf(msg, cap, "line %zu: a NUL byte", lineno);
      goto fail;
    }
    if (k->n == OMEGA_APIKEYS_MAX) {
      snprintf(msg, cap, "more than %d keys", OMEGA_APIKEYS_MAX);
      goto fail;
    }
    apikey_t *nk = &k->keys[k->n];
    if (!parse_line(line, l, nk, why, sizeof why)) {
      snprintf(msg, cap, "line %zu: %s", lineno, why);
      goto fail;
    }
    for (size_t j = 0; j < k->n; j++) {
      if (strcmp(k->keys[j].name, nk->name) == 0) {
        snprintf(msg, cap, "line %zu: the name %s is used twice", lineno, nk->name);
        goto fail;
      }
      if (memcmp(k->keys[j].digest, nk->digest, sizeof nk->digest) == 0) {
        snprintf(msg, cap, "line %zu: key %s is the same key as %s", lineno, nk->name, k->keys[j].name);
        goto fail;
      }
    }
    k->n++;
  }
  if (!k->n) {
    snprintf(msg, cap, "no keys (unset the setting to leave the data plane open)");
    goto fail;
  }
  *out = k;
  return 0;
fail:
  omega__apikeys_free(k);
  return OMEGA_EINVAL;
}

int omega__apikeys_load(const char *path, omega_apikeys_t **out) {
  char *buf;
  size_t len;
  int rc = omega__read_file(path, FILE_MAX, &buf, &len);
  if (rc)
    return omega__prefixerr(rc, "OMEGA_API_KEYS_FILE");
  char msg[256];
  rc = omega__apikeys_parse(buf, len, out, msg, sizeof msg);
  OPENSSL_cleanse(buf, len);
  omega__free(buf);
  if (rc)
    return omega__seterr(rc, "OMEGA_API_KEYS_FILE %s: %s", path, msg);
  return 0;
}

void omega__apikeys_free(omega_apikeys_t *k) {
  if (!k)
    return;
  if (k->keys)
    OPENSSL_cleanse(k->keys, k->n * sizeof *k->keys);
  omega__free(k->keys);
  omega__free(k);
}

size_t omega__apikeys_count(const omega_apikeys_t *k) { return k ? k->n : 0; }

omega_key_result_t omega__apikeys_check(const omega_apikeys_t *k, const char *authorization, const char **name,
                                        omega_scope_t *scope) {
  if (!authorization)
    return OMEGA_KEY_MISSING;
  /* RFC 7235: the scheme is case-insensitive */
  if (strncasecmp(authorization, "Bearer ", 7) != 0)
    return OMEGA_KEY_MALFORMED;
  const char *token = authorization + 7;
  while (*token == ' ')
    token++;
  size_t len = strlen(token);
  while (len && token[len - 1] == ' ')
    len--;
  if (!len || len > KEY_MAX)
    return OMEGA_KEY_MALFORMED;
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)token, len, d);
  /* every key is compared, whatever matched before */
  size_t found = k->n;
  for (size_t i = 0; i < k->n; i++) {
    const int same = CRYPTO_memcmp(d, k->keys[i].digest, sizeof d) == 0;
    found = same ? i : found;
  }
  OPENSSL_cleanse(d, sizeof d);
  if (found == k->n)
    return OMEGA_KEY_UNKNOWN;
  *name = k->keys[found].name;
  *scope = k->keys[found].scope;
  return OMEGA_KEY_OK;
}

const char *omega__apikeys_reason(omega_key_result_t r) {
  switch (r) {
  case OMEGA_KEY_MISSING:
    return "missing_key";
  case OMEGA_KEY_MALFORMED:
    return "malformed_key";
  case OMEGA_KEY_UNKNOWN:
    return "unknown_key";
  default:
    return "ok";
  }
}

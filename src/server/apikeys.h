/* API keys for the data plane (OMEGA_API_KEYS_FILE): `Authorization: Bearer <key>`.
 *
 * The file has one key per line, `NAME SCOPE KEY`, fields separated by blanks; `#` starts
 * a comment line. NAME ([A-Za-z0-9_.-], 1-64) labels the key in logs and metrics, SCOPE is
 * `read` (embed, rerank, search and read collections) or `write` (all of read, plus
 * creating, changing and dropping collections), KEY is the key itself (16-256 printable
 * characters, no blanks) or `sha256:` and the hex SHA-256 of it, so that the file need not
 * hold the key. Names and keys are unique.
 *
 * A presented key is hashed and compared with every key's hash in constant time: the
 * answer's timing says neither whether nor which key's prefix matched. */
#ifndef OMEGA_SERVER_APIKEYS_H
#define OMEGA_SERVER_APIKEYS_H

#include <stddef.h>

typedef struct omega_apikeys omega_apikeys_t;

typedef enum { OMEGA_SCOPE_READ = 1, OMEGA_SCOPE_WRITE = 2 } omega_scope_t;

typedef enum {
  OMEGA_KEY_OK = 0,
  OMEGA_KEY_MISSING,   /* no Authorization header */
  OMEGA_KEY_MALFORMED, /* not "Bearer <token>" */
  OMEGA_KEY_UNKNOWN,   /* no key matches */
} omega_key_result_t;

#define OMEGA_APIKEYS_MAX 4096
#define OMEGA_APIKEY_NAME_MAX 64

/* Parse a keys file's text. On failure *out is untouched and msg names the line and the
 * problem (never the key). */
int omega__apikeys_parse(const char *text, size_t len, omega_apikeys_t **out, char *msg, size_t cap);
/* Read and parse a keys file. */
int omega__apikeys_load(const char *path, omega_apikeys_t **out);
void omega__apikeys_free(omega_apikeys_t *k);
size_t omega__apikeys_count(const omega_apikeys_t *k);
/* Check an Authorization header value (NULL: absent). On OK, *name (valid while k lives)
 * and *scope tell which key it was. */
omega_key_result_t omega__apikeys_check(const omega_apikeys_t *k, const char *authorization, const char **name,
                                        omega_scope_t *scope);
const char *omega__apikeys_reason(omega_key_result_t r);

#endif

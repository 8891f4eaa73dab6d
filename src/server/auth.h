/* HMAC request signing for /invoke and /accel/config.
 *   X-Omega-Timestamp: unix seconds     X-Omega-Nonce: 16-64 chars of [A-Za-z0-9_-]
 *   X-Omega-Signature: v1=<hex HMAC-SHA256(secret, ts "\n" nonce "\n" METHOD "\n" target "\n" hex(SHA-256(body)))>
 * target: the request target exactly as sent on the request line, query string included
 * (a signature for /invoke does not cover /invoke?x=1). The whole secret is the key, however
 * long. A clock window, a nonce replay cache and a constant-time comparison.
 *
 * The answer to an authenticated request is signed with the same secret and scheme, so that a
 * client can trust the answer as the server trusts the request:
 *   X-Omega-Timestamp: the server's unix seconds   X-Omega-Nonce: the request's nonce
 *   X-Omega-Signature: v1=<hex HMAC-SHA256(secret, ts "\n" nonce "\n" "RESPONSE " status "\n" target "\n"
 *                                           hex(SHA-256(response body)))>
 * "RESPONSE 200" stands where a request has its method (which cannot hold a blank), so that no
 * signed answer is a signed request; the nonce ties the answer to the one request. */
#ifndef OMEGA_SERVER_AUTH_H
#define OMEGA_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct omega_auth omega_auth_t;

typedef enum {
  OMEGA_AUTH_OK = 0,
  OMEGA_AUTH_NO_SECRET, /* 503: fail closed */
  OMEGA_AUTH_MISSING,   /* a header is absent */
  OMEGA_AUTH_MALFORMED, /* bad timestamp, nonce or signature syntax */
  OMEGA_AUTH_EXPIRED,   /* timestamp outside the window */
  OMEGA_AUTH_BAD_SIGNATURE,
  OMEGA_AUTH_REPLAY,
  OMEGA_AUTH_CACHE_FULL, /* 503: too many live nonces */
  OMEGA_AUTH_NO_MEMORY,  /* 503 */
} omega_auth_result_t;

/* The nonce cache holds nonce_capacity nonces, each for 2 x window + 1 seconds: full, it
 * refuses signed requests (fail closed) until old nonces expire. */
int omega__auth_create(size_t nonce_capacity, omega_auth_t **out);
/* Resize the nonce cache, keeping every live nonce (never below their count). */
int omega__auth_set_capacity(omega_auth_t *a, size_t nonce_capacity);
void omega__auth_cache_stats(omega_auth_t *a, size_t *count, size_t *capacity);
void omega__auth_free(omega_auth_t *a);
/* Replace the secret (empty: none, gated routes fail closed). */
void omega__auth_set_secret(omega_auth_t *a, const char *secret, size_t len);
int omega__auth_has_secret(omega_auth_t *a);
omega_auth_result_t omega__auth_verify(omega_auth_t *a, const char *timestamp, const char *nonce, const char *signature,
                                       const char *method, const char *target, const void *body, size_t body_len,
                                       int64_t now_s, int64_t window_s);
/* A short reason for logs, metrics labels and error bodies. */
const char *omega__auth_reason(omega_auth_result_t r);
/* The signature header value for these inputs (tests and clients): "v1=<64 hex>" ("" out
 * of memory). */
void omega__auth_sign(const char *secret, size_t secret_len, const char *timestamp, const char *nonce,
                      const char *method, const char *target, const void *body, size_t body_len, char out[68]);

/* The signature header value of an answer (above) with the secret now: 0, or OMEGA_EINVAL
 * without a secret, OMEGA_ENOMEM. */
int omega__auth_sign_response(omega_auth_t *a, const char *timestamp, const char *nonce, int status,
                              const char *target, const void *body, size_t body_len, char out[68]);
/* Decode 2n hex digits (either case) into n bytes; false on any other character. */
bool omega__auth_unhex(const char *in, size_t n, unsigned char *out);
/* What stands for the method in an answer's signature: "RESPONSE <status>". */
void omega__auth_response_method(int status, char out[16]);

#endif

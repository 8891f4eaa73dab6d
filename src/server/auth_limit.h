/* Failed authentications per client address: a token bucket per address of `limit`
 * failures, refilled at limit per minute. An address whose bucket is empty is refused (429)
 * before its credentials are looked at, so that keys and signatures cannot be guessed at
 * line rate. Unix-socket clients have no address and are never limited. The table holds
 * OMEGA_AUTH_LIMIT_SLOTS addresses; past that the longest-quiet one is forgotten (a client
 * with very many addresses can reset its own buckets, never another's). Thread-safe. */
#ifndef OMEGA_SERVER_AUTH_LIMIT_H
#define OMEGA_SERVER_AUTH_LIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct sockaddr;

#define OMEGA_AUTH_LIMIT_SLOTS 4096

typedef struct omega_auth_limit omega_auth_limit_t;

int omega__auth_limit_create(omega_auth_limit_t **out);
void omega__auth_limit_free(omega_auth_limit_t *t);
/* Whether addr has no failure left at now_ns; if so, *retry_s is how long until it has one. */
bool omega__auth_limit_blocked(omega_auth_limit_t *t, const struct sockaddr *addr, int64_t now_ns, long long limit,
                               long long *retry_s);
/* Count one failure of addr. */
void omega__auth_limit_fail(omega_auth_limit_t *t, const struct sockaddr *addr, int64_t now_ns, long long limit);

#endif

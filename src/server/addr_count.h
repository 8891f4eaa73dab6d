/* Open connections per client address, for the per-address connection limit. IPv4 and
 * IPv6 addresses count (IPv4 as its IPv4-mapped IPv6 form); Unix-socket clients have no
 * address and are never limited here. Thread-safe. */
#ifndef OMEGA_SERVER_ADDR_COUNT_H
#define OMEGA_SERVER_ADDR_COUNT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

typedef struct {
  pthread_mutex_t mu;
  struct omega_addr_slot *slots; /* open addressing, linear probing */
  size_t mask, used, max_used;
  uint64_t seed; /* random: clients choose their IPv6 addresses, so they may not choose collisions */
} omega_addr_count_t;

/* The 16-byte key of an IP address (IPv4 mapped into IPv6); false for other families. */
bool omega__addr_key(const struct sockaddr *addr, unsigned char key[16]);
/* A random hash seed (fallback's address mixed in when the kernel has no randomness), and a
 * key's hash under it: clients choose their IPv6 addresses, so they may not choose collisions. */
uint64_t omega__addr_seed(const void *fallback);
uint64_t omega__addr_hash(uint64_t seed, const unsigned char key[16]);

/* Room for max_addrs distinct addresses at once. */
int omega__addr_count_init(omega_addr_count_t *t, size_t max_addrs);
void omega__addr_count_free(omega_addr_count_t *t);
/* Count one more connection of addr unless it has `limit` already (0: no limit) or the table
 * is full. false: refused, nothing counted. */
bool omega__addr_count_acquire(omega_addr_count_t *t, const struct sockaddr *addr, size_t limit);
/* Count one connection of addr (no limit): one libmicrohttpd has taken over. */
void omega__addr_count_add(omega_addr_count_t *t, const struct sockaddr *addr);
void omega__addr_count_release(omega_addr_count_t *t, const struct sockaddr *addr);
/* The connections counted for addr now. */
size_t omega__addr_count_get(omega_addr_count_t *t, const struct sockaddr *addr);

#endif

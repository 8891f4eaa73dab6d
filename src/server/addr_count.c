#include "server/addr_count.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

struct omega_addr_slot {
  unsigned char key[16];
  uint32_t count; /* 0: free */
};

int omega__addr_count_init(omega_addr_count_t *t, size_t max_addrs) {
  memset(t, 0, sizeof *t);
  size_t cap = 16;
  while (cap < 2 * max_addrs + 16) /* at most half full: probes stay short */
    cap *= 2;
  t->slots = omega__calloc(cap, sizeof *t->slots);
  if (!t->slots)
    return omega__seterr(OMEGA_ENOMEM, "cannot allocate a table of %zu client addresses", max_addrs);
  t->mask = cap - 1;
  t->max_used = cap / 2;
  t->seed = omega__addr_seed(t);
  pthread_mutex_init(&t->mu, NULL);
  return 0;
}

void omega__addr_count_free(omega_addr_count_t *t) {
  if (!t->slots)
    return;
  omega__free(t->slots);
  t->slots = NULL;
  pthread_mutex_destroy(&t->mu);
}

bool omega__addr_key(const struct sockaddr *a, unsigned char key[16]) {
  if (a && a->sa_family == AF_INET) {
    memset(key, 0, 10);
    key[10] = key[11] = 0xFF;
    memcpy(key + 12, &((const struct sockaddr_in *)a)->sin_addr, 4);
    return true;
  }
  if (a && a->sa_family == AF_INET6) {
    memcpy(key, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
    return true;
  }
  return false;
}

uint64_t omega__addr_seed(const void *fallback) {
  uint64_t seed;
  if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    seed = (uint64_t)(uintptr_t)fallback ^ 0x9E3779B97F4A7C15ull;
  return seed;
}

uint64_t omega__addr_hash(uint64_t seed, const unsigned char key[16]) {
  uint64_t a, b;
  memcpy(&a, key, 8);
  memcpy(&b, key + 8, 8);
  uint64_t h = (a ^ seed) * 0x9E3779B97F4A7C15ull;
  h = (h ^ (h >> 29) ^ b) * 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

static size_t hash(const omega_addr_count_t *t, const unsigned char key[16]) {
  return (size_t)omega__addr_hash(t->seed, key);
}

/* The slot holding key, or the free slot where it would go. */
static size_t find(const omega_addr_count_t *t, const unsigned char key[16]) {
  size_t i = hash(t, key) & t->mask;
  while (t->slots[i].count && memcmp(t->slots[i].key, key, 16) != 0)
    i = (i + 1) & t->mask;
  return i;
}

/* room: how many distinct addresses may be in the table after this one */
static bool take(omega_addr_count_t *t, const struct sockaddr *addr, size_t limit, size_t room) {
  unsigned char key[16];
  if (!omega__addr_key(addr, key))
    return true;
  pthread_mutex_lock(&t->mu);
  const size_t i = find(t, key);
  bool ok;
  if (t->slots[i].count) {
    ok = !limit || t->slots[i].count < limit;
    t->slots[i].count += ok;
  } else if ((ok = t->used < room)) {
    memcpy(t->slots[i].key, key, 16);
    t->slots[i].count = 1;
    t->used++;
  }
  pthread_mutex_unlock(&t->mu);
  return ok;
}

bool omega__addr_count_acquire(omega_addr_count_t *t, const struct sockaddr *addr, size_t limit) {
  return take(t, addr, limit, t->max_used);
}

/* A connection libmicrohttpd took over was counted by the listener a moment before, so the
 * table has room for it unless it is all but full; one slot always stays free, or a probe for
 * a missing key would never end. */
void omega__addr_count_add(omega_addr_count_t *t, const struct sockaddr *addr) { take(t, addr, 0, t->mask); }

void omega__addr_count_release(omega_addr_count_t *t, const struct sockaddr *addr) {
  unsigned char key[16];
  if (!omega__addr_key(addr, key))
    return;
  pthread_mutex_lock(&t->mu);
  size_t i = find(t, key);
  if (t->slots[i].count && --t->slots[i].count == 0) {
    /* backward-shift deletion: later entries of the probe run move up, no tombstones */
    t->used--;
    for (size_t j = (i + 1) & t->mask; t->slots[j].count; j = (j + 1) & t->mask) {
      const size_t home = hash(t, t->slots[j].key) & t->mask;
      /* the entry at j may fill the hole at i when its home is not in (i, j] (cyclically) */
      const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        t->slots[i] = t->slots[j];
        t->slots[j].count = 0;
        i = j;
      }
    }
    t->slots[i].count = 0;
  }
  pthread_mutex_unlock(&t->mu);
}

size_t omega__addr_count_get(omega_addr_count_t *t, const struct sockaddr *addr) {
  unsigned char key[16];
  if (!omega__addr_key(addr, key))
    return 0;
  pthread_mutex_lock(&t->mu);
  const size_t n = t->slots[find(t, key)].count;
  pthread_mutex_unlock(&t->mu);
  return n;
}

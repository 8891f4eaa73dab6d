#include "server/auth_limit.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "server/addr_count.h"

#include <string.h>

/* an address is looked for in this many slots from its home: a bounded probe, no deletion */
#define WINDOW 16

typedef struct {
  unsigned char key[16];
  bool used;
  double tokens; /* failures left */
  int64_t at_ns; /* when tokens was last brought up to date */
} slot_t;

struct omega_auth_limit {
  pthread_mutex_t mu;
  slot_t slots[OMEGA_AUTH_LIMIT_SLOTS];
  uint64_t seed;
};

int omega__auth_limit_create(omega_auth_limit_t **out) {
  omega_auth_limit_t *t = omega__calloc(1, sizeof *t);
  if (!t)
    return omega__seterr(OMEGA_ENOMEM, "auth: out of memory");
  t->seed = omega__addr_seed(t);
  pthread_mutex_init(&t->mu, NULL);
  *out = t;
  return 0;
}

void omega__auth_limit_free(omega_auth_limit_t *t) {
  if (!t)
    return;
  pthread_mutex_destroy(&t->mu);
  omega__free(t);
}

static size_t home(const omega_auth_limit_t *t, const unsigned char key[16]) {
  return (size_t)(omega__addr_hash(t->seed, key) % OMEGA_AUTH_LIMIT_SLOTS);
}

/* The failures s has left at now_ns. */
static double level(const slot_t *s, int64_t now_ns, long long limit) {
  double v = s->tokens;
  if (now_ns > s->at_ns)
    v += (double)(now_ns - s->at_ns) * 1e-9 * (double)limit / 60.0;
  return v < (double)limit ? v : (double)limit;
}

/* addr's slot, brought up to date; with create, a new one when it has none: a free slot of
 * its window, else the one with the most failures left (a full bucket is as good as free).
 * NULL: absent. */
static slot_t *lookup(omega_auth_limit_t *t, const unsigned char key[16], int64_t now_ns, long long limit,
                      bool create) {
  const size_t h = home(t, key);
  slot_t *spare = NULL;
  double spare_level = -1;
  for (size_t i = 0; i < WINDOW; i++) {
    slot_t *s = &t->slots[(h + i) % OMEGA_AUTH_LIMIT_SLOTS];
    if (s->used && memcmp(s->key, key, 16) == 0) {
      s->tokens = level(s, now_ns, limit);
      s->at_ns = now_ns;
      return s;
    }
    const double l = s->used ? level(s, now_ns, limit) : (double)limit + 1;
    if (create && l > spare_level) {
      spare = s;
      spare_level = l;
    }
  }
  if (!spare)
    return NULL;
  memcpy(spare->key, key, 16);
  spare->used = true;
  spare->tokens = (double)limit;
  spare->at_ns = now_ns;
  return spare;
}

bool omega__auth_limit_blocked(omega_auth_limit_t *t, const struct sockaddr *addr, int64_t now_ns, long long limit,
                               long long *retry_s) {
  unsigned char key[16];
  if (!omega__addr_key(addr, key))
    return false;
  pthread_mutex_lock(&t->mu);
  const slot_t *s = lookup(t, key, now_ns, limit, false);
  const bool blocked = s && s->tokens < 1.0;
  if (blocked)
    *retry_s = 1 + (long long)((1.0 - s->tokens) * 60.0 / (double)limit);
  pthread_mutex_unlock(&t->mu);
  return blocked;
}

void omega__auth_limit_fail(omega_auth_limit_t *t, const struct sockaddr *addr, int64_t now_ns, long long limit) {
  unsigned char key[16];
  if (!omega__addr_key(addr, key))
    return;
  pthread_mutex_lock(&t->mu);
  slot_t *s = lookup(t, key, now_ns, limit, true);
  if (s && s->tokens >= 1.0)
    s->tokens -= 1.0;
  else if (s)
    s->tokens = 0;
  pthread_mutex_unlock(&t->mu);
}

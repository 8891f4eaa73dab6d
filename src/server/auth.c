#include "server/auth.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_MAX 64

typedef struct {
  char nonce[NONCE_MAX + 1];
  int64_t expires;
  int32_t next; /* hash chain */
} entry_t;

struct omega_auth {
  pthread_mutex_t mu;
  unsigned char *secret;
  size_t secret_len;
  /* nonce cache: a FIFO ring ordered by expiry plus hash chains */
  entry_t *ring;
  size_t cap, head, count;
  int32_t *buckets;
  size_t n_buckets;
};

static size_t buckets_for(size_t cap) {
  size_t n = 16;
  while (n < cap)
    n *= 2;
  return n;
}

int omega__auth_create(size_t cap, omega_auth_t **out) {
  omega_auth_t *a = omega__calloc(1, sizeof *a);
  if (!a)
    return omega__seterr(OMEGA_ENOMEM, "auth: out of memory");
  a->cap = cap;
  a->n_buckets = buckets_for(cap);
  a->ring = omega__calloc(cap, sizeof *a->ring);
  a->buckets = omega__malloc(a->n_buckets * sizeof *a->buckets);
  if (!a->ring || !a->buckets) {
    omega__auth_free(a);
    return omega__seterr(OMEGA_ENOMEM, "auth: cannot allocate a nonce cache of %zu", cap);
  }
  memset(a->buckets, 0xFF, a->n_buckets * sizeof *a->buckets);
  pthread_mutex_init(&a->mu, NULL);
  *out = a;
  return 0;
}

void omega__auth_free(omega_auth_t *a) {
  if (!a)
    return;
  if (a->secret) {
    OPENSSL_cleanse(a->secret, a->secret_len);
    omega__free(a->secret);
  }
  omega__free(a->ring);
  omega__free(a->buckets);
  pthread_mutex_destroy(&a->mu);
  omega__free(a);
}

void omega__auth_set_secret(omega_auth_t *a, const char *secret, size_t len) {
  unsigned char *copy = len ? omega__malloc(len) : NULL;
  if (copy)
    memcpy(copy, secret, len);
  pthread_mutex_lock(&a->mu);
  if (a->secret) {
    OPENSSL_cleanse(a->secret, a->secret_len);
    omega__free(a->secret);
  }
  a->secret = copy;
  a->secret_len = copy ? len : 0;
  pthread_mutex_unlock(&a->mu);
}

int omega__auth_has_secret(omega_auth_t *a) {
  pthread_mutex_lock(&a->mu);
  int has = a->secret_len > 0;
  pthread_mutex_unlock(&a->mu);
  return has;
}

static size_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (size_t)h;
}

int omega__auth_set_capacity(omega_auth_t *a, size_t cap) {
  pthread_mutex_lock(&a->mu);
  if (cap < a->count)
    cap = a->count; /* a live nonce is never forgotten early: that would reopen its replay */
  if (cap == a->cap) {
    pthread_mutex_unlock(&a->mu);
    return 0;
  }
  const size_t nb = buckets_for(cap);
  entry_t *ring = omega__calloc(cap, sizeof *ring);
  int32_t *buckets = omega__malloc(nb * sizeof *buckets);
  if (!ring || !buckets) {
    pthread_mutex_unlock(&a->mu);
    omega__free(ring);
    omega__free(buckets);
    return omega__seterr(OMEGA_ENOMEM, "auth: cannot allocate a nonce cache of %zu", cap);
  }
  memset(buckets, 0xFF, nb * sizeof *buckets);
  for (size_t k = 0; k < a->count; k++) {
    ring[k] = a->ring[(a->head + k) % a->cap];
    size_t b = hash(ring[k].nonce) & (nb - 1);
    ring[k].next = buckets[b];
    buckets[b] = (int32_t)k;
  }
  omega__free(a->ring);
  omega__free(a->buckets);
  a->ring = ring;
  a->buckets = buckets;
  a->n_buckets = nb;
  a->cap = cap;
  a->head = 0;
  pthread_mutex_unlock(&a->mu);
  return 0;
}

void omega__auth_cache_stats(omega_auth_t *a, size_t *count, size_t *cap) {
  pthread_mutex_lock(&a->mu);
  *count = a->count;
  *cap = a->cap;
  pthread_mutex_unlock(&a->mu);
}

/* Drop expired entries from the head of the ring (lock held). */
static void expire(omega_auth_t *a, int64_t now) {
  while (a->count) {
    entry_t *e = &a->ring[a->head];
    if (e->expires > now)
      break;
    int32_t *p = &a->buckets[hash(e->nonce) & (a->n_buckets - 1)];
    while (*p != (int32_t)a->head)
      p = &a->ring[*p].next;
    *p = e->next;
    a->head = (a->head + 1) % a->cap;
    a->count--;
  }
}

/* 0: new and remembered; 1: replay; -1: cache full (lock held). */
static int remember(omega_auth_t *a, const char *nonce, int64_t now, int64_t ttl) {
  expire(a, now);
  size_t b = hash(nonce) & (a->n_buckets - 1);
  for (int32_t i = a->buckets[b]; i >= 0; i = a->ring[i].next)
    if (strcmp(a->ring[i].nonce, nonce) == 0)
      return 1;
  if (a->count == a->cap)
    return -1;
  size_t slot = (a->head + a->count) % a->cap;
  entry_t *e = &a->ring[slot];
  snprintf(e->nonce, sizeof e->nonce, "%s", nonce);
  e->expires = now + ttl;
  e->next = a->buckets[b];
  a->buckets[b] = (int32_t)slot;
  a->count++;
  return 0;
}

static void hex(const unsigned char *in, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int mac(const unsigned char *key, size_t key_len, const char *ts, const char *nonce, const char *method,
               const char *target, const void *body, size_t body_len, unsigned char out[32]) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  char body_hex[2 * SHA256_DIGEST_LENGTH + 1];
  SHA256(body_len ? body : (const void *)"", body_len, digest);
  hex(digest, sizeof digest, body_hex);
  size_t n = strlen(ts) + strlen(nonce) + strlen(method) + strlen(target) + sizeof body_hex + 8;
  char *msg = omega__malloc(n);
  if (!msg)
    return OMEGA_ENOMEM;
  int len = snprintf(msg, n, "%s\n%s\n%s\n%s\n%s", ts, nonce, method, target, body_hex);
  unsigned int out_len = 32;
  const bool ok = HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, (size_t)len, out, &out_len);
  omega__free(msg);
  return ok ? 0 : OMEGA_ENOMEM;
}

void omega__auth_sign(const char *secret, size_t secret_len, const char *ts, const char *nonce, const char *method,
                      const char *target, const void *body, size_t body_len, char out[68]) {
  unsigned char m[32];
  if (mac((const unsigned char *)secret, secret_len, ts, nonce, method, target, body, body_len, m)) {
    out[0] = '\0';
    return;
  }
  memcpy(out, "v1=", 3);
  hex(m, 32, out + 3);
}

static bool valid_nonce(const char *n) {
  size_t len = strlen(n);
  if (len < 16 || len > NONCE_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static int unhex(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool omega__auth_unhex(const char *in, size_t n, unsigned char *out) {
  for (size_t i = 0; i < n; i++) {
    const int hi = unhex(in[2 * i]), lo = hi < 0 ? -1 : unhex(in[2 * i + 1]);
    if (lo < 0)
      return false;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return true;
}

/* A copy of the whole secret (NULL: none, or out of memory; *len tells which), so the HMAC
 * runs outside the lock and a concurrent secret change cannot free it underneath. */
static unsigned char *secret_copy(omega_auth_t *a, size_t *len) {
  pthread_mutex_lock(&a->mu);
  const size_t klen = a->secret_len;
  unsigned char *key = klen ? omega__malloc(klen) : NULL;
  if (key)
    memcpy(key, a->secret, klen);
  pthread_mutex_unlock(&a->mu);
  *len = klen;
  return key;
}

omega_auth_result_t omega__auth_verify(omega_auth_t *a, const char *ts, const char *nonce, const char *sig,
                                       const char *method, const char *target, const void *body, size_t body_len,
                                       int64_t now, int64_t window) {
  size_t klen;
  unsigned char *key = secret_copy(a, &klen);
  omega_auth_result_t r = OMEGA_AUTH_OK;
  if (!klen)
    return OMEGA_AUTH_NO_SECRET;
  if (!key)
    return OMEGA_AUTH_NO_MEMORY;
  if (!ts || !nonce || !sig) {
    r = OMEGA_AUTH_MISSING;
    goto out;
  }
  char *end;
  long long t = strtoll(ts, &end, 10);
  unsigned char want[32];
  if (!*ts || *end || !valid_nonce(nonce) || strncmp(sig, "v1=", 3) != 0 || strlen(sig) != 3 + 64) {
    r = OMEGA_AUTH_MALFORMED;
    goto out;
  }
  if (!omega__auth_unhex(sig + 3, sizeof want, want)) {
    r = OMEGA_AUTH_MALFORMED;
    goto out;
  }
  if (t < now - window || t > now + window) {
    r = OMEGA_AUTH_EXPIRED;
    goto out;
  }
  unsigned char got[32];
  if (mac(key, klen, ts, nonce, method, target, body, body_len, got)) {
    r = OMEGA_AUTH_NO_MEMORY;
    goto out;
  }
  if (CRYPTO_memcmp(got, want, 32) != 0) {
    r = OMEGA_AUTH_BAD_SIGNATURE;
    goto out;
  }
  /* only authentic requests reach the nonce cache, so it cannot be flooded by forgeries */
  pthread_mutex_lock(&a->mu);
  int seen = remember(a, nonce, now, 2 * window + 1);
  pthread_mutex_unlock(&a->mu);
  r = seen > 0 ? OMEGA_AUTH_REPLAY : seen < 0 ? OMEGA_AUTH_CACHE_FULL : OMEGA_AUTH_OK;
out:
  OPENSSL_cleanse(key, klen);
  omega__free(key);
  return r;
}

const char *omega__auth_reason(omega_auth_result_t r) {
  switch (r) {
  case OMEGA_AUTH_OK:
    return "ok";
  case OMEGA_AUTH_NO_SECRET:
    return "no_secret";
  case OMEGA_AUTH_MISSING:
    return "missing_headers";
  case OMEGA_AUTH_MALFORMED:
    return "malformed";
  case OMEGA_AUTH_EXPIRED:
    return "timestamp_window";
  case OMEGA_AUTH_BAD_SIGNATURE:
    return "bad_signature";
  case OMEGA_AUTH_REPLAY:
    return "replayed_nonce";
  case OMEGA_AUTH_CACHE_FULL:
    return "nonce_cache_full";
  case OMEGA_AUTH_NO_MEMORY:
    return "out_of_memory";
  }
  return "unknown";
}

void omega__auth_response_method(int status, char out[16]) { snprintf(out, 16, "RESPONSE %d", status); }

int omega__auth_sign_response(omega_auth_t *a, const char *ts, const char *nonce, int status, const char *target,
                              const void *body, size_t body_len, char out[68]) {
  size_t klen;
  unsigned char *key = secret_copy(a, &klen);
  if (!key)
    return klen ? OMEGA_ENOMEM : OMEGA_EINVAL;
  char method[16];
  omega__auth_response_method(status, method);
  omega__auth_sign((const char *)key, klen, ts, nonce, method, target, body, body_len, out);
  OPENSSL_cleanse(key, klen);
  omega__free(key);
  return out[0] ? 0 : OMEGA_ENOMEM;
}

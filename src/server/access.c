/* Who may use a route: API keys with scopes on the data plane (apikeys.h), the endpoints left
 * public, and the per-address limit on failed authentications (auth_limit.h) that HMAC shares. */
#include "server/server_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* the endpoints OMEGA_API_KEYS_PUBLIC may name: the quick read-only ones */
static const char *const publishable[] = {"health", "ready", "metrics", "info", "accel_health"};
#define N_PUBLISHABLE (sizeof publishable / sizeof publishable[0])

static int public_mask(const char *list, unsigned *out) {
  unsigned mask = 0;
  for (const char *p = list; *p;) {
    while (*p == ',' || *p == ' ')
      p++;
    if (!*p)
      break;
    size_t n = strcspn(p, ", ");
    size_t i = 0;
    while (i < N_PUBLISHABLE && !(strlen(publishable[i]) == n && memcmp(publishable[i], p, n) == 0))
      i++;
    if (i == N_PUBLISHABLE)
      return omega__seterr(OMEGA_EINVAL,
                           "OMEGA_API_KEYS_PUBLIC: %.*s is not one of health, ready, metrics, info, accel_health",
                           (int)n, p);
    mask |= 1u << i;
    p += n;
  }
  *out = mask;
  return 0;
}

int omega__access_prepare(const omega_settings_t *set, omega_access_t *out) {
  memset(out, 0, sizeof *out);
  int rc = public_mask(set->omega_api_keys_public, &out->public_mask);
  if (rc == 0)
    rc = omega__proxies_parse(set->omega_trusted_proxies, &out->proxies);
  if (rc == 0 && set->omega_api_keys_file[0])
    rc = omega__apikeys_load(set->omega_api_keys_file, &out->keys);
  return rc;
}

void omega__access_commit(omega_server_t *s, omega_access_t *a) {
  pthread_rwlock_wrlock(&s->access_lock);
  omega_apikeys_t *old = s->access.keys;
  s->access = *a;
  pthread_rwlock_unlock(&s->access_lock);
  a->keys = NULL;
  omega__apikeys_free(old);
}

static bool is_public(unsigned mask, const char *endpoint) {
  for (size_t i = 0; i < N_PUBLISHABLE; i++)
    if (mask & (1u << i) && strcmp(publishable[i], endpoint) == 0)
      return true;
  return false;
}

typedef struct {
  char v[1024];
  size_t len;
  bool cut;
} xff_t;

static enum MHD_Result join_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  xff_t *x = cls;
  if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
    return MHD_YES;
  const int n = snprintf(x->v + x->len, sizeof x->v - x->len, "%s%s", x->len ? "," : "", value);
  if (n < 0 || (size_t)n >= sizeof x->v - x->len) {
    x->cut = true;
    return MHD_NO;
  }
  x->len += (size_t)n;
  return MHD_YES;
}

/* The address this request's failures count against: the peer, or the client a trusted proxy
 * names. Every header of the name counts, in order (a proxy may add its own line). A chain too
 * long to read whole counts against the peer. */
static void resolve_client(omega_req_t *r, const omega_proxies_t *p) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  r->client = ci ? ci->client_addr : NULL;
  if (!p->n || !r->client)
    return;
  xff_t x = {.len = 0};
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_xff, &x);
  if (x.len && !x.cut)
    r->client = omega__proxies_client(p, r->client, x.v, &r->forwarded);
}

bool omega__req_auth_limited(omega_req_t *r) {
  omega_server_t *s = r->srv;
  long long retry = 0;
  if (!omega__auth_limit_blocked(s->auth_limit, r->client, omega__now_ns(), atomic_load(&s->auth_max_failures),
                                 &retry))
    return false;
  omega__series_add(omega__series(s->m.auth_failures, "rate_limited", NULL, NULL), 1);
  omega__respond_error(r, 429, "too_many_failures",
                       "too many failed authentications from this address (OMEGA_AUTH_MAX_FAILURES %lld a minute); "
                       "retry in %lld s",
                       atomic_load(&s->auth_max_failures), retry);
  snprintf(r->retry_after, sizeof r->retry_after, "%lld", retry);
  return true;
}

void omega__req_auth_failed(omega_req_t *r) {
  omega__auth_limit_fail(r->srv->auth_limit, r->client, omega__now_ns(), atomic_load(&r->srv->auth_max_failures));
}

static const char *const key_messages[] = {
    [OMEGA_KEY_MISSING] = "an API key is required: send Authorization: Bearer <key>",
    [OMEGA_KEY_MALFORMED] = "malformed Authorization header: expected Bearer <key>",
    [OMEGA_KEY_UNKNOWN] = "unknown API key",
};

bool omega__req_access(omega_req_t *r) {
  omega_server_t *s = r->srv;
  pthread_rwlock_rdlock(&s->access_lock);
  const omega_access_t *a = &s->access;
  resolve_client(r, &a->proxies);
  if (!r->route->scope || !a->keys || is_public(a->public_mask, r->route->name)) {
    pthread_rwlock_unlock(&s->access_lock);
    return true;
  }
  if (omega__req_auth_limited(r)) {
    pthread_rwlock_unlock(&s->access_lock);
    return false;
  }
  const char *name = NULL;
  omega_scope_t scope = 0;
  const omega_key_result_t res =
      omega__apikeys_check(a->keys, omega__req_header(r, MHD_HTTP_HEADER_AUTHORIZATION), &name, &scope);
  bool ok = false;
  if (res != OMEGA_KEY_OK) {
    omega__series_add(omega__series(s->m.auth_failures, omega__apikeys_reason(res), NULL, NULL), 1);
    omega__req_auth_failed(r);
    omega__respond_error(r, 401, "unauthorized", "%s", key_messages[res]);
    r->www_authenticate = true;
  } else if (scope < r->route->scope) {
    omega__series_add(omega__series(s->m.auth_failures, "scope", NULL, NULL), 1);
    omega__respond_error(r, 403, "forbidden", "API key %s has the read scope; %s %s needs a write key", name,
                         r->method, r->path);
  } else {
    omega__series_add(omega__series(s->m.key_requests, name, NULL, NULL), 1);
    ok = true;
  }
  pthread_rwlock_unlock(&s->access_lock);
  return ok;
}

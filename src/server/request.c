/* The checks route steps make on their request, shared so that every route answers them
 * alike: the body as a JSON object, an optional boolean field, and the HMAC signature of the gated routes (/invoke,
 * /accel/config). */
#include "server/server_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

json_t *omega__req_json(omega_req_t *r) {
  json_error_t je;
  json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  if (!doc) {
    omega__respond_error(r, 400, "bad_request", "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return NULL;
  }
  if (!json_is_object(doc)) {
    omega__respond_error(r, 422, "validation", "the request body must be a JSON object");
    json_decref(doc);
    return NULL;
  }
  return doc;
}

bool omega__req_opt_bool(omega_req_t *r, const json_t *doc, const char *key, bool def, bool *out) {
  const json_t *v = json_object_get(doc, key);
  if (!v || json_is_null(v)) {
    *out = def;
    return true;
  }
  if (!json_is_boolean(v)) {
    omega__respond_error(r, 422, "validation", "\"%s\" must be true or false", key);
    return false;
  }
  *out = json_is_true(v);
  return true;
}

/* The answer to each refusal but OMEGA_AUTH_EXPIRED, which names the window. */
static const struct {
  int status;
  const char *type, *message;
} auth_refusals[] = {
    [OMEGA_AUTH_NO_SECRET] = {503, "unavailable",
                              "authentication is not configured: set OMEGA_HMAC_SECRET_FILE (or OMEGA_HMAC_SECRET)"},
    [OMEGA_AUTH_CACHE_FULL] = {503, "unavailable",
                               "the replay cache is full: more signed requests than OMEGA_HMAC_MAX_RATE sustains, "
                               "retry later"},
    [OMEGA_AUTH_NO_MEMORY] = {503, "unavailable", "out of memory checking the signature"},
    [OMEGA_AUTH_MISSING] = {401, "unauthorized",
                            "X-Omega-Timestamp, X-Omega-Nonce and X-Omega-Signature headers are required"},
    [OMEGA_AUTH_MALFORMED] = {401, "unauthorized",
                              "malformed authentication headers (timestamp: unix seconds; nonce: 16-64 of "
                              "[A-Za-z0-9_-]; signature: v1=<64 hex>)"},
    [OMEGA_AUTH_REPLAY] = {401, "unauthorized", "nonce already used"},
    [OMEGA_AUTH_BAD_SIGNATURE] = {401, "unauthorized", "bad signature"},
};

bool omega__req_authenticate(omega_req_t *r) {
  omega_server_t *s = r->srv;
  if (omega__req_auth_limited(r))
    return false;
  /* The precise clock: time() reads the kernel's coarse one, which can still show the previous
   * second for a few milliseconds after a client's clock has moved on, and so accept a
   * timestamp one second past the window. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  omega_auth_result_t res = omega__auth_verify(
      s->auth, omega__req_header(r, "X-Omega-Timestamp"), omega__req_header(r, "X-Omega-Nonce"),
      omega__req_header(r, "X-Omega-Signature"), r->method, r->target, r->body, r->body_len, (int64_t)now.tv_sec,
      atomic_load(&s->hmac_window_s));
  if (res == OMEGA_AUTH_OK) {
    /* from now on every answer to it is signed (omega__respond) */
    snprintf(r->sign_nonce, sizeof r->sign_nonce, "%s", omega__req_header(r, "X-Omega-Nonce"));
    r->sign_response = true;
    return true;
  }
  omega__series_add(omega__series(s->m.auth_failures, omega__auth_reason(res), NULL, NULL), 1);
  /* the server's own trouble (no secret, a full cache, memory) is not the client's failure */
  if (res != OMEGA_AUTH_NO_SECRET && res != OMEGA_AUTH_CACHE_FULL && res != OMEGA_AUTH_NO_MEMORY)
    omega__req_auth_failed(r);
  if (res == OMEGA_AUTH_EXPIRED) {
    omega__respond_error(r, 401, "unauthorized", "timestamp outside the allowed window of %lld s",
                         atomic_load(&s->hmac_window_s));
  } else {
    size_t i = (size_t)res;
    if (i >= sizeof auth_refusals / sizeof auth_refusals[0] || !auth_refusals[i].type)
      i = OMEGA_AUTH_BAD_SIGNATURE;
    omega__respond_error(r, auth_refusals[i].status, auth_refusals[i].type, "%s", auth_refusals[i].message);
  }
  return false;
}

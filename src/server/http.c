/* libmicrohttpd glue: routing, body limits, responses, and the suspend / worker pool /
 * resume cycle that keeps I/O threads from ever blocking on work. */
#include "server/server_internal.h"

#include "core/alloc.h"
#include "core/log.h"
#include "server/http_head.h"
#include "server/listener.h"
#include "server/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const omega_http_route_t routes[] = {
    {"POST", "/embed", "embed", .step = omega__step_embed, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"POST", "/v1/embeddings", "v1_embeddings", .step = omega__step_openai, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"POST", "/tokenize", "tokenize", .step = omega__step_tokenize, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"POST", "/rerank", "rerank", .step = omega__step_rerank, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"POST", "/predict", "predict", .step = omega__step_predict, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"POST", "/invoke", "invoke", .step = omega__step_invoke, .needs_engine = true},
    {"GET", "/info", "info", .fn = omega__route_info, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"GET", "/health", "health", .fn = omega__route_health, .scope = OMEGA_SCOPE_READ},
    {"GET", "/ready", "ready", .fn = omega__route_ready, .scope = OMEGA_SCOPE_READ},
    {"GET", "/accel/health", "accel_health", .fn = omega__route_accel_health, .scope = OMEGA_SCOPE_READ},
    {"GET", "/metrics", "metrics", .fn = omega__route_metrics, .scope = OMEGA_SCOPE_READ},
    {"GET", "/accel/config", "accel_config", .step = omega__step_config_get},
    {"PUT", "/accel/config", "accel_config", .step = omega__step_config_put},
    /* vector search; "*" stands for one path segment, the collection's name */
    {"POST", "/collections", "collections", .step = omega__step_coll_create, .needs_engine = true, .scope = OMEGA_SCOPE_WRITE},
    {"GET", "/collections", "collections", .step = omega__step_coll_list, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"GET", "/collections/*", "collection", .step = omega__step_coll_get, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"DELETE", "/collections/*", "collection", .step = omega__step_coll_drop, .needs_engine = true, .scope = OMEGA_SCOPE_WRITE},
    {"POST", "/collections/*/upsert", "collection_upsert", .step = omega__step_coll_upsert, .needs_engine = true, .scope = OMEGA_SCOPE_WRITE},
    {"POST", "/collections/*/delete", "collection_delete", .step = omega__step_coll_delete, .needs_engine = true, .scope = OMEGA_SCOPE_WRITE},
    {"POST", "/collections/*/search", "collection_search", .step = omega__step_coll_search, .needs_engine = true, .scope = OMEGA_SCOPE_READ},
    {"POST", "/collections/*/compact", "collection_compact", .step = omega__step_coll_compact, .needs_engine = true, .scope = OMEGA_SCOPE_WRITE},
    {"POST", "/collections/*/snapshot", "collection_snapshot", .step = omega__step_coll_snapshot,
     .needs_engine = true, .scope = OMEGA_SCOPE_WRITE},
};

static const omega_http_route_t not_found = {.method = "", .path = "", .name = "not_found"};
static const omega_http_route_t bad_method = {.method = "", .path = "", .name = "method_not_allowed"};

/* A route pattern against a request path: "*" matches one non-empty segment. */
static bool path_matches(const char *pat, const char *path) {
  while (*pat && *path) {
    if (*pat == '*') {
      if (*path == '/')
        return false;
      while (*path && *path != '/')
        path++;
      pat++;
    } else if (*pat++ != *path++) {
      return false;
    }
  }
  return !*pat && !*path;
}

static const omega_http_route_t *find_route(const char *method, const char *path) {
  bool path_known = false;
  const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (!path_matches(routes[i].path, path))
      continue;
    path_known = true;
    if (strcmp(routes[i].method, m) == 0)
      return &routes[i];
  }
  return path_known ? &bad_method : &not_found;
}

static void allowed_methods(const char *path, char *buf, size_t cap) {
  size_t k = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && k < cap; i++)
    if (path_matches(routes[i].path, path))
      k += (size_t)snprintf(buf + k, cap - k, "%s%s", k ? ", " : "", routes[i].method);
}

/* ---- responses ---- */

void omega__respond(omega_req_t *r, int status, const char *content_type, char *body, size_t len) {
  if (r->responded) {
    omega__free(body);
    return;
  }
  r->status = status;
  r->content_type = content_type;
  r->resp = body;
  r->resp_len = len;
  r->responded = true;
  if (r->sign_response) {
    /* here, on the worker pool where an authenticated request's answers are made */
    snprintf(r->sign_ts, sizeof r->sign_ts, "%lld", (long long)time(NULL));
    if (omega__auth_sign_response(r->srv->auth, r->sign_ts, r->sign_nonce, status, r->target ? r->target : r->path,
                                  body, body ? len : 0, r->signature))
      r->signature[0] = '\0'; /* the secret was removed meanwhile: the client sees the answer unsigned */
  }
}

void omega__respond_buf(omega_req_t *r, int status, omega_buf_t *b) {
  if (!b->err) {
    omega__respond(r, status, "application/json", b->data, b->len);
    b->data = NULL;
    b->len = b->cap = 0;
    return;
  }
  omega__buf_free(b);
  switch (b->err) {
  case OMEGA_ENOMEM:
    omega__respond_error(r, 503, "overloaded", "out of memory building the response");
    break;
  case OMEGA_ERANGE:
    omega__respond_error(r, 500, "response_too_large",
                         "the response would exceed %zu bytes, the most one answer may hold: ask for fewer inputs, "
                         "fewer dimensions or fewer results",
                         omega__buf_limit(b));
    break;
  default:
    omega__respond_error(r, 500, "internal", "the response could not be formatted");
  }
}

void omega__respond_error(omega_req_t *r, int status, const char *type, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  omega_buf_t b = {0};
  omega__buf_error(&b, msg, type);
  if (status == 429 || status == 503)
    snprintf(r->retry_after, sizeof r->retry_after, "%lld", atomic_load(&r->srv->retry_after_s));
  if (b.err) {
    omega__buf_free(&b);
    omega__respond(r, status, "application/json", NULL, 0);
    return;
  }
  omega__respond(r, status, "application/json", b.data, b.len);
}

void omega__respond_status(omega_req_t *r, int rc, const char *what) {
  omega__respond_failure(r, rc, what, omega_errmsg());
}

void omega__respond_failure(omega_req_t *r, int rc, const char *what, const char *detail) {
  if (!detail[0])
    detail = omega_strerror(rc);
  switch (rc) {
  case OMEGA_EAGAIN:
    omega__series_add(omega__series(r->srv->m.rejected, "queue_full", NULL, NULL), 1);
    omega__respond_error(r, 429, "overloaded", "%s: %s", what, detail);
    break;
  case OMEGA_EINVAL:
  case OMEGA_EUTF8:
  case OMEGA_ERANGE:
    omega__respond_error(r, 422, "validation", "%s: %s", what, detail);
    break;
  case OMEGA_ETIMEDOUT:
    omega__series_add(omega__series(r->srv->m.timeouts, NULL, NULL, NULL), 1);
    omega__respond_error(r, 504, "timeout", "%s: deadline exceeded", what);
    break;
  case OMEGA_ECANCELED:
    if (r->deadline_ns && omega__now_ns() >= r->deadline_ns) {
      omega__series_add(omega__series(r->srv->m.timeouts, NULL, NULL, NULL), 1);
      omega__respond_error(r, 504, "timeout", "%s: deadline exceeded", what);
    } else {
      omega__respond_error(r, 503, "unavailable", "%s: canceled", what);
    }
    break;
  case OMEGA_ESHUTDOWN:
  case OMEGA_ENOMEM:
  case OMEGA_EDEVICE:
  case OMEGA_EDEVICE_OOM:
    omega__respond_error(r, 503, "unavailable", "%s: %s", what, detail);
    break;
  default:
    omega__respond_error(r, 500, "internal", "%s: %s", what, detail);
  }
}

static enum MHD_Result queue(omega_req_t *r) {
  if (!r->observed) {
    r->observed = true;
    omega__observe_request(r->srv, r);
  }
  /* MHD frees the body with the hook's free: it came from the hook */
  struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp, omega__free);
  r->resp = NULL; /* owned by MHD now */
  if (!resp)
    return MHD_NO;
  r->held = r->resp_len;
  atomic_fetch_add(&r->srv->held_bytes, (long long)r->held);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
  /* while draining, a keep-alive client must not send more on a connection about to close */
  if (r->close_after || atomic_load(&r->srv->draining))
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (r->retry_after[0])
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after);
  if (r->www_authenticate)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"omega\"");
  if (r->signature[0]) {
    MHD_add_response_header(resp, "X-Omega-Timestamp", r->sign_ts);
    MHD_add_response_header(resp, "X-Omega-Nonce", r->sign_nonce);
    MHD_add_response_header(resp, "X-Omega-Signature", r->signature);
  }
  if (r->status == 405) {
    char allow[64];
    allowed_methods(r->path, allow, sizeof allow);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  }
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

const char *omega__req_header(omega_req_t *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- asynchronous work ---- */

static void pending_add(omega_req_t *r) {
  omega_server_t *s = r->srv;
  pthread_mutex_lock(&s->pending_mu);
  r->prev_pending = NULL;
  r->next_pending = s->pending;
  if (s->pending)
    s->pending->prev_pending = r;
  s->pending = r;
  pthread_mutex_unlock(&s->pending_mu);
}

static void pending_remove(omega_req_t *r) {
  if (!r->suspended)
    return;
  omega_server_t *s = r->srv;
  pthread_mutex_lock(&s->pending_mu);
  if (r->prev_pending)
    r->prev_pending->next_pending = r->next_pending;
  else if (s->pending == r)
    s->pending = r->next_pending;
  if (r->next_pending)
    r->next_pending->prev_pending = r->prev_pending;
  r->next_pending = r->prev_pending = NULL;
  pthread_mutex_unlock(&s->pending_mu);
}

static void req_release(omega_req_t *r) {
  if (atomic_fetch_sub(&r->refs, 1) != 1)
    return;
  if (r->job)
    omega_job_release(r->job);
  if (r->ctx_free)
    r->ctx_free(r->ctx);
  pthread_mutex_destroy(&r->job_mu);
  omega__free(r->target);
  omega__free(r->body);
  omega__free(r->resp);
  omega__free(r);
}

/* Queue the response and resume the connection; after this MHD may complete the request. */
static void req_finish(omega_req_t *r) {
  pending_remove(r);
  pthread_mutex_lock(&r->job_mu);
  if (r->job) {
    omega_job_release(r->job);
    r->job = NULL;
  }
  pthread_mutex_unlock(&r->job_mu);
  r->suspended = false;
  MHD_resume_connection(r->conn);
}

typedef struct {
  omega_req_t *r;
  omega_step_fn fn;
} task_t;

static void run_task(void *arg) {
  task_t *t = arg;
  omega_req_t *r = t->r;
  omega_step_fn fn = t->fn;
  omega__free(t);
  bool pending = false;
  if (r->deadline_ns && omega__now_ns() >= r->deadline_ns) {
    omega__series_add(omega__series(r->srv->m.timeouts, NULL, NULL, NULL), 1);
    omega__respond_error(r, 504, "timeout", "deadline exceeded before the request was processed");
  } else {
    pending = fn(r);
  }
  if (!pending)
    req_finish(r);
  req_release(r);
}

static int schedule(omega_req_t *r, omega_step_fn fn, bool force) {
  task_t *t = omega__malloc(sizeof *t);
  if (!t)
    return OMEGA_ENOMEM;
  t->r = r;
  t->fn = fn;
  atomic_fetch_add(&r->refs, 1);
  int rc = omega__workq_submit(r->srv->wq, run_task, t, force);
  if (rc) {
    atomic_fetch_sub(&r->refs, 1);
    omega__free(t);
  }
  return rc;
}

void omega__req_async(omega_req_t *r, omega_step_fn fn) {
  r->suspended = true;
  pending_add(r);
  MHD_suspend_connection(r->conn);
  if (schedule(r, fn, false) != 0) {
    omega__series_add(omega__series(r->srv->m.rejected, "worker_pool_full", NULL, NULL), 1);
    omega__respond_error(r, 429, "overloaded", "the worker pool is full, retry later");
    req_finish(r);
  }
}

static void on_job_done(omega_job_t *job, void *user) {
  omega_req_t *r = user;
  if (omega_job_status(job) == 0) {
    r->job_done_seen = true;
    r->job_route = omega_route_name(omega_job_route(job));
    omega_job_timing(job, &r->job_tokenize_ms, &r->job_queue_ms, NULL);
  }
  /* formatting a response is work already admitted: it may not be refused */
  if (schedule(r, r->after_job, true) != 0) {
    omega__respond_error(r, 503, "unavailable", "out of memory");
    req_finish(r);
  }
}

int omega__req_submit(omega_req_t *r, const omega_request_t *er, omega_step_fn after) {
  omega_request_t q = *er;
  if (r->deadline_ns) {
    int64_t left = (r->deadline_ns - omega__now_ns()) / 1000000;
    q.timeout_ms = left > 0 ? (unsigned)left : 1;
  }
  r->after_job = after;
  pthread_mutex_lock(&r->job_mu);
  int rc = omega_engine_submit_request(r->srv->engine, &q, on_job_done, r, &r->job);
  pthread_mutex_unlock(&r->job_mu);
  return rc;
}

/* ---- the watchdog: deadlines and clients that went away ---- */

static bool client_gone(int fd) {
  if (fd < 0)
    return false;
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void *watchdog(void *arg) {
  omega_server_t *s = arg;
  while (!atomic_load(&s->stop_watchdog)) {
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
    int64_t now = omega__now_ns();
    pthread_mutex_lock(&s->pending_mu);
    for (omega_req_t *r = s->pending; r; r = r->next_pending) {
      pthread_mutex_lock(&r->job_mu);
      if (r->job && !r->cancel_sent && omega_job_status(r->job) == OMEGA_EAGAIN) {
        bool late = r->deadline_ns && now >= r->deadline_ns;
        if (late || client_gone(r->fd)) {
          if (!late)
            omega__series_add(omega__series(s->m.canceled, "client_gone", NULL, NULL), 1);
          omega_job_cancel(r->job);
          r->cancel_sent = true;
        }
      }
      pthread_mutex_unlock(&r->job_mu);
    }
    pthread_mutex_unlock(&s->pending_mu);
  }
  return NULL;
}

int omega__watchdog_start(omega_server_t *s) { return pthread_create(&s->watchdog, NULL, watchdog, s); }

void omega__watchdog_stop(omega_server_t *s) {
  atomic_store(&s->stop_watchdog, 1);
  pthread_join(s->watchdog, NULL);
}

/* ---- the MHD handlers ---- */

typedef struct {
  unsigned n_cl, n_te;
  const char *cl, *te;
  size_t bytes;
} head_fields_t;

static enum MHD_Result count_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  head_fields_t *h = cls;
  h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
  if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0 && h->n_cl++ == 0)
    h->cl = value;
  else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 && h->n_te++ == 0)
    h->te = value;
  return MHD_YES;
}

/* Every request, a keep-alive connection's later ones too (the listener checks only the
 * first head): an ambiguous body length, a head past the limits, or no room for one more
 * answer to a slow reader is answered here, before the body is read, and the connection
 * closes so that no unread body bytes can run as a request of their own. */
static bool head_acceptable(omega_req_t *r, const char *target) {
  omega_server_t *s = r->srv;
  head_fields_t h = {0};
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_field, &h);
  omega_head_verdict_t v;
  const size_t max_head = (size_t)s->boot.omega_http_max_head_bytes;
  const size_t max_target = (size_t)s->boot.omega_http_max_target_bytes;
  if (omega__http_framing_check(h.n_cl, h.cl, h.n_te, h.te, &v) == OMEGA_HEAD_BAD) {
    omega__series_add(omega__series(s->m.rejected, "ambiguous_framing", NULL, NULL), 1);
    omega__respond_error(r, v.status, v.type, "%s", v.message);
  } else if (strlen(target) > max_target) {
    omega__respond_error(r, 414, "uri_too_long", "the request target exceeds %zu bytes", max_target);
  } else if (h.bytes + strlen(target) > max_head) {
    omega__respond_error(r, 431, "header_too_large", "the request head exceeds %zu bytes", max_head);
  } else if (r->route->needs_engine && atomic_load(&s->held_bytes) > atomic_load(&s->max_held_bytes)) {
    /* the data plane only: health, readiness and metrics stay answerable (their answers are small) */
    omega__series_add(omega__series(s->m.rejected, "slow_readers", NULL, NULL), 1);
    omega__respond_error(r, 503, "overloaded",
                         "answers of %lld bytes wait for clients that do not read them (OMEGA_MAX_HELD_RESPONSE_BYTES "
                         "%lld); retry later",
                         atomic_load(&s->held_bytes), atomic_load(&s->max_held_bytes));
    return false;
  } else {
    return true;
  }
  r->close_after = true;
  return false;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **req_cls) {
  (void)version;
  omega_server_t *s = cls;
  omega_req_t *r = *req_cls;
  if (!r) /* on_request_target ran out of memory */
    return MHD_NO;
  if (!r->srv) {
    r->srv = s;
    r->conn = conn;
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->job_mu, NULL);
    r->method = method;
    r->fd = -1;
    r->start_ns = omega__now_ns();
    snprintf(r->path, sizeof r->path, "%s", url);
    r->route = find_route(method, url);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
      r->fd = ci->connect_fd;
    atomic_fetch_add(&s->inflight, 1);
    *req_cls = r;
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)atomic_load(&s->body_timeout_s));
    if (!head_acceptable(r, r->target ? r->target : url))
      return queue(r);
    /* before the body is read: a client without a key does not get to send one */
    if (!omega__req_access(r)) {
      r->close_after = true;
      return queue(r);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long max = atomic_load(&s->max_body);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)max) {
      omega__series_add(omega__series(s->m.rejected, "body_too_large", NULL, NULL), 1);
      omega__respond_error(r, 413, "payload_too_large", "request body of %s bytes exceeds the %lld-byte limit", cl,
                           max);
      return queue(r);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->too_large || r->responded)
      return MHD_YES;
    long long max = atomic_load(&s->max_body);
    if ((long long)(r->body_len + n) > max) {
      r->too_large = true;
      omega__free(r->body);
      r->body = NULL;
      r->body_len = 0;
      return MHD_YES;
    }
    if (r->body_len + n + 1 > r->body_cap) {
      size_t nc = r->body_cap ? r->body_cap * 2 : 4096;
      while (nc < r->body_len + n + 1)
        nc *= 2;
      char *nb = omega__realloc(r->body, nc);
      if (!nb)
        return MHD_NO;
      r->body = nb;
      r->body_cap = nc;
    }
    memcpy(r->body + r->body_len, upload_data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
  }
  /* the request is complete, or asynchronous work has finished */
  if (r->responded)
    return r->suspended ? MHD_YES : queue(r);
  if (r->suspended)
    return MHD_YES;
  if (r->too_large) {
    omega__series_add(omega__series(s->m.rejected, "body_too_large", NULL, NULL), 1);
    omega__respond_error(r, 413, "payload_too_large", "request body exceeds the %lld-byte limit",
                         atomic_load(&s->max_body));
  } else if (r->route == &not_found) {
    omega__respond_error(r, 404, "not_found", "no route %s %s", method, url);
  } else if (r->route == &bad_method) {
    omega__respond_error(r, 405, "method_not_allowed", "%s is not allowed on %s", method, url);
  } else if (r->route->needs_engine && atomic_load(&s->draining)) {
    omega__series_add(omega__series(s->m.rejected, "draining", NULL, NULL), 1);
    omega__respond_error(r, 503, "unavailable", "the server is shutting down");
  } else if (r->route->needs_engine && !atomic_load(&s->ready)) {
    omega__respond_error(r, 503, "unavailable", "not ready: %s", s->not_ready_reason);
  } else {
    const char *tm = omega__req_header(r, "X-Omega-Timeout-Ms");
    long long ms = atomic_load(&s->request_timeout_ms);
    if (tm) {
      char *end;
      long long v = strtoll(tm, &end, 10);
      if (*tm && !*end && v > 0 && v <= 3600000)
        ms = v;
      else {
        omega__respond_error(r, 400, "bad_request", "X-Omega-Timeout-Ms must be an integer in [1, 3600000]");
        return queue(r);
      }
    }
    r->deadline_ns = r->start_ns + ms * 1000000;
    if (r->route->step)
      omega__req_async(r, r->route->step);
    else
      r->route->fn(r);
  }
  if (r->suspended)
    return MHD_YES;
  return r->responded ? queue(r) : MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe) {
  (void)toe;
  omega_server_t *s = cls;
  omega_req_t *r = *req_cls;
  if (!r)
    return;
  *req_cls = NULL;
  if (!r->srv) { /* the request ended before the handler saw it */
    omega__free(r->target);
    omega__free(r);
    return;
  }
  if (!r->observed) /* no response was queued (the client went away first) */
    omega__observe_request(s, r);
  atomic_fetch_sub(&s->held_bytes, (long long)r->held);
  /* the connection waits for its next request now */
  MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)atomic_load(&s->idle_timeout_s));
  req_release(r);
  atomic_fetch_sub(&s->inflight, 1);
}

/* libmicrohttpd hands the handler the path decoded and without its query; signatures cover
 * the target as the client sent it, which only this callback sees. It runs once per request,
 * before the handler, and what it returns is the request's *req_cls: the request starts here. */
static void *on_request_target(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)cls;
  (void)conn;
  omega_req_t *r = omega__calloc(1, sizeof *r);
  if (r && !(r->target = omega__strdup(uri))) {
    omega__free(r);
    r = NULL;
  }
  return r;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n')
    msg[--n] = '\0';
  omega__log(OMEGA_LOG_DEBUG, "http: %s", msg);
}

static void connection_notice(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                              enum MHD_ConnectionNotificationCode code) {
  (void)socket_ctx;
  omega_server_t *s = cls;
  if (!s->listener) /* the daemon's start, before the listener exists: nothing is connected yet */
    return;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *addr = ci ? ci->client_addr : NULL;
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    omega__listener_conn_opened(s->listener, addr);
  else
    omega__listener_conn_closed(s->listener, addr);
}

/* poll(): with a thread pool, libmicrohttpd 0.9.75 (Debian 12) can abort in MHD_quiesce_daemon
 * under epoll. The daemon has no listening socket (the listener accepts and hands connections
 * over), so nothing quiesces it now, but poll() is kept: it has no descriptor-number limit, and
 * each I/O thread polls only its share of the connections. The daemon's own connection limit
 * sits above OMEGA_MAX_CONNECTIONS so that the listener is the one that refuses, with an answer. */
struct MHD_Daemon *omega__http_start(omega_server_t *s) {
  const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
  const unsigned threads = (unsigned)s->boot.omega_io_threads;
  /* Each connection's memory pool: twice the head limit, so that heads somewhat over it still
   * reach the handler and get Omega's JSON answer, and at least libmicrohttpd's 32 KiB default.
   * Past 32 KiB libmicrohttpd maps every pool with mmap, which cost a new connection about
   * 0.2 ms here (bench/http_connect.py), so the 16 KiB default head limit stays within it. */
  const size_t twice = (size_t)s->boot.omega_http_max_head_bytes * 2;
  const size_t memory = twice > 32768 ? twice : 32768;
  struct MHD_OptionItem tls[] = {
      {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, omega__tls_callback()},
      {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)OMEGA_TLS_PRIORITIES},
      {MHD_OPTION_END, 0, NULL},
  };
  return MHD_start_daemon(flags | (s->tls ? MHD_USE_TLS : 0), 0, NULL, NULL, handler, s, MHD_OPTION_THREAD_POOL_SIZE,
                          threads, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                          connection_notice, s, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)(s->boot.omega_max_connections + 64), MHD_OPTION_CONNECTION_TIMEOUT,
                          (unsigned)s->boot.omega_http_idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_request_target,
                          NULL, MHD_OPTION_ARRAY, s->tls ? tls : &tls[2], MHD_OPTION_END);
}

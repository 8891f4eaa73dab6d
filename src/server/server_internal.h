/* Internals shared by the server's files: the server, a request, the response helpers. */
#ifndef OMEGA_SERVER_INTERNAL_H
#define OMEGA_SERVER_INTERNAL_H

#include "config/config.h"
#include "core/clock.h"
#include "core/error_internal.h"
#include "core/workq.h"
#include "metrics/metrics.h"
#include "omega/engine.h"
#include "server/apikeys.h"
#include "server/auth.h"
#include "server/auth_limit.h"
#include "server/buf.h"
#include "server/collections.h"
#include "server/proxies.h"

#include <jansson.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct omega_server omega_server_t;
typedef struct omega_req omega_req_t;
/* only by pointer: listener.c reads the server, so listener.h is not included here */
typedef struct omega_listener omega_listener_t;

/* A route handler runs on an I/O thread with the whole body read and answers at once
 * (omega__respond*): for the quick answers (health, readiness, info, metrics) only. */
typedef void (*omega_route_fn)(omega_req_t *r);
/* A step runs on the worker pool. It answers (omega__respond*) and returns false, or it
 * submits engine work with omega__req_submit and returns true: from then on the request
 * belongs to the job's completion and the step must not touch it again. */
typedef bool (*omega_step_fn)(omega_req_t *r);

/* A row of the route table (http.c): exactly one of fn and step is set. A route with a step
 * suspends the connection and runs the step on the worker pool (omega__req_async). */
typedef struct {
  const char *method, *path, *name; /* name: the endpoint label in metrics */
  omega_route_fn fn;
  omega_step_fn step;
  bool needs_engine; /* 503 until the model is loaded and warmed */
  omega_scope_t scope; /* the API key scope it needs when keys are set; 0: not gated by keys (HMAC's) */
} omega_http_route_t;

/* The API keys and the endpoints left public, replaced whole on reload. */
typedef struct {
  omega_apikeys_t *keys; /* NULL: the data plane is open */
  unsigned public_mask;
  omega_proxies_t proxies;
} omega_access_t;

struct omega_req {
  omega_server_t *srv;
  struct MHD_Connection *conn;
  const omega_http_route_t *route;
  const char *method;
  char path[256];
  char *target; /* the request target exactly as sent (path and query): what a signature covers */
  char *body;
  size_t body_len, body_cap;
  bool too_large;
  int64_t start_ns, deadline_ns;
  /* the response, set once */
  int status;
  char *resp;
  size_t resp_len;
  const char *content_type;
  char retry_after[16];
  bool responded;
  /* asynchronous work */
  atomic_int refs; /* the connection's, plus one per scheduled step */
  bool suspended;
  pthread_mutex_t job_mu; /* guards job against the watchdog */
  omega_job_t *job;
  bool cancel_sent;
  omega_step_fn after_job; /* formats the response on the worker pool */
  int fd;                   /* the client socket, to notice a client that went away */
  void *ctx;                /* per-route parsed state */
  void (*ctx_free)(void *ctx);
  omega_req_t *next_pending, *prev_pending;
  /* what the finished job reported, for metrics */
  bool observed; /* counted in the metrics (when its response was queued, so a client that
                    has its answer sees it counted) */
  size_t held; /* bytes of the queued response counted in held_bytes */
  bool close_after; /* answer with Connection: close */
  bool www_authenticate; /* a 401 for a missing or wrong API key */
  const struct sockaddr *client; /* the address failed authentications count against (NULL: none) */
  struct sockaddr_storage forwarded; /* the client named by a trusted proxy */
  bool sign_response;     /* an HMAC-authenticated request: its answer is signed too */
  char sign_nonce[65];
  char sign_ts[24], signature[68];
  bool job_done_seen;
  const char *job_route;
  double job_tokenize_ms, job_queue_ms;
};

typedef struct {
  omega_family_t *http_requests, *http_duration, *route, *cuda_oom, *latency, *batch_size, *batch_tokens;
  omega_family_t *vram, *maybe_async, *queue_depth, *queue_capacity, *queue_jobs, *inflight_req, *inflight_seq, *queue_ms;
  omega_family_t *tokenize_ms, *inference_ms, *tokens, *sequences, *batches, *ceiling, *ceiling_p95;
  omega_family_t *ceiling_moves, *run_p95, *reloads, *auth_failures, *pool_busy, *pool_queued, *pool_rejected, *rss;
  omega_family_t *nonce_entries, *nonce_capacity, *key_requests;
  omega_family_t *build_info, *ready, *rejected, *timeouts, *canceled, *uptime, *max_batch, *target_latency;
  omega_family_t *gpu_healthy, *gpu_events, *gpu_vram_total, *gpu_util, *gpu_temp, *gpu_power;
  omega_family_t *conns, *conns_refused, *held_bytes, *tls_expiry, *tls_reloads, *heap;
} omega_server_metrics_t;

struct omega_server {
  omega_config_t *cfg;
  omega_settings_t boot; /* the settings at start-up (restart-only values live here) */
  /* hot values read on every request */
  _Atomic long long max_body, max_inputs, retry_after_s, request_timeout_ms, hmac_window_s, drain_grace_ms;
  _Atomic long long search_max_k, search_max_batch, tokenize_max_tokens;
  _Atomic long long max_conns_per_ip, head_timeout_ms, body_timeout_s, idle_timeout_s, max_held_bytes;
  _Atomic long long held_bytes; /* of responses queued and not yet sent whole */
  omega_colls_t *colls; /* vector collections */
  omega_engine_t *engine;
  omega_engine_info_t info;
  char model_name[256];
  atomic_int ready, draining;
  char not_ready_reason[512];
  omega_workq_t *wq;
  omega_auth_t *auth;
  pthread_rwlock_t access_lock;
  omega_access_t access; /* under access_lock */
  omega_auth_limit_t *auth_limit;
  struct omega_tls *tls; /* HTTPS; NULL: plain HTTP */
  _Atomic long long auth_max_failures;
  omega_metrics_t *metrics;
  omega_server_metrics_t m;
  struct MHD_Daemon *daemon;   /* serves the connections the listener hands over */
  omega_listener_t *listener; /* accepts them */
  int port;                   /* the bound TCP port */
  pthread_mutex_t pending_mu;
  omega_req_t *pending; /* suspended requests, watched for deadlines and gone clients */
  atomic_long inflight;
  pthread_t watchdog;
  atomic_int stop_watchdog;
  int64_t start_ns;
  char accel_reason[512];
  unsigned long long last_ceiling_up, last_ceiling_down;
};

/* Responses: JSON bodies; errors are {"error": "...", "error_type": "..."}. */
void omega__respond(omega_req_t *r, int status, const char *content_type, char *body, size_t len);
void omega__respond_buf(omega_req_t *r, int status, omega_buf_t *b);
void omega__respond_error(omega_req_t *r, int status, const char *type, const char *fmt, ...) OMEGA_PRINTF(4, 5);
/* An engine or library error as the matching HTTP status, with this thread's detail
 * (omega_errmsg): only for a failure of a call this step just made. */
void omega__respond_status(omega_req_t *r, int rc, const char *what);
/* The same with the detail given: a job's failure answers with omega_job_errmsg, recorded
 * by the engine thread that failed it; this worker's message is another task's. */
void omega__respond_failure(omega_req_t *r, int rc, const char *what, const char *detail);
/* Run a step on the worker pool; the connection is suspended meanwhile. Answers 429 when
 * the pool is full. */
void omega__req_async(omega_req_t *r, omega_step_fn fn);
/* Submit an engine request whose completion runs `after` on the worker pool. On success
 * the calling step must return true at once. */
int omega__req_submit(omega_req_t *r, const omega_request_t *er, omega_step_fn after);
const char *omega__req_header(omega_req_t *r, const char *name);
int omega__watchdog_start(omega_server_t *s);
void omega__watchdog_stop(omega_server_t *s);
/* The libmicrohttpd daemon, without a listening socket of its own (the listener feeds it). */
struct MHD_Daemon *omega__http_start(omega_server_t *s);

/* Route handlers, answering on the I/O thread (routes_admin.c). */
void omega__route_health(omega_req_t *r);
void omega__route_ready(omega_req_t *r);
void omega__route_info(omega_req_t *r);
void omega__route_accel_health(omega_req_t *r);
void omega__route_metrics(omega_req_t *r);
/* Route steps, on the worker pool: embeddings (routes_embed.c), settings (routes_admin.c),
 * collections (routes_index.c, routes_search.c). */
bool omega__step_embed(omega_req_t *r);
bool omega__step_openai(omega_req_t *r);
bool omega__step_rerank(omega_req_t *r);
bool omega__step_predict(omega_req_t *r);
bool omega__step_tokenize(omega_req_t *r);
bool omega__step_invoke(omega_req_t *r);
bool omega__step_config_get(omega_req_t *r);
bool omega__step_config_put(omega_req_t *r);
bool omega__step_coll_create(omega_req_t *r);
bool omega__step_coll_list(omega_req_t *r);
bool omega__step_coll_get(omega_req_t *r);
bool omega__step_coll_drop(omega_req_t *r);
bool omega__step_coll_upsert(omega_req_t *r);
bool omega__step_coll_delete(omega_req_t *r);
bool omega__step_coll_search(omega_req_t *r);
bool omega__step_coll_compact(omega_req_t *r);
bool omega__step_coll_snapshot(omega_req_t *r);
/* /invoke's "search" action, a step that takes over the parsed body. */
bool omega__invoke_search(omega_req_t *r, json_t *doc);
/* Request checks for steps (request.c). The body as a JSON object; answers 400 (not JSON) or
 * 422 (not an object) and returns NULL. */
json_t *omega__req_json(omega_req_t *r);
/* doc[key] as a boolean, def when absent or null; answers 422 naming the key and returns false
 * when it is something else. */
bool omega__req_opt_bool(omega_req_t *r, const json_t *doc, const char *key, bool def, bool *out);
/* The HMAC headers; answers 401/503 itself and returns false on failure. */
bool omega__req_authenticate(omega_req_t *r);

/* Access (access.c). Load the keys file and the public endpoints of these settings (nothing
 * changes yet); make them the server's (taking over a's keys). */
int omega__access_prepare(const omega_settings_t *set, omega_access_t *a);
void omega__access_commit(omega_server_t *s, omega_access_t *a);
/* Whether the request may use its route: the API key and its scope. Answers 401, 403 or 429
 * itself and returns false otherwise. */
bool omega__req_access(omega_req_t *r);
/* The client's address has no failed authentication left: answers 429 and returns true. */
bool omega__req_auth_limited(omega_req_t *r);
/* Count a failed authentication against the client's address. */
void omega__req_auth_failed(omega_req_t *r);

/* Metrics. */
void omega__server_metrics_init(omega_server_t *s);
void omega__observe_request(omega_server_t *s, const omega_req_t *r);
void omega__observe_batch(const omega_batch_info_t *b, void *user);
void omega__server_metrics_model(omega_server_t *s);
/* Settings -> engine tuning and the server's hot values. */
int omega__server_apply(const omega_settings_t *old, const omega_settings_t *now, void *user);
/* Read the HMAC secret from OMEGA_HMAC_SECRET_FILE or OMEGA_HMAC_SECRET. */
int omega__server_load_secret(omega_server_t *s, const omega_settings_t *set);

#endif

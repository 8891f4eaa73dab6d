/* The server's metrics: the families, per-request and per-batch observations, and the
 * gauges sampled at each scrape. */
#include "backend/gpu/gpu.h"
#include "omega/version.h"
#include "server/server_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const double ms_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000};
static const double fine_ms_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000};
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
static const double token_buckets[] = {16, 64, 256, 1024, 4096, 16384, 65536};

#define N(a) (sizeof a / sizeof a[0])

static double rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* GPU series: the engine's backend state, and per-device NVML readings when the driver
 * has NVML (every GPU it sees, used by Omega or not). */
static void collect_gpu(omega_server_t *s) {
  omega_server_metrics_t *m = &s->m;
  omega_nvml_gpu_t g[16];
  const int n = omega__nvml_query(g, 16);
  for (int i = 0; i < n && i < 16; i++) {
    char idx[8];
    snprintf(idx, sizeof idx, "%d", i);
    omega_series_set(omega_series(m->vram, idx, NULL, NULL), (double)g[i].mem_used / 1048576.0);
    omega_series_set(omega_series(m->gpu_vram_total, idx, NULL, NULL), (double)g[i].mem_total / 1048576.0);
    omega_series_set(omega_series(m->gpu_util, idx, NULL, NULL), g[i].util_gpu);
    omega_series_set(omega_series(m->gpu_temp, idx, NULL, NULL), g[i].temperature_c);
    omega_series_set(omega_series(m->gpu_power, idx, NULL, NULL), g[i].power_mw / 1000.0);
  }
  if (!s->engine)
    return;
  omega_engine_accel_t a;
  omega_engine_accel(s->engine, &a);
  const bool on_gpu = strcmp(a.device, "gpu") == 0;
  omega_series_set(omega_series(m->gpu_healthy, NULL, NULL, NULL), on_gpu && a.healthy);
  omega_series_set(omega_series(m->cuda_oom, NULL, NULL, NULL), (double)a.oom);
  omega_series_set(omega_series(m->gpu_events, "oom", NULL, NULL), (double)a.oom);
  omega_series_set(omega_series(m->gpu_events, "sticky", NULL, NULL), (double)a.sticky);
  omega_series_set(omega_series(m->gpu_events, "error", NULL, NULL), (double)a.errors);
  omega_series_set(omega_series(m->gpu_events, "fallback_batch", NULL, NULL), (double)a.fallback_batches);
  omega_series_set(omega_series(m->gpu_events, "memory_pressure", NULL, NULL), (double)a.pressure_events);
  omega_series_set(omega_series(m->gpu_events, "graph_capture", NULL, NULL), (double)a.graph_captures);
  omega_series_set(omega_series(m->gpu_events, "graph_replay", NULL, NULL), (double)a.graph_replays);
  omega_series_set(omega_series(m->gpu_events, "graph_failure", NULL, NULL), (double)a.graph_failures);
  omega_series_set(omega_series(m->gpu_events, "buffer_growth", NULL, NULL), (double)a.buffer_growths);
  if (on_gpu && n == 0 && a.mem_total) { /* no NVML: what CUDA reports for our device */
    omega_series_set(omega_series(m->vram, "0", NULL, NULL), (double)(a.mem_total - a.mem_free) / 1048576.0);
    omega_series_set(omega_series(m->gpu_vram_total, "0", NULL, NULL), (double)a.mem_total / 1048576.0);
  }
}

static void collect(void *user) {
  omega_server_t *s = user;
  omega_server_metrics_t *m = &s->m;
  omega_series_set(omega_series(m->uptime, NULL, NULL, NULL), (double)(omega__now_ns() - s->start_ns) / 1e9);
  omega_series_set(omega_series(m->rss, NULL, NULL, NULL), rss_bytes());
  omega_series_set(omega_series(m->inflight_req, NULL, NULL, NULL), (double)atomic_load(&s->inflight));
  omega_series_set(omega_series(m->conns, NULL, NULL, NULL), (double)omega__listener_open(s->listener));
  omega_series_set(omega_series(m->held_bytes, NULL, NULL, NULL), (double)atomic_load(&s->held_bytes));
  omega_series_set(omega_series(m->ready, NULL, NULL, NULL), atomic_load(&s->ready) && !atomic_load(&s->draining));
  size_t busy, queued;
  unsigned long long rejected;
  omega__workq_stats(s->wq, &busy, &queued, &rejected);
  omega_series_set(omega_series(m->pool_busy, NULL, NULL, NULL), (double)busy);
  omega_series_set(omega_series(m->pool_queued, NULL, NULL, NULL), (double)queued);
  omega_series_set(omega_series(m->pool_rejected, NULL, NULL, NULL), (double)rejected);
  size_t nonces, nonce_cap;
  omega__auth_cache_stats(s->auth, &nonces, &nonce_cap);
  omega_series_set(omega_series(m->nonce_entries, NULL, NULL, NULL), (double)nonces);
  omega_series_set(omega_series(m->nonce_capacity, NULL, NULL, NULL), (double)nonce_cap);
  omega_cfg_stats_t cs;
  omega_config_stats(s->cfg, &cs);
  omega_series_set(omega_series(m->reloads, "ok", NULL, NULL), (double)(cs.reloads_ok + cs.runtime_ok));
  omega_series_set(omega_series(m->reloads, "failed", NULL, NULL), (double)(cs.reloads_failed + cs.runtime_failed));
  omega_settings_t set;
  omega_config_get(s->cfg, &set);
  omega_series_set(omega_series(m->max_batch, NULL, NULL, NULL), (double)set.embed_max_batch);
  omega_series_set(omega_series(m->target_latency, NULL, NULL, NULL), (double)set.accel_target_lat_ms);
  collect_gpu(s);
  if (!s->engine || !atomic_load(&s->ready))
    return;
  omega_engine_stats_t st;
  omega_engine_stats(s->engine, &st);
  omega_series_set(omega_series(m->queue_depth, NULL, NULL, NULL), (double)st.queued_seqs);
  omega_series_set(omega_series(m->queue_jobs, NULL, NULL, NULL), (double)st.queued_jobs);
  omega_series_set(omega_series(m->inflight_seq, NULL, NULL, NULL), (double)st.inflight_seqs);
  omega_series_set(omega_series(m->ceiling, NULL, NULL, NULL), (double)st.batch_ceiling);
  omega_series_set(omega_series(m->ceiling_p95, NULL, NULL, NULL), st.p95_ms);
  omega_series_set(omega_series(m->run_p95, NULL, NULL, NULL), st.run_p95_ms);
  omega_series_set(omega_series(m->ceiling_moves, "up", NULL, NULL), (double)st.ceiling_up);
  omega_series_set(omega_series(m->ceiling_moves, "down", NULL, NULL), (double)st.ceiling_down);
  omega_series_set(omega_series(m->maybe_async, "sync", NULL, NULL), (double)st.jobs_sync);
  omega_series_set(omega_series(m->maybe_async, "async", NULL, NULL), (double)st.jobs_async);
}

void omega__server_metrics_init(omega_server_t *s) {
  omega_metrics_t *r = s->metrics;
  omega_server_metrics_t *m = &s->m;
  const char *ep_status[] = {"endpoint", "status", NULL}, *ep[] = {"endpoint", NULL}, *route[] = {"route", NULL},
             *gpu[] = {"gpu_index", NULL}, *result[] = {"result", NULL}, *reason[] = {"reason", NULL},
             *dir[] = {"direction", NULL}, *build[] = {"version", "backend", "model", NULL};
  m->http_requests = omega_metrics_family(r, "omega_http_requests_total", "HTTP requests by endpoint and status code.",
                                          OMEGA_METRIC_COUNTER, ep_status, NULL, 0);
  m->http_duration = omega_metrics_family(r, "omega_http_request_duration_ms", "HTTP request duration by endpoint.",
                                          OMEGA_METRIC_HISTOGRAM, ep, ms_buckets, N(ms_buckets));
  m->route = omega_metrics_family(r, "omega_embed_route_total",
                                  "Embedding requests by the backend that served them (gpu, cpu, fallback = CPU after "
                                  "a GPU failure).",
                                  OMEGA_METRIC_COUNTER, route, NULL, 0);
  m->cuda_oom = omega_metrics_family(r, "omega_embed_cuda_oom_total", "Batches that hit CUDA out-of-memory.",
                                     OMEGA_METRIC_COUNTER, NULL, NULL, 0);
  m->latency = omega_metrics_family(r, "omega_embed_latency_ms", "Embedding request latency, queueing included.",
                                    OMEGA_METRIC_HISTOGRAM, NULL, ms_buckets, N(ms_buckets));
  m->batch_size = omega_metrics_family(r, "omega_embed_batch_size", "Sequences per batch.", OMEGA_METRIC_HISTOGRAM,
                                       NULL, batch_buckets, N(batch_buckets));
  m->batch_tokens = omega_metrics_family(r, "omega_embed_batch_tokens", "Tokens per batch.", OMEGA_METRIC_HISTOGRAM,
                                         NULL, token_buckets, N(token_buckets));
  m->vram = omega_metrics_family(r, "omega_gpu_vram_used_mb", "GPU memory in use, MB (no series without a GPU).",
                                 OMEGA_METRIC_GAUGE, gpu, NULL, 0);
  m->maybe_async = omega_metrics_family(r, "omega_maybe_async_routed_total",
                                        "Engine jobs by how the caller takes the result: sync (waits) or async "
                                        "(completion callback).",
                                        OMEGA_METRIC_COUNTER, route, NULL, 0);
  m->queue_depth = omega_metrics_family(r, "omega_queue_depth", "Sequences waiting for a batch.", OMEGA_METRIC_GAUGE,
                                        NULL, NULL, 0);
  m->queue_jobs = omega_metrics_family(r, "omega_queue_requests", "Requests waiting for a batch.", OMEGA_METRIC_GAUGE,
                                       NULL, NULL, 0);
  m->inflight_req = omega_metrics_family(r, "omega_inflight_requests", "HTTP requests being processed.",
                                         OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->inflight_seq = omega_metrics_family(r, "omega_inflight_sequences", "Sequences in the running batch window.",
                                         OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->queue_ms = omega_metrics_family(r, "omega_queue_time_ms", "Time from submission to the first batch of a request.",
                                     OMEGA_METRIC_HISTOGRAM, NULL, fine_ms_buckets, N(fine_ms_buckets));
  m->tokenize_ms = omega_metrics_family(r, "omega_tokenize_time_ms", "Tokenisation time per request.",
                                        OMEGA_METRIC_HISTOGRAM, NULL, fine_ms_buckets, N(fine_ms_buckets));
  m->inference_ms = omega_metrics_family(r, "omega_inference_time_ms", "Model run time per batch.",
                                         OMEGA_METRIC_HISTOGRAM, route, fine_ms_buckets, N(fine_ms_buckets));
  m->tokens = omega_metrics_family(r, "omega_tokens_processed_total", "Tokens run through the model.",
                                   OMEGA_METRIC_COUNTER, NULL, NULL, 0);
  m->sequences = omega_metrics_family(r, "omega_sequences_processed_total", "Sequences run through the model.",
                                      OMEGA_METRIC_COUNTER, NULL, NULL, 0);
  m->batches = omega_metrics_family(r, "omega_batches_total", "Batches run, by backend.", OMEGA_METRIC_COUNTER, route,
                                    NULL, 0);
  m->ceiling = omega_metrics_family(r, "omega_batch_ceiling", "Current adaptive batch ceiling (sequences).",
                                    OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->ceiling_p95 = omega_metrics_family(r, "omega_batch_window_p95_ms",
                                        "p95 request latency in the latency controller's window.", OMEGA_METRIC_GAUGE,
                                        NULL, NULL, 0);
  m->run_p95 = omega_metrics_family(r, "omega_batch_run_p95_ms",
                                    "p95 batch run time in the latency controller's window.", OMEGA_METRIC_GAUGE, NULL,
                                    NULL, 0);
  m->ceiling_moves = omega_metrics_family(r, "omega_batch_ceiling_changes_total",
                                          "Moves of the adaptive batch ceiling.", OMEGA_METRIC_COUNTER, dir, NULL, 0);
  m->max_batch = omega_metrics_family(r, "omega_batch_max", "EMBED_MAX_BATCH now.", OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->target_latency = omega_metrics_family(r, "omega_target_latency_ms", "ACCEL_TARGET_LAT_MS now.",
                                           OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->reloads = omega_metrics_family(r, "omega_config_reloads_total",
                                    "Configuration reloads and runtime changes by result.", OMEGA_METRIC_COUNTER,
                                    result, NULL, 0);
  m->auth_failures = omega_metrics_family(r, "omega_auth_failures_total", "Rejected HMAC authentications by reason.",
                                          OMEGA_METRIC_COUNTER, reason, NULL, 0);
  m->nonce_entries = omega_metrics_family(r, "omega_auth_nonce_cache_entries",
                                          "Nonces the replay cache remembers now; at its capacity signed requests get "
                                          "503.",
                                          OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->nonce_capacity = omega_metrics_family(r, "omega_auth_nonce_cache_capacity",
                                           "Nonces the replay cache can remember (OMEGA_HMAC_MAX_RATE x (2 x "
                                           "OMEGA_HMAC_WINDOW_S + 1), or OMEGA_NONCE_CACHE).",
                                           OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->pool_busy = omega_metrics_family(r, "omega_worker_pool_busy", "Worker pool threads running a task.",
                                      OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->pool_queued = omega_metrics_family(r, "omega_worker_pool_queued", "Tasks waiting for the worker pool.",
                                        OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->pool_rejected = omega_metrics_family(r, "omega_worker_pool_rejected_total", "Tasks refused by a full worker pool.",
                                          OMEGA_METRIC_COUNTER, NULL, NULL, 0);
  m->rss = omega_metrics_family(r, "omega_process_resident_memory_bytes", "Resident memory of the process.",
                                OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->build_info = omega_metrics_family(r, "omega_build_info", "Build and model information (always 1).",
                                       OMEGA_METRIC_GAUGE, build, NULL, 0);
  m->ready = omega_metrics_family(r, "omega_ready", "1 when the server accepts embedding requests.", OMEGA_METRIC_GAUGE,
                                  NULL, NULL, 0);
  m->rejected = omega_metrics_family(r, "omega_requests_rejected_total", "Requests refused before any work, by reason.",
                                     OMEGA_METRIC_COUNTER, reason, NULL, 0);
  m->timeouts = omega_metrics_family(r, "omega_requests_timed_out_total", "Requests answered 504.",
                                     OMEGA_METRIC_COUNTER, NULL, NULL, 0);
  m->canceled = omega_metrics_family(r, "omega_requests_canceled_total", "Requests whose work was dropped, by reason.",
                                     OMEGA_METRIC_COUNTER, reason, NULL, 0);
  const char *event[] = {"event", NULL};
  m->gpu_healthy = omega_metrics_family(r, "omega_gpu_healthy",
                                        "1 while the GPU serves; 0 after a sticky CUDA error (restart needed) or "
                                        "without a GPU.",
                                        OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  m->gpu_events = omega_metrics_family(r, "omega_gpu_events_total",
                                       "GPU backend events: oom, sticky, error, fallback_batch, memory_pressure, graph_capture, graph_replay, "
                                       "graph_failure, buffer_growth (a slot reallocating past its start-up preparation).",
                                       OMEGA_METRIC_COUNTER, event, NULL, 0);
  m->gpu_vram_total = omega_metrics_family(r, "omega_gpu_vram_total_mb", "GPU memory size, MB.", OMEGA_METRIC_GAUGE,
                                           gpu, NULL, 0);
  m->gpu_util = omega_metrics_family(r, "omega_gpu_utilization_percent", "GPU utilisation (NVML).",
                                     OMEGA_METRIC_GAUGE, gpu, NULL, 0);
  m->gpu_temp = omega_metrics_family(r, "omega_gpu_temperature_celsius", "GPU temperature (NVML).",
                                     OMEGA_METRIC_GAUGE, gpu, NULL, 0);
  m->gpu_power = omega_metrics_family(r, "omega_gpu_power_watts", "GPU power draw (NVML).", OMEGA_METRIC_GAUGE, gpu,
                                      NULL, 0);
  m->uptime = omega_metrics_family(r, "omega_uptime_seconds", "Seconds since start.", OMEGA_METRIC_GAUGE, NULL, NULL,
                                   0);
  m->conns = omega_metrics_family(r, "omega_http_connections", "Open client connections.", OMEGA_METRIC_GAUGE, NULL,
                                  NULL, 0);
  m->conns_refused = omega_metrics_family(r, "omega_http_connections_refused_total",
                                          "Connections closed before a request ran, by reason (limit, "
                                          "per_address_limit, head_timeout, malformed, head_too_large).",
                                          OMEGA_METRIC_COUNTER, reason, NULL, 0);
  m->held_bytes = omega_metrics_family(r, "omega_http_held_response_bytes",
                                       "Bytes of answers queued and not yet sent whole.", OMEGA_METRIC_GAUGE, NULL, NULL, 0);
  /* series that must exist from the first scrape */
  static const char *const refusals[] = {"limit", "per_address_limit", "head_timeout", "malformed", "head_too_large"};
  for (int i = 0; i < 5; i++)
    omega_series(m->conns_refused, refusals[i], NULL, NULL);
  static const char *const routes[] = {"gpu", "cpu", "fallback"};
  for (int i = 0; i < 3; i++)
    omega_series(m->route, routes[i], NULL, NULL);
  omega_series(m->cuda_oom, NULL, NULL, NULL);
  omega_series(m->gpu_healthy, NULL, NULL, NULL);
  static const char *const events[] = {"oom", "sticky", "error", "fallback_batch", "memory_pressure"};
  for (int i = 0; i < 5; i++)
    omega_series(m->gpu_events, events[i], NULL, NULL);
  omega_series(m->latency, NULL, NULL, NULL);
  omega_series(m->batch_size, NULL, NULL, NULL);
  omega_series(m->timeouts, NULL, NULL, NULL);
  omega_series(m->tokens, NULL, NULL, NULL);
  omega_series(m->sequences, NULL, NULL, NULL);
  omega_series(m->auth_failures, "bad_signature", NULL, NULL);
  omega_series(m->auth_failures, "nonce_cache_full", NULL, NULL);
  omega_series(m->rejected, "queue_full", NULL, NULL);
  omega_series(m->canceled, "client_gone", NULL, NULL);
  omega_metrics_on_collect(r, collect, s);
}

void omega__server_metrics_model(omega_server_t *s) {
  omega_series_set(omega_series(s->m.build_info, omega_version(), s->info.backend, s->model_name), 1);
}

void omega__observe_request(omega_server_t *s, const omega_req_t *r) {
  char status[8];
  snprintf(status, sizeof status, "%d", r->status ? r->status : 500);
  const char *ep = r->route ? r->route->name : "unknown";
  const double ms = (double)(omega__now_ns() - r->start_ns) / 1e6;
  omega_series_add(omega_series(s->m.http_requests, ep, status, NULL), 1);
  omega_series_observe(omega_series(s->m.http_duration, ep, NULL, NULL), ms);
  if (!r->job_done_seen || r->status != 200)
    return;
  omega_series_observe(omega_series(s->m.latency, NULL, NULL, NULL), ms);
  omega_series_add(omega_series(s->m.route, r->job_route, NULL, NULL), 1);
  omega_series_observe(omega_series(s->m.queue_ms, NULL, NULL, NULL), r->job_queue_ms);
  omega_series_observe(omega_series(s->m.tokenize_ms, NULL, NULL, NULL), r->job_tokenize_ms);
}

void omega__observe_batch(const omega_batch_info_t *b, void *user) {
  omega_server_t *s = user;
  omega_series_observe(omega_series(s->m.batch_size, NULL, NULL, NULL), (double)b->n_seq);
  omega_series_observe(omega_series(s->m.batch_tokens, NULL, NULL, NULL), (double)b->tokens);
  omega_series_observe(omega_series(s->m.inference_ms, b->route, NULL, NULL), b->infer_ms);
  omega_series_add(omega_series(s->m.tokens, NULL, NULL, NULL), (double)b->tokens);
  omega_series_add(omega_series(s->m.sequences, NULL, NULL, NULL), (double)b->n_seq);
  omega_series_add(omega_series(s->m.batches, b->route, NULL, NULL), 1);
}

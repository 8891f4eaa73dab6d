/* The server's metrics: the families, per-request and per-batch observations, and the
 * gauges sampled at each scrape. */
#include "backend/gpu/gpu.h"
#include "core/heap.h"
#include "omega/version.h"
#include "server/listener.h"
#include "server/tls.h"
#include "server/server_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* 15: the p95 SLO (15 ms) is a bucket boundary, so histogram_quantile resolves it exactly */
static const double ms_buckets[] = {1, 2, 5, 10, 15, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000};
static const double fine_ms_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000};
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
static const double token_buckets[] = {16, 64, 256, 1024, 4096, 16384, 65536};

#define N(a) (sizeof a / sizeof a[0])

static const char *const by_endpoint_status[] = {"endpoint", "status", NULL},
                         *const by_endpoint[] = {"endpoint", NULL}, *const by_route[] = {"route", NULL},
                         *const by_gpu[] = {"gpu_index", NULL}, *const by_result[] = {"result", NULL},
                         *const by_reason[] = {"reason", NULL}, *const by_direction[] = {"direction", NULL},
                         *const by_event[] = {"event", NULL}, *const by_key[] = {"key", NULL},
                         *const by_state[] = {"state", NULL},
                         *const build_labels[] = {"version", "backend", "model", NULL};

/* the series that must exist from the first scrape */
static const char *const routes[] = {"gpu", "cpu", "fallback", NULL};
static const char *const gpu_events[] = {"oom", "sticky", "error", "fallback_batch", "memory_pressure", NULL};
static const char *const auth_reasons[] = {"bad_signature", "nonce_cache_full", "unknown_key", "rate_limited", NULL};
static const char *const heap_states[] = {"in_use", "free", NULL};
static const char *const queue_full[] = {"queue_full", NULL}, *const client_gone[] = {"client_gone", NULL};
static const char *const refusals[] = {"limit", "per_address_limit", "head_timeout", "malformed", "head_too_large",
                                       NULL};

#define SLOT(field) offsetof(omega_server_metrics_t, field)
#define COUNTER .type = OMEGA_METRIC_COUNTER
#define GAUGE .type = OMEGA_METRIC_GAUGE
#define HISTOGRAM .type = OMEGA_METRIC_HISTOGRAM
#define BUCKETS(a) .buckets = a, .n_buckets = N(a)
#define ONE .series = OMEGA_METRICS_UNLABELLED

/* Every family, in the order /metrics shows them. */
static const omega_family_def_t families[] = {
    {SLOT(http_requests), "omega_http_requests_total", "HTTP requests by endpoint and status code.", COUNTER,
     .labels = by_endpoint_status},
    {SLOT(http_duration), "omega_http_request_duration_ms", "HTTP request duration by endpoint.", HISTOGRAM,
     .labels = by_endpoint, BUCKETS(ms_buckets)},
    {SLOT(route), "omega_embed_route_total",
     "Embedding requests by the backend that served them (gpu, cpu, fallback = CPU after a GPU failure).", COUNTER,
     .labels = by_route, .series = routes},
    {SLOT(cuda_oom), "omega_embed_cuda_oom_total", "Batches that hit CUDA out-of-memory.", COUNTER, ONE},
    {SLOT(latency), "omega_embed_latency_ms", "Embedding request latency, queueing included.", HISTOGRAM,
     BUCKETS(ms_buckets), ONE},
    {SLOT(batch_size), "omega_embed_batch_size", "Sequences per batch.", HISTOGRAM, BUCKETS(batch_buckets), ONE},
    {SLOT(batch_tokens), "omega_embed_batch_tokens", "Tokens per batch.", HISTOGRAM, BUCKETS(token_buckets)},
    {SLOT(vram), "omega_gpu_vram_used_mb", "GPU memory in use, MB (no series without a GPU).", GAUGE, .labels = by_gpu},
    {SLOT(maybe_async), "omega_maybe_async_routed_total",
     "Engine jobs by how the caller takes the result: sync (waits) or async (completion callback).", COUNTER,
     .labels = by_route},
    {SLOT(queue_depth), "omega_queue_depth", "Sequences waiting for a batch.", GAUGE},
    {SLOT(queue_capacity), "omega_queue_capacity", "EMBED_QUEUE_CAPACITY now: sequences that may wait; past it 429.",
     GAUGE},
    {SLOT(queue_jobs), "omega_queue_requests", "Requests waiting for a batch.", GAUGE},
    {SLOT(inflight_req), "omega_inflight_requests", "HTTP requests being processed.", GAUGE},
    {SLOT(inflight_seq), "omega_inflight_sequences", "Sequences in the running batch window.", GAUGE},
    {SLOT(queue_ms), "omega_queue_time_ms", "Time from submission to the first batch of a request.", HISTOGRAM,
     BUCKETS(fine_ms_buckets)},
    {SLOT(tokenize_ms), "omega_tokenize_time_ms", "Tokenisation time per request.", HISTOGRAM,
     BUCKETS(fine_ms_buckets)},
    {SLOT(inference_ms), "omega_inference_time_ms", "Model run time per batch.", HISTOGRAM, .labels = by_route,
     BUCKETS(fine_ms_buckets)},
    {SLOT(tokens), "omega_tokens_processed_total", "Tokens run through the model.", COUNTER, ONE},
    {SLOT(sequences), "omega_sequences_processed_total", "Sequences run through the model.", COUNTER, ONE},
    {SLOT(batches), "omega_batches_total", "Batches run, by backend.", COUNTER, .labels = by_route},
    {SLOT(ceiling), "omega_batch_ceiling", "Current adaptive batch ceiling (sequences).", GAUGE},
    {SLOT(ceiling_p95), "omega_batch_window_p95_ms", "p95 request latency in the latency controller's window.", GAUGE},
    {SLOT(run_p95), "omega_batch_run_p95_ms", "p95 batch run time in the latency controller's window.", GAUGE},
    {SLOT(ceiling_moves), "omega_batch_ceiling_changes_total", "Moves of the adaptive batch ceiling.", COUNTER,
     .labels = by_direction},
    {SLOT(max_batch), "omega_batch_max", "EMBED_MAX_BATCH now.", GAUGE},
    {SLOT(target_latency), "omega_target_latency_ms", "ACCEL_TARGET_LAT_MS now.", GAUGE},
    {SLOT(reloads), "omega_config_reloads_total", "Configuration reloads and runtime changes by result.", COUNTER,
     .labels = by_result},
    {SLOT(auth_failures), "omega_auth_failures_total",
     "Rejected authentications by reason: HMAC (bad_signature, replayed_nonce, ...), API keys (missing_key, "
     "malformed_key, unknown_key, scope) and rate_limited (an address past OMEGA_AUTH_MAX_FAILURES).",
     COUNTER, .labels = by_reason, .series = auth_reasons},
    {SLOT(key_requests), "omega_api_key_requests_total", "Requests admitted by API key, by the key's name.", COUNTER,
     .labels = by_key},
    {SLOT(nonce_entries), "omega_auth_nonce_cache_entries",
     "Nonces the replay cache remembers now; at its capacity signed requests get 503.", GAUGE},
    {SLOT(nonce_capacity), "omega_auth_nonce_cache_capacity",
     "Nonces the replay cache can remember (OMEGA_HMAC_MAX_RATE x (2 x OMEGA_HMAC_WINDOW_S + 1), or "
     "OMEGA_NONCE_CACHE).",
     GAUGE},
    {SLOT(pool_busy), "omega_worker_pool_busy", "Worker pool threads running a task.", GAUGE},
    {SLOT(pool_queued), "omega_worker_pool_queued", "Tasks waiting for the worker pool.", GAUGE},
    {SLOT(pool_rejected), "omega_worker_pool_rejected_total", "Tasks refused by a full worker pool.", COUNTER},
    {SLOT(rss), "omega_process_resident_memory_bytes", "Resident memory of the process.", GAUGE},
    {SLOT(heap), "omega_process_heap_bytes",
     "The C library heap: in_use (allocated) and free (held for reuse; its pages are handed back to the system "
     "every 10 s while more than 32 MiB lie free).",
     GAUGE, .labels = by_state, .series = heap_states},
    {SLOT(build_info), "omega_build_info", "Build and model information (always 1).", GAUGE, .labels = build_labels},
    {SLOT(ready), "omega_ready", "1 when the server accepts embedding requests.", GAUGE},
    {SLOT(rejected), "omega_requests_rejected_total", "Requests refused before any work, by reason.", COUNTER,
     .labels = by_reason, .series = queue_full},
    {SLOT(timeouts), "omega_requests_timed_out_total", "Requests answered 504.", COUNTER, ONE},
    {SLOT(canceled), "omega_requests_canceled_total", "Requests whose work was dropped, by reason.", COUNTER,
     .labels = by_reason, .series = client_gone},
    {SLOT(gpu_healthy), "omega_gpu_healthy",
     "1 while the GPU serves; 0 after a sticky CUDA error (restart needed) or without a GPU.", GAUGE, ONE},
    {SLOT(gpu_events), "omega_gpu_events_total",
     "GPU backend events: oom, sticky, error, fallback_batch, memory_pressure, graph_capture, graph_replay, "
     "graph_failure, buffer_growth (a slot reallocating past its start-up preparation).",
     COUNTER, .labels = by_event, .series = gpu_events},
    {SLOT(gpu_vram_total), "omega_gpu_vram_total_mb", "GPU memory size, MB.", GAUGE, .labels = by_gpu},
    {SLOT(gpu_util), "omega_gpu_utilization_percent", "GPU utilisation (NVML).", GAUGE, .labels = by_gpu},
    {SLOT(gpu_temp), "omega_gpu_temperature_celsius", "GPU temperature (NVML).", GAUGE, .labels = by_gpu},
    {SLOT(gpu_power), "omega_gpu_power_watts", "GPU power draw (NVML).", GAUGE, .labels = by_gpu},
    {SLOT(uptime), "omega_uptime_seconds", "Seconds since start.", GAUGE},
    {SLOT(conns), "omega_http_connections", "Open client connections.", GAUGE},
    {SLOT(conns_refused), "omega_http_connections_refused_total",
     "Connections closed before a request ran, by reason (limit, per_address_limit, head_timeout, malformed, "
     "head_too_large).",
     COUNTER, .labels = by_reason, .series = refusals},
    {SLOT(held_bytes), "omega_http_held_response_bytes", "Bytes of answers queued and not yet sent whole.", GAUGE},
    {SLOT(tls_expiry), "omega_tls_certificate_expiry_timestamp_seconds",
     "When the HTTPS certificate in use expires, unix seconds (no series without HTTPS).", GAUGE},
    {SLOT(tls_reloads), "omega_tls_certificate_reloads_total",
     "Reloads of the HTTPS certificate files by result (changed, unchanged, rejected).", COUNTER,
     .labels = by_result},
};


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
    omega__series_set(omega__series(m->vram, idx, NULL, NULL), (double)g[i].mem_used / 1048576.0);
    omega__series_set(omega__series(m->gpu_vram_total, idx, NULL, NULL), (double)g[i].mem_total / 1048576.0);
    omega__series_set(omega__series(m->gpu_util, idx, NULL, NULL), g[i].util_gpu);
    omega__series_set(omega__series(m->gpu_temp, idx, NULL, NULL), g[i].temperature_c);
    omega__series_set(omega__series(m->gpu_power, idx, NULL, NULL), g[i].power_mw / 1000.0);
  }
  if (!s->engine)
    return;
  omega_engine_accel_t a;
  omega_engine_accel(s->engine, &a);
  const bool on_gpu = strcmp(a.device, "gpu") == 0;
  omega__series_set(omega__series(m->gpu_healthy, NULL, NULL, NULL), on_gpu && a.healthy);
  omega__series_set(omega__series(m->cuda_oom, NULL, NULL, NULL), (double)a.oom);
  omega__series_set(omega__series(m->gpu_events, "oom", NULL, NULL), (double)a.oom);
  omega__series_set(omega__series(m->gpu_events, "sticky", NULL, NULL), (double)a.sticky);
  omega__series_set(omega__series(m->gpu_events, "error", NULL, NULL), (double)a.errors);
  omega__series_set(omega__series(m->gpu_events, "fallback_batch", NULL, NULL), (double)a.fallback_batches);
  omega__series_set(omega__series(m->gpu_events, "memory_pressure", NULL, NULL), (double)a.pressure_events);
  omega__series_set(omega__series(m->gpu_events, "graph_capture", NULL, NULL), (double)a.graph_captures);
  omega__series_set(omega__series(m->gpu_events, "graph_replay", NULL, NULL), (double)a.graph_replays);
  omega__series_set(omega__series(m->gpu_events, "graph_failure", NULL, NULL), (double)a.graph_failures);
  omega__series_set(omega__series(m->gpu_events, "buffer_growth", NULL, NULL), (double)a.buffer_growths);
  if (on_gpu && n == 0 && a.mem_total) { /* no NVML: what CUDA reports for our device */
    omega__series_set(omega__series(m->vram, "0", NULL, NULL), (double)(a.mem_total - a.mem_free) / 1048576.0);
    omega__series_set(omega__series(m->gpu_vram_total, "0", NULL, NULL), (double)a.mem_total / 1048576.0);
  }
}

static void collect(void *user) {
  omega_server_t *s = user;
  omega_server_metrics_t *m = &s->m;
  omega__series_set(omega__series(m->uptime, NULL, NULL, NULL), (double)(omega__now_ns() - s->start_ns) / 1e9);
  omega__series_set(omega__series(m->rss, NULL, NULL, NULL), rss_bytes());
  omega_heap_stats_t heap;
  if (omega__heap_stats(&heap)) {
    omega__series_set(omega__series(m->heap, "in_use", NULL, NULL), (double)heap.in_use);
    omega__series_set(omega__series(m->heap, "free", NULL, NULL), (double)heap.free);
  }
  if (s->tls)
    omega__series_set(omega__series(m->tls_expiry, NULL, NULL, NULL), (double)omega__tls_not_after(s->tls));
  omega__series_set(omega__series(m->inflight_req, NULL, NULL, NULL), (double)atomic_load(&s->inflight));
  omega__series_set(omega__series(m->conns, NULL, NULL, NULL), (double)omega__listener_open(s->listener));
  omega__series_set(omega__series(m->held_bytes, NULL, NULL, NULL), (double)atomic_load(&s->held_bytes));
  omega__series_set(omega__series(m->ready, NULL, NULL, NULL), atomic_load(&s->ready) && !atomic_load(&s->draining));
  size_t busy, queued;
  unsigned long long rejected;
  omega__workq_stats(s->wq, &busy, &queued, &rejected);
  omega__series_set(omega__series(m->pool_busy, NULL, NULL, NULL), (double)busy);
  omega__series_set(omega__series(m->pool_queued, NULL, NULL, NULL), (double)queued);
  omega__series_set(omega__series(m->pool_rejected, NULL, NULL, NULL), (double)rejected);
  size_t nonces, nonce_cap;
  omega__auth_cache_stats(s->auth, &nonces, &nonce_cap);
  omega__series_set(omega__series(m->nonce_entries, NULL, NULL, NULL), (double)nonces);
  omega__series_set(omega__series(m->nonce_capacity, NULL, NULL, NULL), (double)nonce_cap);
  omega_cfg_stats_t cs;
  omega__config_stats(s->cfg, &cs);
  omega__series_set(omega__series(m->reloads, "ok", NULL, NULL), (double)(cs.reloads_ok + cs.runtime_ok));
  omega__series_set(omega__series(m->reloads, "failed", NULL, NULL), (double)(cs.reloads_failed + cs.runtime_failed));
  omega_settings_t set;
  omega__config_get(s->cfg, &set);
  omega__series_set(omega__series(m->max_batch, NULL, NULL, NULL), (double)set.embed_max_batch);
  omega__series_set(omega__series(m->queue_capacity, NULL, NULL, NULL), (double)set.embed_queue_capacity);
  omega__series_set(omega__series(m->target_latency, NULL, NULL, NULL), (double)set.accel_target_lat_ms);
  collect_gpu(s);
  if (!s->engine || !atomic_load(&s->ready))
    return;
  omega_engine_stats_t st;
  omega_engine_stats(s->engine, &st);
  omega__series_set(omega__series(m->queue_depth, NULL, NULL, NULL), (double)st.queued_seqs);
  omega__series_set(omega__series(m->queue_jobs, NULL, NULL, NULL), (double)st.queued_jobs);
  omega__series_set(omega__series(m->inflight_seq, NULL, NULL, NULL), (double)st.inflight_seqs);
  omega__series_set(omega__series(m->ceiling, NULL, NULL, NULL), (double)st.batch_ceiling);
  omega__series_set(omega__series(m->ceiling_p95, NULL, NULL, NULL), st.p95_ms);
  omega__series_set(omega__series(m->run_p95, NULL, NULL, NULL), st.run_p95_ms);
  omega__series_set(omega__series(m->ceiling_moves, "up", NULL, NULL), (double)st.ceiling_up);
  omega__series_set(omega__series(m->ceiling_moves, "down", NULL, NULL), (double)st.ceiling_down);
  omega__series_set(omega__series(m->maybe_async, "sync", NULL, NULL), (double)st.jobs_sync);
  omega__series_set(omega__series(m->maybe_async, "async", NULL, NULL), (double)st.jobs_async);
}

void omega__server_metrics_init(omega_server_t *s) {
  omega__metrics_register(s->metrics, families, sizeof families / sizeof families[0], &s->m);
  omega__metrics_on_collect(s->metrics, collect, s);
}

void omega__server_metrics_model(omega_server_t *s) {
  omega__series_set(omega__series(s->m.build_info, omega_version(), s->info.backend, s->model_name), 1);
}

void omega__observe_request(omega_server_t *s, const omega_req_t *r) {
  char status[8];
  snprintf(status, sizeof status, "%d", r->status ? r->status : 500);
  const char *ep = r->route ? r->route->name : "unknown";
  const double ms = (double)(omega__now_ns() - r->start_ns) / 1e6;
  omega__series_add(omega__series(s->m.http_requests, ep, status, NULL), 1);
  omega__series_observe(omega__series(s->m.http_duration, ep, NULL, NULL), ms);
  if (!r->job_done_seen || r->status != 200)
    return;
  omega__series_observe(omega__series(s->m.latency, NULL, NULL, NULL), ms);
  omega__series_add(omega__series(s->m.route, r->job_route, NULL, NULL), 1);
  omega__series_observe(omega__series(s->m.queue_ms, NULL, NULL, NULL), r->job_queue_ms);
  omega__series_observe(omega__series(s->m.tokenize_ms, NULL, NULL, NULL), r->job_tokenize_ms);
}

void omega__observe_batch(const omega_batch_info_t *b, void *user) {
  omega_server_t *s = user;
  omega__series_observe(omega__series(s->m.batch_size, NULL, NULL, NULL), (double)b->n_seq);
  omega__series_observe(omega__series(s->m.batch_tokens, NULL, NULL, NULL), (double)b->tokens);
  omega__series_observe(omega__series(s->m.inference_ms, omega_route_name(b->route), NULL, NULL), b->infer_ms);
  omega__series_add(omega__series(s->m.tokens, NULL, NULL, NULL), (double)b->tokens);
  omega__series_add(omega__series(s->m.sequences, NULL, NULL, NULL), (double)b->n_seq);
  omega__series_add(omega__series(s->m.batches, omega_route_name(b->route), NULL, NULL), 1);
}

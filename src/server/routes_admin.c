/* Operational endpoints: liveness, readiness, model info, /accel/health, /metrics and the
 * HMAC-gated /accel/config. */
#include "backend/gpu/gpu.h"
#include "core/alloc.h"
#include "omega/version.h"
#include "server/server_internal.h"

#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void respond_text(omega_req_t *r, int status, const char *type, const char *text) {
  omega__respond(r, status, type, omega__strdup(text), strlen(text));
}

void omega__route_health(omega_req_t *r) { respond_text(r, 200, "application/json", "{\"status\":\"ok\"}"); }

void omega__route_ready(omega_req_t *r) {
  omega_server_t *s = r->srv;
  if (atomic_load(&s->draining))
    omega__respond_error(r, 503, "unavailable", "draining: the server is shutting down");
  else if (!atomic_load(&s->ready))
    omega__respond_error(r, 503, "unavailable", "not ready: %s", s->not_ready_reason);
  else
    respond_text(r, 200, "application/json", "{\"status\":\"ready\"}");
}

/* What EMBED_CPU_PRECISION=auto measured and chose; null when the precision was set. */
static void cpu_auto_object(omega_buf_t *b, const omega_cpu_auto_t *a) {
  if (!a) {
    omega__buf_puts(b, "null");
    return;
  }
  omega__buf_printf(b, "{\"chosen\":\"%s\",\"min_cosine\":%.9g,\"cached\":%s,\"probe_texts\":%zu,\"probe_tokens\":%zu,"
                       "\"trials\":[",
                    omega_cpu_precision_name(a->chosen), a->min_cosine, a->cached ? "true" : "false", a->probe_texts,
                    a->probe_tokens);
  for (size_t i = 0; i < a->n_trials; i++) {
    const omega_cpu_trial_t *t = &a->trials[i];
    omega__buf_printf(b, "%s{\"precision\":\"%s\",\"ms\":%.4f,\"min_cosine\":%.9f,\"accepted\":%s}", i ? "," : "",
                      omega_cpu_precision_name(t->precision), t->ms, t->min_cosine, t->accepted ? "true" : "false");
  }
  omega__buf_puts(b, "],\"cache\":");
  omega__buf_json_str(b, a->cache, strlen(a->cache));
  omega__buf_puts(b, "}");
}

void omega__route_info(omega_req_t *r) {
  omega_server_t *s = r->srv;
  const omega_engine_info_t *i = &s->info;
  omega_settings_t set;
  omega__config_get(s->cfg, &set);
  omega_buf_t b = {0};
  omega__buf_puts(&b, "{\"model_id\":");
  omega__buf_json_str(&b, s->model_name, strlen(s->model_name));
  omega__buf_puts(&b, ",\"model_dir\":");
  omega__buf_json_str(&b, i->model_dir, strlen(i->model_dir));
  /* TEI's model_type: an embedding model's pooling, or a cross-encoder's labels */
  if (i->classifier) {
    omega__buf_printf(&b, ",\"model_type\":{\"%s\":{\"id2label\":{", i->dim == 1 ? "reranker" : "classifier");
    for (int k = 0; k < i->dim; k++) {
      const char *label = omega_engine_label(s->engine, (size_t)k);
      omega__buf_printf(&b, "%s\"%d\":", k ? "," : "", k);
      omega__buf_json_str(&b, label ? label : "", label ? strlen(label) : 0);
    }
    omega__buf_printf(&b, "}}},\"classifier\":\"%s\",\"score_activation\":\"%s\"", i->classifier, i->score_activation);
  } else {
    omega__buf_printf(&b, ",\"model_type\":{\"embedding\":{\"pooling\":\"%s\"}}", i->pooling);
  }
  omega__buf_printf(&b,
                   ",\"architecture\":\"%s\","
                   "\"model_dtype\":\"float32\",\"weights_dtype\":\"%s\",\"dim\":%d,\"normalize\":%s,"
                   "\"max_input_length\":%d,\"hidden_size\":%d,\"num_layers\":%d,\"num_heads\":%d,"
                   "\"vocab_size\":%d,\"parameters\":%zu,\"max_batch_tokens\":%lld,\"max_client_batch_size\":%lld,"
                   "\"backend\":\"%s\",\"cpu_precision\":\"%s\",\"threads\":%d,\"version\":\"%s\"",
                   i->architecture, i->weight_dtype, i->dim, i->normalize ? "true" : "false",
                   i->max_seq_length, i->hidden_size, i->num_layers, i->num_heads, i->vocab_size, i->n_params,
                   set.embed_max_batch_tokens, set.omega_max_inputs, i->backend, i->cpu_precision, i->threads,
                   omega_version());
  /* Omega's additions: the tokenizer's kind and the prompts a request may name */
  omega__buf_printf(&b, ",\"tokenizer\":\"%s\",\"prompts\":{", i->tokenizer ? i->tokenizer : "");
  for (size_t k = 0; k < i->n_prompts; k++) {
    const char *name, *text;
    if (omega_engine_prompt(s->engine, k, &name, &text))
      break;
    omega__buf_puts(&b, k ? "," : "");
    omega__buf_json_str(&b, name, strlen(name));
    omega__buf_puts(&b, ":");
    omega__buf_json_str(&b, text, strlen(text));
  }
  omega__buf_puts(&b, "},\"default_prompt_name\":");
  if (i->default_prompt_name)
    omega__buf_json_str(&b, i->default_prompt_name, strlen(i->default_prompt_name));
  else
    omega__buf_puts(&b, "null");
  omega__buf_puts(&b, ",\"cpu_precision_auto\":");
  cpu_auto_object(&b, i->cpu_auto);
  omega__buf_puts(&b, "}");
  omega__respond_buf(r, 200, &b);
}

void omega__route_metrics(omega_req_t *r) {
  char *text;
  size_t len;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return;
  }
  omega__metrics_write(r->srv->metrics, f);
  fclose(f);
  /* the body is freed by omega__free, so it moves from libc's heap into the hook's */
  char *body = omega__malloc(len ? len : 1);
  if (body)
    memcpy(body, text, len);
  free(text); /* libc: open_memstream's buffer */
  if (!body) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return;
  }
  omega__respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
}

static double metric(omega_family_t *f, const char *label) {
  return omega__series_value(omega__series(f, label, NULL, NULL));
}

/* The CPU flags that matter to Omega's kernels, as the kernel reports them. */
static void cpu_features(omega_buf_t *b, const omega_engine_info_t *info) {
  static const char *const want[] = {"sse4_2",     "avx",         "avx2",      "fma",        "f16c",
                                     "avx512f",    "avx512bw",    "avx512vl",  "avx512_vnni", "avx512_bf16",
                                     "avx512_fp16", "avx_vnni",   "amx_tile",  "amx_bf16",   "amx_int8"};
  char model[256] = "unknown", *flags = NULL;
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[8192];
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = '\0';
    } else if (!flags && strncmp(line, "flags", 5) == 0) {
      flags = omega__strdup(line);
    }
  }
  if (f)
    fclose(f);
  omega__buf_puts(b, "{\"model\":");
  omega__buf_json_str(b, model, strlen(model));
  omega__buf_puts(b, ",\"features\":[");
  int k = 0;
  for (size_t i = 0; flags && i < sizeof want / sizeof want[0]; i++) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s", want[i]);
    const char *p = strstr(flags, pat);
    size_t l = strlen(pat);
    if (p && (p[l] == ' ' || p[l] == '\n' || p[l] == '\0'))
      omega__buf_printf(b, "%s\"%s\"", k++ ? "," : "", want[i]);
  }
  omega__buf_printf(b, "],\"threads\":%d,\"precision\":\"%s\",\"precision_auto\":", info->threads,
                    info->cpu_precision ? info->cpu_precision : "");
  cpu_auto_object(b, info->cpu_auto);
  omega__buf_puts(b, "}");
  omega__free(flags);
}

/* Effective settings (secrets redacted), as {"NAME": "value", ...}. */
static void settings_object(omega_buf_t *b, omega_config_t *cfg) {
  omega__buf_puts(b, "{");
  for (size_t i = 0; i < omega__cfg_count; i++) {
    char v[1100];
    omega__config_value(cfg, i, true, v, sizeof v, NULL);
    omega__buf_printf(b, "%s\"%s\":", i ? "," : "", omega__cfg_table[i].name);
    omega__buf_json_str(b, v, strlen(v));
  }
  omega__buf_puts(b, "}");
}

/* The device block: what was asked for, what serves, why, and the GPU's state. */
static void accel_device(omega_buf_t *b, omega_server_t *s, const char *requested) {
  omega_engine_accel_t a = {0};
  if (s->engine)
    omega_engine_accel(s->engine, &a);
  const bool gpu = a.device && strcmp(a.device, "gpu") == 0;
  omega__buf_printf(b, "\"device\":{\"requested\":\"%s\",\"active\":\"%s\",\"gpu_usable\":%s,\"reason\":", requested,
                   gpu ? (a.healthy ? "gpu" : "cpu") : "cpu", gpu && a.healthy ? "true" : "false");
  const char *why = s->engine ? a.reason : s->accel_reason;
  if (gpu && !a.healthy)
    why = "the GPU failed with a sticky error; serving on the CPU";
  omega__buf_json_str(b, why, strlen(why));
  if (gpu) {
    omega__buf_puts(b, ",\"gpu\":{\"name\":");
    omega__buf_json_str(b, a.gpu_name, strlen(a.gpu_name));
    omega__buf_printf(b,
                     ",\"compute_capability\":\"%d.%d\",\"dtype\":\"%s\",\"simulated\":%s,\"healthy\":%s,"
                     "\"needs_restart\":%s,\"slots_max\":%d,\"oom\":%llu,\"sticky_errors\":%llu,\"errors\":%llu,"
                     "\"fallback_batches\":%llu,\"memory_pressure_events\":%llu,\"mem_free_bytes\":%zu,"
                     "\"mem_total_bytes\":%zu,\"activation_bytes\":%zu,\"buffer_growths\":%llu,"
                     "\"cuda_graphs\":{\"captures\":%llu,\"replays\":%llu,\"failures\":%llu},\"plugin\":",
                     a.cc_major, a.cc_minor, a.dtype ? a.dtype : "", a.simulated ? "true" : "false",
                     a.healthy ? "true" : "false", a.needs_restart ? "true" : "false", a.slots_max, a.oom, a.sticky,
                     a.errors, a.fallback_batches, a.pressure_events, a.mem_free, a.mem_total, a.buffer_bytes,
                     a.buffer_growths, a.graph_captures, a.graph_replays, a.graph_failures);
    omega__buf_json_str(b, a.plugin ? a.plugin : "", a.plugin ? strlen(a.plugin) : 0);
    omega__buf_puts(b, ",\"last_error\":");
    omega__buf_json_str(b, a.last_error, strlen(a.last_error));
    omega__buf_puts(b, "}");
  }
  omega__buf_puts(b, "},");
}

/* Every GPU NVML sees ([] without NVML). */
static void nvml_gpus(omega_buf_t *b) {
  omega_nvml_gpu_t g[16];
  const int n = omega__nvml_query(g, 16);
  omega__buf_puts(b, "[");
  for (int i = 0; i < n && i < 16; i++) {
    omega__buf_printf(b, "%s{\"index\":%d,\"name\":", i ? "," : "", i);
    omega__buf_json_str(b, g[i].name, strlen(g[i].name));
    omega__buf_printf(b,
                     ",\"vram_used_mb\":%.1f,\"vram_total_mb\":%.1f,\"utilization_percent\":%u,"
                     "\"memory_utilization_percent\":%u,\"temperature_c\":%u,\"power_w\":%.1f}",
                     (double)g[i].mem_used / 1048576.0, (double)g[i].mem_total / 1048576.0, g[i].util_gpu,
                     g[i].util_mem, g[i].temperature_c, g[i].power_mw / 1000.0);
  }
  omega__buf_puts(b, "]");
}

void omega__route_accel_health(omega_req_t *r) {
  omega_server_t *s = r->srv;
  omega_server_metrics_t *m = &s->m;
  omega__metrics_collect(s->metrics); /* the same sampled values /metrics shows */
  omega_settings_t set;
  omega__config_get(s->cfg, &set);
  bool ready = atomic_load(&s->ready), draining = atomic_load(&s->draining);
  omega_buf_t b = {0};
  omega__buf_printf(&b, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%.1f,",
                   draining ? "draining" : ready ? "ok" : "starting", omega_version(), metric(m->uptime, NULL));
  accel_device(&b, s, omega_accel_mode_name(s->boot.omega_accel));
  omega__buf_printf(&b,
                   "\"routes\":{\"gpu\":%.0f,\"cpu\":%.0f,\"fallback\":%.0f},\"cuda_oom_total\":%.0f,"
                   "\"maybe_async\":{\"sync\":%.0f,\"async\":%.0f},",
                   metric(m->route, "gpu"), metric(m->route, "cpu"), metric(m->route, "fallback"),
                   metric(m->cuda_oom, NULL), metric(m->maybe_async, "sync"), metric(m->maybe_async, "async"));
  omega__buf_printf(&b,
                   "\"batcher\":{\"adaptive\":%s,\"batch_ceiling\":%.0f,\"max_batch\":%.0f,"
                   "\"target_latency_ms\":%.0f,\"window_p95_ms\":%.3f,\"window_batch_run_p95_ms\":%.3f,\"queue_depth\":%.0f,\"queued_requests\":%.0f,"
                   "\"inflight_sequences\":%.0f,\"inflight_requests\":%.0f,\"batches\":%.0f,\"ceiling_up\":%.0f,"
                   "\"ceiling_down\":%.0f},",
                   set.embed_adaptive_batching ? "true" : "false", metric(m->ceiling, NULL),
                   metric(m->max_batch, NULL), metric(m->target_latency, NULL), metric(m->ceiling_p95, NULL),
                   metric(m->run_p95, NULL),
                   metric(m->queue_depth, NULL), metric(m->queue_jobs, NULL), metric(m->inflight_seq, NULL),
                   metric(m->inflight_req, NULL), metric(m->batches, "cpu") + metric(m->batches, "gpu") + metric(m->batches, "fallback"), metric(m->ceiling_moves, "up"),
                   metric(m->ceiling_moves, "down"));
  omega__buf_printf(&b, "\"workers\":{\"size\":%lld,\"busy\":%.0f,\"queued\":%.0f,\"rejected\":%.0f},",
                   s->boot.omega_workers, metric(m->pool_busy, NULL), metric(m->pool_queued, NULL),
                   metric(m->pool_rejected, NULL));
  omega__buf_printf(&b, "\"process\":{\"rss_bytes\":%.0f},\"gpu\":", metric(m->rss, NULL));
  nvml_gpus(&b);
  omega__buf_puts(&b, ",\"cpu\":");
  cpu_features(&b, &s->info);
  omega__buf_puts(&b, ",\"config\":");
  settings_object(&b, s->cfg);
  omega__buf_puts(&b, "}");
  omega__respond_buf(r, 200, &b);
}

/* ---- /accel/config ---- */

static void config_doc(omega_req_t *r, int status, const char *note) {
  omega_server_t *s = r->srv;
  omega_cfg_stats_t st;
  omega__config_stats(s->cfg, &st);
  omega_buf_t b = {0};
  omega__buf_puts(&b, "{\"settings\":[");
  for (size_t i = 0; i < omega__cfg_count; i++) {
    const omega_cfg_def_t *d = &omega__cfg_table[i];
    char v[1100];
    omega_cfg_source_t src;
    omega__config_value(s->cfg, i, true, v, sizeof v, &src);
    omega__buf_printf(&b, "%s{\"name\":\"%s\",\"value\":", i ? "," : "", d->name);
    omega__buf_json_str(&b, v, strlen(v));
    omega__buf_puts(&b, ",\"default\":");
    omega__buf_json_str(&b, (d->flags & OMEGA_CFG_SECRET) ? "" : d->def, (d->flags & OMEGA_CFG_SECRET) ? 0 : strlen(d->def));
    omega__buf_printf(&b, ",\"source\":\"%s\",\"hot_reloadable\":%s,\"help\":", omega__config_source_name(src),
                     (d->flags & OMEGA_CFG_HOT) ? "true" : "false");
    omega__buf_json_str(&b, d->help, strlen(d->help));
    omega__buf_puts(&b, "}");
  }
  omega__buf_printf(&b, "],\"reloads\":{\"ok\":%llu,\"failed\":%llu},\"runtime_changes\":{\"ok\":%llu,\"failed\":%llu}",
                   st.reloads_ok, st.reloads_failed, st.runtime_ok, st.runtime_failed);
  if (note && note[0]) {
    omega__buf_puts(&b, ",\"note\":");
    omega__buf_json_str(&b, note, strlen(note));
  }
  omega__buf_puts(&b, "}");
  omega__respond_buf(r, status, &b);
}

bool omega__step_config_get(omega_req_t *r) {
  if (omega__req_authenticate(r))
    config_doc(r, 200, NULL);
  return false;
}

/* Who made a change, for the audit log: the peer's address, and how it proved itself. */
static void client_name(omega_req_t *r, char *buf, size_t cap) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  char host[NI_MAXHOST] = "unknown address", port[NI_MAXSERV] = "";
  if (sa && sa->sa_family == AF_UNIX) {
    snprintf(host, sizeof host, "unix socket");
  } else if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
             getnameinfo(sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
                         host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    snprintf(host, sizeof host, "unknown address");
    port[0] = '\0';
  }
  snprintf(buf, cap, "%s%s%s (HMAC-authenticated %s %s)", host, port[0] ? " port " : "", port, r->method, r->path);
}

bool omega__step_config_put(omega_req_t *r) {
  if (!omega__req_authenticate(r))
    return false;
  json_error_t je;
  json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &je);
  if (!doc) {
    omega__respond_error(r, 400, "bad_request", "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return false;
  }
  const json_t *settings = json_object_get(doc, "settings");
  if (!settings)
    settings = doc; /* a flat {"KEY": value} object works too */
  if (!json_is_object(settings) || json_object_size(settings) == 0 || json_object_size(settings) > 64) {
    omega__respond_error(r, 422, "validation", "expected a JSON object of settings, e.g. {\"EMBED_MAX_BATCH\": 32}");
    json_decref(doc);
    return false;
  }
  const char *keys[64], *vals[64];
  char bufs[64][64];
  size_t n = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)settings, key, v) {
    keys[n] = key;
    if (json_is_string(v))
      vals[n] = json_string_value(v);
    else if (json_is_integer(v))
      snprintf(bufs[n], sizeof bufs[n], "%lld", (long long)json_integer_value(v)), vals[n] = bufs[n];
    else if (json_is_boolean(v))
      vals[n] = json_is_true(v) ? "true" : "false";
    else {
      omega__respond_error(r, 422, "validation", "%s: value must be a string, an integer or a boolean", key);
      json_decref(doc);
      return false;
    }
    n++;
  }
  char msg[1024], who[160];
  client_name(r, who, sizeof who);
  int rc = omega__config_set_runtime(r->srv->cfg, who, keys, vals, n, msg, sizeof msg);
  json_decref(doc);
  if (rc) {
    omega__respond_error(r, 422, "validation", "%s", msg);
    return false;
  }
  config_doc(r, 200, msg);
  return false;
}

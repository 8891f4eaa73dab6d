/* Parsing and formatting shared by the vector-search routes. */
#include "core/alloc.h"
#include "server/index_json.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool omega__ix_path_name(omega_req_t *r, char *out, size_t cap) {
  static const char prefix[] = "/collections/";
  const char *p = r->path + sizeof prefix - 1;
  size_t n = strcspn(p, "/");
  if (strncmp(r->path, prefix, sizeof prefix - 1) != 0 || n == 0 || n >= cap) {
    omega__respond_error(r, 404, "not_found", "no collection in the path %.200s", r->path);
    return false;
  }
  memcpy(out, p, n);
  out[n] = '\0';
  return true;
}

omega_coll_t *omega__ix_get(omega_req_t *r, const char *name) {
  omega_coll_t *e = omega__colls_get(r->srv->colls, name);
  if (!e)
    omega__respond_error(r, 404, "not_found", "no collection named \"%.128s\"", name);
  return e;
}

void omega__ix_respond_lib(omega_req_t *r, int rc, const char *what) {
  const char *detail = omega_errmsg();
  if (!detail[0])
    detail = omega_strerror(rc);
  switch (rc) {
  case OMEGA_EINVAL:
  case OMEGA_EUNSUPPORTED:
    omega__respond_error(r, 422, "validation", "%s: %s", what, detail);
    break;
  case OMEGA_ERANGE:
    omega__respond_error(r, 507, "insufficient_storage", "%s: %s", what, detail);
    break;
  case OMEGA_ENOMEM:
    omega__respond_error(r, 503, "unavailable", "%s: %s", what, detail);
    break;
  default:
    omega__respond_error(r, 500, "internal", "%s: %s", what, detail);
  }
}

const float *omega__ix_job_rows(omega_req_t *r, size_t n, size_t dim, const char *what) {
  int rc = omega_job_status(r->job);
  if (rc) {
    omega__respond_failure(r, rc, what, omega_job_errmsg(r->job));
    return NULL;
  }
  size_t got_n, got_dim;
  const float *v = omega_job_embeddings(r->job, &got_n, &got_dim);
  if (got_n != n || got_dim != dim) {
    omega__respond_error(r, 500, "internal", "the engine returned %zu x %zu embeddings for %zu texts", got_n, got_dim,
                         n);
    return NULL;
  }
  return v;
}

bool omega__ix_take_id(omega_req_t *r, const json_t *v, omega_id_t *out, const char *what) {
  memset(out, 0, sizeof *out);
  if (json_is_integer(v)) {
    out->num = (int64_t)json_integer_value(v);
    return true;
  }
  if (json_is_string(v)) {
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len >= 1 && len <= OMEGA_ID_MAX && strlen(s) == len) {
      out->is_str = 1;
      out->str = s;
      out->len = len;
      return true;
    }
  }
  omega__respond_error(r, 422, "validation",
                       "%s must be an integer or a string of 1-%d bytes without NUL characters", what, OMEGA_ID_MAX);
  return false;
}

bool omega__ix_take_vector(omega_req_t *r, const json_t *v, size_t dim, float *out, const char *what) {
  if (!json_is_array(v)) {
    omega__respond_error(r, 422, "validation", "%s must be an array of %zu numbers", what, dim);
    return false;
  }
  size_t n = json_array_size(v);
  if (n != dim) {
    omega__respond_error(r, 422, "validation", "%s has %zu values, but the collection's dimension is %zu", what, n,
                         dim);
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_array_get(v, i);
    if (!json_is_number(x)) {
      omega__respond_error(r, 422, "validation", "%s[%zu] must be a number", what, i);
      return false;
    }
    /* JSON has no NaN or infinity, but 1e300 is no float32 */
    double d = json_number_value(x);
    if (!isfinite(d) || fabs(d) > FLT_MAX) {
      omega__respond_error(r, 422, "validation", "%s[%zu] is not a finite float32 number", what, i);
      return false;
    }
    out[i] = (float)d;
  }
  return true;
}

bool omega__ix_take_ids(omega_req_t *r, const json_t *v, omega_id_t **out, size_t *n, const char *what) {
  *out = NULL;
  *n = 0;
  if (!json_is_array(v)) {
    omega__respond_error(r, 422, "validation", "%s must be an array of ids", what);
    return false;
  }
  size_t count = json_array_size(v);
  omega_id_t *ids = omega__malloc((count ? count : 1) * sizeof *ids);
  if (!ids) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  for (size_t i = 0; i < count; i++) {
    char w[96];
    snprintf(w, sizeof w, "%s[%zu]", what, i);
    if (!omega__ix_take_id(r, json_array_get(v, i), &ids[i], w)) {
      omega__free(ids);
      return false;
    }
  }
  *out = ids;
  *n = count;
  return true;
}

bool omega__ix_opt_int(omega_req_t *r, const json_t *doc, const char *key, long long def, long long min, long long max,
                       long long *out) {
  const json_t *v = json_object_get(doc, key);
  if (!v || json_is_null(v)) {
    *out = def;
    return true;
  }
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    omega__respond_error(r, 422, "validation", "\"%s\" must be an integer in [%lld, %lld]", key, min, max);
    return false;
  }
  *out = json_integer_value(v);
  return true;
}

void omega__ix_put_id(omega_buf_t *b, const omega_result_t *res) {
  if (res->is_str)
    omega__buf_json_str(b, res->str, strlen(res->str));
  else
    omega__buf_printf(b, "%lld", (long long)res->num);
}

void omega__ix_describe(omega_buf_t *b, const omega_coll_t *e, const omega_collection_stats_t *st,
                        size_t memory_limit) {
  const omega_index_params_t *p = &st->params;
  omega__buf_puts(b, "{\"name\":");
  omega__buf_json_str(b, e->name, strlen(e->name));
  omega__buf_printf(b, ",\"dim\":%zu,\"metric\":\"%s\",\"kind\":\"%s\"", p->dim, omega_metric_name(p->metric),
                   omega_index_kind_name(p->kind));
  if (p->kind == OMEGA_INDEX_HNSW)
    omega__buf_printf(b, ",\"m\":%zu,\"ef_construction\":%zu,\"ef_search\":%zu", p->m, p->ef_construction,
                     p->ef_search);
  if (p->kind == OMEGA_INDEX_GPU_FLAT) {
    omega__buf_printf(b, ",\"gpu\":{\"active\":%s,\"reason\":", st->gpu_active ? "true" : "false");
    omega__buf_json_str(b, st->gpu_reason, strlen(st->gpu_reason));
    omega__buf_printf(b, ",\"bytes\":%zu,\"queries\":{\"gpu\":%llu,\"cpu\":%llu,\"fallback\":%llu}}", st->gpu_bytes,
                     st->queries_gpu, st->queries_cpu, st->queries_fallback);
  }
  omega__buf_printf(b,
                   ",\"count\":%zu,\"slots\":%zu,\"deleted\":%zu,\"bytes\":%zu,\"memory_limit_bytes\":%zu,"
                   "\"persistent\":%s,\"wal_bytes\":%zu,\"snapshots\":%llu,\"last_snapshot_ms\":%.3f}",
                   st->count, st->slots, st->deleted, st->bytes, memory_limit, st->persistent ? "true" : "false",
                   st->wal_bytes, st->snapshots, st->last_snapshot_ms);
}

/* Vector search over HTTP: POST /collections/{name}/search and /invoke's "search" action.
 * A query is a vector, a batch of vectors, a text or a batch of texts (embedded by the
 * engine first, asynchronously); the search itself runs on the worker pool. */
#include "core/alloc.h"
#include "server/index_json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  json_t *doc;
  char name[128];
  bool invoke;
  size_t dim, nq;
  long long k, ef;
  float *qs;           /* nq rows; text queries are filled once embedded */
  omega_text_t *texts; /* text queries */
  omega_id_t *allow;   /* the filter's ids; NULL: no filter */
  size_t n_allow;
} search_ctx_t;

static void search_free(void *p) {
  search_ctx_t *c = p;
  if (!c)
    return;
  json_decref(c->doc);
  omega__free(c->qs);
  omega__free(c->texts);
  omega__free(c->allow);
  omega__free(c);
}

static void put_results(omega_buf_t *b, const omega_result_t *res, const size_t *counts, size_t nq, size_t k) {
  omega__buf_puts(b, "\"results\":[");
  for (size_t q = 0; q < nq; q++) {
    omega__buf_puts(b, q ? ",[" : "[");
    for (size_t i = 0; i < counts[q]; i++) {
      const omega_result_t *x = &res[q * k + i];
      omega__buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
      omega__ix_put_id(b, x);
      omega__buf_puts(b, ",\"score\":");
      omega__buf_float(b, x->score);
      omega__buf_puts(b, "}");
    }
    omega__buf_puts(b, "]");
  }
  omega__buf_puts(b, "]");
}

static bool run_search(omega_req_t *r, search_ctx_t *c) {
  omega_coll_t *e = omega__ix_get(r, c->name);
  if (!e)
    return false;
  const size_t k = (size_t)c->k;
  omega_result_t *res = omega__malloc(c->nq * k * sizeof *res);
  size_t *counts = omega__calloc(c->nq, sizeof *counts);
  int rc = 0;
  if (!res || !counts) {
    omega__respond_error(r, 503, "overloaded", "out of memory for %zu x %zu results", c->nq, k);
  } else if (e->params.dim != c->dim) {
    omega__respond_error(r, 409, "conflict", "collection \"%s\" was re-created with another dimension", c->name);
  } else {
    omega_search_opts_t o = {.k = k, .ef = (size_t)c->ef, .allow = c->allow, .n_allow = c->n_allow};
    const int64_t t0 = omega__now_ns();
    rc = omega_collection_search(e->c, c->qs, c->nq, &o, res, counts);
    if (rc) {
      omega__ix_respond_lib(r, rc, "search");
    } else {
      omega__colls_observe_search(r->srv->colls, e, c->nq, (double)(omega__now_ns() - t0) / 1e9);
      omega_buf_t b = {0};
      if (c->invoke) {
        omega__buf_puts(&b, "{\"action\":\"search\",\"collection\":");
        omega__buf_json_str(&b, c->name, strlen(c->name));
        omega__buf_puts(&b, ",");
      } else {
        omega__buf_puts(&b, "{");
      }
      put_results(&b, res, counts, c->nq, k);
      omega__buf_puts(&b, "}");
      omega__respond_buf(r, 200, &b);
    }
  }
  omega__colls_put(r->srv->colls, e);
  omega__free(res);
  omega__free(counts);
  return false;
}

static bool search_embedded(omega_req_t *r) {
  search_ctx_t *c = r->ctx;
  const float *v = omega__ix_job_rows(r, c->nq, c->dim, "embedding the query texts");
  if (!v)
    return false;
  memcpy(c->qs, v, c->nq * c->dim * sizeof *v);
  return run_search(r, c);
}

static bool take_filter(omega_req_t *r, search_ctx_t *c) {
  const json_t *f = json_object_get(c->doc, "filter");
  if (!f || json_is_null(f))
    return true;
  const json_t *ids = json_is_object(f) ? json_object_get(f, "ids") : NULL;
  if (!ids) {
    omega__respond_error(r, 422, "validation", "\"filter\" must be an object {\"ids\": [...]}");
    return false;
  }
  return omega__ix_take_ids(r, ids, &c->allow, &c->n_allow, "\"filter\".ids");
}

/* Exactly one of "vector", "vectors", "text", "texts" into the queries. */
static bool take_queries(omega_req_t *r, search_ctx_t *c) {
  static const char *const keys[] = {"vector", "vectors", "text", "texts"};
  const json_t *v = NULL;
  int which = -1, found = 0;
  for (int i = 0; i < 4; i++) {
    const json_t *x = json_object_get(c->doc, keys[i]);
    if (x && !json_is_null(x)) {
      v = x;
      which = i;
      found++;
    }
  }
  if (found != 1) {
    omega__respond_error(r, 422, "validation", "give exactly one of \"vector\", \"vectors\", \"text\" or \"texts\"");
    return false;
  }
  const bool batch = which == 1 || which == 3, text = which >= 2;
  if (batch && (!json_is_array(v) || json_array_size(v) == 0)) {
    omega__respond_error(r, 422, "validation", "\"%s\" must be a non-empty array", keys[which]);
    return false;
  }
  c->nq = batch ? json_array_size(v) : 1;
  long long max = atomic_load(&r->srv->search_max_batch);
  if (text && atomic_load(&r->srv->max_inputs) < max)
    max = atomic_load(&r->srv->max_inputs);
  if ((long long)c->nq > max) {
    omega__respond_error(r, 422, "validation", "\"%s\" has %zu queries, more than the limit of %lld", keys[which], c->nq,
                         max);
    return false;
  }
  if (text && (size_t)r->srv->info.dim != c->dim) {
    omega__respond_error(r, 422, "validation",
                         "collection \"%s\" has dimension %zu but the model embeds texts in %d: search with vectors",
                         c->name, c->dim, r->srv->info.dim);
    return false;
  }
  c->qs = omega__malloc(c->nq * c->dim * sizeof *c->qs);
  c->texts = text ? omega__malloc(c->nq * sizeof *c->texts) : NULL;
  if (!c->qs || (text && !c->texts)) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  for (size_t i = 0; i < c->nq; i++) {
    const json_t *q = batch ? json_array_get(v, i) : v;
    char what[48];
    if (batch)
      snprintf(what, sizeof what, "\"%s\"[%zu]", keys[which], i);
    else
      snprintf(what, sizeof what, "\"%s\"", keys[which]);
    if (!text) {
      if (!omega__ix_take_vector(r, q, c->dim, c->qs + i * c->dim, what))
        return false;
    } else if (!json_is_string(q)) {
      omega__respond_error(r, 422, "validation", "%s must be a string", what);
      return false;
    } else {
      c->texts[i] = (omega_text_t){json_string_value(q), json_string_length(q)};
    }
  }
  return true;
}

/* Parse and validate; then embed the texts (asynchronously) or search at once. */
static bool search_doc(omega_req_t *r, search_ctx_t *c) {
  if (!omega__ix_opt_int(r, c->doc, "k", 10, 1, atomic_load(&r->srv->search_max_k), &c->k) ||
      !omega__ix_opt_int(r, c->doc, "ef", 0, 1, 100000, &c->ef) || !take_filter(r, c))
    return false;
  omega_coll_t *e = omega__ix_get(r, c->name);
  if (!e)
    return false;
  c->dim = e->params.dim;
  omega__colls_put(r->srv->colls, e); /* not held across the embedding: a drop need not wait for it */
  if (!take_queries(r, c))
    return false;
  if (!c->texts)
    return run_search(r, c);
  omega_request_t er = {.texts = c->texts, .n = c->nq};
  int rc = omega__req_submit(r, &er, search_embedded);
  if (rc == 0)
    return true; /* the job's completion owns the request now */
  omega__respond_status(r, rc, "query texts");
  return false;
}

static search_ctx_t *new_ctx(omega_req_t *r) {
  search_ctx_t *c = omega__calloc(1, sizeof *c);
  if (!c) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return NULL;
  }
  r->ctx = c;
  r->ctx_free = search_free;
  return c;
}

bool omega__step_coll_search(omega_req_t *r) {
  search_ctx_t *c = new_ctx(r);
  if (!c || !omega__ix_path_name(r, c->name, sizeof c->name) || !(c->doc = omega__req_json(r)))
    return false;
  return search_doc(r, c);
}

bool omega__invoke_search(omega_req_t *r, json_t *doc) {
  search_ctx_t *c = new_ctx(r);
  if (!c) {
    json_decref(doc);
    return false;
  }
  c->doc = doc;
  c->invoke = true;
  const json_t *name = json_object_get(doc, "collection");
  if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) >= sizeof c->name ||
      strlen(json_string_value(name)) != json_string_length(name)) {
    omega__respond_error(r, 422, "validation", "\"collection\" is required: the name of a collection");
    return false;
  }
  snprintf(c->name, sizeof c->name, "%s", json_string_value(name));
  return search_doc(r, c);
}

/* Collections over HTTP: create, list, describe, drop, compact, snapshot, upsert (vectors,
 * or texts the engine embeds) and delete. Every step runs on the worker pool: the library
 * calls block (locks, fsync), and an I/O thread must never wait on them. */
#include "core/alloc.h"
#include "server/index_json.h"

#include <stdlib.h>
#include <string.h>

/* ---- collection management ---- */

static void respond_describe(omega_req_t *r, int status, omega_coll_t *e) {
  omega_collection_stats_t st;
  omega__coll_refresh(r->srv->colls, e, &st);
  omega_buf_t b = {0};
  omega__ix_describe(&b, e, &st, omega__colls_memory_limit(r->srv->colls));
  omega__respond_buf(r, status, &b);
}

bool omega__step_coll_create(omega_req_t *r) {
  json_t *doc = omega__req_json(r);
  if (!doc)
    return false;
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.metric = OMEGA_METRIC_COSINE;
  const char *name = json_string_value(json_object_get(doc, "name"));
  const json_t *metric = json_object_get(doc, "metric"), *kind = json_object_get(doc, "kind");
  long long dim, m, efc, efs;
  int rc = 0;
  if (!name || strlen(name) != json_string_length(json_object_get(doc, "name"))) {
    omega__respond_error(r, 422, "validation", "\"name\" is required: a string of 1-64 characters of [A-Za-z0-9_.-]");
    goto out;
  }
  if (!json_object_get(doc, "dim")) {
    omega__respond_error(r, 422, "validation", "\"dim\" is required");
    goto out;
  }
  if (!omega__ix_opt_int(r, doc, "dim", 0, 1, 65536, &dim) ||
      !omega__ix_opt_int(r, doc, "m", (long long)p.m, 2, 256, &m) ||
      !omega__ix_opt_int(r, doc, "ef_construction", (long long)p.ef_construction, 1, 100000, &efc) ||
      !omega__ix_opt_int(r, doc, "ef_search", (long long)p.ef_search, 1, 100000, &efs))
    goto out;
  if ((metric && !json_is_null(metric) && !json_is_string(metric)) || (kind && !json_is_null(kind) && !json_is_string(kind))) {
    omega__respond_error(r, 422, "validation", "\"metric\" and \"kind\" must be strings");
    goto out;
  }
  if ((json_is_string(metric) && (rc = omega_metric_parse(json_string_value(metric), &p.metric))) ||
      (json_is_string(kind) && (rc = omega_index_kind_parse(json_string_value(kind), &p.kind)))) {
    omega__ix_respond_lib(r, rc, "create");
    goto out;
  }
  p.dim = (size_t)dim;
  p.m = (size_t)m;
  p.ef_construction = (size_t)efc;
  p.ef_search = (size_t)efs;
  bool exists;
  omega_coll_t *e;
  rc = omega__colls_create(r->srv->colls, name, &p, &exists, &e);
  if (exists)
    omega__respond_error(r, 409, "conflict", "collection \"%.128s\" already exists", name);
  else if (rc)
    omega__ix_respond_lib(r, rc, "create");
  else {
    respond_describe(r, 201, e);
    omega__colls_put(r->srv->colls, e);
  }
out:
  json_decref(doc);
  return false;
}

bool omega__step_coll_list(omega_req_t *r) {
  omega_coll_t **v;
  size_t n = omega__colls_list(r->srv->colls, &v);
  if (!v) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  omega_buf_t b = {0};
  omega__buf_puts(&b, "{\"collections\":[");
  for (size_t i = 0; i < n; i++) {
    omega_collection_stats_t st;
    omega__coll_refresh(r->srv->colls, v[i], &st);
    if (i)
      omega__buf_puts(&b, ",");
    omega__ix_describe(&b, v[i], &st, omega__colls_memory_limit(r->srv->colls));
    omega__colls_put(r->srv->colls, v[i]);
  }
  omega__buf_puts(&b, "]}");
  omega__free(v);
  omega__respond_buf(r, 200, &b);
  return false;
}

bool omega__step_coll_get(omega_req_t *r) {
  char name[128];
  omega_coll_t *e;
  if (!omega__ix_path_name(r, name, sizeof name) || !(e = omega__ix_get(r, name)))
    return false;
  respond_describe(r, 200, e);
  omega__colls_put(r->srv->colls, e);
  return false;
}

bool omega__step_coll_drop(omega_req_t *r) {
  char name[128];
  if (!omega__ix_path_name(r, name, sizeof name))
    return false;
  bool found;
  int rc = omega__colls_drop(r->srv->colls, name, &found);
  if (!found)
    omega__respond_error(r, 404, "not_found", "no collection named \"%.128s\"", name);
  else if (rc)
    omega__ix_respond_lib(r, rc, "drop");
  else {
    omega_buf_t b = {0};
    omega__buf_puts(&b, "{\"dropped\":");
    omega__buf_json_str(&b, name, strlen(name));
    omega__buf_puts(&b, "}");
    omega__respond_buf(r, 200, &b);
  }
  return false;
}

static bool maintain(omega_req_t *r, bool compact) {
  char name[128];
  omega_coll_t *e;
  if (!omega__ix_path_name(r, name, sizeof name) || !(e = omega__ix_get(r, name)))
    return false;
  int rc = compact ? omega_collection_compact(e->c) : omega_collection_snapshot(e->c);
  if (rc)
    omega__ix_respond_lib(r, rc, compact ? "compact" : "snapshot");
  else
    respond_describe(r, 200, e);
  omega__colls_put(r->srv->colls, e);
  return false;
}

bool omega__step_coll_compact(omega_req_t *r) { return maintain(r, true); }
bool omega__step_coll_snapshot(omega_req_t *r) { return maintain(r, false); }

/* ---- writes ---- */

typedef struct {
  json_t *doc;
  char name[128];
  size_t dim, n;
  omega_id_t *ids;
  float *vecs;          /* n rows; text points are filled once embedded */
  omega_text_t *texts;  /* the text points, in order */
  size_t *text_rows;    /* their rows */
  size_t n_texts;
} upsert_ctx_t;

static void upsert_free(void *p) {
  upsert_ctx_t *c = p;
  if (!c)
    return;
  json_decref(c->doc);
  omega__free(c->ids);
  omega__free(c->vecs);
  omega__free(c->texts);
  omega__free(c->text_rows);
  omega__free(c);
}

static bool do_upsert(omega_req_t *r, upsert_ctx_t *c) {
  omega_coll_t *e = omega__ix_get(r, c->name);
  if (!e)
    return false;
  int rc = 0;
  if (e->params.dim != c->dim) /* dropped and created again while the texts were embedded */
    omega__respond_error(r, 409, "conflict", "collection \"%s\" was re-created with another dimension", c->name);
  else if ((rc = omega_collection_upsert(e->c, c->ids, c->vecs, c->n, 1)))
    omega__ix_respond_lib(r, rc, "upsert");
  else {
    omega_buf_t b = {0};
    omega__buf_printf(&b, "{\"upserted\":%zu}", c->n);
    omega__respond_buf(r, 200, &b);
  }
  omega__coll_refresh(r->srv->colls, e, NULL);
  omega__colls_put(r->srv->colls, e);
  return false;
}

static bool upsert_embedded(omega_req_t *r) {
  upsert_ctx_t *c = r->ctx;
  const float *v = omega__ix_job_rows(r, c->n_texts, c->dim, "embedding the points' texts");
  if (!v)
    return false;
  for (size_t i = 0; i < c->n_texts; i++)
    memcpy(c->vecs + c->text_rows[i] * c->dim, v + i * c->dim, c->dim * sizeof *v);
  return do_upsert(r, c);
}

/* Check the points; vectors go to their rows, texts wait for the engine. */
static bool take_points(omega_req_t *r, upsert_ctx_t *c, const json_t *pts) {
  for (size_t i = 0; i < c->n; i++) {
    const json_t *p = json_array_get(pts, i);
    char what[64];
    if (!json_is_object(p)) {
      omega__respond_error(r, 422, "validation", "\"points\"[%zu] must be an object {\"id\", \"vector\" or \"text\"}",
                           i);
      return false;
    }
    const json_t *id = json_object_get(p, "id"), *vec = json_object_get(p, "vector"), *text = json_object_get(p, "text");
    snprintf(what, sizeof what, "\"points\"[%zu].id", i);
    if (!id) {
      omega__respond_error(r, 422, "validation", "%s is required", what);
      return false;
    }
    if (!omega__ix_take_id(r, id, &c->ids[i], what))
      return false;
    if (!vec == !text) {
      omega__respond_error(r, 422, "validation", "\"points\"[%zu] needs either \"vector\" or \"text\"", i);
      return false;
    }
    if (vec) {
      snprintf(what, sizeof what, "\"points\"[%zu].vector", i);
      if (!omega__ix_take_vector(r, vec, c->dim, c->vecs + i * c->dim, what))
        return false;
    } else if (!json_is_string(text)) {
      omega__respond_error(r, 422, "validation", "\"points\"[%zu].text must be a string", i);
      return false;
    } else {
      c->texts[c->n_texts] = (omega_text_t){json_string_value(text), json_string_length(text)};
      c->text_rows[c->n_texts++] = i;
    }
  }
  return true;
}

bool omega__step_coll_upsert(omega_req_t *r) {
  upsert_ctx_t *c = omega__calloc(1, sizeof *c);
  if (!c) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  r->ctx = c;
  r->ctx_free = upsert_free;
  if (!omega__ix_path_name(r, c->name, sizeof c->name) || !(c->doc = omega__req_json(r)))
    return false;
  const json_t *pts = json_object_get(c->doc, "points");
  const long long max = atomic_load(&r->srv->max_inputs);
  if (!json_is_array(pts) || json_array_size(pts) == 0) {
    omega__respond_error(r, 422, "validation", "\"points\" must be a non-empty array of {\"id\", \"vector\" or \"text\"}");
    return false;
  }
  if ((long long)json_array_size(pts) > max) {
    omega__respond_error(r, 422, "validation", "\"points\" has %zu points, more than the limit of %lld",
                         json_array_size(pts), max);
    return false;
  }
  omega_coll_t *e = omega__ix_get(r, c->name);
  if (!e)
    return false;
  c->dim = e->params.dim;
  omega__colls_put(r->srv->colls, e); /* not held across the embedding: a drop need not wait for it */
  c->n = json_array_size(pts);
  /* before allocating: vectors are paid for by the body's size, text points are not */
  bool any_text = false;
  for (size_t i = 0; i < c->n && !any_text; i++) {
    const json_t *p = json_array_get(pts, i);
    any_text = json_object_get(p, "text") && !json_object_get(p, "vector");
  }
  if (any_text && (size_t)r->srv->info.dim != c->dim) {
    omega__respond_error(r, 422, "validation",
                         "collection \"%s\" has dimension %zu but the model embeds texts in %d: send vectors, or use a "
                         "collection of dimension %d",
                         c->name, c->dim, r->srv->info.dim, r->srv->info.dim);
    return false;
  }
  c->ids = omega__calloc(c->n, sizeof *c->ids);
  c->vecs = omega__malloc(c->n * c->dim * sizeof *c->vecs);
  c->texts = omega__malloc(c->n * sizeof *c->texts);
  c->text_rows = omega__malloc(c->n * sizeof *c->text_rows);
  if (!c->ids || !c->vecs || !c->texts || !c->text_rows) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  if (!take_points(r, c, pts))
    return false;
  if (!c->n_texts)
    return do_upsert(r, c);
  omega_request_t er = {.texts = c->texts, .n = c->n_texts};
  int rc = omega__req_submit(r, &er, upsert_embedded);
  if (rc == 0)
    return true; /* the job's completion owns the request now */
  omega__respond_status(r, rc, "points' texts");
  return false;
}

bool omega__step_coll_delete(omega_req_t *r) {
  char name[128];
  json_t *doc = NULL;
  omega_id_t *ids = NULL;
  size_t n = 0;
  omega_coll_t *e = NULL;
  if (omega__ix_path_name(r, name, sizeof name) && (doc = omega__req_json(r))) {
    const json_t *v = json_object_get(doc, "ids");
    if (!v)
      omega__respond_error(r, 422, "validation", "\"ids\" is required: an array of ids");
    else if (omega__ix_take_ids(r, v, &ids, &n, "\"ids\"") && (e = omega__ix_get(r, name))) {
      size_t deleted = 0;
      int rc = omega_collection_delete(e->c, ids, n, &deleted);
      if (rc) {
        omega__ix_respond_lib(r, rc, "delete");
      } else {
        omega_buf_t b = {0};
        omega__buf_printf(&b, "{\"deleted\":%zu}", deleted);
        omega__respond_buf(r, 200, &b);
      }
      omega__coll_refresh(r->srv->colls, e, NULL);
      omega__colls_put(r->srv->colls, e);
    }
  }
  omega__free(ids);
  json_decref(doc);
  return false;
}

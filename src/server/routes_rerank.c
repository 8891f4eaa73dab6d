/* Cross-encoder routes, as TEI has them: POST /rerank (a query against passages, best
 * first) and POST /predict (classify texts or pairs). Both need a *ForSequenceClassification
 * model; the embedding routes refuse one. Pairs go through the engine's batcher like texts. */
#include "core/alloc.h"
#include "core/vecmath.h"
#include "server/server_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  json_t *doc;
  omega_text_t *a, *b; /* b NULL: single texts */
  size_t n;
  bool raw, return_text, batch; /* batch: /predict's input was a list */
  bool rerank;
} ce_ctx_t;

static void ce_ctx_free(void *p) {
  ce_ctx_t *c = p;
  if (!c)
    return;
  json_decref(c->doc);
  omega__free(c->a);
  omega__free(c->b);
  omega__free(c);
}

static ce_ctx_t *start(omega_req_t *r, bool rerank) {
  const omega_engine_info_t *i = &r->srv->info;
  if (!i->classifier || (rerank && i->dim != 1)) {
    omega__respond_error(r, 400, "validation",
                         "%s needs a cross-encoder (a *ForSequenceClassification model%s); %s is %s", r->route->path,
                         rerank ? " with one label" : "", r->srv->model_name,
                         i->classifier ? "a classifier with several labels" : "an embedding model: use /embed");
    return NULL;
  }
  ce_ctx_t *c = omega__calloc(1, sizeof *c);
  if (!c) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return NULL;
  }
  c->rerank = rerank;
  r->ctx = c;
  r->ctx_free = ce_ctx_free;
  return (c->doc = omega__req_json(r)) ? c : NULL;
}

static bool alloc_inputs(omega_req_t *r, ce_ctx_t *c, size_t n, bool pairs, const char *field) {
  if (n == 0) {
    omega__respond_error(r, 422, "validation", "\"%s\" must not be empty", field);
    return false;
  }
  long long max = atomic_load(&r->srv->max_inputs);
  if ((long long)n > max) {
    omega__respond_error(r, 422, "validation", "\"%s\" has %zu inputs, more than the limit of %lld", field, n, max);
    return false;
  }
  c->n = n;
  c->a = omega__calloc(n, sizeof *c->a);
  c->b = pairs ? omega__calloc(n, sizeof *c->b) : NULL;
  if (!c->a || (pairs && !c->b)) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  return true;
}

/* ---- formatting ---- */

typedef struct {
  size_t index;
  float score;
} ranked_t;

static int by_score(const void *x, const void *y) {
  const ranked_t *a = x, *b = y;
  if (a->score != b->score)
    return a->score < b->score ? 1 : -1;
  return a->index < b->index ? -1 : a->index > b->index;
}

/* TEI's scores: sigmoid for one label, softmax over several; raw: the logits. */
static void activate(const float *logits, size_t n, bool raw, float *out) {
  memcpy(out, logits, n * sizeof *out);
  if (raw)
    return;
  if (n == 1)
    out[0] = 1.0f / (1.0f + expf(-logits[0]));
  else
    omega__softmax(out, n);
}

static bool format_scores(omega_req_t *r) {
  ce_ctx_t *c = r->ctx;
  int rc = omega_job_status(r->job);
  if (rc) {
    omega__respond_failure(r, rc, c->rerank ? "reranking" : "predicting", omega_job_errmsg(r->job));
    return false;
  }
  size_t n, dim;
  const float *v = omega_job_embeddings(r->job, &n, &dim);
  const size_t slots = n > dim ? n : dim; /* rerank ranks the n rows, predict one row's dim labels */
  ranked_t *rank = omega__calloc(slots ? slots : 1, sizeof *rank);
  float *s = omega__malloc((dim ? dim : 1) * sizeof *s);
  if (!rank || !s) {
    omega__free(rank);
    omega__free(s);
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  omega_buf_t b = {0};
  if (c->rerank) {
    for (size_t i = 0; i < n; i++) {
      activate(v + i, 1, c->raw, s);
      rank[i] = (ranked_t){i, s[0]};
    }
    qsort(rank, n, sizeof *rank, by_score);
    omega__buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
      omega__buf_printf(&b, "%s{\"index\":%zu,\"score\":%.9g", i ? "," : "", rank[i].index, (double)rank[i].score);
      if (c->return_text) {
        omega__buf_puts(&b, ",\"text\":");
        omega__buf_json_str(&b, c->b[rank[i].index].ptr, c->b[rank[i].index].len);
      }
      omega__buf_puts(&b, "}");
    }
    omega__buf_puts(&b, "]");
  } else {
    omega__buf_puts(&b, c->batch ? "[" : "");
    for (size_t i = 0; i < n; i++) {
      activate(v + i * dim, dim, c->raw, s);
      for (size_t k = 0; k < dim; k++)
        rank[k] = (ranked_t){k, s[k]};
      qsort(rank, dim, sizeof *rank, by_score);
      omega__buf_puts(&b, i ? ",[" : "[");
      for (size_t k = 0; k < dim; k++) {
        const char *label = omega_engine_label(r->srv->engine, rank[k].index);
        omega__buf_printf(&b, "%s{\"score\":%.9g,\"label\":", k ? "," : "", (double)rank[k].score);
        omega__buf_json_str(&b, label ? label : "", label ? strlen(label) : 0);
        omega__buf_puts(&b, "}");
      }
      omega__buf_puts(&b, "]");
    }
    omega__buf_puts(&b, c->batch ? "]" : "");
  }
  omega__free(rank);
  omega__free(s);
  omega__respond_buf(r, 200, &b);
  return false;
}

static bool submit(omega_req_t *r, ce_ctx_t *c) {
  bool truncate;
  if (!omega__req_opt_bool(r, c->doc, "raw_scores", false, &c->raw) || !omega__req_opt_bool(r, c->doc, "truncate", false, &truncate))
    return false;
  const json_t *dir = json_object_get(c->doc, "truncation_direction");
  if (dir && !json_is_null(dir) &&
      (!json_is_string(dir) || (strcmp(json_string_value(dir), "right") && strcmp(json_string_value(dir), "Right")))) {
    omega__respond_error(r, 422, "validation", "\"truncation_direction\" supports only \"right\"");
    return false;
  }
  const omega_request_t er = {.texts = c->a, .texts_b = c->b, .n = c->n, .flags = truncate ? 0 : OMEGA_EMBED_NO_TRUNCATE};
  int rc = omega__req_submit(r, &er, format_scores);
  if (rc == 0)
    return true;
  omega__respond_status(r, rc, c->rerank ? "texts" : "inputs");
  return false;
}

/* ---- POST /rerank {"query", "texts", "raw_scores", "return_text", "truncate"} ---- */

bool omega__step_rerank(omega_req_t *r) {
  ce_ctx_t *c = start(r, true);
  if (!c)
    return false;
  const json_t *q = json_object_get(c->doc, "query"), *texts = json_object_get(c->doc, "texts");
  if (!json_is_string(q)) {
    omega__respond_error(r, 422, "validation", "\"query\" must be a string");
    return false;
  }
  if (!json_is_array(texts)) {
    omega__respond_error(r, 422, "validation", "\"texts\" must be an array of strings");
    return false;
  }
  if (!alloc_inputs(r, c, json_array_size(texts), true, "texts") || !omega__req_opt_bool(r, c->doc, "return_text", false, &c->return_text))
    return false;
  for (size_t i = 0; i < c->n; i++) {
    const json_t *t = json_array_get(texts, i);
    if (!json_is_string(t)) {
      omega__respond_error(r, 422, "validation", "\"texts\"[%zu] must be a string", i);
      return false;
    }
    c->a[i] = (omega_text_t){json_string_value(q), json_string_length(q)};
    c->b[i] = (omega_text_t){json_string_value(t), json_string_length(t)};
  }
  return submit(r, c);
}

/* ---- POST /predict {"inputs": text | [a, b] | [text, ...] | [[a, b], ...]} ---- */

/* One input: a string, or a pair [a, b]. */
static int sequence_kind(const json_t *v) {
  if (json_is_string(v))
    return 1;
  if (json_is_array(v) && json_array_size(v) == 2 && json_is_string(json_array_get(v, 0)) &&
      json_is_string(json_array_get(v, 1)))
    return 2;
  return 0;
}

bool omega__step_predict(omega_req_t *r) {
  ce_ctx_t *c = start(r, false);
  if (!c)
    return false;
  const json_t *in = json_object_get(c->doc, "inputs");
  /* TEI's reading: a string or a two-string array is one input; any other array a batch */
  int kind = sequence_kind(in);
  c->batch = kind == 0;
  if (c->batch && !json_is_array(in)) {
    omega__respond_error(r, 422, "validation", "\"inputs\" must be a text, a pair [a, b], or an array of them");
    return false;
  }
  size_t n = c->batch ? json_array_size(in) : 1;
  int first = c->batch ? sequence_kind(json_array_get(in, 0)) : kind;
  if (c->batch && n && !first) {
    omega__respond_error(r, 422, "validation", "\"inputs\"[0] must be a text or a pair [a, b]");
    return false;
  }
  if (!alloc_inputs(r, c, n, first == 2, "inputs"))
    return false;
  for (size_t i = 0; i < n; i++) {
    const json_t *s = c->batch ? json_array_get(in, i) : in;
    int k = sequence_kind(s);
    if (k != first) {
      omega__respond_error(r, 422, "validation",
                           "\"inputs\"[%zu] must be %s like the first: one request is all texts or all pairs", i,
                           first == 2 ? "a pair [a, b]" : "a text");
      return false;
    }
    if (k == 2) {
      c->a[i] = (omega_text_t){json_string_value(json_array_get(s, 0)), json_string_length(json_array_get(s, 0))};
      c->b[i] = (omega_text_t){json_string_value(json_array_get(s, 1)), json_string_length(json_array_get(s, 1))};
    } else {
      c->a[i] = (omega_text_t){json_string_value(s), json_string_length(s)};
    }
  }
  return submit(r, c);
}

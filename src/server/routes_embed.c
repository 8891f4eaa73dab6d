/* Embedding endpoints: TEI's /embed, OpenAI's /v1/embeddings, /tokenize, and the
 * HMAC-gated /invoke. Parsing and response formatting run on the worker pool. */
#include "core/alloc.h"
#include "core/vecmath.h"
#include "server/server_internal.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_TEI, KIND_OPENAI, KIND_INVOKE } kind_t;

typedef struct {
  kind_t kind;
  json_t *doc;
  omega_text_t *texts;
  int32_t **ids;
  size_t *id_lens;
  size_t n;
  unsigned flags;
  size_t dims; /* 0: the model's dimension */
  bool base64;
  bool normalized; /* the output rows are unit length */
  const char *prompt, *prompt_name; /* borrowed from doc */
} embed_ctx_t;

static void embed_ctx_free(void *p) {
  embed_ctx_t *c = p;
  if (!c)
    return;
  json_decref(c->doc);
  omega__free(c->texts);
  if (c->ids)
    for (size_t i = 0; i < c->n; i++)
      omega__free(c->ids[i]);
  omega__free(c->ids);
  omega__free(c->id_lens);
  omega__free(c);
}

/* A string or an array of strings into c->texts. `field` names it in errors. */
static bool take_texts(omega_req_t *r, embed_ctx_t *c, const json_t *v, const char *field) {
  long long max = atomic_load(&r->srv->max_inputs);
  if (json_is_string(v)) {
    c->n = 1;
  } else if (json_is_array(v)) {
    c->n = json_array_size(v);
    if (c->n == 0) {
      omega__respond_error(r, 422, "validation", "\"%s\" must not be empty", field);
      return false;
    }
  } else {
    omega__respond_error(r, 422, "validation", "\"%s\" must be a string or an array of strings", field);
    return false;
  }
  if ((long long)c->n > max) {
    omega__respond_error(r, 422, "validation", "\"%s\" has %zu inputs, more than the limit of %lld", field, c->n, max);
    return false;
  }
  c->texts = omega__calloc(c->n, sizeof *c->texts);
  if (!c->texts) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  for (size_t i = 0; i < c->n; i++) {
    const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
    if (!json_is_string(s)) {
      omega__respond_error(r, 422, "validation", "\"%s\"[%zu] must be a string", field, i);
      return false;
    }
    c->texts[i] = (omega_text_t){json_string_value(s), json_string_length(s)};
  }
  return true;
}

/* OpenAI token input: [int, ...] (one input) or [[int, ...], ...]. */
static bool take_ids(omega_req_t *r, embed_ctx_t *c, const json_t *v) {
  bool nested = json_is_array(json_array_get(v, 0));
  c->n = nested ? json_array_size(v) : 1;
  if ((long long)c->n > atomic_load(&r->srv->max_inputs)) {
    omega__respond_error(r, 422, "validation", "\"input\" has %zu inputs, more than the limit of %lld", c->n,
                         atomic_load(&r->srv->max_inputs));
    return false;
  }
  c->ids = omega__calloc(c->n, sizeof *c->ids);
  c->id_lens = omega__calloc(c->n, sizeof *c->id_lens);
  if (!c->ids || !c->id_lens) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  for (size_t i = 0; i < c->n; i++) {
    const json_t *arr = nested ? json_array_get(v, i) : v;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
      omega__respond_error(r, 422, "validation", "\"input\"[%zu] must be a non-empty array of token ids", i);
      return false;
    }
    size_t len = json_array_size(arr);
    c->ids[i] = omega__malloc(len * sizeof **c->ids);
    if (!c->ids[i]) {
      omega__respond_error(r, 503, "overloaded", "out of memory");
      return false;
    }
    c->id_lens[i] = len;
    for (size_t k = 0; k < len; k++) {
      const json_t *id = json_array_get(arr, k);
      if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX) {
        omega__respond_error(r, 422, "validation", "\"input\"[%zu][%zu] must be a non-negative integer token id", i, k);
        return false;
      }
      c->ids[i][k] = (int32_t)json_integer_value(id);
    }
  }
  return true;
}

static bool opt_dims(omega_req_t *r, const json_t *doc, embed_ctx_t *c) {
  const json_t *v = json_object_get(doc, "dimensions");
  if (!v || json_is_null(v))
    return true;
  const int dim = r->srv->info.dim;
  if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > dim) {
    omega__respond_error(r, 422, "validation", "\"dimensions\" must be an integer in [1, %d]", dim);
    return false;
  }
  c->dims = (size_t)json_integer_value(v);
  return true;
}

static embed_ctx_t *new_ctx(omega_req_t *r, kind_t kind) {
  if (r->srv->info.classifier) {
    omega__respond_error(r, 400, "validation", "%s is a cross-encoder (%s), not an embedding model: use /rerank or /predict",
                         r->srv->model_name, r->srv->info.classifier);
    return NULL;
  }
  embed_ctx_t *c = omega__calloc(1, sizeof *c);
  if (!c) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return NULL;
  }
  c->kind = kind;
  r->ctx = c;
  r->ctx_free = embed_ctx_free;
  return c;
}

/* ---- formatting ---- */

/* The first dims values of a row, renormalised when the full row was unit length
 * (Matryoshka truncation). */
static const float *row_out(const embed_ctx_t *c, const float *row, size_t dim, float *tmp) {
  if (!c->dims || c->dims == dim)
    return row;
  memcpy(tmp, row, c->dims * sizeof *tmp);
  if (c->normalized)
    omega__l2_normalize(tmp, c->dims);
  return tmp;
}

static bool format_embeddings(omega_req_t *r) {
  embed_ctx_t *c = r->ctx;
  omega_server_t *s = r->srv;
  int rc = omega_job_status(r->job);
  if (rc) {
    omega__respond_failure(r, rc, "embedding", omega_job_errmsg(r->job));
    return false;
  }
  size_t n, dim;
  const float *v = omega_job_embeddings(r->job, &n, &dim);
  const size_t d = c->dims ? c->dims : dim;
  float *tmp = omega__malloc(dim * sizeof *tmp);
  omega_buf_t b = {0};
  size_t tokens = omega_job_tokens(r->job);
  if (!tmp) {
    omega__respond_error(r, 503, "overloaded", "out of memory");
    return false;
  }
  switch (c->kind) {
  case KIND_TEI:
    omega__buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
      if (i)
        omega__buf_puts(&b, ",");
      omega__buf_float_array(&b, row_out(c, v + i * dim, dim, tmp), d);
    }
    omega__buf_puts(&b, "]");
    break;
  case KIND_OPENAI:
    omega__buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
      omega__buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
      if (c->base64)
        omega__buf_float_base64(&b, row_out(c, v + i * dim, dim, tmp), d);
      else
        omega__buf_float_array(&b, row_out(c, v + i * dim, dim, tmp), d);
      omega__buf_puts(&b, "}");
    }
    omega__buf_puts(&b, "],\"model\":");
    omega__buf_json_str(&b, s->model_name, strlen(s->model_name));
    omega__buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", tokens, tokens);
    break;
  case KIND_INVOKE:
    omega__buf_puts(&b, "{\"action\":\"embed\",\"model\":");
    omega__buf_json_str(&b, s->model_name, strlen(s->model_name));
    omega__buf_puts(&b, ",\"embeddings\":[");
    for (size_t i = 0; i < n; i++) {
      if (i)
        omega__buf_puts(&b, ",");
      omega__buf_float_array(&b, row_out(c, v + i * dim, dim, tmp), d);
    }
    omega__buf_printf(&b, "],\"usage\":{\"tokens\":%zu}}", tokens);
    break;
  }
  omega__free(tmp);
  omega__respond_buf(r, 200, &b);
  return false;
}

static bool submit_embed(omega_req_t *r) {
  embed_ctx_t *c = r->ctx;
  const bool model_norm = r->srv->info.normalize;
  c->normalized = (c->flags & OMEGA_EMBED_NORMALIZE) || (model_norm && !(c->flags & OMEGA_EMBED_NO_NORMALIZE));
  omega_request_t er = {.texts = c->texts,
                        .ids = (const int32_t *const *)c->ids,
                        .id_lens = c->id_lens,
                        .n = c->n,
                        .flags = c->flags,
                        .prompt = c->prompt,
                        .prompt_name = c->prompt_name};
  int rc = omega__req_submit(r, &er, format_embeddings);
  if (rc == 0)
    return true; /* the job's completion owns the request now */
  omega__respond_status(r, rc, c->kind == KIND_OPENAI ? "input" : "inputs");
  return false;
}

/* "prompt_name" (one of the model's prompts) and "prompt" (the text itself): optional
 * strings; which applies, and an unknown name, the engine decides (422 naming it). */
static bool opt_prompts(omega_req_t *r, embed_ctx_t *c) {
  static const char *const keys[] = {"prompt_name", "prompt"};
  const char **dst[] = {&c->prompt_name, &c->prompt};
  for (int i = 0; i < 2; i++) {
    const json_t *v = json_object_get(c->doc, keys[i]);
    if (!v || json_is_null(v))
      continue;
    if (!json_is_string(v) || (i == 0 && json_string_length(v) == 0)) {
      omega__respond_error(r, 422, "validation", "\"%s\" must be a%s string", keys[i], i == 0 ? " non-empty" : "");
      return false;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
      omega__respond_error(r, 422, "validation", "\"%s\" must not contain NUL", keys[i]);
      return false;
    }
    *dst[i] = json_string_value(v);
  }
  return true;
}

/* ---- /embed (TEI) ---- */

bool omega__step_embed(omega_req_t *r) {
  embed_ctx_t *c = new_ctx(r, KIND_TEI);
  if (!c || !(c->doc = omega__req_json(r)))
    return false;
  const json_t *in = json_object_get(c->doc, "inputs");
  if (!in) {
    omega__respond_error(r, 422, "validation", "\"inputs\" is required");
    return false;
  }
  bool normalize, truncate;
  if (!take_texts(r, c, in, "inputs") || !omega__req_opt_bool(r, c->doc, "normalize", true, &normalize) ||
      !omega__req_opt_bool(r, c->doc, "truncate", false, &truncate) || !opt_dims(r, c->doc, c))
    return false;
  const json_t *dir = json_object_get(c->doc, "truncation_direction");
  if (dir && !json_is_null(dir) &&
      (!json_is_string(dir) || (strcmp(json_string_value(dir), "right") && strcmp(json_string_value(dir), "Right")))) {
    omega__respond_error(r, 422, "validation", "\"truncation_direction\" supports only \"right\"");
    return false;
  }
  if (!opt_prompts(r, c))
    return false;
  c->flags = (normalize ? OMEGA_EMBED_NORMALIZE : OMEGA_EMBED_NO_NORMALIZE) | (truncate ? 0 : OMEGA_EMBED_NO_TRUNCATE);
  return submit_embed(r);
}

/* ---- /v1/embeddings (OpenAI) ---- */

bool omega__step_openai(omega_req_t *r) {
  embed_ctx_t *c = new_ctx(r, KIND_OPENAI);
  if (!c || !(c->doc = omega__req_json(r)))
    return false;
  const json_t *in = json_object_get(c->doc, "input");
  if (!in || json_is_null(in)) {
    omega__respond_error(r, 422, "validation", "\"input\" is required");
    return false;
  }
  const json_t *first = json_array_get(in, 0);
  bool tokens = json_is_array(in) && (json_is_integer(first) || json_is_array(first));
  if (tokens ? !take_ids(r, c, in) : !take_texts(r, c, in, "input"))
    return false;
  const json_t *fmt = json_object_get(c->doc, "encoding_format");
  if (fmt && !json_is_null(fmt)) {
    const char *f = json_string_value(fmt);
    if (!f || (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0)) {
      omega__respond_error(r, 422, "validation", "\"encoding_format\" must be \"float\" or \"base64\"");
      return false;
    }
    c->base64 = strcmp(f, "base64") == 0;
  }
  const json_t *model = json_object_get(c->doc, "model");
  if (model && !json_is_null(model) && !json_is_string(model)) {
    omega__respond_error(r, 422, "validation", "\"model\" must be a string");
    return false;
  }
  bool truncate;
  if (!opt_dims(r, c->doc, c) || !omega__req_opt_bool(r, c->doc, "truncate", false, &truncate) || !opt_prompts(r, c))
    return false;
  c->flags = truncate ? 0 : OMEGA_EMBED_NO_TRUNCATE;
  return submit_embed(r);
}

/* ---- /invoke ---- */

static bool invoke_embed(omega_req_t *r, embed_ctx_t *c);

bool omega__step_invoke(omega_req_t *r) {
  if (!omega__req_authenticate(r))
    return false;
  json_t *doc = omega__req_json(r);
  if (!doc)
    return false;
  const char *action = json_string_value(json_object_get(doc, "action"));
  const json_t *tm = json_object_get(doc, "timeout_ms");
  if (!action || (strcmp(action, "embed") != 0 && strcmp(action, "search") != 0)) {
    if (action)
      omega__respond_error(r, 422, "validation", "unknown action \"%.64s\" (supported: embed, search)", action);
    else
      omega__respond_error(r, 422, "validation", "\"action\" is required (supported: embed, search)");
  } else if (tm && !json_is_null(tm) &&
             (!json_is_integer(tm) || json_integer_value(tm) < 1 || json_integer_value(tm) > 3600000)) {
    omega__respond_error(r, 422, "validation", "\"timeout_ms\" must be an integer in [1, 3600000]");
  } else {
    if (tm && !json_is_null(tm))
      r->deadline_ns = r->start_ns + json_integer_value(tm) * 1000000;
    if (strcmp(action, "search") == 0)
      return omega__invoke_search(r, doc);
    embed_ctx_t *c = new_ctx(r, KIND_INVOKE);
    if (c) {
      c->doc = doc;
      return invoke_embed(r, c);
    }
  }
  json_decref(doc);
  return false;
}

static bool invoke_embed(omega_req_t *r, embed_ctx_t *c) {
  const json_t *in = json_object_get(c->doc, "inputs");
  bool normalize, truncate;
  if (!in) {
    omega__respond_error(r, 422, "validation", "\"inputs\" is required");
    return false;
  }
  if (!take_texts(r, c, in, "inputs") || !omega__req_opt_bool(r, c->doc, "normalize", r->srv->info.normalize, &normalize) ||
      !omega__req_opt_bool(r, c->doc, "truncate", true, &truncate) || !opt_dims(r, c->doc, c))
    return false;
  c->flags = (normalize ? OMEGA_EMBED_NORMALIZE : OMEGA_EMBED_NO_NORMALIZE) | (truncate ? 0 : OMEGA_EMBED_NO_TRUNCATE);
  return submit_embed(r);
}

/* ---- /tokenize ---- */

/* The tokens of one text into *toks, grown as needed (cap: its room). */
static int tokens_of(const omega_tokenizer_t *tok, const omega_text_t *t, size_t limit, omega_token_t **toks,
                     size_t *cap, size_t *n) {
  int rc = omega_tokenizer_tokens(tok, t->ptr, t->len, limit, 0, *toks, *cap, n);
  assert(rc != 0 || *n <= *cap); /* its contract; the analyzer cannot see into another file */
  if (rc != OMEGA_ERANGE)
    return rc;
  omega_token_t *grown = omega__realloc(*toks, *n * sizeof **toks);
  if (!grown)
    return omega__seterr(OMEGA_ENOMEM, "out of memory for %zu tokens", *n);
  *toks = grown;
  *cap = *n;
  return omega_tokenizer_tokens(tok, t->ptr, t->len, limit, 0, *toks, *cap, n);
}

bool omega__step_tokenize(omega_req_t *r) {
  embed_ctx_t *c = new_ctx(r, KIND_TEI);
  if (!c || !(c->doc = omega__req_json(r)))
    return false;
  const json_t *in = json_object_get(c->doc, "inputs");
  bool specials, truncate;
  if (!in) {
    omega__respond_error(r, 422, "validation", "\"inputs\" is required");
    return false;
  }
  if (!take_texts(r, c, in, "inputs") || !omega__req_opt_bool(r, c->doc, "add_special_tokens", true, &specials) ||
      !omega__req_opt_bool(r, c->doc, "truncate", false, &truncate))
    return false;
  const omega_tokenizer_t *tok = omega_engine_tokenizer(r->srv->engine);
  /* the answer is about 40 bytes a token, 20 times its text: bound it, not only the body */
  const size_t max_tokens = (size_t)atomic_load(&r->srv->tokenize_max_tokens);
  const size_t limit = truncate ? (size_t)r->srv->info.max_seq_length : 0;
  size_t total = 0, cap = 0;
  omega_token_t *toks = NULL;
  omega_buf_t b = {0};
  omega__buf_puts(&b, "[");
  for (size_t i = 0; i < c->n; i++) {
    size_t n;
    int rc = tokens_of(tok, &c->texts[i], limit, &toks, &cap, &n);
    if (rc) {
      char what[64];
      snprintf(what, sizeof what, "inputs[%zu]", i);
      omega__respond_status(r, rc, what);
      omega__free(toks);
      omega__buf_free(&b);
      return false;
    }
    size_t shown = 0;
    for (size_t k = 0; k < n; k++)
      shown += specials || !toks[k].from_template;
    total += shown;
    if (total > max_tokens) { /* past the bound only count, so the answer can name the request's size */
      omega__buf_free(&b);
      continue;
    }
    omega__buf_puts(&b, i ? ",[" : "[");
    const char *sep = "";
    for (size_t k = 0; k < n; k++) {
      if (!specials && toks[k].from_template)
        continue;
      omega__buf_printf(&b, "%s{\"id\":%d,\"text\":", sep, toks[k].id);
      omega__buf_json_str(&b, toks[k].text, toks[k].text_len);
      omega__buf_printf(&b, ",\"special\":%s}", toks[k].special ? "true" : "false");
      sep = ",";
    }
    omega__buf_puts(&b, "]");
  }
  omega__free(toks);
  if (total > max_tokens) {
    omega__respond_error(r, 422, "validation",
                         "\"inputs\" come to %zu tokens, more than the limit of %zu (OMEGA_TOKENIZE_MAX_TOKENS): send "
                         "fewer or shorter inputs, or \"truncate\": true",
                         total, max_tokens);
    return false;
  }
  omega__buf_puts(&b, "]");
  omega__respond_buf(r, 200, &b);
  return false;
}

#include "model/config.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/json_util.h"

#include <stdio.h>
#include <string.h>

#define MAX_CONFIG_FILE (4u << 20)
#define DIM_MAX (1 << 16)

static int load_json_in(const char *dir, const char *name, json_t **out, char *path, size_t cap) {
  int rc = omega__path_join(path, cap, dir, name);
  if (rc)
    return rc;
  rc = omega__json_load_file(path, MAX_CONFIG_FILE, out);
  if (rc == 0 && !json_is_object(*out)) {
    json_decref(*out);
    return omega__seterr(OMEGA_EFORMAT, "%s: top level must be a JSON object", path);
  }
  return rc;
}

static int geti(const json_t *j, const char *path, const char *key, int def, int min, int max, int *out) {
  int64_t v;
  int rc = omega__json_int(j, path, key, def, min, max, &v);
  if (rc == 0)
    *out = (int)v;
  return rc;
}

int omega__bert_config_load(const char *dir, omega_bert_config_t *c) {
  char path[4096];
  json_t *j;
  memset(c, 0, sizeof *c);
  int rc = load_json_in(dir, "config.json", &j, path, sizeof path);
  if (rc)
    return rc;
  rc = omega__bert_config_parse(path, j, c);
  json_decref(j);
  return rc;
}

/* BertConfig / RobertaConfig fields. Every hyper-parameter has a default in transformers;
 * the shape ones must be present here because a silently defaulted shape gives wrong
 * embeddings. RoBERTa's defaults differ in token types, padding and LayerNorm eps. */
static int bert_fields(const json_t *j, const char *path, omega_bert_config_t *c, const char **act,
                       const char **pos_type) {
  static const char *const required[] = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                         "intermediate_size"};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!json_object_get(j, required[i]))
      return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" is missing", path, required[i]);
  const bool roberta = c->arch == OMEGA_ARCH_ROBERTA;
  int rc;
  if ((rc = geti(j, path, "vocab_size", 30522, 1, 1 << 24, &c->vocab_size)) ||
      (rc = geti(j, path, "hidden_size", 768, 1, DIM_MAX, &c->hidden_size)) ||
      (rc = geti(j, path, "num_hidden_layers", 12, 1, 1024, &c->num_layers)) ||
      (rc = geti(j, path, "num_attention_heads", 12, 1, 1024, &c->num_heads)) ||
      (rc = geti(j, path, "intermediate_size", 3072, 1, 4 * DIM_MAX, &c->intermediate_size)) ||
      (rc = geti(j, path, "max_position_embeddings", 512, 1, 1 << 20, &c->max_position_embeddings)) ||
      (rc = geti(j, path, "type_vocab_size", roberta ? 1 : 2, 1, 1 << 16, &c->type_vocab_size)) ||
      (rc = geti(j, path, "pad_token_id", roberta ? 1 : 0, 0, 1 << 24, &c->pad_token_id)) ||
      (rc = omega__json_num(j, path, "layer_norm_eps", roberta ? 1e-5 : 1e-12, 0, 1, &c->layer_norm_eps)) ||
      (rc = omega__json_str(j, path, "hidden_act", "gelu", act)))
    return rc;
  return omega__json_str(j, path, "position_embedding_type", "absolute", pos_type);
}

/* DistilBertConfig: its own names (dim, n_layers, ...), no token types, LayerNorm eps 1e-12. */
static int distilbert_fields(const json_t *j, const char *path, omega_bert_config_t *c, const char **act) {
  static const char *const required[] = {"vocab_size", "dim", "n_layers", "n_heads", "hidden_dim"};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!json_object_get(j, required[i]))
      return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" is missing", path, required[i]);
  c->layer_norm_eps = 1e-12;
  c->type_vocab_size = 0;
  int rc;
  if ((rc = geti(j, path, "vocab_size", 30522, 1, 1 << 24, &c->vocab_size)) ||
      (rc = geti(j, path, "dim", 768, 1, DIM_MAX, &c->hidden_size)) ||
      (rc = geti(j, path, "n_layers", 6, 1, 1024, &c->num_layers)) ||
      (rc = geti(j, path, "n_heads", 12, 1, 1024, &c->num_heads)) ||
      (rc = geti(j, path, "hidden_dim", 3072, 1, 4 * DIM_MAX, &c->intermediate_size)) ||
      (rc = geti(j, path, "max_position_embeddings", 512, 1, 1 << 20, &c->max_position_embeddings)) ||
      (rc = geti(j, path, "pad_token_id", 0, 0, 1 << 24, &c->pad_token_id)))
    return rc;
  return omega__json_str(j, path, "activation", "gelu", act);
}

/* "architectures" naming a *ForSequenceClassification: its labels (id2label, else num_labels,
 * else transformers' default of 2) and CrossEncoder's activation (config.json's
 * sentence_transformers.activation_fn, else sbert_ce_default_activation_function, else
 * Sigmoid for one label and Identity for more). */
static int head_fields(const json_t *j, const char *path, omega_head_config_t *h) {
  const json_t *archs = json_object_get(j, "architectures");
  size_t i;
  const json_t *a;
  json_array_foreach(archs, i, a) {
    const char *name = json_string_value(a);
    size_t n = name ? strlen(name) : 0;
    if (n > 25 && strcmp(name + n - 25, "ForSequenceClassification") == 0) {
      h->present = true;
      snprintf(h->architecture, sizeof h->architecture, "%s", name);
    }
  }
  if (!h->present)
    return 0;
  const json_t *id2label = json_object_get(j, "id2label");
  int n = 2, rc;
  if (json_is_object(id2label) && json_object_size(id2label))
    n = (int)json_object_size(id2label);
  else if ((rc = geti(j, path, "num_labels", 2, 1, OMEGA_MAX_LABELS, &n)))
    return rc;
  if (n > OMEGA_MAX_LABELS)
    return omega__seterr(OMEGA_EUNSUPPORTED, "%s: %d labels, more than %d", path, n, OMEGA_MAX_LABELS);
  h->num_labels = n;
  for (int k = 0; k < n; k++) {
    char key[16];
    snprintf(key, sizeof key, "%d", k);
    const char *label = json_string_value(json_object_get(id2label, key));
    if (json_is_object(id2label) && json_object_size(id2label) && !label)
      return omega__seterr(OMEGA_EFORMAT, "%s: id2label has no label for id %d", path, k);
    snprintf(h->labels[k], sizeof h->labels[k], "%s", label ? label : "");
    if (!label)
      snprintf(h->labels[k], sizeof h->labels[k], "LABEL_%d", k);
  }
  const char *act = json_string_value(json_object_get(json_object_get(j, "sentence_transformers"), "activation_fn"));
  if (!act)
    act = json_string_value(json_object_get(j, "sbert_ce_default_activation_function"));
  h->act = n == 1 ? OMEGA_SCORE_SIGMOID : OMEGA_SCORE_IDENTITY;
  if (act) {
    const char *dot = strrchr(act, '.');
    const char *cls = dot ? dot + 1 : act;
    static const struct {
      const char *name;
      omega_score_act_t act;
    } acts[] = {{"Sigmoid", OMEGA_SCORE_SIGMOID}, {"Identity", OMEGA_SCORE_IDENTITY}, {"Softmax", OMEGA_SCORE_SOFTMAX},
                {"Tanh", OMEGA_SCORE_TANH}};
    size_t k = 0;
    while (k < 4 && strcmp(cls, acts[k].name) != 0)
      k++;
    if (k == 4)
      return omega__seterr(OMEGA_EUNSUPPORTED,
                           "%s: cross-encoder activation \"%s\" is not supported (supported: Sigmoid, Identity, "
                           "Softmax, Tanh)",
                           path, act);
    h->act = acts[k].act;
  }
  return 0;
}

int omega__bert_config_parse(const char *path, const json_t *j, omega_bert_config_t *c) {
  memset(c, 0, sizeof *c);
  if (!json_is_object(j))
    return omega__seterr(OMEGA_EFORMAT, "%s: top level must be a JSON object", path);
  int rc;
  const char *mt, *act = "gelu", *pos_type = "absolute";
  if ((rc = omega__json_str(j, path, "model_type", NULL, &mt)))
    goto out;
  if (!mt) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: \"model_type\" is missing", path);
    goto out;
  }
  snprintf(c->model_type, sizeof c->model_type, "%s", mt);
  if (strcmp(mt, "bert") == 0)
    c->arch = OMEGA_ARCH_BERT;
  else if (strcmp(mt, "roberta") == 0 || strcmp(mt, "xlm-roberta") == 0 || strcmp(mt, "camembert") == 0)
    c->arch = OMEGA_ARCH_ROBERTA;
  else if (strcmp(mt, "distilbert") == 0)
    c->arch = OMEGA_ARCH_DISTILBERT;
  else if (strcmp(mt, "mpnet") == 0)
    c->arch = OMEGA_ARCH_MPNET;
  else {
    rc = omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: model_type \"%s\" is not supported (supported: bert, roberta, xlm-roberta, camembert, "
                       "distilbert, mpnet)",
                       path, mt);
    goto out;
  }
  rc = c->arch == OMEGA_ARCH_DISTILBERT ? distilbert_fields(j, path, c, &act) : bert_fields(j, path, c, &act, &pos_type);
  if (rc || (rc = head_fields(j, path, &c->head)))
    goto out;
  c->pos_rows = c->max_position_embeddings;
  if (c->arch == OMEGA_ARCH_MPNET) {
    /* MPNet: no token types, its embeddings' padding_idx fixed at 1, 32 buckets at least */
    c->type_vocab_size = 0;
    c->pad_token_id = 1;
    if ((rc = geti(j, path, "relative_attention_num_buckets", 32, 32, 1 << 16, &c->rel_buckets)))
      goto out;
  }
  if (c->arch == OMEGA_ARCH_ROBERTA || c->arch == OMEGA_ARCH_MPNET) {
    /* RoBERTa and MPNet number real tokens from padding_idx + 1 (create_position_ids_from_input_ids) */
    c->pos_offset = c->pad_token_id + 1;
    if (c->pos_offset >= c->pos_rows) {
      rc = omega__seterr(OMEGA_EFORMAT, "%s: max_position_embeddings %d leaves no position after pad_token_id %d",
                         path, c->pos_rows, c->pad_token_id);
      goto out;
    }
    c->max_position_embeddings = c->pos_rows - c->pos_offset;
  }
  if (c->hidden_size % c->num_heads) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path,
                       c->hidden_size, c->num_heads);
    goto out;
  }
  if (strcmp(pos_type, "absolute") != 0) {
    rc = omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: position_embedding_type \"%s\" is not supported (supported: absolute)", path, pos_type);
    goto out;
  }
  snprintf(c->act_name, sizeof c->act_name, "%s", act);
  if (strcmp(act, "gelu") == 0)
    c->act = OMEGA_ACT_GELU;
  else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0)
    c->act = OMEGA_ACT_GELU_TANH;
  else if (strcmp(act, "relu") == 0)
    c->act = OMEGA_ACT_RELU;
  else
    rc = omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: hidden_act \"%s\" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)",
                       path, act);
out:
  return rc;
}

static int load_pooling(const char *dir, const char *sub, const omega_bert_config_t *b, unsigned *pool) {
  char pdir[4096], path[4096];
  json_t *j;
  int rc = omega__path_join(pdir, sizeof pdir, dir, sub);
  if (rc || (rc = load_json_in(pdir, "config.json", &j, path, sizeof path)))
    return rc;
  static const struct {
    const char *key;
    unsigned bit;
  } modes[] = {
      {"pooling_mode_cls_token", OMEGA_POOL_CLS},
      {"pooling_mode_max_tokens", OMEGA_POOL_MAX},
      {"pooling_mode_mean_tokens", OMEGA_POOL_MEAN},
      {"pooling_mode_mean_sqrt_len_tokens", OMEGA_POOL_MEAN_SQRT_LEN},
      {"pooling_mode_weightedmean_tokens", OMEGA_POOL_WEIGHTED_MEAN},
      {"pooling_mode_lasttoken", OMEGA_POOL_LAST},
  };
  *pool = 0;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0] && rc == 0; i++) {
    bool on;
    rc = omega__json_bool(j, path, modes[i].key, false, &on);
    if (on)
      *pool |= modes[i].bit;
  }
  int dim;
  if (rc == 0)
    rc = geti(j, path, "word_embedding_dimension", b->hidden_size, 1, DIM_MAX, &dim);
  if (rc == 0 && dim != b->hidden_size)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: word_embedding_dimension %d does not match hidden_size %d", path, dim,
                       b->hidden_size);
  if (rc == 0 && *pool == 0)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: no pooling mode is enabled", path);
  bool include_prompt = true;
  if (rc == 0 && (rc = omega__json_bool(j, path, "include_prompt", true, &include_prompt)) == 0 && !include_prompt)
    rc = omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: include_prompt false (pooling without the prompt's tokens) is not supported", path);
  json_decref(j);
  return rc;
}

/* A Dense module's config.json: sizes, bias, activation (a torch class name). */
static int load_dense(const char *dir, const char *sub, omega_post_step_t *d) {
  char ddir[4096], path[4096];
  json_t *j;
  int rc = omega__path_join(ddir, sizeof ddir, dir, sub);
  if (rc || (rc = load_json_in(ddir, "config.json", &j, path, sizeof path)))
    return rc;
  const char *act = NULL;
  if ((rc = geti(j, path, "in_features", 0, 1, DIM_MAX, &d->in)) || (rc = geti(j, path, "out_features", 0, 1, DIM_MAX, &d->out)) ||
      (rc = omega__json_bool(j, path, "bias", true, &d->bias)) ||
      (rc = omega__json_str(j, path, "activation_function", "torch.nn.modules.activation.Tanh", &act))) {
    json_decref(j);
    return rc;
  }
  static const struct {
    const char *name;
    omega_dense_act_t act;
  } acts[] = {{"Identity", OMEGA_DENSE_IDENTITY}, {"Tanh", OMEGA_DENSE_TANH}, {"ReLU", OMEGA_DENSE_RELU},
              {"Sigmoid", OMEGA_DENSE_SIGMOID},   {"GELU", OMEGA_DENSE_GELU}};
  const char *dot = strrchr(act, '.');
  const char *cls = dot ? dot + 1 : act;
  size_t k = 0;
  while (k < sizeof acts / sizeof acts[0] && strcmp(cls, acts[k].name) != 0)
    k++;
  if (k == sizeof acts / sizeof acts[0])
    rc = omega__seterr(OMEGA_EUNSUPPORTED,
                       "%s: activation_function \"%s\" is not supported (supported: Identity, Tanh, ReLU, Sigmoid, "
                       "GELU)",
                       path, act);
  else
    d->act = acts[k].act;
  if (rc == 0 && (!d->in || !d->out))
    rc = omega__seterr(OMEGA_EFORMAT, "%s: in_features and out_features are required", path);
  if (rc == 0 && snprintf(d->dir, sizeof d->dir, "%s", sub) >= (int)sizeof d->dir)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: module path \"%s\" is too long", path, sub);
  json_decref(j);
  return rc;
}

static int load_modules(const char *dir, const omega_bert_config_t *b, omega_st_config_t *st) {
  char path[4096];
  json_t *j;
  int rc = omega__path_join(path, sizeof path, dir, "modules.json");
  if (rc || (rc = omega__json_load_file(path, MAX_CONFIG_FILE, &j)))
    return rc;
  if (!json_is_array(j)) {
    json_decref(j);
    return omega__seterr(OMEGA_EFORMAT, "%s: must be a JSON array of modules", path);
  }
  bool seen_transformer = false, seen_pool = false;
  size_t i;
  json_t *m;
  json_array_foreach(j, i, m) {
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *sub = json_string_value(json_object_get(m, "path"));
    if (!type) {
      rc = omega__seterr(OMEGA_EFORMAT, "%s: module %zu has no \"type\"", path, i);
      break;
    }
    const char *dot = strrchr(type, '.');
    const char *kind = dot ? dot + 1 : type;
    if (strcmp(kind, "Transformer") == 0 && !seen_transformer && !seen_pool) {
      seen_transformer = true;
    } else if (strcmp(kind, "Pooling") == 0 && seen_transformer && !seen_pool) {
      if (!sub || !*sub) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: Pooling module has no \"path\"", path);
        break;
      }
      if ((rc = load_pooling(dir, sub, b, &st->pooling)))
        break;
      seen_pool = true;
    } else if ((strcmp(kind, "Normalize") == 0 || strcmp(kind, "Dense") == 0) && seen_pool) {
      if (st->n_post == OMEGA_MAX_POST) {
        rc = omega__seterr(OMEGA_EUNSUPPORTED, "%s: more than %d modules after Pooling", path, OMEGA_MAX_POST);
        break;
      }
      omega_post_step_t *d = &st->post[st->n_post++];
      d->normalize = kind[0] == 'N';
      if (!d->normalize && (!sub || !*sub || strstr(sub, ".."))) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: Dense module %zu needs a \"path\" inside the folder", path, i);
        break;
      }
      if (!d->normalize && (rc = load_dense(dir, sub, d)))
        break;
    } else {
      rc = omega__seterr(OMEGA_EUNSUPPORTED,
                         "%s: module %zu \"%s\" is not supported here (supported: Transformer, Pooling, Dense, "
                         "Normalize)",
                         path, i, type);
      break;
    }
  }
  /* a last Normalize is the model's normalisation, which a request may turn off */
  if (rc == 0 && st->n_post && st->post[st->n_post - 1].normalize) {
    st->n_post--;
    st->normalize = true;
  }
  if (rc == 0 && (!seen_transformer || !seen_pool))
    rc = omega__seterr(OMEGA_EFORMAT, "%s: needs a Transformer module followed by a Pooling module", path);
  json_decref(j);
  return rc;
}

void omega__st_config_free(omega_st_config_t *st) {
  for (size_t i = 0; i < st->n_prompts; i++) {
    omega__free(st->prompts[i].name);
    omega__free(st->prompts[i].text);
  }
  omega__free(st->prompts);
  st->prompts = NULL;
  st->n_prompts = 0;
  st->default_prompt = -1;
}

const char *omega__st_prompt(const omega_st_config_t *st, const char *name) {
  for (size_t i = 0; name && i < st->n_prompts; i++)
    if (strcmp(st->prompts[i].name, name) == 0)
      return st->prompts[i].text;
  return NULL;
}

static char *dup_cstr(const char *s) {
  size_t n = strlen(s);
  char *d = omega__malloc(n + 1);
  if (d)
    memcpy(d, s, n + 1);
  return d;
}

/* config_sentence_transformers.json: the named prompts and the one used by default. */
static int load_prompts(const char *dir, omega_st_config_t *st) {
  char path[4096];
  json_t *j;
  int rc = omega__path_join(path, sizeof path, dir, "config_sentence_transformers.json");
  if (rc || !omega__is_file(path))
    return rc;
  if ((rc = load_json_in(dir, "config_sentence_transformers.json", &j, path, sizeof path)))
    return rc;
  const json_t *prompts = json_object_get(j, "prompts");
  const char *def = NULL;
  if (prompts && !json_is_null(prompts) && !json_is_object(prompts))
    rc = omega__seterr(OMEGA_EFORMAT, "%s: \"prompts\" must be an object of name -> text", path);
  if (rc == 0)
    rc = omega__json_str(j, path, "default_prompt_name", NULL, &def);
  size_t n = json_is_object(prompts) ? json_object_size(prompts) : 0;
  if (rc == 0 && n > 1024)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: more than 1024 prompts", path);
  if (rc == 0 && n && !(st->prompts = omega__calloc(n, sizeof *st->prompts)))
    rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", path);
  const char *key;
  const json_t *val;
  if (rc == 0 && n)
    json_object_foreach((json_t *)prompts, key, val) {
      if (!json_is_string(val)) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: prompt \"%.60s\" must be a string", path, key);
        break;
      }
      omega_prompt_t *p = &st->prompts[st->n_prompts++];
      if (!(p->name = dup_cstr(key)) || !(p->text = dup_cstr(json_string_value(val)))) {
        rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", path);
        break;
      }
    }
  for (size_t i = 0; rc == 0 && def && i < st->n_prompts; i++)
    if (strcmp(st->prompts[i].name, def) == 0)
      st->default_prompt = (int)i;
  if (rc == 0 && def && st->default_prompt < 0)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: default_prompt_name \"%.60s\" is not one of the prompts", path, def);
  json_decref(j);
  return rc;
}

int omega__st_config_load(const char *dir, const omega_bert_config_t *b, omega_st_config_t *st) {
  char path[4096];
  memset(st, 0, sizeof *st);
  st->default_prompt = -1;
  st->max_seq_length = b->max_position_embeddings;
  int rc = omega__path_join(path, sizeof path, dir, "modules.json");
  if (rc)
    return rc;
  if (b->head.present) {
    st->pooling = OMEGA_POOL_CLS; /* the head reads the first token's hidden state */
  } else if (omega__is_file(path)) {
    st->has_modules_json = true;
    if ((rc = load_modules(dir, b, st)))
      return rc;
  } else {
    st->pooling = OMEGA_POOL_MEAN; /* what sentence-transformers builds for a plain HF model */
  }
  if ((rc = omega__path_join(path, sizeof path, dir, "sentence_bert_config.json")))
    return rc;
  if (omega__is_file(path)) {
    json_t *j;
    if ((rc = load_json_in(dir, "sentence_bert_config.json", &j, path, sizeof path)))
      return rc;
    bool lower;
    rc = geti(j, path, "max_seq_length", b->max_position_embeddings, 2, 1 << 20, &st->max_seq_length);
    if (rc == 0)
      rc = omega__json_bool(j, path, "do_lower_case", false, &lower);
    if (rc == 0 && lower)
      rc = omega__seterr(OMEGA_EUNSUPPORTED, "%s: do_lower_case true is not supported", path);
    json_decref(j);
    if (rc)
      return rc;
  }
  /* sentence-transformers never feeds more positions than the model has. */
  if (st->max_seq_length > b->max_position_embeddings)
    st->max_seq_length = b->max_position_embeddings;
  if ((rc = load_prompts(dir, st)))
    omega__st_config_free(st);
  return rc;
}

int omega__pool_count(unsigned pooling) { return __builtin_popcount(pooling); }

int omega__pool_parse(const char *s, unsigned *out) {
  static const char *const names[] = {"cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken"};
  unsigned bits = 0;
  const char *p = s;
  while (*p) {
    size_t n = strcspn(p, "+,");
    size_t k = 0;
    while (k < 6 && !(strlen(names[k]) == n && strncmp(p, names[k], n) == 0))
      k++;
    if (k == 6)
      return omega__seterr(OMEGA_EINVAL,
                           "pooling \"%.*s\" is not one of cls, mean, max, mean_sqrt_len, weightedmean, lasttoken",
                           (int)n, p);
    bits |= 1u << k;
    p += n;
    if (*p)
      p++;
  }
  if (!bits)
    return omega__seterr(OMEGA_EINVAL, "pooling \"%s\" names no mode", s);
  *out = bits;
  return 0;
}

const char *omega__pool_name(unsigned pooling, char *buf, size_t cap) {
  static const char *const names[] = {"cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken"};
  size_t k = 0;
  buf[0] = '\0';
  for (int i = 0; i < 6; i++)
    if (pooling & (1u << i)) {
      int n = snprintf(buf + k, cap - k, "%s%s", k ? "+" : "", names[i]);
      if (n < 0 || (size_t)n >= cap - k)
        break;
      k += (size_t)n;
    }
  return buf;
}

#include "model/model.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "core/vecmath.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  omega_model_t *m;
  const char *path;
  float *arena;
  size_t used, cap; /* floats */
  bool sizing;      /* first pass only counts */
} loader_t;

/* How each family names its tensors. The layers are BERT's post-LN block in every family:
 * fused q, k, v; attention output; LayerNorm; two feed-forward linears; LayerNorm. */
typedef struct {
  const char *prefix; /* of a *Model saved inside a task model ("bert.", ...) */
  const char *qkv;    /* printf(layer, part) */
  const char *parts[3];
  const char *layer[10]; /* printf(layer): ao w, b; ln1 g, b; ff1 w, b; ff2 w, b; ln2 g, b */
} family_names_t;

static const family_names_t bert_names = {
    "bert.",
    "encoder.layer.%d.attention.self.%s",
    {"query", "key", "value"},
    {"encoder.layer.%d.attention.output.dense.weight", "encoder.layer.%d.attention.output.dense.bias",
     "encoder.layer.%d.attention.output.LayerNorm.weight", "encoder.layer.%d.attention.output.LayerNorm.bias",
     "encoder.layer.%d.intermediate.dense.weight", "encoder.layer.%d.intermediate.dense.bias",
     "encoder.layer.%d.output.dense.weight", "encoder.layer.%d.output.dense.bias",
     "encoder.layer.%d.output.LayerNorm.weight", "encoder.layer.%d.output.LayerNorm.bias"},
};

static const family_names_t distilbert_names = {
    "distilbert.",
    "transformer.layer.%d.attention.%s",
    {"q_lin", "k_lin", "v_lin"},
    {"transformer.layer.%d.attention.out_lin.weight", "transformer.layer.%d.attention.out_lin.bias",
     "transformer.layer.%d.sa_layer_norm.weight", "transformer.layer.%d.sa_layer_norm.bias",
     "transformer.layer.%d.ffn.lin1.weight", "transformer.layer.%d.ffn.lin1.bias",
     "transformer.layer.%d.ffn.lin2.weight", "transformer.layer.%d.ffn.lin2.bias",
     "transformer.layer.%d.output_layer_norm.weight", "transformer.layer.%d.output_layer_norm.bias"},
};

static const family_names_t mpnet_names = {
    "mpnet.",
    "encoder.layer.%d.attention.attn.%s",
    {"q", "k", "v"},
    {"encoder.layer.%d.attention.attn.o.weight", "encoder.layer.%d.attention.attn.o.bias",
     "encoder.layer.%d.attention.LayerNorm.weight", "encoder.layer.%d.attention.LayerNorm.bias",
     "encoder.layer.%d.intermediate.dense.weight", "encoder.layer.%d.intermediate.dense.bias",
     "encoder.layer.%d.output.dense.weight", "encoder.layer.%d.output.dense.bias",
     "encoder.layer.%d.output.LayerNorm.weight", "encoder.layer.%d.output.LayerNorm.bias"},
};

static const family_names_t *names_of(omega_arch_t f) {
  static family_names_t roberta_names;
  switch (f) {
  case OMEGA_ARCH_DISTILBERT:
    return &distilbert_names;
  case OMEGA_ARCH_MPNET:
    return &mpnet_names;
  case OMEGA_ARCH_ROBERTA:
    if (!roberta_names.prefix) { /* BERT's names under "roberta." (XLM-R and CamemBERT too) */
      roberta_names = bert_names;
      roberta_names.prefix = "roberta.";
    }
    return &roberta_names;
  default:
    return &bert_names;
  }
}

/* Find a tensor by its HF name, with the model's prefix and the legacy LayerNorm names
 * (gamma/beta) transformers still accepts. */
static const omega_st_tensor_t *find(loader_t *L, const char *name) {
  char full[256];
  snprintf(full, sizeof full, "%s%s", L->m->prefix, name);
  const omega_st_tensor_t *t = omega__weights_find(&L->m->weights, full);
  if (t || !strstr(name, "LayerNorm."))
    return t;
  size_t n = strlen(full);
  if (n > 7 && strcmp(full + n - 7, ".weight") == 0)
    snprintf(full + n - 7, sizeof full - (n - 7), ".gamma");
  else if (n > 5 && strcmp(full + n - 5, ".bias") == 0)
    snprintf(full + n - 5, sizeof full - (n - 5), ".beta");
  return omega__weights_find(&L->m->weights, full);
}

static int check(loader_t *L, const char *name, const omega_st_tensor_t *t, int64_t d0, int64_t d1) {
  char got[96], want[64];
  int64_t shape[2] = {d0, d1};
  int nd = d1 < 0 ? 1 : 2;
  if (!t)
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s%s\" is missing", L->path, L->m->prefix, name);
  if (t->dtype == OMEGA_DT_OTHER)
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\" has dtype %s, expected F32, F16 or BF16", L->path, t->name,
                         t->dtype_name);
  if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1))
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\" has shape %s, expected %s", L->path, t->name,
                         omega__shape_str(t->shape, t->ndim, got, sizeof got),
                         omega__shape_str(shape, nd, want, sizeof want));
  return 0;
}

static float *take(loader_t *L, size_t n) {
  n = (n + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
  float *p = L->sizing ? NULL : L->arena + L->used;
  L->used += n;
  return p;
}

/* Copy (converting) one tensor into the arena after checking its shape. */
static int load(loader_t *L, const char *name, int64_t d0, int64_t d1, const float **out) {
  const omega_st_tensor_t *t = find(L, name);
  int rc = check(L, name, t, d0, d1);
  if (rc)
    return rc;
  float *dst = take(L, t->nelem);
  if (!L->sizing) {
    omega__tensor_to_f32(t, dst);
    *out = dst;
    L->m->n_params += t->nelem;
  }
  return 0;
}

/* q, k, v weights [H, H] and biases [H] fused into [3H, H] and [3H]. */
static int load_qkv(loader_t *L, int layer, omega_bert_layer_t *ly) {
  const int H = L->m->cfg.hidden_size;
  const family_names_t *fn = names_of(L->m->cfg.arch);
  float *w = take(L, (size_t)3 * H * H), *b = take(L, (size_t)3 * H);
  for (int p = 0; p < 3; p++) {
    char base[128], wn[160], bn[160];
    snprintf(base, sizeof base, fn->qkv, layer, fn->parts[p]);
    snprintf(wn, sizeof wn, "%s.weight", base);
    snprintf(bn, sizeof bn, "%s.bias", base);
    const omega_st_tensor_t *tw = find(L, wn), *tb = find(L, bn);
    int rc;
    if ((rc = check(L, wn, tw, H, H)) || (rc = check(L, bn, tb, H, -1)))
      return rc;
    if (!L->sizing) {
      omega__tensor_to_f32(tw, w + (size_t)p * H * H);
      omega__tensor_to_f32(tb, b + (size_t)p * H);
      L->m->n_params += tw->nelem + tb->nelem;
    }
  }
  ly->qkv_w = w;
  ly->qkv_b = b;
  return 0;
}

static int load_layer(loader_t *L, int i, omega_bert_layer_t *ly) {
  const int H = L->m->cfg.hidden_size, I = L->m->cfg.intermediate_size;
  char n[10][128];
  const family_names_t *fn = names_of(L->m->cfg.arch);
  for (int k = 0; k < 10; k++)
    snprintf(n[k], sizeof n[k], fn->layer[k], i);
  int rc;
  if ((rc = load_qkv(L, i, ly)) || (rc = load(L, n[0], H, H, &ly->ao_w)) || (rc = load(L, n[1], H, -1, &ly->ao_b)) ||
      (rc = load(L, n[2], H, -1, &ly->ln1_g)) || (rc = load(L, n[3], H, -1, &ly->ln1_b)) ||
      (rc = load(L, n[4], I, H, &ly->ff1_w)) || (rc = load(L, n[5], I, -1, &ly->ff1_b)) ||
      (rc = load(L, n[6], H, I, &ly->ff2_w)) || (rc = load(L, n[7], H, -1, &ly->ff2_b)) ||
      (rc = load(L, n[8], H, -1, &ly->ln2_g)) || (rc = load(L, n[9], H, -1, &ly->ln2_b)))
    return rc;
  return 0;
}

/* A tensor of the task model itself (the classifier), outside the base model's prefix. */
static int load_bare(loader_t *L, const char *name, int64_t d0, int64_t d1, const float **out) {
  const char *saved = L->m->prefix;
  L->m->prefix = "";
  int rc = load(L, name, d0, d1, out);
  L->m->prefix = saved;
  return rc;
}

/* The *ForSequenceClassification head: BERT's pooler then classifier; RoBERTa's and MPNet's
 * classifier.dense then out_proj; DistilBERT's pre_classifier then classifier. */
static int load_head(loader_t *L) {
  omega_model_t *m = L->m;
  const int H = m->cfg.hidden_size, n = m->cfg.head.num_labels;
  int rc;
  switch (m->cfg.arch) {
  case OMEGA_ARCH_BERT:
    if ((rc = load(L, "pooler.dense.weight", H, H, &m->head_w1)) || (rc = load(L, "pooler.dense.bias", H, -1, &m->head_b1)))
      return rc;
    return (rc = load_bare(L, "classifier.weight", n, H, &m->head_w2)) ? rc
                                                                         : load_bare(L, "classifier.bias", n, -1, &m->head_b2);
  case OMEGA_ARCH_DISTILBERT:
    m->head_relu = true;
    if ((rc = load_bare(L, "pre_classifier.weight", H, H, &m->head_w1)) ||
        (rc = load_bare(L, "pre_classifier.bias", H, -1, &m->head_b1)))
      return rc;
    return (rc = load_bare(L, "classifier.weight", n, H, &m->head_w2)) ? rc
                                                                         : load_bare(L, "classifier.bias", n, -1, &m->head_b2);
  default: /* RoBERTa, XLM-R, CamemBERT, MPNet */
    if ((rc = load_bare(L, "classifier.dense.weight", H, H, &m->head_w1)) ||
        (rc = load_bare(L, "classifier.dense.bias", H, -1, &m->head_b1)) ||
        (rc = load_bare(L, "classifier.out_proj.weight", n, H, &m->head_w2)))
      return rc;
    return load_bare(L, "classifier.out_proj.bias", n, -1, &m->head_b2);
  }
}

static int load_weights(loader_t *L) {
  omega_model_t *m = L->m;
  const omega_bert_config_t *c = &m->cfg;
  const int H = c->hidden_size;
  /* Word embeddings are the largest tensor: use them in place when they are F32 and aligned. */
  const omega_st_tensor_t *we = find(L, "embeddings.word_embeddings.weight");
  int rc = check(L, "embeddings.word_embeddings.weight", we, c->vocab_size, H);
  if (rc)
    return rc;
  if (we->dtype == OMEGA_DT_F32 && ((uintptr_t)we->data & 3) == 0) {
    /* cppcheck-suppress invalidPointerCast ; F32 safetensors data (little-endian), alignment checked above */
    m->word_emb = (const float *)we->data;
  } else {
    float *dst = take(L, we->nelem);
    if (!L->sizing) {
      omega__tensor_to_f32(we, dst);
      m->word_emb = dst;
    }
  }
  if (!L->sizing) {
    m->n_params += we->nelem;
    snprintf(m->weight_dtype, sizeof m->weight_dtype, "%s", we->dtype_name);
  }
  /* The position table in full; pos_emb starts at the first row a real token uses. */
  const float *pos = NULL;
  if ((rc = load(L, "embeddings.position_embeddings.weight", c->pos_rows, H, &pos)))
    return rc;
  if (!L->sizing)
    m->pos_emb = pos + (size_t)c->pos_offset * H;
  if (c->type_vocab_size) {
    rc = load(L, "embeddings.token_type_embeddings.weight", c->type_vocab_size, H, &m->type_emb);
  } else { /* no token types (DistilBERT): type 0 adds zeros */
    float *z = take(L, (size_t)H);
    if (!L->sizing) {
      memset(z, 0, (size_t)H * sizeof *z);
      m->type_emb = z;
    }
  }
  if (rc || (rc = load(L, "embeddings.LayerNorm.weight", H, -1, &m->emb_ln_g)) ||
      (rc = load(L, "embeddings.LayerNorm.bias", H, -1, &m->emb_ln_b)))
    return rc;
  for (int i = 0; i < c->num_layers; i++)
    if ((rc = load_layer(L, i, &m->layers[i])))
      return rc;
  if (c->rel_buckets && (rc = load(L, "encoder.relative_attention_bias.weight", c->rel_buckets, c->num_heads,
                                   &m->rel_bias)))
    return rc;
  return c->head.present ? load_head(L) : 0;
}

/* One Dense module's weights from its folder (linear.weight [out, in], linear.bias [out]). */
static int load_dense_weights(omega_model_t *m, int i, const omega_post_step_t *d) {
  char dir[4096];
  omega_weights_t w;
  int rc = omega__path_join(dir, sizeof dir, m->dir, d->dir);
  if (rc || (rc = omega__weights_open(dir, &w)))
    return rc;
  const omega_st_tensor_t *tw = omega__weights_find(&w, "linear.weight");
  const omega_st_tensor_t *tb = d->bias ? omega__weights_find(&w, "linear.bias") : NULL;
  if (!tw || tw->ndim != 2 || tw->shape[0] != d->out || tw->shape[1] != d->in || tw->dtype == OMEGA_DT_OTHER)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: \"linear.weight\" must be a [%d, %d] float tensor", w.path, d->out, d->in);
  else if (d->bias && (!tb || tb->ndim != 1 || tb->shape[0] != d->out || tb->dtype == OMEGA_DT_OTHER))
    rc = omega__seterr(OMEGA_EFORMAT, "%s: \"linear.bias\" must be a [%d] float tensor", w.path, d->out);
  else if (!(m->post_w[i] = omega__malloc(tw->nelem * sizeof(float))) ||
           (tb && !(m->post_b[i] = omega__malloc(tb->nelem * sizeof(float)))))
    rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", w.path);
  if (rc == 0) {
    omega__tensor_to_f32(tw, m->post_w[i]);
    if (tb)
      omega__tensor_to_f32(tb, m->post_b[i]);
    m->n_params += tw->nelem + (tb ? tb->nelem : 0);
  }
  omega__weights_close(&w);
  return rc;
}

/* The Dense chain: each module's input must be what comes before it. */
static int load_post(omega_model_t *m) {
  int dim = m->pool_dim;
  if (m->cfg.head.present) {
    m->dim = m->cfg.head.num_labels;
    return 0;
  }
  for (int i = 0; i < m->st.n_post; i++) {
    const omega_post_step_t *d = &m->st.post[i];
    if (d->normalize)
      continue;
    if (d->in != dim)
      return omega__seterr(OMEGA_EFORMAT, "%s/%s: in_features %d, but what comes before it has %d dimensions", m->dir,
                           d->dir, d->in, dim);
    int rc = load_dense_weights(m, i, d);
    if (rc)
      return rc;
    dim = d->out;
  }
  m->dim = dim;
  return 0;
}

size_t omega__model_post_scratch(const omega_model_t *m) {
  size_t w = (size_t)m->pool_dim;
  if (m->cfg.head.present)
    return 2 * (w > (size_t)m->cfg.head.num_labels ? w : (size_t)m->cfg.head.num_labels);
  for (int i = 0; i < m->st.n_post; i++)
    if (!m->st.post[i].normalize && (size_t)m->st.post[i].out > w)
      w = (size_t)m->st.post[i].out;
  return 2 * w;
}

static float dense_act(omega_dense_act_t a, float x) {
  switch (a) {
  case OMEGA_DENSE_TANH:
    return tanhf(x);
  case OMEGA_DENSE_RELU:
    return x > 0 ? x : 0;
  case OMEGA_DENSE_SIGMOID:
    return 1.0f / (1.0f + expf(-x));
  case OMEGA_DENSE_GELU:
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  default:
    return x;
  }
}

/* logits of the classifier head from the first token's hidden state h */
static void head_logits(const omega_model_t *m, const float *h, float *out, float *t) {
  const size_t H = (size_t)m->cfg.hidden_size;
  for (size_t o = 0; o < H; o++) {
    double acc = m->head_b1[o];
    for (size_t k = 0; k < H; k++)
      acc += (double)m->head_w1[o * H + k] * h[k];
    t[o] = m->head_relu ? (acc > 0 ? (float)acc : 0.0f) : tanhf((float)acc);
  }
  for (int o = 0; o < m->cfg.head.num_labels; o++) {
    double acc = m->head_b2[o];
    for (size_t k = 0; k < H; k++)
      acc += (double)m->head_w2[(size_t)o * H + k] * t[k];
    out[o] = (float)acc;
  }
}

void omega__model_post(const omega_model_t *m, const float *in, float *out, float *tmp) {
  if (m->cfg.head.present) {
    head_logits(m, in, out, tmp);
    return;
  }
  size_t dim = (size_t)m->pool_dim, half = omega__model_post_scratch(m) / 2;
  float *cur = tmp, *next = tmp + half;
  memcpy(cur, in, dim * sizeof *cur);
  for (int i = 0; i < m->st.n_post; i++) {
    const omega_post_step_t *d = &m->st.post[i];
    if (d->normalize) {
      omega__l2_normalize(cur, dim);
      continue;
    }
    const float *W = m->post_w[i], *b = m->post_b[i];
    for (int o = 0; o < d->out; o++) {
      double acc = b ? b[o] : 0.0; /* rows are short: a double sum keeps this the reference */
      const float *w = W + (size_t)o * (size_t)d->in;
      for (int k = 0; k < d->in; k++)
        acc += (double)w[k] * cur[k];
      next[o] = dense_act(d->act, (float)acc);
    }
    float *t = cur;
    cur = next;
    next = t;
    dim = (size_t)d->out;
  }
  memcpy(out, cur, dim * sizeof *out);
}

void omega__model_free(omega_model_t *m) {
  if (!m)
    return;
  omega_tokenizer_free(m->tok);
  omega__st_config_free(&m->st);
  omega__weights_close(&m->weights);
  for (int i = 0; i < OMEGA_MAX_POST; i++) {
    omega__free(m->post_w[i]);
    omega__free(m->post_b[i]);
  }
  omega__free(m->layers);
  omega__free(m->arena);
  omega__free(m);
}

int omega__model_load(const char *dir, const char *pooling, omega_model_t **out) {
  omega_model_t *m = omega__calloc(1, sizeof *m);
  if (!m)
    return omega__seterr(OMEGA_ENOMEM, "model: out of memory");
  snprintf(m->dir, sizeof m->dir, "%s", dir);
  char path[4096];
  int rc;
  if (!omega__is_dir(dir)) {
    rc = omega__seterr(OMEGA_ENOENT, "%s: model folder not found", dir);
    goto fail;
  }
  if ((rc = omega__bert_config_load(dir, &m->cfg)) || (rc = omega__st_config_load(dir, &m->cfg, &m->st)))
    goto fail;
  if (pooling && m->cfg.head.present) {
    rc = omega__seterr(OMEGA_EINVAL, "%s: a pooling override does not apply to a classifier (%s reads the first token)",
                       dir, m->cfg.head.architecture);
    goto fail;
  }
  if (pooling && (rc = omega__pool_parse(pooling, &m->st.pooling)))
    goto fail;
  if ((rc = omega_tokenizer_load(dir, NULL, &m->tok)))
    goto fail;
  if ((rc = omega__weights_open(dir, &m->weights)))
    goto fail;
  snprintf(path, sizeof path, "%s", m->weights.path);
  char prefixed[128];
  snprintf(prefixed, sizeof prefixed, "%sembeddings.word_embeddings.weight", names_of(m->cfg.arch)->prefix);
  m->prefix = !omega__weights_find(&m->weights, "embeddings.word_embeddings.weight") &&
                      omega__weights_find(&m->weights, prefixed)
                  ? names_of(m->cfg.arch)->prefix
                  : "";
  if (!(m->layers = omega__calloc((size_t)m->cfg.num_layers, sizeof *m->layers))) {
    rc = omega__seterr(OMEGA_ENOMEM, "model: out of memory");
    goto fail;
  }
  loader_t L = {.m = m, .path = path, .sizing = true};
  if ((rc = load_weights(&L)))
    goto fail;
  L.cap = L.used;
  L.used = 0;
  L.sizing = false;
  if (L.cap && !(m->arena = L.arena = omega__aligned_alloc(64, L.cap * sizeof(float)))) {
    rc = omega__seterr(OMEGA_ENOMEM, "%s: cannot allocate %zu MB for the weights", path, L.cap * 4 >> 20);
    goto fail;
  }
  if ((rc = load_weights(&L)))
    goto fail;
  size_t tok_vocab = omega_tokenizer_vocab_size(m->tok);
  if (tok_vocab > (size_t)m->cfg.vocab_size) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: the tokenizer has %zu ids but the model's vocab_size is %d", dir,
                       tok_vocab, m->cfg.vocab_size);
    goto fail;
  }
  m->pool_dim = m->dim = m->cfg.hidden_size * omega__pool_count(m->st.pooling);
  if ((rc = load_post(m)))
    goto fail;
  *out = m;
  return 0;
fail:
  omega__model_free(m);
  return rc;
}

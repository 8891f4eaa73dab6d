/* A loaded sentence-embedding model: configuration, tokenizer, and canonical fp32
 * weights (QKV fused). Backends derive their own layouts from these. */
#ifndef OMEGA_MODEL_MODEL_H
#define OMEGA_MODEL_MODEL_H

#include "model/config.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "omega/tokenizer.h"

typedef struct {
  const float *qkv_w, *qkv_b; /* [3H, H] rows q..., k..., v...; [3H] */
  const float *ao_w, *ao_b;   /* attention output [H, H], [H] */
  const float *ln1_g, *ln1_b;
  const float *ff1_w, *ff1_b; /* [I, H], [I] */
  const float *ff2_w, *ff2_b; /* [H, I], [H] */
  const float *ln2_g, *ln2_b;
} omega_bert_layer_t;

typedef struct omega_model {
  char dir[4096];
  omega_bert_config_t cfg;
  omega_st_config_t st;
  omega_tokenizer_t *tok;
  omega_weights_t weights;
  char weight_dtype[12]; /* dtype of the checkpoint's weights: F32, F16, BF16 */
  const char *prefix;    /* of the tensor names: "" or the family's ("bert.", "roberta.", ...) */
  size_t n_params;
  const float *word_emb; /* [vocab, H]: points into the mapping when F32 and aligned */
  const float *pos_emb;  /* [max_pos, H]: the row of position 0 (RoBERTa: padding_idx + 1) */
  const float *type_emb; /* [type_vocab, H]; Omega uses token type 0 (zeros without types) */
  const float *emb_ln_g, *emb_ln_b;
  omega_bert_layer_t *layers;
  const float *rel_bias; /* MPNet: [rel_buckets, heads], shared by every layer; else NULL */
  int pool_dim; /* what a backend returns per sequence: hidden * number of pooling modes */
  int dim;      /* output dimension: the last Dense module's, else pool_dim */
  float *post_w[OMEGA_MAX_POST], *post_b[OMEGA_MAX_POST]; /* Dense modules' [out, in], [out] (bias NULL: none) */
  /* *ForSequenceClassification (cfg.head.present): logits = W2 act(W1 h[0] + b1) + b2, act tanh
   * (BERT's pooler, RoBERTa's and MPNet's classifier.dense) or ReLU (DistilBERT) */
  const float *head_w1, *head_b1, *head_w2, *head_b2; /* [H, H], [H], [labels, H], [labels] */
  bool head_relu;
  float *arena;
} omega_model_t;

/* pooling: NULL, or modes that replace the folder's ("cls+max"; see omega__pool_parse). */
int omega__model_load(const char *dir, const char *pooling, omega_model_t **out);
/* What follows the backend's pooled row: the modules after Pooling (Dense, a Normalize
 * before the last), or a classifier head (raw logits). in has pool_dim floats, out gets dim;
 * tmp holds omega__model_post_scratch floats. */
static inline bool omega__model_has_post(const omega_model_t *m) { return m->st.n_post || m->cfg.head.present; }
void omega__model_post(const omega_model_t *m, const float *in, float *out, float *tmp);
/* Floats of tmp omega__model_post needs. */
size_t omega__model_post_scratch(const omega_model_t *m);
void omega__model_free(omega_model_t *m);

#endif

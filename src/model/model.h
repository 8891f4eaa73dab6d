/* A loaded sentence-embedding model: configuration, tokenizer, and canonical fp32
 * weights (QKV fused). Backends derive their own layouts from these. */
#ifndef OMEGA_MODEL_MODEL_H
#define OMEGA_MODEL_MODEL_H

#include "model/config.h"
#include "model/safetensors.h"
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
  omega_safetensors_t file;
  char weight_dtype[12]; /* dtype of the checkpoint's weights: F32, F16, BF16 */
  const char *prefix;    /* of the tensor names: "" or the family's ("bert.", "roberta.", ...) */
  size_t n_params;
  const float *word_emb; /* [vocab, H]: points into the mapping when F32 and aligned */
  const float *pos_emb;  /* [max_pos, H]: the row of position 0 (RoBERTa: padding_idx + 1) */
  const float *type_emb; /* [type_vocab, H]; Omega uses token type 0 (zeros without types) */
  const float *emb_ln_g, *emb_ln_b;
  omega_bert_layer_t *layers;
  const float *rel_bias; /* MPNet: [rel_buckets, heads], shared by every layer; else NULL */
  int dim; /* output dimension: hidden * number of pooling modes */
  float *arena;
} omega_model_t;

int omega__model_load(const char *dir, omega_model_t **out);
void omega__model_free(omega_model_t *m);

#endif

/* Model folder configuration: config.json (BERT hyper-parameters) and the
 * sentence-transformers modules (modules.json, 1_Pooling, Normalize, max_seq_length). */
#ifndef OMEGA_MODEL_CONFIG_H
#define OMEGA_MODEL_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { OMEGA_ACT_GELU = 0, OMEGA_ACT_GELU_TANH, OMEGA_ACT_RELU } omega_act_t;

/* The encoder families whose layers are BERT's post-LN block; they differ in names, token
 * types and positions (model.c describes each). */
typedef enum {
  OMEGA_ARCH_BERT = 0,
  OMEGA_ARCH_ROBERTA,    /* roberta, xlm-roberta, camembert: positions from padding_idx + 1 */
  OMEGA_ARCH_DISTILBERT, /* no token types */
  OMEGA_ARCH_MPNET,      /* positions from padding_idx + 1, a relative position bias in attention */
} omega_arch_t;

/* A *ForSequenceClassification head (a cross-encoder reranker or a classifier): its labels
 * and the activation sentence-transformers' CrossEncoder applies to the logits. */
#define OMEGA_MAX_LABELS 64
typedef enum { OMEGA_SCORE_IDENTITY = 0, OMEGA_SCORE_SIGMOID, OMEGA_SCORE_SOFTMAX, OMEGA_SCORE_TANH } omega_score_act_t;

typedef struct {
  bool present;
  int num_labels;
  char labels[OMEGA_MAX_LABELS][48];
  char architecture[64];   /* "BertForSequenceClassification", ... */
  omega_score_act_t act;   /* CrossEncoder's default activation */
} omega_head_config_t;

typedef struct {
  char model_type[32];
  omega_arch_t arch;
  omega_head_config_t head;
  int vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
  /* max_position_embeddings: positions a sequence may use. The table has pos_rows rows, of
   * which RoBERTa's first pos_offset (padding_idx + 1) are never a real token's. */
  int max_position_embeddings, pos_rows, pos_offset;
  int type_vocab_size, pad_token_id; /* type_vocab_size 0: the family has no token types */
  int rel_buckets; /* MPNet: rows of the relative attention bias table (0: none) */
  double layer_norm_eps;
  omega_act_t act;
  char act_name[32];
} omega_bert_config_t;

enum {
  OMEGA_POOL_CLS = 1u << 0,
  OMEGA_POOL_MAX = 1u << 1,
  OMEGA_POOL_MEAN = 1u << 2,
  OMEGA_POOL_MEAN_SQRT_LEN = 1u << 3,
  OMEGA_POOL_WEIGHTED_MEAN = 1u << 4,
  OMEGA_POOL_LAST = 1u << 5,
};

/* sentence-transformers modules after Pooling: Dense layers (their activation) and a
 * Normalize that is not the last module (the last one is `normalize`, which a request may
 * turn off as TEI's "normalize" does). */
typedef enum { OMEGA_DENSE_IDENTITY = 0, OMEGA_DENSE_TANH, OMEGA_DENSE_RELU, OMEGA_DENSE_SIGMOID, OMEGA_DENSE_GELU } omega_dense_act_t;

#define OMEGA_MAX_POST 8

typedef struct {
  bool normalize; /* a Normalize step; else Dense */
  int in, out;
  bool bias;
  omega_dense_act_t act;
  char dir[64]; /* the module's folder, e.g. "2_Dense" */
} omega_post_step_t;

/* A named prompt of config_sentence_transformers.json ("query" -> "query: "). */
typedef struct {
  char *name, *text;
} omega_prompt_t;

typedef struct {
  unsigned pooling; /* OMEGA_POOL_* bits; several are concatenated in this order */
  bool normalize;
  int max_seq_length;
  bool has_modules_json; /* false: a plain HF folder, mean pooling by default */
  omega_post_step_t post[OMEGA_MAX_POST];
  int n_post;
  omega_prompt_t *prompts;
  size_t n_prompts;
  int default_prompt; /* index into prompts used when a request names none, or -1 */
} omega_st_config_t;

int omega__bert_config_load(const char *model_dir, omega_bert_config_t *cfg);
/* Validate a parsed config.json document; `what` names it in errors. */
int omega__bert_config_parse(const char *what, const json_t *doc, omega_bert_config_t *cfg);
/* Needs the BERT config for defaults and bounds (max_position_embeddings). */
int omega__st_config_load(const char *model_dir, const omega_bert_config_t *bert, omega_st_config_t *st);
void omega__st_config_free(omega_st_config_t *st);
/* The text of a named prompt, or NULL. */
const char *omega__st_prompt(const omega_st_config_t *st, const char *name);
/* Number of pooling modes set, times hidden size = output dimension. */
int omega__pool_count(unsigned pooling);
/* "mean", "cls+max", "cls,max" into OMEGA_POOL_* bits; an unknown name is OMEGA_EINVAL naming it. */
int omega__pool_parse(const char *s, unsigned *out);
/* "mean", "cls+max", ... into buf. */
const char *omega__pool_name(unsigned pooling, char *buf, size_t cap);

#endif

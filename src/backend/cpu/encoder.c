#include "backend/cpu/encoder.h"

#include "backend/cpu/packed.h"
#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void omega__encoder_ws_free(omega_encoder_ws_t *ws) {
  omega__free(ws->x);
  omega__free(ws->qkv);
  omega__free(ws->ctx);
  omega__free(ws->tmp);
  omega__free(ws->ff);
  omega__free(ws->scratch);
  omega__free(ws->att);
  omega__free(ws->rel);
  memset(ws, 0, sizeof *ws);
}

int omega__encoder_ws_reserve(omega_encoder_ws_t *ws, const omega_bert_config_t *c, size_t T) {
  if (T <= ws->cap_tokens)
    return 0;
  size_t cap = ws->cap_tokens ? ws->cap_tokens : 256;
  while (cap < T)
    cap *= 2;
  void *scratch = ws->scratch;
  float *att = ws->att, *rel = ws->rel;
  const size_t scratch_cap = ws->scratch_cap, att_cap = ws->att_cap, rel_cap = ws->rel_cap;
  ws->scratch = NULL;
  ws->att = NULL;
  ws->rel = NULL;
  omega__encoder_ws_free(ws);
  ws->scratch = scratch;
  ws->scratch_cap = scratch_cap;
  ws->att = att;
  ws->att_cap = att_cap;
  ws->rel = rel;
  ws->rel_cap = rel_cap;
  const size_t H = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
  ws->x = omega__aligned_alloc(64, cap * H * sizeof(float));
  ws->qkv = omega__aligned_alloc(64, cap * 3 * H * sizeof(float));
  ws->ctx = omega__aligned_alloc(64, cap * H * sizeof(float));
  ws->tmp = omega__aligned_alloc(64, cap * H * sizeof(float));
  ws->ff = omega__aligned_alloc(64, cap * I * sizeof(float));
  if (!ws->x || !ws->qkv || !ws->ctx || !ws->tmp || !ws->ff) {
    omega__encoder_ws_free(ws);
    return omega__seterr(OMEGA_ENOMEM, "encoder: cannot allocate activations for %zu tokens", T);
  }
  ws->cap_tokens = cap;
  return 0;
}

int omega__encoder_check(const omega_model_t *m, const omega_batch_t *b) {
  if (b->offsets[0] != 0)
    return omega__seterr(OMEGA_EINVAL, "batch offsets must start at 0");
  for (size_t s = 0; s < b->n_seq; s++) {
    uint32_t L = b->offsets[s + 1] - b->offsets[s];
    if (b->offsets[s + 1] < b->offsets[s] || L == 0)
      return omega__seterr(OMEGA_EINVAL, "sequence %zu of the batch is empty", s);
    if (L > (uint32_t)m->cfg.max_position_embeddings)
      return omega__seterr(OMEGA_EINVAL, "sequence %zu has %u tokens, the model has %d positions", s, L,
                           m->cfg.max_position_embeddings);
  }
  const int types = m->cfg.type_vocab_size > 0 ? m->cfg.type_vocab_size : 1;
  for (size_t t = 0; t < b->offsets[b->n_seq]; t++) {
    const int32_t id = b->ids[t] & OMEGA_ID_MASK, type = b->ids[t] >> OMEGA_ID_BITS;
    if (b->ids[t] < 0 || id >= m->cfg.vocab_size)
      return omega__seterr(OMEGA_EINVAL, "token id %d is outside the vocabulary (size %d)", id, m->cfg.vocab_size);
    if (type >= types)
      return omega__seterr(OMEGA_EINVAL, "token type %d is outside the model's %d token types", type, types);
  }
  return 0;
}

/* A linear layer in the context's precision, then `act` when not NULL: packed weights when
 * there are any (the activation fused into their kernels' blocks). */
static int linear(const omega_cpu_ops_t *ops, omega_cpu_ctx_t *c, omega_encoder_ws_t *ws, size_t M, size_t N,
                  size_t K, const float *A, const float *W, const omega_packed_w_t *pw, const float *bias,
                  const omega_act_t *act, float *C) {
  if (!c->packed || !pw) {
    ops->linear(c, M, N, K, A, W, bias, C);
    if (act)
      ops->activation(c, M * N, C, *act);
    return 0;
  }
  const size_t need = omega__packed_scratch(pw, M);
  if (need > ws->scratch_cap) {
    omega__free(ws->scratch);
    ws->scratch_cap = 0;
    if (!(ws->scratch = omega__malloc(need)))
      return omega__seterr(OMEGA_ENOMEM, "encoder: cannot allocate %zu bytes of scratch", need);
    ws->scratch_cap = need;
  }
  omega__packed_linear(c->pool, &c->packed->isa, M, A, pw, bias, act, C, ws->scratch);
  return 0;
}

/* MPNet's bucket of a relative position key - query (T5-style, bidirectional; 32 buckets, max
 * distance 128, as the published code fixes them): keys after the query in the upper half;
 * distances below 8 exact, then logarithmic. The thresholds are where the published fp32
 * log formula steps (checked against it for every distance to 20,000). */
static int mpnet_bucket(long rel) {
  static const long steps[] = {12, 16, 23, 32, 46, 64, 91};
  int base = rel > 0 ? 16 : 0;
  long n = rel < 0 ? -rel : rel;
  if (n < 8)
    return base + (int)n;
  int b = 8;
  for (size_t k = 0; k < sizeof steps / sizeof steps[0] && n >= steps[k]; k++)
    b++;
  return base + b;
}

/* The batch's relative attention bias, head by head over key - query in
 * [-(Lmax - 1), Lmax - 1]. */
static int relative_bias(const omega_model_t *m, omega_encoder_ws_t *ws, const omega_batch_t *b,
                         omega_attn_bias_t *out) {
  size_t Lmax = 1;
  for (size_t s = 0; s < b->n_seq; s++)
    if (b->offsets[s + 1] - b->offsets[s] > Lmax)
      Lmax = b->offsets[s + 1] - b->offsets[s];
  const size_t heads = (size_t)m->cfg.num_heads, stride = 2 * Lmax - 1;
  if (heads * stride > ws->rel_cap) {
    omega__free(ws->rel);
    ws->rel_cap = 0;
    if (!(ws->rel = omega__malloc(heads * stride * sizeof *ws->rel)))
      return omega__seterr(OMEGA_ENOMEM, "encoder: cannot allocate the relative attention bias");
    ws->rel_cap = heads * stride;
  }
  for (size_t k = 0; k < stride; k++) {
    const int bucket = mpnet_bucket((long)k - (long)(Lmax - 1));
    for (size_t h = 0; h < heads; h++)
      ws->rel[h * stride + k] = m->rel_bias[(size_t)bucket * heads + h];
  }
  *out = (omega_attn_bias_t){ws->rel, stride, Lmax - 1};
  return 0;
}

/* Attention's scratch for every pool thread, sized by the batch's longest sequence. */
static int reserve_attention(omega_encoder_ws_t *ws, const omega_cpu_ctx_t *c, const omega_batch_t *b, int d) {
  const size_t need = (size_t)omega__pool_threads(c->pool) * omega__attention_scratch(b->offsets, b->n_seq, d);
  if (need <= ws->att_cap)
    return 0;
  omega__free(ws->att);
  ws->att_cap = 0;
  if (!(ws->att = omega__aligned_alloc(4096, need * sizeof *ws->att))) /* slots on pages of their own */
    return omega__seterr(OMEGA_ENOMEM, "encoder: cannot allocate %zu bytes of attention scratch",
                         need * sizeof *ws->att);
  ws->att_cap = need;
  return 0;
}

int omega__encoder_hidden(const omega_model_t *m, const omega_cpu_ops_t *ops, omega_cpu_ctx_t *c,
                          omega_encoder_ws_t *ws, const omega_batch_t *b) {
  const omega_bert_config_t *cfg = &m->cfg;
  const size_t H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size;
  const size_t T = b->offsets[b->n_seq];
  const float eps = (float)cfg->layer_norm_eps;
  const int d = (int)(H / (size_t)cfg->num_heads);
  int rc = omega__encoder_check(m, b);
  if (rc || (rc = omega__encoder_ws_reserve(ws, cfg, T)) || (rc = reserve_attention(ws, c, b, d)))
    return rc;
  /* Embeddings: word + position + token type 0, then LayerNorm. RoBERTa gives a token equal
   * to the padding id the padding position and does not count it (HF's
   * create_position_ids_from_input_ids); its table starts one row before pos_emb. */
  const bool pad_positions = cfg->pos_offset > 0;
  for (size_t s = 0; s < b->n_seq; s++) {
    size_t pos = 0;
    for (uint32_t t = b->offsets[s]; t < b->offsets[s + 1]; t++) {
      const int32_t id = b->ids[t] & OMEGA_ID_MASK;
      const bool pad = pad_positions && id == cfg->pad_token_id;
      const float *w = m->word_emb + (size_t)id * H, *p = pad ? m->pos_emb - H : m->pos_emb + pos++ * H;
      const float *ty = m->type_emb + (size_t)(b->ids[t] >> OMEGA_ID_BITS) * H;
      float *x = ws->x + (size_t)t * H;
      for (size_t i = 0; i < H; i++)
        x[i] = w[i] + p[i] + ty[i];
    }
  }
  ops->add_layernorm(c, T, H, ws->x, NULL, m->emb_ln_g, m->emb_ln_b, eps);
  omega_attn_bias_t bias;
  if (m->rel_bias && (rc = relative_bias(m, ws, b, &bias)))
    return rc;
  for (int l = 0; l < cfg->num_layers; l++) {
    const omega_bert_layer_t *L = &m->layers[l];
    const omega_packed_layer_t *P = c->packed ? &c->packed->layers[l] : NULL;
    if ((rc = linear(ops, c, ws, T, 3 * H, H, ws->x, L->qkv_w, P ? &P->qkv : NULL, L->qkv_b, NULL, ws->qkv)))
      return rc;
    ops->attention(c, ws->qkv, b->offsets, b->n_seq, cfg->num_heads, d, m->rel_bias ? &bias : NULL, ws->ctx,
                   ws->att);
    if ((rc = linear(ops, c, ws, T, H, H, ws->ctx, L->ao_w, P ? &P->ao : NULL, L->ao_b, NULL, ws->tmp)))
      return rc;
    ops->add_layernorm(c, T, H, ws->x, ws->tmp, L->ln1_g, L->ln1_b, eps);
    if ((rc = linear(ops, c, ws, T, I, H, ws->x, L->ff1_w, P ? &P->ff1 : NULL, L->ff1_b, &cfg->act, ws->ff)))
      return rc;
    if ((rc = linear(ops, c, ws, T, H, I, ws->ff, L->ff2_w, P ? &P->ff2 : NULL, L->ff2_b, NULL, ws->tmp)))
      return rc;
    ops->add_layernorm(c, T, H, ws->x, ws->tmp, L->ln2_g, L->ln2_b, eps);
  }
  return 0;
}

void omega__pool_and_normalize(const float *x, size_t H, const uint32_t *offsets, size_t n_seq, unsigned modes,
                               int normalize, float *out) {
  const size_t dim = H * (size_t)__builtin_popcount(modes);
  for (size_t s = 0; s < n_seq; s++) {
    const size_t t0 = offsets[s], L = offsets[s + 1] - t0;
    float *o = out + s * dim;
    /* sentence-transformers' order: cls, max, mean, mean_sqrt_len, weightedmean, lasttoken */
    if (modes & OMEGA_POOL_CLS) {
      memcpy(o, x + t0 * H, H * sizeof *o);
      o += H;
    }
    if (modes & OMEGA_POOL_MAX) {
      for (size_t i = 0; i < H; i++) {
        float mx = -INFINITY;
        for (size_t t = 0; t < L; t++)
          mx = fmaxf(mx, x[(t0 + t) * H + i]);
        o[i] = mx;
      }
      o += H;
    }
    if (modes & (OMEGA_POOL_MEAN | OMEGA_POOL_MEAN_SQRT_LEN)) {
      for (size_t i = 0; i < H; i++) {
        double sum = 0;
        for (size_t t = 0; t < L; t++)
          sum += x[(t0 + t) * H + i];
        if (modes & OMEGA_POOL_MEAN)
          o[i] = (float)(sum / (double)L);
        if (modes & OMEGA_POOL_MEAN_SQRT_LEN)
          o[i + ((modes & OMEGA_POOL_MEAN) ? H : 0)] = (float)(sum / sqrt((double)L));
      }
      o += H * (size_t)(((modes & OMEGA_POOL_MEAN) != 0) + ((modes & OMEGA_POOL_MEAN_SQRT_LEN) != 0));
    }
    if (modes & OMEGA_POOL_WEIGHTED_MEAN) {
      /* weights 1..L by position, as sentence-transformers uses */
      const double wsum = (double)L * (double)(L + 1) / 2.0;
      for (size_t i = 0; i < H; i++) {
        double sum = 0;
        for (size_t t = 0; t < L; t++)
          sum += (double)(t + 1) * x[(t0 + t) * H + i];
        o[i] = (float)(sum / wsum);
      }
      o += H;
    }
    if (modes & OMEGA_POOL_LAST) {
      memcpy(o, x + (t0 + L - 1) * H, H * sizeof *o);
      o += H;
    }
    if (normalize)
      omega__l2_normalize(out + s * dim, dim);
  }
}

int omega__encoder_run(const omega_model_t *m, const omega_cpu_ops_t *ops, omega_cpu_ctx_t *c,
                       omega_encoder_ws_t *ws, const omega_batch_t *b, int normalize, float *out) {
  int rc = omega__encoder_hidden(m, ops, c, ws, b);
  if (rc)
    return rc;
  omega__pool_and_normalize(ws->x, (size_t)m->cfg.hidden_size, b->offsets, b->n_seq, m->st.pooling, normalize,
                            out);
  return 0;
}

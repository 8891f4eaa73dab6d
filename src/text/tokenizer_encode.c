/* The encode pipeline, in HuggingFace tokenizers' order:
 *   added tokens (raw text) -> BertNormalizer -> added tokens (normalized) ->
 *   BertPreTokenizer -> WordPiece -> truncation -> template.
 * Text is decoded to code points once; every stage works on code point arrays. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"
#include "text/utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint32_t *raw;
  size_t raw_cap;
  uint32_t *norm;
  size_t norm_cap;
  unsigned char *word;
  size_t word_cap;
} scratch_t;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
  scratch_t *s = p;
  if (!s)
    return;
  omega__free(s->raw);
  omega__free(s->norm);
  omega__free(s->word);
  omega__free(s);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static scratch_t *scratch_get(void) {
  pthread_once(&scratch_once, scratch_key_init);
  scratch_t *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = omega__calloc(1, sizeof *s);
    if (s && pthread_setspecific(scratch_key, s) != 0) {
      omega__free(s);
      s = NULL;
    }
  }
  return s;
}

static int reserve(void **buf, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t nc = *cap ? *cap : 256;
  while (nc < need)
    nc *= 2;
  void *nb = omega__realloc(*buf, nc * elem);
  if (!nb)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  *buf = nb;
  *cap = nc;
  return 0;
}

int omega__idvec_push(omega_idvec_t *iv, int32_t id) {
  if (iv->n == iv->cap) {
    size_t nc = iv->cap ? iv->cap * 2 : 64;
    int32_t *nv = omega__realloc(iv->v, nc * sizeof *nv);
    if (!nv)
      return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
    iv->v = nv;
    iv->cap = nc;
  }
  iv->v[iv->n++] = id;
  return 0;
}

/* ---- normalizer ---- */

/* Output of the whole normalizer for an ASCII char, or -1 when clean_text drops it. */
static int ascii_norm(const omega_bert_norm_t *nm, uint32_t c) {
  if (nm->clean_text) {
    if (c == '\t' || c == '\n' || c == '\r')
      return ' ';
    if (c == 0 || c < 0x20 || c == 0x7F)
      return -1;
  }
  if (nm->lowercase && c >= 'A' && c <= 'Z')
    return (int)(c + 32);
  return (int)c;
}

/* Append d to out, keeping canonical order among non-starters (NFD's reordering step;
 * reordering after dropping Mn gives the same result as before, since a stable sort
 * commutes with filtering). */
static void push_ordered(uint32_t *out, size_t *n, size_t floor, uint32_t d) {
  int ccc = omega__uc_ccc(d);
  size_t j = *n;
  if (ccc) {
    while (j > floor) {
      int prev = omega__uc_ccc(out[j - 1]);
      if (prev == 0 || prev <= ccc)
        break;
      out[j] = out[j - 1];
      j--;
    }
  }
  out[j] = d;
  (*n)++;
}

int omega__normalize(const omega_bert_norm_t *nm, const uint32_t *in, size_t n, uint32_t **out,
                     size_t *out_n, size_t *out_cap) {
  size_t base = *out_n;
  /* Worst case per input char: " c " around a CJK char, or NFD expansion, or İ -> i + U+0307. */
  if (reserve((void **)out, out_cap, base + n * (OMEGA_UC_MAX_DECOMP + 2) + 1, sizeof **out))
    return OMEGA_ENOMEM;
  uint32_t *o = *out;
  size_t k = base;
  if (!nm->enabled) {
    memcpy(o + k, in, n * sizeof *in);
    *out_n = k + n;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80) {
      int a = ascii_norm(nm, c);
      if (a >= 0)
        o[k++] = (uint32_t)a;
      continue;
    }
    if (nm->clean_text) {
      if (c == 0xFFFD || omega__uc_is_control(c))
        continue;
      if (omega__uc_is_whitespace(c)) {
        o[k++] = ' ';
        continue;
      }
    }
    bool cjk = nm->handle_chinese_chars && omega__uc_is_cjk(c);
    if (cjk)
      o[k++] = ' ';
    if (nm->strip_accents) {
      uint32_t d[OMEGA_UC_MAX_DECOMP];
      int nd = omega__uc_nfd(c, d);
      for (int j = 0; j < nd; j++) {
        if (omega__uc_is_nonspacing_mark(d[j]))
          continue;
        uint32_t x = d[j];
        if (nm->lowercase) {
          /* NFD output never contains U+0130, the only 1->2 lowercase mapping. */
          uint32_t l[2];
          omega__uc_lower(x, l);
          x = l[0];
        }
        push_ordered(o, &k, base, x);
      }
    } else if (nm->lowercase) {
      uint32_t l[2];
      int nl = omega__uc_lower(c, l);
      for (int j = 0; j < nl; j++)
        o[k++] = l[j];
    } else {
      o[k++] = c;
    }
    if (cjk)
      o[k++] = ' ';
  }
  *out_n = k;
  return 0;
}

/* ---- added tokens ---- */

/* Longest added token (of the given normalized kind) matching at s[pos..n), or NULL. */
static const omega_added_token_t *match_added(const omega_tokenizer_t *t, bool normalized,
                                              const uint32_t *s, size_t pos, size_t n) {
  const omega_added_token_t *best = NULL;
  for (size_t i = 0; i < t->n_added; i++) {
    const omega_added_token_t *a = &t->added[i];
    if (a->normalized != normalized || a->n_cps == 0 || a->n_cps > n - pos || a->cps[0] != s[pos])
      continue;
    if (best && a->n_cps <= best->n_cps)
      continue;
    if (memcmp(a->cps, s + pos, a->n_cps * sizeof *s) == 0)
      best = a;
  }
  return best;
}

typedef struct {
  const omega_tokenizer_t *t;
  scratch_t *s;
  omega_idvec_t *iv;
  size_t limit; /* stop once this many text ids exist (0 = no limit) */
} enc_t;

static inline bool full(const enc_t *e) { return e->limit && e->iv->n >= e->limit; }

/* ---- WordPiece ---- */

static int wordpiece(enc_t *e, const uint32_t *w, size_t n) {
  const omega_tokenizer_t *t = e->t;
  if (n > t->max_input_chars_per_word)
    return omega__idvec_push(e->iv, t->unk_id);
  if (reserve((void **)&e->s->word, &e->s->word_cap, n * 4, 1))
    return OMEGA_ENOMEM;
  unsigned char *b = e->s->word;
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += omega__utf8_encode(w[i], b + len);
  size_t mark = e->iv->n, start = 0;
  while (start < len) {
    int32_t node = start == 0 ? 0 : t->cont_root;
    size_t m = 0;
    int32_t id = node < 0 ? -1 : omega__vocab_longest(&t->vocab, node, b + start, len - start, &m);
    if (id < 0) {
      e->iv->n = mark; /* any unmatched piece: the whole word is one [UNK] */
      return omega__idvec_push(e->iv, t->unk_id);
    }
    if (omega__idvec_push(e->iv, id))
      return OMEGA_ENOMEM;
    start += m;
  }
  return 0;
}

/* ---- pre-tokenizer ---- */

static int pretokenize(enc_t *e, const uint32_t *s, size_t n) {
  if (!e->t->bert_pretokenizer)
    return n ? wordpiece(e, s, n) : 0;
  size_t ws = 0;
  bool in_word = false;
  for (size_t i = 0; i < n && !full(e); i++) {
    uint32_t c = s[i];
    bool space = c == ' ' || omega__uc_is_whitespace(c);
    bool punct = !space && omega__uc_is_punct(c);
    if (!space && !punct) {
      if (!in_word) {
        ws = i;
        in_word = true;
      }
      continue;
    }
    if (in_word) {
      if (wordpiece(e, s + ws, i - ws))
        return OMEGA_ENOMEM;
      in_word = false;
    }
    if (punct && !full(e) && wordpiece(e, s + i, 1))
      return OMEGA_ENOMEM;
  }
  if (in_word && !full(e))
    return wordpiece(e, s + ws, n - ws);
  return 0;
}

/* Split s[0..n) around added tokens of one kind; text pieces go to `piece`. This is
 * HF's find_matches: leftmost-longest, with single_word / lstrip / rstrip. */
typedef int (*piece_fn)(enc_t *e, const uint32_t *s, size_t n);

static int split_added(enc_t *e, bool normalized, const uint32_t *s, size_t n, piece_fn piece) {
  const omega_tokenizer_t *t = e->t;
  size_t start = 0, pos = 0;
  while (pos < n && !full(e)) {
    const omega_added_token_t *a = match_added(t, normalized, s, pos, n);
    if (!a) {
      pos++;
      continue;
    }
    size_t ms = pos, me = pos + a->n_cps;
    if (a->single_word) {
      bool left = ms == 0 || !omega__uc_is_word(s[ms - 1]);
      bool right = me == n || !omega__uc_is_word(s[me]);
      if (!left || !right) {
        pos = me;
        continue;
      }
    }
    if (a->lstrip)
      while (ms > start && omega__uc_is_whitespace(s[ms - 1]))
        ms--;
    if (a->rstrip)
      while (me < n && omega__uc_is_whitespace(s[me]))
        me++;
    if (ms > start && piece(e, s + start, ms - start))
      return OMEGA_ENOMEM;
    if (!full(e) && omega__idvec_push(e->iv, a->id))
      return OMEGA_ENOMEM;
    start = pos = me;
  }
  if (start < n && !full(e))
    return piece(e, s + start, n - start);
  return 0;
}

static int normalized_piece(enc_t *e, const uint32_t *s, size_t n) {
  size_t m = 0;
  if (omega__normalize(&e->t->norm, s, n, &e->s->norm, &m, &e->s->norm_cap))
    return OMEGA_ENOMEM;
  if (e->t->any_normalized_added)
    return split_added(e, true, e->s->norm, m, pretokenize);
  return pretokenize(e, e->s->norm, m);
}

/* ---- entry point ---- */

static int decode(const char *text, size_t len, unsigned flags, scratch_t *s, size_t *n_out) {
  if (reserve((void **)&s->raw, &s->raw_cap, len + 1, sizeof *s->raw))
    return OMEGA_ENOMEM;
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0, n = 0;
  while (i < len) {
    if (p[i] < 0x80) {
      s->raw[n++] = p[i++];
      continue;
    }
    uint32_t cp;
    size_t bad;
    size_t k = omega__utf8_decode(p + i, len - i, &cp, &bad);
    if (!k) {
      if (!(flags & OMEGA_TOK_UTF8_REPLACE))
        return omega__seterr(OMEGA_EUTF8, "invalid UTF-8 at byte offset %zu", i);
      cp = 0xFFFD;
      k = bad;
    }
    s->raw[n++] = cp;
    i += k;
  }
  *n_out = n;
  return 0;
}

int omega__tokenizer_encode_vec(const omega_tokenizer_t *t, const char *text, size_t len, size_t max_len,
                                unsigned flags, omega_idvec_t *iv) {
  size_t specials = t->n_prefix + t->n_suffix;
  if (max_len && max_len < specials)
    return omega__seterr(OMEGA_EINVAL, "max length %zu is shorter than the %zu special tokens", max_len,
                         specials);
  scratch_t *s = scratch_get();
  if (!s)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  size_t n = 0;
  int rc = decode(text, len, flags, s, &n);
  if (rc)
    return rc;
  iv->n = 0;
  for (size_t i = 0; i < t->n_prefix; i++)
    if (omega__idvec_push(iv, t->prefix_ids[i]))
      return OMEGA_ENOMEM;
  enc_t e = {t, s, iv, max_len ? max_len - t->n_suffix : 0};
  rc = t->n_added ? split_added(&e, false, s->raw, n, normalized_piece) : normalized_piece(&e, s->raw, n);
  if (rc)
    return rc;
  if (e.limit && iv->n > e.limit)
    iv->n = e.limit;
  for (size_t i = 0; i < t->n_suffix; i++)
    if (omega__idvec_push(iv, t->suffix_ids[i]))
      return OMEGA_ENOMEM;
  return 0;
}

int omega_tokenizer_encode(const omega_tokenizer_t *t, const char *text, size_t len, size_t max_len,
                           unsigned flags, int32_t *ids, size_t cap, size_t *n_ids) {
  if (!t || (!text && len) || !n_ids || (!ids && cap))
    return omega__seterr(OMEGA_EINVAL, "omega_tokenizer_encode: NULL argument");
  omega_idvec_t iv = {0};
  int rc = omega__tokenizer_encode_vec(t, text ? text : "", len, max_len, flags, &iv);
  if (rc == 0) {
    *n_ids = iv.n;
    if (iv.n > cap)
      rc = omega__seterr(OMEGA_ERANGE, "output needs %zu ids, buffer holds %zu", iv.n, cap);
    else if (iv.n)
      memcpy(ids, iv.v, iv.n * sizeof *ids);
  }
  omega__free(iv.v);
  return rc;
}

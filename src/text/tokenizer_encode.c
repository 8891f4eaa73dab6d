/* The encode entry points: decode UTF-8 once, split around added tokens, normalize,
 * pre-tokenize and run the model (normalizer.c, pretokenizer.c, the model files), then
 * truncate and apply the post-processor's template, single texts and pairs alike. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"
#include "text/utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct omega_tok_scratch {
  omega_cpbuf_t raw, raw_b;
  omega_cpbuf_t cp[OMEGA_CP_SLOTS];
  omega_spans_t spans[OMEGA_TOK_MAX_STEPS];
  void *bytes[OMEGA_BYTES_SLOTS];
  size_t bytes_cap[OMEGA_BYTES_SLOTS];
  omega_idvec_t b_ids; /* the second text of a pair */
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
  omega_tok_scratch_t *s = p;
  if (!s)
    return;
  omega__free(s->raw.v);
  omega__free(s->raw_b.v);
  for (size_t i = 0; i < OMEGA_CP_SLOTS; i++)
    omega__free(s->cp[i].v);
  for (size_t i = 0; i < OMEGA_TOK_MAX_STEPS; i++)
    omega__free(s->spans[i].v);
  for (size_t i = 0; i < OMEGA_BYTES_SLOTS; i++)
    omega__free(s->bytes[i]);
  omega__free(s->b_ids.v);
  omega__free(s);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static omega_tok_scratch_t *scratch_get(void) {
  pthread_once(&scratch_once, scratch_key_init);
  omega_tok_scratch_t *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = omega__calloc(1, sizeof *s);
    if (s && pthread_setspecific(scratch_key, s) != 0) {
      omega__free(s);
      s = NULL;
    }
  }
  return s;
}

omega_cpbuf_t *omega__scratch_cp(omega_tok_scratch_t *s, size_t slot) { return &s->cp[slot]; }
omega_spans_t *omega__scratch_spans(omega_tok_scratch_t *s, size_t slot) { return &s->spans[slot]; }

void *omega__scratch_bytes(omega_tok_scratch_t *s, size_t slot, size_t need) {
  if (need > s->bytes_cap[slot]) {
    size_t nc = s->bytes_cap[slot] ? s->bytes_cap[slot] : 1024;
    while (nc < need)
      nc *= 2;
    void *nb = omega__realloc(s->bytes[slot], nc);
    if (!nb) {
      omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
      return NULL;
    }
    s->bytes[slot] = nb;
    s->bytes_cap[slot] = nc;
  }
  return s->bytes[slot];
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

/* ---- added tokens ---- */

/* Longest added token (of the given normalized kind) matching at s[pos..n), or NULL. */
static const omega_added_token_t *match_added(const omega_tokenizer_t *t, bool normalized, const uint32_t *s,
                                              size_t pos, size_t n) {
  uint32_t c = s[pos];
  if (c < 0x10000 ? !(t->added_first[normalized][c >> 6] >> (c & 63) & 1) : !t->added_first_astral[normalized])
    return NULL;
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

/* Split s[0..n) around added tokens of one kind; text pieces go to `piece`. This is
 * HF's find_matches: leftmost-longest, with single_word / lstrip / rstrip. */
typedef int (*piece_fn)(omega_enc_t *e, const uint32_t *s, size_t n, bool first);

static int split_added(omega_enc_t *e, bool normalized, const uint32_t *s, size_t n, bool first, piece_fn piece) {
  const omega_tokenizer_t *t = e->t;
  size_t start = 0, pos = 0;
  int rc;
  while (pos < n && !omega__enc_full(e)) {
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
    if (ms > start && (rc = piece(e, s + start, ms - start, first && start == 0)))
      return rc;
    if (!omega__enc_full(e) && omega__idvec_push(e->iv, a->id))
      return OMEGA_ENOMEM;
    start = pos = me;
  }
  if (start < n && !omega__enc_full(e))
    return piece(e, s + start, n - start, first && start == 0);
  return 0;
}

static int normalized_piece(omega_enc_t *e, const uint32_t *s, size_t n, bool first) {
  omega_cpbuf_t *out = omega__scratch_cp(e->s, OMEGA_CP_NORM_OUT);
  int rc = omega__normalize(e->t, s, n, out, omega__scratch_cp(e->s, OMEGA_CP_NORM_A));
  if (rc)
    return rc;
  if (e->t->any_normalized_added)
    return split_added(e, true, out->v, out->n, first, omega__pretokenize);
  return omega__pretokenize(e, out->v, out->n, first);
}

/* ---- one text ---- */

/* Decode UTF-8 into raw, after what raw holds when `append`. */
static int decode_into(const char *text, size_t len, unsigned flags, omega_cpbuf_t *raw, bool append) {
  size_t n = append ? raw->n : 0;
  if (omega__cpbuf_reserve(raw, n + len + 1))
    return OMEGA_ENOMEM;
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    if (p[i] < 0x80) {
      raw->v[n++] = p[i++];
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
    raw->v[n++] = cp;
    i += k;
  }
  raw->n = n;
  return 0;
}

static int decode(const char *text, size_t len, unsigned flags, omega_cpbuf_t *raw) {
  return decode_into(text, len, flags, raw, false);
}

/* Ids of the text alone (no template) appended to iv. With `cut`, encoding stops once iv
 * holds `limit` ids and drops any past it. Without, it stops after the first word (model
 * input piece) that ends with `limit` or more ids, as HF's pair encoding does. */
static int encode_text(const omega_tokenizer_t *t, omega_tok_scratch_t *s, const omega_cpbuf_t *raw,
                       omega_idvec_t *iv, size_t limit, bool cut) {
  omega_enc_t e = {t, s, iv, limit, !cut, false};
  int rc = t->n_added ? split_added(&e, false, raw->v, raw->n, true, normalized_piece)
                      : normalized_piece(&e, raw->v, raw->n, true);
  if (rc == 0 && cut && limit && iv->n > limit)
    iv->n = limit;
  return rc;
}

static int push_ids(omega_idvec_t *iv, const int32_t *ids, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (omega__idvec_push(iv, ids[i]))
      return OMEGA_ENOMEM;
  return 0;
}

int omega__tokenizer_encode_vec(const omega_tokenizer_t *t, const char *text, size_t len, size_t max_len,
                                unsigned flags, omega_idvec_t *iv) {
  return omega__tokenizer_encode_prompted_vec(t, NULL, 0, text, len, max_len, flags, iv);
}

int omega__tokenizer_encode_prompted_vec(const omega_tokenizer_t *t, const char *prompt, size_t plen, const char *text,
                                         size_t len, size_t max_len, unsigned flags, omega_idvec_t *iv) {
  size_t specials = t->n_prefix + t->n_suffix;
  if (max_len && max_len < specials)
    return omega__seterr(OMEGA_EINVAL, "max length %zu is shorter than the %zu special tokens", max_len,
                         specials);
  omega_tok_scratch_t *s = scratch_get();
  if (!s)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  /* a prompt is text in front of the input, as sentence-transformers concatenates them */
  int rc = decode_into(prompt ? prompt : "", prompt ? plen : 0, 0, &s->raw, false);
  if (rc || (rc = decode_into(text, len, flags, &s->raw, true)))
    return rc;
  iv->n = 0;
  if (push_ids(iv, t->prefix_ids, t->n_prefix) ||
      (rc = encode_text(t, s, &s->raw, iv, max_len ? max_len - t->n_suffix : 0, true)) ||
      push_ids(iv, t->suffix_ids, t->n_suffix))
    return rc ? rc : OMEGA_ENOMEM;
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

/* ---- pairs ---- */

/* HF truncate_encodings for two sequences whose ids must fit in `room`. */
static int truncate_pair(size_t room, omega_truncation_t how, size_t *na, size_t *nb) {
  if (room == 0) {
    *na = *nb = 0;
    return 0;
  }
  if (*na + *nb <= room)
    return 0;
  size_t remove = *na + *nb - room;
  if (how == OMEGA_TRUNCATE_ONLY_FIRST || how == OMEGA_TRUNCATE_ONLY_SECOND) {
    size_t *target = how == OMEGA_TRUNCATE_ONLY_FIRST ? na : nb;
    if (*target <= remove)
      return omega__seterr(OMEGA_ERANGE,
                           "truncation %s cannot fit the pair in %zu tokens: the %s text has %zu, %zu must go",
                           how == OMEGA_TRUNCATE_ONLY_FIRST ? "only_first" : "only_second", room,
                           how == OMEGA_TRUNCATE_ONLY_FIRST ? "first" : "second", *target, remove);
    *target -= remove;
    return 0;
  }
  /* longest_first: cut the longer one down to what the shorter leaves; if the shorter
   * alone takes more than half, both get half (the odd token to the longer) */
  size_t n1 = *na, n2 = *nb;
  bool swap = n1 > n2;
  if (swap) {
    size_t x = n1;
    n1 = n2;
    n2 = x;
  }
  n2 = n1 > room ? n1 : (n1 > room - n1 ? n1 : room - n1);
  if (n1 + n2 > room) {
    n1 = room / 2;
    n2 = n1 + room % 2;
  }
  if (swap) {
    size_t x = n1;
    n1 = n2;
    n2 = x;
  }
  if (*na > n1)
    *na = n1;
  if (*nb > n2)
    *nb = n2;
  return 0;
}

int omega__tokenizer_encode_pair_vec(const omega_tokenizer_t *t, const char *a, size_t alen, const char *b,
                                     size_t blen, size_t max_len, omega_truncation_t how, unsigned flags,
                                     omega_idvec_t *ids, omega_idvec_t *types) {
  if (max_len && max_len < t->n_pair_specials)
    return omega__seterr(OMEGA_EINVAL, "max length %zu is shorter than the %zu special tokens of a pair",
                         max_len, t->n_pair_specials);
  omega_tok_scratch_t *s = scratch_get();
  if (!s)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  /* HF stops encoding each text after the word that brings it to max_len ids, and the
   * longest_first split compares those partial lengths: a text cut inside a long word
   * counts as longer than one cut between words. Stopping at the same place splits the
   * same way (and saves encoding the rest of a long passage). */
  int rc;
  omega_idvec_t av = {0};
  if ((rc = decode(a, alen, flags, &s->raw)) || (rc = decode(b, blen, flags, &s->raw_b)) ||
      (rc = encode_text(t, s, &s->raw, &av, max_len, false))) {
    omega__free(av.v);
    return rc;
  }
  s->b_ids.n = 0;
  if ((rc = encode_text(t, s, &s->raw_b, &s->b_ids, max_len, false))) {
    omega__free(av.v);
    return rc;
  }
  size_t na = av.n, nb = s->b_ids.n;
  if (max_len && (rc = truncate_pair(max_len - t->n_pair_specials, how, &na, &nb))) {
    omega__free(av.v);
    return rc;
  }
  ids->n = 0;
  if (types)
    types->n = 0;
  for (size_t i = 0; i < t->n_pair && rc == 0; i++) {
    const omega_tmpl_item_t *it = &t->pair[i];
    const int32_t *src = it->id == OMEGA_TMPL_A ? av.v : it->id == OMEGA_TMPL_B ? s->b_ids.v : &it->id;
    size_t n = it->id == OMEGA_TMPL_A ? na : it->id == OMEGA_TMPL_B ? nb : 1;
    for (size_t j = 0; j < n && rc == 0; j++) {
      rc = omega__idvec_push(ids, src[j]);
      if (rc == 0 && types)
        rc = omega__idvec_push(types, (int32_t)it->type_id);
    }
  }
  omega__free(av.v);
  return rc;
}

int omega_tokenizer_encode_pair(const omega_tokenizer_t *t, const char *a, size_t alen, const char *b, size_t blen,
                                size_t max_len, omega_truncation_t how, unsigned flags, int32_t *ids,
                                int32_t *type_ids, size_t cap, size_t *n_ids) {
  if (!t || (!a && alen) || (!b && blen) || !n_ids || (!ids && cap))
    return omega__seterr(OMEGA_EINVAL, "omega_tokenizer_encode_pair: NULL argument");
  if (how != OMEGA_TRUNCATE_LONGEST_FIRST && how != OMEGA_TRUNCATE_ONLY_FIRST && how != OMEGA_TRUNCATE_ONLY_SECOND)
    return omega__seterr(OMEGA_EINVAL, "omega_tokenizer_encode_pair: unknown truncation strategy %d", (int)how);
  omega_idvec_t iv = {0}, tv = {0};
  int rc = omega__tokenizer_encode_pair_vec(t, a ? a : "", alen, b ? b : "", blen, max_len, how, flags, &iv,
                                            type_ids ? &tv : NULL);
  if (rc == 0) {
    *n_ids = iv.n;
    if (iv.n > cap) {
      rc = omega__seterr(OMEGA_ERANGE, "output needs %zu ids, buffer holds %zu", iv.n, cap);
    } else if (iv.n) {
      memcpy(ids, iv.v, iv.n * sizeof *ids);
      if (type_ids)
        memcpy(type_ids, tv.v, tv.n * sizeof *type_ids);
    }
  }
  omega__free(iv.v);
  omega__free(tv.v);
  return rc;
}

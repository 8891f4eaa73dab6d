/* The pre-tokenizer steps of HF tokenizers. Each step splits a piece into sub-pieces
 * (HF's find_matches + SplitDelimiterBehavior, empty pieces dropped) and hands every
 * sub-piece to the next step; after the last step the model encodes it. Steps that rewrite
 * text (Metaspace, ByteLevel) write into their level's scratch buffers, so no piece list is
 * ever built. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"
#include "text/utf8.h"

#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

int omega__spans_push(omega_spans_t *sp, size_t s, size_t e, bool match) {
  if (sp->n == sp->cap) {
    size_t nc = sp->cap ? sp->cap * 2 : 64;
    omega_span_t *nv = omega__realloc(sp->v, nc * sizeof *nv);
    if (!nv)
      return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
    sp->v = nv;
    sp->cap = nc;
  }
  sp->v[sp->n++] = (omega_span_t){s, e, match};
  return 0;
}

/* ---- find_matches ---- */

typedef bool (*char_pred)(uint32_t c, uint32_t arg);

/* Every character the predicate accepts is a match of its own; the runs between are not. */
static int matches_pred(const uint32_t *s, size_t n, char_pred pred, uint32_t arg, omega_spans_t *sp) {
  sp->n = 0;
  size_t last = 0;
  for (size_t i = 0; i < n; i++) {
    if (!pred(s[i], arg))
      continue;
    if (last < i && omega__spans_push(sp, last, i, false))
      return OMEGA_ENOMEM;
    if (omega__spans_push(sp, i, i + 1, true))
      return OMEGA_ENOMEM;
    last = i + 1;
  }
  if (last < n && omega__spans_push(sp, last, n, false))
    return OMEGA_ENOMEM;
  return 0;
}

/* Regex matches (Oniguruma find_iter: an empty match moves the search one character on). */
static int matches_regex(const omega_regex_t *re, const uint32_t *s, size_t n, omega_spans_t *sp) {
  sp->n = 0;
  size_t prev = 0, pos = 0;
  while (pos <= n) {
    size_t ms, me;
    int err;
    if (!omega__regex_search(re, s, n, pos, &ms, &me, &err)) {
      if (err)
        return err;
      break;
    }
    if (me == ms) { /* empty: not a split point HF keeps (its pieces would be empty) */
      pos = ms + 1;
      continue;
    }
    if (prev != ms && omega__spans_push(sp, prev, ms, false))
      return OMEGA_ENOMEM;
    if (omega__spans_push(sp, ms, me, true))
      return OMEGA_ENOMEM;
    prev = pos = me;
  }
  if (prev != n && omega__spans_push(sp, prev, n, false))
    return OMEGA_ENOMEM;
  return 0;
}

/* SplitDelimiterBehavior over the match list, in place. */
static void apply_behavior(omega_spans_t *sp, omega_split_behavior_t b, bool invert) {
  if (invert)
    for (size_t i = 0; i < sp->n; i++)
      sp->v[i].match = !sp->v[i].match;
  omega_span_t *v = sp->v;
  size_t k = 0;
  bool prev = false;
  switch (b) {
  case OMEGA_SPLIT_ISOLATED:
    return;
  case OMEGA_SPLIT_REMOVED:
    for (size_t i = 0; i < sp->n; i++)
      if (!v[i].match)
        v[k++] = v[i];
    break;
  case OMEGA_SPLIT_MERGED_PREV:
    for (size_t i = 0; i < sp->n; i++) {
      if (v[i].match && !prev && k > 0)
        v[k - 1].e = v[i].e;
      else
        v[k++] = v[i];
      prev = v[i].match;
    }
    break;
  case OMEGA_SPLIT_MERGED_NEXT: {
    /* right to left: a match joins the piece after it */
    size_t w = sp->n;
    for (size_t i = sp->n; i-- > 0;) {
      omega_span_t cur = v[i];
      if (cur.match && !prev && w < sp->n)
        v[w].s = cur.s;
      else
        v[--w] = cur;
      prev = cur.match;
    }
    memmove(v, v + w, (sp->n - w) * sizeof *v);
    k = sp->n - w;
    break;
  }
  case OMEGA_SPLIT_CONTIGUOUS:
    for (size_t i = 0; i < sp->n; i++) {
      if (v[i].match == prev && k > 0)
        v[k - 1].e = v[i].e;
      else
        v[k++] = v[i];
      prev = v[i].match;
    }
    break;
  }
  sp->n = k;
}

/* ---- character classes ---- */

static bool is_ws(uint32_t c, uint32_t arg) {
  (void)arg;
  return c == ' ' || omega__uc_is_whitespace(c);
}
static bool is_char(uint32_t c, uint32_t arg) { return c == arg; }
static bool is_punct(uint32_t c, uint32_t arg) {
  (void)arg;
  return omega__uc_is_punct(c);
}
/* Rust char::is_numeric: Nd, Nl, No */
static bool is_numeric(uint32_t c, uint32_t arg) {
  (void)arg;
  if (c < 0x80)
    return c >= '0' && c <= '9';
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* ---- GPT-2's bytes_to_unicode ---- */

static uint32_t byte_char[256];
static pthread_once_t byte_once = PTHREAD_ONCE_INIT;

static void byte_init(void) {
  uint32_t n = 0;
  for (unsigned b = 0; b < 256; b++) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    byte_char[b] = printable ? b : 256 + n++;
  }
}

static int run(omega_enc_t *e, size_t lvl, const uint32_t *s, size_t n, bool first);

static int model(omega_enc_t *e, const uint32_t *s, size_t n) {
  int rc;
  switch (e->t->model) {
  case OMEGA_MODEL_WORDPIECE:
    rc = omega__wordpiece(e, s, n);
    break;
  case OMEGA_MODEL_BPE:
    rc = omega__bpe(e, s, n);
    break;
  case OMEGA_MODEL_UNIGRAM:
    rc = omega__unigram(e, s, n);
    break;
  default:
    return omega__seterr(OMEGA_EINTERNAL, "tokenizer: unknown model");
  }
  if (e->after_word && e->limit && e->iv->n >= e->limit)
    e->stopped = true;
  return rc;
}

/* Hand every span of buf to the next level. */
static int each(omega_enc_t *e, size_t lvl, const uint32_t *buf, const omega_spans_t *sp, bool first) {
  for (size_t i = 0; i < sp->n && !omega__enc_full(e); i++) {
    const omega_span_t *p = &sp->v[i];
    int rc = run(e, lvl + 1, buf + p->s, p->e - p->s, first && p->s == 0);
    if (rc)
      return rc;
  }
  return 0;
}

/* Whitespace: HF's Rust-regex \w+|[^\w\s]+ with the gaps removed, i.e. runs of word
 * characters and runs of other non-space characters. Rust's \w differs from Oniguruma's
 * (it has Join_Control, so a ZWJ splits an emoji sequence), hence done by hand. */
static int whitespace(omega_enc_t *e, size_t lvl, const uint32_t *s, size_t n, bool first) {
  omega_spans_t *sp = omega__scratch_spans(e->s, lvl);
  sp->n = 0;
  size_t i = 0;
  while (i < n) {
    if (is_ws(s[i], 0)) {
      i++;
      continue;
    }
    bool word = omega__uc_is_word(s[i]);
    size_t j = i + 1;
    while (j < n && !is_ws(s[j], 0) && omega__uc_is_word(s[j]) == word)
      j++;
    if (omega__spans_push(sp, i, j, false))
      return OMEGA_ENOMEM;
    i = j;
  }
  return each(e, lvl, s, sp, first);
}

/* BertPreTokenizer: whitespace removed, each punctuation character isolated. */
static int bert(omega_enc_t *e, size_t lvl, const uint32_t *s, size_t n, bool first) {
  omega_spans_t *sp = omega__scratch_spans(e->s, lvl);
  sp->n = 0;
  size_t ws = 0;
  bool in_word = false;
  for (size_t i = 0; i < n; i++) {
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
    if (in_word && omega__spans_push(sp, ws, i, false))
      return OMEGA_ENOMEM;
    in_word = false;
    if (punct && omega__spans_push(sp, i, i + 1, true))
      return OMEGA_ENOMEM;
  }
  if (in_word && omega__spans_push(sp, ws, n, false))
    return OMEGA_ENOMEM;
  return each(e, lvl, s, sp, first);
}

static int metaspace(omega_enc_t *e, size_t lvl, const omega_pre_step_t *st, const uint32_t *s, size_t n,
                     bool first) {
  omega_cpbuf_t *a = omega__scratch_cp(e->s, OMEGA_CP_PRE0 + 2 * lvl);
  if (omega__cpbuf_reserve(a, n + 2))
    return OMEGA_ENOMEM;
  size_t k = 0;
  bool pre = st->prepend == OMEGA_PREPEND_ALWAYS || (st->prepend == OMEGA_PREPEND_FIRST && first);
  if (pre && s[0] != ' ' && s[0] != st->ch) /* HF checks after replacing spaces */
    a->v[k++] = st->ch;
  for (size_t i = 0; i < n; i++)
    a->v[k++] = s[i] == ' ' ? st->ch : s[i];
  a->n = k;
  omega_spans_t *sp = omega__scratch_spans(e->s, lvl);
  if (st->split) {
    if (matches_pred(a->v, k, is_char, st->ch, sp))
      return OMEGA_ENOMEM;
    apply_behavior(sp, OMEGA_SPLIT_MERGED_NEXT, false);
  } else {
    sp->n = 0;
    if (omega__spans_push(sp, 0, k, false))
      return OMEGA_ENOMEM;
  }
  return each(e, lvl, a->v, sp, first);
}

static int bytelevel(omega_enc_t *e, size_t lvl, const omega_pre_step_t *st, const uint32_t *s, size_t n,
                     bool first) {
  pthread_once(&byte_once, byte_init);
  omega_cpbuf_t *a = omega__scratch_cp(e->s, OMEGA_CP_PRE0 + 2 * lvl);
  omega_cpbuf_t *b = omega__scratch_cp(e->s, OMEGA_CP_PRE0 + 2 * lvl + 1);
  const uint32_t *src = s;
  if (st->add_prefix_space && s[0] != ' ') {
    if (omega__cpbuf_reserve(a, n + 2))
      return OMEGA_ENOMEM;
    a->v[0] = ' ';
    memcpy(a->v + 1, s, n * sizeof *s);
    a->n = ++n;
    src = a->v;
  }
  omega_spans_t *sp = omega__scratch_spans(e->s, lvl);
  int rc;
  if (st->use_regex) {
    if ((rc = matches_regex(st->re, src, n, sp)))
      return rc;
  } else {
    sp->n = 0;
    if (omega__spans_push(sp, 0, n, false))
      return OMEGA_ENOMEM;
  }
  for (size_t i = 0; i < sp->n && !omega__enc_full(e); i++) {
    const omega_span_t *p = &sp->v[i];
    if (omega__cpbuf_reserve(b, 4 * (p->e - p->s) + 1))
      return OMEGA_ENOMEM;
    size_t k = 0;
    for (size_t j = p->s; j < p->e; j++) {
      unsigned char u[4];
      size_t m = omega__utf8_encode(src[j], u);
      for (size_t q = 0; q < m; q++)
        b->v[k++] = byte_char[u[q]];
    }
    if ((rc = run(e, lvl + 1, b->v, k, first && p->s == 0)))
      return rc;
  }
  return 0;
}

static int run(omega_enc_t *e, size_t lvl, const uint32_t *s, size_t n, bool first) {
  if (n == 0 || omega__enc_full(e))
    return 0;
  const omega_tokenizer_t *t = e->t;
  if (lvl == t->n_pre)
    return model(e, s, n);
  const omega_pre_step_t *st = &t->pre[lvl];
  omega_spans_t *sp = omega__scratch_spans(e->s, lvl);
  int rc = 0;
  switch (st->kind) {
  case OMEGA_PRE_BERT:
    return bert(e, lvl, s, n, first);
  case OMEGA_PRE_METASPACE:
    return metaspace(e, lvl, st, s, n, first);
  case OMEGA_PRE_BYTELEVEL:
    return bytelevel(e, lvl, st, s, n, first);
  case OMEGA_PRE_WHITESPACE_SPLIT:
    rc = matches_pred(s, n, is_ws, 0, sp);
    break;
  case OMEGA_PRE_CHAR_DELIMITER:
    rc = matches_pred(s, n, is_char, st->ch, sp);
    break;
  case OMEGA_PRE_PUNCTUATION:
    rc = matches_pred(s, n, is_punct, 0, sp);
    break;
  case OMEGA_PRE_DIGITS:
    rc = matches_pred(s, n, is_numeric, 0, sp);
    break;
  case OMEGA_PRE_WHITESPACE:
    return whitespace(e, lvl, s, n, first);
  case OMEGA_PRE_SPLIT:
    rc = matches_regex(st->re, s, n, sp);
    break;
  }
  if (rc)
    return rc;
  apply_behavior(sp, st->behavior, st->invert);
  return each(e, lvl, s, sp, first);
}

int omega__pretokenize(omega_enc_t *e, const uint32_t *s, size_t n, bool first) { return run(e, 0, s, n, first); }

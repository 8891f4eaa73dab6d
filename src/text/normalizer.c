/* The normalizer steps of HF tokenizers, run in order over a code point array. Each step
 * reads one buffer and writes the other; the caller's `out` holds the final result. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/precompiled.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

#include <string.h>
#include <utf8proc.h>

int omega__cpbuf_reserve(omega_cpbuf_t *b, size_t need) {
  if (need <= b->cap)
    return 0;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < need)
    nc *= 2;
  uint32_t *nv = omega__realloc(b->v, nc * sizeof *nv);
  if (!nv)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  b->v = nv;
  b->cap = nc;
  return 0;
}

/* ---- BertNormalizer ---- */

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
static void push_ordered(uint32_t *out, size_t *n, size_t floor, uint32_t d, int ccc) {
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

int omega__normalize_bert(const omega_bert_norm_t *nm, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  size_t base = out->n;
  /* Worst case per input char: " c " around a CJK char, or NFD expansion, or İ -> i + U+0307. */
  if (omega__cpbuf_reserve(out, base + n * (OMEGA_UC_MAX_DECOMP + 2) + 1))
    return OMEGA_ENOMEM;
  uint32_t *o = out->v;
  size_t k = base;
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
        push_ordered(o, &k, base, x, omega__uc_ccc(x));
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
  out->n = k;
  return 0;
}

/* ---- Unicode normalization forms, as HF's unicode-normalization tables (Unicode 9.0)
 * compute them: a character assigned later has no decomposition, combining class 0 and
 * no composition. utf8proc (a newer Unicode) supplies the data for everything else. ---- */

static int nf_ccc(uint32_t c) { return c < 0x300 || omega__uc_after_9_0(c) ? 0 : omega__uc_ccc(c); }

/* Append c to out (canonical order among non-starters, by HF's classes). */
static void push_nf(uint32_t *out, size_t *n, uint32_t c) {
  int ccc = nf_ccc(c);
  size_t j = *n;
  if (ccc)
    while (j > 0) {
      int prev = nf_ccc(out[j - 1]);
      if (prev == 0 || prev <= ccc)
        break;
      out[j] = out[j - 1];
      j--;
    }
  out[j] = c;
  (*n)++;
}

/* The primary composite of a + b, or 0. */
static uint32_t compose2(uint32_t a, uint32_t b) {
  if (omega__uc_after_9_0(a) || omega__uc_after_9_0(b))
    return 0;
  utf8proc_int32_t buf[2] = {(utf8proc_int32_t)a, (utf8proc_int32_t)b};
  if (utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE) != 1 || omega__uc_after_9_0((uint32_t)buf[0]))
    return 0;
  return (uint32_t)buf[0];
}

/* Canonical composition in place (UAX #15: a mark composes with the last starter unless a
 * character between has class 0 or a class >= its own). */
static size_t compose(uint32_t *v, size_t n) {
  size_t k = 0, starter = SIZE_MAX;
  int last = 0; /* class of the last character kept after the starter */
  for (size_t i = 0; i < n; i++) {
    uint32_t c = v[i];
    int ccc = nf_ccc(c);
    if (starter != SIZE_MAX && (k == starter + 1 || (last != 0 && last < ccc))) {
      uint32_t x = c < 0x300 ? 0 : compose2(v[starter], c); /* no second element is below U+0300 */
      if (x) {
        v[starter] = x;
        continue;
      }
    }
    if (ccc == 0) {
      starter = k;
      last = 0;
    } else {
      last = ccc;
    }
    v[k++] = c;
  }
  return k;
}

static int unicode_form(omega_norm_kind_t kind, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  bool compat = kind == OMEGA_NORM_NFKC || kind == OMEGA_NORM_NFKD;
  bool comp = kind == OMEGA_NORM_NFC || kind == OMEGA_NORM_NFKC;
  /* Below these, every character is its own normal form and never combines. */
  uint32_t stable = comp && !compat ? 0x300 : compat ? 0xA0 : 0xC0;
  size_t i = 0;
  while (i < n && in[i] < stable)
    i++;
  if (omega__cpbuf_reserve(out, n + 1))
    return OMEGA_ENOMEM;
  memcpy(out->v, in, i * sizeof *in);
  out->n = i;
  if (i == n)
    return 0;
  size_t k = i;
  utf8proc_option_t opt = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
  for (; i < n; i++) {
    /* 18 is utf8proc's longest decomposition (U+FDFA under compatibility). */
    if (omega__cpbuf_reserve(out, k + 32))
      return OMEGA_ENOMEM;
    utf8proc_int32_t d[32];
    utf8proc_ssize_t nd = in[i] < stable || omega__uc_after_9_0(in[i])
                              ? 0
                              : utf8proc_decompose_char((utf8proc_int32_t)in[i], d, 32, opt, NULL);
    if (nd <= 0 || nd > 32) {
      d[0] = (utf8proc_int32_t)in[i];
      nd = 1;
    }
    for (utf8proc_ssize_t j = 0; j < nd; j++)
      push_nf(out->v, &k, (uint32_t)d[j]);
  }
  out->n = comp ? compose(out->v, k) : k;
  return 0;
}

/* ---- small steps ---- */

static int lowercase(const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  if (omega__cpbuf_reserve(out, 2 * n + 1))
    return OMEGA_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t l[2];
    int nl = omega__uc_lower(in[i], l);
    for (int j = 0; j < nl; j++)
      out->v[k++] = l[j];
  }
  out->n = k;
  return 0;
}

static bool is_mark(uint32_t c) {
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC:
  case UTF8PROC_CATEGORY_ME:
    return true;
  default:
    return false;
  }
}

static int strip_accents(const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  if (omega__cpbuf_reserve(out, n + 1))
    return OMEGA_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (in[i] < 0x300 || !is_mark(in[i]))
      out->v[k++] = in[i];
  out->n = k;
  return 0;
}

static int strip(const omega_norm_step_t *st, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  size_t a = 0, b = n;
  if (st->strip_left)
    while (a < b && omega__uc_is_whitespace(in[a]))
      a++;
  if (st->strip_right)
    while (b > a && omega__uc_is_whitespace(in[b - 1]))
      b--;
  if (omega__cpbuf_reserve(out, b - a + 1))
    return OMEGA_ENOMEM;
  memcpy(out->v, in + a, (b - a) * sizeof *in);
  out->n = b - a;
  return 0;
}

static int append(omega_cpbuf_t *out, const uint32_t *s, size_t n) {
  if (omega__cpbuf_reserve(out, out->n + n + 1))
    return OMEGA_ENOMEM;
  memcpy(out->v + out->n, s, n * sizeof *s);
  out->n += n;
  return 0;
}

/* Every match of the pattern becomes the content. An empty match inserts the content
 * before the character it sits on, then the search moves one character on. */
static int replace(const omega_norm_step_t *st, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  out->n = 0;
  size_t pos = 0, done = 0;
  while (pos <= n) {
    size_t ms, me;
    int err;
    if (!omega__regex_search(st->re, in, n, pos, &ms, &me, &err)) {
      if (err)
        return err;
      break;
    }
    if (append(out, in + done, ms - done) || append(out, st->text, st->n_text))
      return OMEGA_ENOMEM;
    if (me == ms) {
      if (ms == n)
        return 0;
      if (append(out, in + ms, 1))
        return OMEGA_ENOMEM;
      me = ms + 1;
    }
    done = pos = me;
  }
  return append(out, in + done, n - done);
}

static int prepend(const omega_norm_step_t *st, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  out->n = 0;
  if (n && append(out, st->text, st->n_text))
    return OMEGA_ENOMEM;
  return append(out, in, n);
}

static int step(const omega_norm_step_t *st, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  switch (st->kind) {
  case OMEGA_NORM_BERT:
    out->n = 0;
    return omega__normalize_bert(&st->bert, in, n, out);
  case OMEGA_NORM_NFC:
  case OMEGA_NORM_NFD:
  case OMEGA_NORM_NFKC:
  case OMEGA_NORM_NFKD:
    return unicode_form(st->kind, in, n, out);
  case OMEGA_NORM_LOWERCASE:
    return lowercase(in, n, out);
  case OMEGA_NORM_STRIP_ACCENTS:
    return strip_accents(in, n, out);
  case OMEGA_NORM_STRIP:
    return strip(st, in, n, out);
  case OMEGA_NORM_REPLACE:
    return replace(st, in, n, out);
  case OMEGA_NORM_PREPEND:
    return prepend(st, in, n, out);
  case OMEGA_NORM_PRECOMPILED:
    return omega__charsmap_normalize(st->cmap, in, n, out);
  }
  return omega__seterr(OMEGA_EINTERNAL, "tokenizer: unknown normalizer step %d", (int)st->kind);
}

int omega__normalize(const omega_tokenizer_t *t, const uint32_t *in, size_t n, omega_cpbuf_t *out,
                     omega_cpbuf_t *tmp) {
  if (t->n_norm == 0) {
    out->n = 0;
    return append(out, in, n);
  }
  /* Alternate so that the last step writes `out`. */
  omega_cpbuf_t *dst = (t->n_norm % 2) ? out : tmp;
  const uint32_t *src = in;
  size_t sn = n;
  for (size_t i = 0; i < t->n_norm; i++) {
    int rc = step(&t->norm[i], src, sn, dst);
    if (rc)
      return rc;
    src = dst->v;
    sn = dst->n;
    dst = dst == out ? tmp : out;
  }
  return 0;
}

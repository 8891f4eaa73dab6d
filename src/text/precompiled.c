/* The Precompiled normalizer (HF's port of SentencePiece's normalizer).
 *
 * HF walks the text by extended grapheme cluster. A cluster shorter than 6 UTF-8 bytes is
 * looked up whole; otherwise, or when that finds nothing, each of its characters is looked
 * up alone. A lookup is a common-prefix search in the trie and takes the FIRST (shortest)
 * key that is a prefix of the bytes, replacing all of them: so a cluster whose first
 * character has a rule loses its combining marks. That is SentencePiece's behaviour, which
 * HF keeps for exactness, and so does this. */
#include "text/precompiled.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/utf8.h"

#include <string.h>
#include <utf8proc.h>

struct omega_charsmap {
  uint32_t *units;
  size_t n_units;
  char *norm; /* replacement strings, NUL-terminated each */
  size_t norm_len;
  int8_t ascii[128]; /* per ASCII byte: 1 when it has a rule of its own */
};

/* darts-clone unit fields */
static inline bool u_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t u_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static inline uint32_t u_label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
static inline size_t u_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6); }

/* Offset of the replacement for the shortest key that prefixes s[0..len), or -1. */
static long lookup(const omega_charsmap_t *m, const unsigned char *s, size_t len) {
  size_t pos = 0;
  if (m->n_units == 0)
    return -1;
  pos ^= u_offset(m->units[0]);
  for (size_t i = 0; i < len; i++) {
    if (s[i] == 0)
      break;
    pos ^= s[i];
    if (pos >= m->n_units)
      return -1;
    uint32_t u = m->units[pos];
    if (u_label(u) != s[i])
      return -1;
    pos ^= u_offset(u);
    if (u_has_leaf(u)) {
      if (pos >= m->n_units)
        return -1;
      uint32_t v = u_value(m->units[pos]);
      return v < m->norm_len ? (long)v : -1;
    }
  }
  return -1;
}

int omega__charsmap_load(const char *what, const unsigned char *blob, size_t len, omega_charsmap_t **out) {
  if (len < 4)
    return omega__seterr(OMEGA_EFORMAT, "%s: precompiled_charsmap is shorter than its header", what);
  uint32_t trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
  if (trie_bytes % 4 || trie_bytes > len - 4)
    return omega__seterr(OMEGA_EFORMAT, "%s: precompiled_charsmap trie size %u does not fit the %zu-byte blob",
                         what, trie_bytes, len);
  omega_charsmap_t *m = omega__calloc(1, sizeof *m);
  size_t nl = len - 4 - trie_bytes;
  if (m) {
    m->n_units = trie_bytes / 4;
    m->units = omega__malloc(trie_bytes + 4);
    m->norm = omega__malloc(nl + 1);
  }
  if (!m || !m->units || !m->norm) {
    omega__charsmap_free(m);
    return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
  }
  for (size_t i = 0; i < m->n_units; i++) {
    const unsigned char *p = blob + 4 + 4 * i;
    m->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  }
  memcpy(m->norm, blob + 4 + trie_bytes, nl);
  m->norm[nl] = '\0'; /* a last string without its NUL still ends */
  m->norm_len = nl;
  if (omega__utf8_validate((const unsigned char *)m->norm, nl) != nl) {
    omega__charsmap_free(m);
    return omega__seterr(OMEGA_EFORMAT, "%s: precompiled_charsmap replacements are not valid UTF-8", what);
  }
  for (unsigned c = 1; c < 128; c++) {
    unsigned char b = (unsigned char)c;
    m->ascii[c] = lookup(m, &b, 1) >= 0;
  }
  *out = m;
  return 0;
}

void omega__charsmap_free(omega_charsmap_t *m) {
  if (!m)
    return;
  omega__free(m->units);
  omega__free(m->norm);
  omega__free(m);
}

static int emit_norm(const omega_charsmap_t *m, long off, omega_cpbuf_t *out) {
  const char *s = m->norm + off;
  size_t len = strlen(s);
  if (omega__cpbuf_reserve(out, out->n + len + 1))
    return OMEGA_ENOMEM;
  for (size_t i = 0; i < len;) {
    size_t bad;
    size_t k = omega__utf8_decode((const unsigned char *)s + i, len - i, &out->v[out->n], &bad);
    i += k ? k : 1; /* validated at load: k is never 0 */
    out->n++;
  }
  return 0;
}

static int emit_cp(omega_cpbuf_t *out, uint32_t c) {
  if (omega__cpbuf_reserve(out, out->n + 2))
    return OMEGA_ENOMEM;
  out->v[out->n++] = c;
  return 0;
}

int omega__charsmap_normalize(const omega_charsmap_t *m, const uint32_t *in, size_t n, omega_cpbuf_t *out) {
  out->n = 0;
  if (omega__cpbuf_reserve(out, n + 1))
    return OMEGA_ENOMEM;
  size_t i = 0;
  while (i < n) {
    /* one extended grapheme cluster [i, j) */
    size_t j = i + 1;
    utf8proc_int32_t state = 0;
    while (j < n && !utf8proc_grapheme_break_stateful((utf8proc_int32_t)in[j - 1], (utf8proc_int32_t)in[j], &state))
      j++;
    if (j == i + 1 && in[i] < 0x80 && !m->ascii[in[i]]) {
      if (emit_cp(out, in[i]))
        return OMEGA_ENOMEM;
      i = j;
      continue;
    }
    unsigned char buf[32];
    size_t blen = 0;
    for (size_t k = i; k < j && blen < 6; k++)
      blen += omega__utf8_encode(in[k], buf + blen);
    if (blen < 6) {
      long off = lookup(m, buf, blen);
      if (off >= 0) {
        if (emit_norm(m, off, out))
          return OMEGA_ENOMEM;
        i = j;
        continue;
      }
    }
    for (size_t k = i; k < j; k++) {
      size_t cl = omega__utf8_encode(in[k], buf);
      long off = lookup(m, buf, cl);
      if (off >= 0 ? emit_norm(m, off, out) : emit_cp(out, in[k]))
        return OMEGA_ENOMEM;
    }
    i = j;
  }
  return 0;
}

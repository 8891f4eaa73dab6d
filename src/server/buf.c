/* Growth checks len + extra + 1 against the cap before adding, so no size can wrap. */
#include "core/alloc.h"
#include "server/buf.h"
#include "text/utf8.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void omega__buf_free(omega_buf_t *b) {
  omega__free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

size_t omega__buf_limit(const omega_buf_t *b) { return b->max && b->max < OMEGA_BUF_MAX ? b->max : OMEGA_BUF_MAX; }

/* Room for extra more bytes and the NUL after them. */
static bool reserve(omega_buf_t *b, size_t extra) {
  if (b->err)
    return false;
  const size_t max = omega__buf_limit(b);
  if (b->len >= max || extra > max - b->len - 1) { /* len + extra + 1 > max, without overflowing */
    b->err = OMEGA_ERANGE;
    return false;
  }
  const size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return true;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < need)
    nc = nc > max / 2 ? max : nc * 2;
  if (nc > max)
    nc = max;
  char *nd = omega__realloc(b->data, nc);
  if (!nd) {
    b->err = OMEGA_ENOMEM;
    return false;
  }
  b->data = nd;
  b->cap = nc;
  return true;
}

void omega__buf_put(omega_buf_t *b, const char *s, size_t n) {
  if (!reserve(b, n))
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void omega__buf_puts(omega_buf_t *b, const char *s) { omega__buf_put(b, s, strlen(s)); }

void omega__buf_printf(omega_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 && !b->err)
    b->err = OMEGA_EINVAL;
  if (n < 0 || !reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* The escaped form of the text at s[0..n), n >= 1: its length in the answer (*out) and in
 * the input (returned). An ill-formed UTF-8 subpart becomes one U+FFFD, so that the answer is
 * JSON even when an error message quotes bytes a client sent. */
static size_t escape_one(const unsigned char *s, size_t n, char o[8], size_t *out) {
  uint32_t cp;
  size_t bad = 0, len = omega__utf8_decode(s, n, &cp, &bad);
  if (!len) {
    memcpy(o, "\xEF\xBF\xBD", 3);
    *out = 3;
    return bad;
  }
  if (len > 1) {
    memcpy(o, s, len);
    *out = len;
    return len;
  }
  switch (s[0]) {
  case '"':
    memcpy(o, "\\\"", 2);
    break;
  case '\\':
    memcpy(o, "\\\\", 2);
    break;
  case '\n':
    memcpy(o, "\\n", 2);
    break;
  case '\r':
    memcpy(o, "\\r", 2);
    break;
  case '\t':
    memcpy(o, "\\t", 2);
    break;
  default:
    if (s[0] < 0x20) {
      snprintf(o, 8, "\\u%04x", s[0]);
      *out = 6;
    } else {
      o[0] = (char)s[0];
      *out = 1;
    }
    return 1;
  }
  *out = 2;
  return 1;
}

void omega__buf_json_str(omega_buf_t *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  char e[8];
  size_t el;
  /* the exact size first: reserving six bytes a byte would refuse long strings that fit */
  size_t out = 2;
  for (size_t i = 0; i < n && out <= OMEGA_BUF_MAX; out += el)
    i += escape_one(u + i, n - i, e, &el);
  if (!reserve(b, out))
    return;
  char *o = b->data + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; o += el)
    i += escape_one(u + i, n - i, o, &el);
  *o++ = '"';
  *o = '\0';
  b->len = (size_t)(o - b->data);
}

void omega__buf_float(omega_buf_t *b, float v) {
  if (!isfinite(v)) { /* JSON has no NaN or Infinity */
    omega__buf_puts(b, "null");
    return;
  }
  if (!reserve(b, 32))
    return;
  b->len += (size_t)snprintf(b->data + b->len, 32, "%.9g", (double)v);
}

void omega__buf_float_array(omega_buf_t *b, const float *v, size_t n) {
  omega__buf_put(b, "[", 1);
  for (size_t i = 0; i < n && !b->err; i++) {
    if (i)
      omega__buf_put(b, ",", 1);
    omega__buf_float(b, v[i]);
  }
  omega__buf_put(b, "]", 1);
}

void omega__buf_float_base64(omega_buf_t *b, const float *v, size_t n) {
  if (n > OMEGA_BUF_MAX / sizeof *v) { /* its base64 could not fit, and n * 4 could overflow */
    if (!b->err)
      b->err = OMEGA_ERANGE;
    return;
  }
  size_t bytes = n * sizeof *v, enc = 4 * ((bytes + 2) / 3);
  if (!reserve(b, enc + 2))
    return;
  b->data[b->len++] = '"';
  /* the host is little-endian (x86-64, aarch64), so the floats are the wire bytes */
  int k = EVP_EncodeBlock((unsigned char *)b->data + b->len, (const unsigned char *)v, (int)bytes);
  b->len += (size_t)k;
  b->data[b->len++] = '"';
  b->data[b->len] = '\0';
}

void omega__buf_error(omega_buf_t *b, const char *message, const char *type) {
  omega__buf_puts(b, "{\"error\":");
  omega__buf_json_str(b, message, strlen(message));
  omega__buf_puts(b, ",\"error_type\":");
  omega__buf_json_str(b, type, strlen(type));
  omega__buf_puts(b, "}");
}

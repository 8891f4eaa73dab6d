/* Growth checks len + extra + 1 against the cap before adding, so no size can wrap. */
#include "core/alloc.h"
#include "server/buf.h"

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

/* The escaped form of byte c: 1 byte, 2 (\n) or 6 (\u001f). */
static size_t escaped_len(unsigned char c) {
  switch (c) {
  case '"':
  case '\\':
  case '\n':
  case '\r':
  case '\t':
    return 2;
  default:
    return c < 0x20 ? 6 : 1;
  }
}

void omega__buf_json_str(omega_buf_t *b, const char *s, size_t n) {
  /* the exact size first: reserving six bytes a byte would refuse long strings that fit */
  size_t out = 2;
  for (size_t i = 0; i < n && out <= OMEGA_BUF_MAX; i++)
    out += escaped_len((unsigned char)s[i]);
  if (!reserve(b, out))
    return;
  char *o = b->data + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"':
      *o++ = '\\', *o++ = '"';
      break;
    case '\\':
      *o++ = '\\', *o++ = '\\';
      break;
    case '\n':
      *o++ = '\\', *o++ = 'n';
      break;
    case '\r':
      *o++ = '\\', *o++ = 'r';
      break;
    case '\t':
      *o++ = '\\', *o++ = 't';
      break;
    default:
      if (c < 0x20) {
        o += sprintf(o, "\\u%04x", c);
      } else {
        *o++ = (char)c;
      }
    }
  }
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

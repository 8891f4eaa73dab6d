#include "server/http_head.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static omega_head_state_t bad(omega_head_verdict_t *v, int status, const char *type, const char *fmt, ...) {
  v->status = status;
  v->type = type;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->message, sizeof v->message, fmt, ap);
  va_end(ap);
  return OMEGA_HEAD_BAD;
}

static bool tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool same_name(const char *p, size_t n, const char *name) {
  if (n != strlen(name))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : p[i];
    if (c != name[i])
      return false;
  }
  return true;
}

/* Trim optional whitespace around a field value. */
static void trim(const char **p, size_t *n) {
  while (*n && (**p == ' ' || **p == '\t'))
    (*p)++, (*n)--;
  while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
    (*n)--;
}

static omega_head_state_t framing(unsigned n_cl, const char *cl, size_t cl_len, unsigned n_te, const char *te,
                                  size_t te_len, omega_head_verdict_t *v) {
  /* RFC 9112 6.1 and 6.3: a message with both, or with two lengths, has no single body
   * length; a proxy in front may pick the other one, and the rest of the body would run
   * here as a request of its own (request smuggling). */
  if (n_cl && n_te)
    return bad(v, 400, "bad_request", "Content-Length together with Transfer-Encoding: the body's length is ambiguous");
  if (n_cl > 1)
    return bad(v, 400, "bad_request", "more than one Content-Length header: the body's length is ambiguous");
  if (n_te > 1)
    return bad(v, 400, "bad_request", "more than one Transfer-Encoding header");
  if (n_te) {
    trim(&te, &te_len);
    if (!same_name(te, te_len, "chunked"))
      return bad(v, 501, "not_implemented", "Transfer-Encoding %.*s is not supported (only chunked)",
                 (int)(te_len > 64 ? 64 : te_len), te);
  }
  if (n_cl) {
    trim(&cl, &cl_len);
    bool digits = cl_len > 0 && cl_len <= 18;
    for (size_t i = 0; i < cl_len && digits; i++)
      digits = cl[i] >= '0' && cl[i] <= '9';
    if (!digits)
      return bad(v, 400, "bad_request", "Content-Length must be a decimal number of bytes, not '%.*s'",
                 (int)(cl_len > 32 ? 32 : cl_len), cl);
  }
  return OMEGA_HEAD_OK;
}

omega_head_state_t omega__http_framing_check(unsigned n_cl, const char *cl, unsigned n_te, const char *te,
                                             omega_head_verdict_t *v) {
  return framing(n_cl, cl, cl ? strlen(cl) : 0, n_te, te, te ? strlen(te) : 0, v);
}

/* The bytes ran out before a verdict: wait, unless the head is already too large. */
static omega_head_state_t more(size_t len, size_t max_head, omega_head_verdict_t *v) {
  if (len > max_head)
    return bad(v, 431, "header_too_large", "the request head exceeds %zu bytes", max_head);
  return OMEGA_HEAD_INCOMPLETE;
}

/* The end of a line at i: its length (CRLF or a bare LF, as libmicrohttpd accepts both),
 * 0 when the bytes run out, -1 when something other than a line end is there. */
static int line_end(const char *b, size_t len, size_t i) {
  if (i >= len)
    return 0;
  if (b[i] == '\n')
    return 1;
  if (b[i] != '\r')
    return -1;
  if (i + 1 >= len)
    return 0;
  return b[i + 1] == '\n' ? 2 : -1;
}

static omega_head_state_t request_line(const char *b, size_t len, size_t max_head, size_t max_target, size_t *at,
                                       omega_head_verdict_t *v) {
  size_t i = *at;
  /* RFC 9112 2.2: empty lines before the request line are ignored (a client's stray CRLF) */
  for (int k = 0; k < 2; k++) {
    const int e = line_end(b, len, i);
    if (e == 0 && i < len) /* a CR whose LF has not arrived */
      return more(len, max_head, v);
    if (e <= 0)
      break;
    i += (size_t)e;
  }
  const size_t m0 = i;
  while (i < len && tchar((unsigned char)b[i]) && i - m0 < 32)
    i++;
  if (i == len)
    return more(len, max_head, v);
  if (i == m0 || b[i] != ' ')
    return bad(v, 400, "bad_request", "malformed request line: not an HTTP request");
  const size_t t0 = ++i;
  while (i < len && (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7F) {
    if (++i - t0 > max_target)
      return bad(v, 414, "uri_too_long", "the request target exceeds %zu bytes", max_target);
  }
  if (i == len)
    return more(len, max_head, v);
  if (i == t0 || b[i] != ' ')
    return bad(v, 400, "bad_request", "malformed request line: bad request target");
  i++;
  static const char proto[] = "HTTP/1.";
  for (size_t k = 0; k < 8; k++, i++) {
    if (i == len)
      return more(len, max_head, v);
    const bool ok = k < 7 ? b[i] == proto[k] : (b[i] >= '0' && b[i] <= '9');
    if (!ok)
      return k == 5 && b[i] >= '0' && b[i] <= '9' ? bad(v, 505, "http_version", "only HTTP/1.x is supported")
                                                  : bad(v, 400, "bad_request", "malformed request line: bad version");
  }
  const int e = line_end(b, len, i);
  if (e == 0)
    return more(len, max_head, v);
  if (e < 0)
    return bad(v, 400, "bad_request", "malformed request line: text after the version");
  *at = i + (size_t)e;
  return OMEGA_HEAD_OK;
}

omega_head_state_t omega__http_head_check(const char *b, size_t len, size_t max_head, size_t max_target,
                                          omega_head_verdict_t *v) {
  size_t i = 0;
  omega_head_state_t st = request_line(b, len, max_head, max_target, &i, v);
  if (st != OMEGA_HEAD_OK)
    return st;
  unsigned n_cl = 0, n_te = 0;
  const char *cl = NULL, *te = NULL;
  size_t cl_len = 0, te_len = 0;
  for (;;) {
    int e = line_end(b, len, i);
    if (e > 0) { /* the empty line: the head is whole */
      if (i + (size_t)e > max_head)
        return bad(v, 431, "header_too_large", "the request head exceeds %zu bytes", max_head);
      return framing(n_cl, cl, cl_len, n_te, te, te_len, v);
    }
    if (i >= len || (e == 0 && b[i] == '\r'))
      return more(len, max_head, v);
    const size_t n0 = i;
    while (i < len && tchar((unsigned char)b[i]))
      i++;
    if (i == len)
      return more(len, max_head, v);
    if (i == n0 || b[i] != ':') /* a folded line, or space before the colon (RFC 9112 5.1, 5.2) */
      return bad(v, 400, "bad_request", "malformed header line %.*s", (int)(i - n0 > 40 ? 40 : i - n0), b + n0);
    const size_t name_len = i - n0, v0 = ++i;
    while (i < len && b[i] != '\r' && b[i] != '\n') {
      const unsigned char c = (unsigned char)b[i];
      if ((c < 0x20 && c != '\t') || c == 0x7F)
        return bad(v, 400, "bad_request", "header %.*s holds a control character", (int)(name_len > 40 ? 40 : name_len),
                   b + n0);
      i++;
    }
    e = line_end(b, len, i);
    if (e == 0)
      return more(len, max_head, v);
    if (e < 0)
      return bad(v, 400, "bad_request", "header %.*s holds a bare carriage return", (int)(name_len > 40 ? 40 : name_len),
                 b + n0);
    if (same_name(b + n0, name_len, "content-length") && n_cl++ == 0)
      cl = b + v0, cl_len = i - v0;
    else if (same_name(b + n0, name_len, "transfer-encoding") && n_te++ == 0)
      te = b + v0, te_len = i - v0;
    i += (size_t)e;
    if (i > max_head)
      return bad(v, 431, "header_too_large", "the request head exceeds %zu bytes", max_head);
  }
}

/* Fuzz target: the listener's check of a connection's first request head, on arbitrary bytes.
 * Besides memory safety it checks what the verdicts promise: a BAD verdict has a status and a
 * message; a head judged OK was never judged BAD on a shorter prefix (bytes that arrive later
 * cannot make earlier ones wrong) and has at most one Content-Length and never one together
 * with Transfer-Encoding. */
#include "server/http_head.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_HEAD = 2048, MAX_TARGET = 256 };

/* Header lines named `name` in the head (the request line never counts). */
static unsigned count_fields(const char *b, size_t len, const char *name) {
  unsigned n = 0;
  const size_t nl = strlen(name);
  for (size_t i = 0; i + 1 < len; i++)
    if (b[i] == '\n' && len - i - 1 > nl && strncasecmp(b + i + 1, name, nl) == 0 && b[i + 1 + nl] == ':')
      n++;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *b = (const char *)data;
  omega_head_verdict_t v;
  const omega_head_state_t st = omega__http_head_check(b, size, MAX_HEAD, MAX_TARGET, &v);
  if (st == OMEGA_HEAD_BAD && (v.status < 400 || v.status > 505 || !v.type || !v.message[0]))
    abort();
  if (st != OMEGA_HEAD_OK)
    return 0;
  for (size_t cut = 0; cut < size; cut += 1 + cut / 8)
    if (omega__http_head_check(b, cut, MAX_HEAD, MAX_TARGET, &v) == OMEGA_HEAD_BAD)
      abort();
  /* the fields of the head only (it ends at the first empty line) */
  size_t end = 0;
  for (size_t i = 0; i + 1 < size && !end; i++)
    if (b[i] == '\n' && (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < size && b[i + 2] == '\n')))
      end = i + 1;
  const unsigned n_cl = count_fields(b, end, "content-length"), n_te = count_fields(b, end, "transfer-encoding");
  if (n_cl > 1 || n_te > 1 || (n_cl && n_te))
    abort();
  return 0;
}

/* Fuzz target: encoding arbitrary bytes with the bert-base-uncased vocabulary, with and
 * without UTF-8 replacement, with and without truncation. */
#include "omega/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static omega_tokenizer_t *tok;

static void free_tok(void) { omega_tokenizer_free(tok); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!tok) {
    omega_tokenizer_opts_t o = {OMEGA_CASE_LOWER};
    if (omega_tokenizer_load(OMEGA_SOURCE_DIR "/data/vocab/bert-base-uncased-vocab.txt", &o, &tok) != 0)
      abort();
    atexit(free_tok);
  }
  static int32_t ids[1 << 16];
  size_t n;
  size_t max_len = size ? (size_t)(data[0] % 64) : 0;
  if (max_len == 1)
    max_len = 0;
  omega_tokenizer_encode(tok, (const char *)data, size, 0, 0, ids, 1 << 16, &n);
  int rc = omega_tokenizer_encode(tok, (const char *)data, size, max_len, OMEGA_TOK_UTF8_REPLACE, ids, 1 << 16, &n);
  /* with replacement every input encodes, truncated ones within the limit */
  if (rc != 0 && size < (1 << 14))
    abort();
  if (rc == 0 && max_len && n > max_len)
    abort();
  return 0;
}

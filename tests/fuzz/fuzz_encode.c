/* Fuzz target: encoding arbitrary bytes with the bert-base-uncased vocabulary and with the
 * feature tokenizers of tests/text/data/features (byte-level and classic BPE, Unigram with
 * byte fallback, Metaspace, regex splits), single texts and pairs, with and without UTF-8
 * replacement, with and without truncation. The first byte picks the tokenizer and the
 * truncation, so that one input runs one tokenizer (six times the executions a second). */
#include "omega/error.h"
#include "omega/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const feature_files[] = {"bpe_fallback", "bpe_affixes", "unigram_first", "unigram_never",
                                            "bytelevel_prefix"};
#define N_TOK (1 + sizeof feature_files / sizeof feature_files[0])
static omega_tokenizer_t *toks[N_TOK];

static void free_toks(void) {
  for (size_t i = 0; i < N_TOK; i++)
    omega_tokenizer_free(toks[i]);
}

static void load(void) {
  omega_tokenizer_opts_t o = {OMEGA_CASE_LOWER};
  if (omega_tokenizer_load(OMEGA_SOURCE_DIR "/data/vocab/bert-base-uncased-vocab.txt", &o, &toks[0]) != 0)
    abort();
  for (size_t i = 1; i < N_TOK; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/text/data/features/%s.json", OMEGA_SOURCE_DIR, feature_files[i - 1]);
    if (omega_tokenizer_load(path, NULL, &toks[i]) != 0)
      abort();
  }
  atexit(free_toks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!toks[0])
    load();
  static int32_t ids[1 << 16], types[1 << 16];
  size_t n;
  if (size == 0)
    return 0;
  omega_tokenizer_t *t = toks[data[0] % N_TOK];
  size_t max_len = (size_t)(data[0] / N_TOK % 64);
  if (max_len && max_len < 4)
    max_len = 0;
  const char *text = (const char *)data + 1;
  size--;
  omega_tokenizer_encode(t, text, size, 0, 0, ids, 1 << 16, &n);
  int rc = omega_tokenizer_encode(t, text, size, max_len, OMEGA_TOK_UTF8_REPLACE, ids, 1 << 16, &n);
  /* with replacement every input encodes, truncated ones within the limit */
  if ((rc != 0 && size < (1 << 12)) || (rc == 0 && max_len && n > max_len))
    abort();
  size_t half = size / 2;
  for (int how = 0; how < 3; how++) {
    rc = omega_tokenizer_encode_pair(t, text, half, text + half, size - half, max_len, (omega_truncation_t)how,
                                     OMEGA_TOK_UTF8_REPLACE, ids, types, 1 << 16, &n);
    if (rc == 0 && max_len && n > max_len)
      abort();
    if (rc != 0 && rc != OMEGA_ERANGE && size < (1 << 12)) /* ERANGE: only_* cannot make room */
      abort();
    for (size_t k = 0; rc == 0 && k < n; k++)
      if (types[k] < 0 || types[k] > 1)
        abort();
  }
  return 0;
}

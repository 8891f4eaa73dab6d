/* Fuzz target: tokenizer.json parsing, then encoding with whatever loaded. */
#include "text/tokenizer_internal.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  omega_tokenizer_t *t;
  if (omega__tokenizer_from_json("fuzz.json", (const char *)data, size, &t) != 0)
    return 0;
  static const char *const probes[] = {"Hello [MASK] world", "", "ÀÉÎ 漢字 \xF0\x9F\x98\x80 <mask> a<mask>b",
                                       "yesterday YESTERDAY [CLS][SEP]"};
  int32_t ids[512];
  size_t n;
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    size_t len = 0;
    while (probes[i][len])
      len++;
    omega_tokenizer_encode(t, probes[i], len, 0, 0, ids, 512, &n);
    omega_tokenizer_encode(t, probes[i], len, 8, 0, ids, 512, &n);
    omega_tokenizer_encode_pair(t, probes[i], len, probes[0], 18, 9, OMEGA_TRUNCATE_LONGEST_FIRST, 0, ids, NULL, 512,
                                &n);
  }
  omega_tokenizer_free(t);
  return 0;
}

/* Fuzz target: config.json validation. */
#include "core/json_util.h"
#include "model/config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *j;
  if (omega__json_load_buf("fuzz.json", (const char *)data, size, &j) != 0)
    return 0;
  omega_bert_config_t c;
  omega__bert_config_parse("fuzz.json", j, &c);
  json_decref(j);
  return 0;
}

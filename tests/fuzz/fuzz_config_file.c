/* Fuzz target: the KEY=VALUE config-file parser and every value validator. */
#include "config/config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  omega_settings_t s;
  char msg[512];
  omega__config_parse_text("fuzz.env", (const char *)data, size, &s, msg, sizeof msg);
  return 0;
}

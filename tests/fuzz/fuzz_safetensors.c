/* Fuzz target: safetensors header validation and tensor conversion. */
#include "model/safetensors.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  omega_safetensors_t st;
  if (omega__safetensors_parse("fuzz.safetensors", data, size, &st) != 0)
    return 0;
  for (size_t i = 0; i < st.n; i++) {
    const omega_st_tensor_t *t = &st.tensors[i];
    if (t->dtype == OMEGA_DT_OTHER || t->nelem > (1u << 20))
      continue;
    float *buf = malloc((t->nelem ? t->nelem : 1) * sizeof *buf);
    if (buf)
      omega__tensor_to_f32(t, buf);
    free(buf);
    if (omega__safetensors_find(&st, t->name) != t)
      abort();
  }
  omega__safetensors_close(&st);
  return 0;
}

/* A model's weight files: model.safetensors, or the shards model.safetensors.index.json
 * names (transformers' save_pretrained past its shard size), searched as one. */
#ifndef OMEGA_MODEL_WEIGHTS_H
#define OMEGA_MODEL_WEIGHTS_H

#include "model/safetensors.h"

typedef struct {
  omega_safetensors_t *files;
  size_t n;
  char path[4096]; /* the file, or the index, that errors name */
} omega_weights_t;

/* Open dir's weights; a folder with only pytorch_model.bin gets a message saying how to convert it. */
int omega__weights_open(const char *dir, omega_weights_t *w);
void omega__weights_close(omega_weights_t *w);
const omega_st_tensor_t *omega__weights_find(const omega_weights_t *w, const char *name);

#endif

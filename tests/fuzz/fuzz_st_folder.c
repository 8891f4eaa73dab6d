/* Fuzz target: the sentence-transformers folder files a model brings (modules.json, a Dense
 * module's config.json, config_sentence_transformers.json's prompts, 1_Pooling/config.json)
 * and a sharded checkpoint's model.safetensors.index.json. The first byte picks the file;
 * the rest is its content, written into a scratch folder whose other files stay valid. */
#include "model/config.h"
#include "model/weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static void put(const char *rel, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "wb");
  if (!f)
    abort();
  fwrite(p, 1, n, f);
  fclose(f);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/omega-fuzz-st-XXXXXX");
  if (!mkdtemp(dir))
    abort();
  char sub[512];
  snprintf(sub, sizeof sub, "%s/1_Pooling", dir);
  mkdir(sub, 0700);
  snprintf(sub, sizeof sub, "%s/2_Dense", dir);
  mkdir(sub, 0700);
  static const char pool[] = "{\"word_embedding_dimension\": 32, \"pooling_mode_mean_tokens\": true}";
  static const char dense[] = "{\"in_features\": 32, \"out_features\": 8, \"bias\": true, "
                              "\"activation_function\": \"torch.nn.modules.activation.Tanh\"}";
  static const char modules[] = "[{\"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"}, "
                                "{\"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}, "
                                "{\"path\": \"2_Dense\", \"type\": \"sentence_transformers.models.Dense\"}, "
                                "{\"path\": \"3_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}]";
  static const char prompts[] = "{\"prompts\": {\"query\": \"query: \"}, \"default_prompt_name\": \"query\"}";
  put("1_Pooling/config.json", pool, sizeof pool - 1);
  put("2_Dense/config.json", dense, sizeof dense - 1);
  put("modules.json", modules, sizeof modules - 1);
  put("config_sentence_transformers.json", prompts, sizeof prompts - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0])
    setup();
  if (size == 0)
    return 0;
  static const char *const files[] = {"modules.json", "2_Dense/config.json", "config_sentence_transformers.json",
                                      "1_Pooling/config.json", "model.safetensors.index.json"};
  const size_t which = data[0] % 5;
  put(files[which], data + 1, size - 1);
  if (which == 4) {
    omega_weights_t w;
    if (omega__weights_open(dir, &w) == 0)
      omega__weights_close(&w);
    return 0;
  }
  omega_bert_config_t b = {0};
  b.hidden_size = 32;
  b.max_position_embeddings = 64;
  omega_st_config_t st;
  if (omega__st_config_load(dir, &b, &st) == 0)
    omega__st_config_free(&st);
  return 0;
}

/* Single-file and sharded safetensors checkpoints. An index maps every tensor to a shard; the
 * shards are opened once each, every mapping is checked against its shard (a tensor missing
 * from the file the index names is an error, not a silent search elsewhere), and shard names
 * are plain file names inside the folder. */
#include "model/weights.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/json_util.h"

#include <string.h>

#define MAX_INDEX_FILE (64u << 20)
#define MAX_SHARDS 4096

void omega__weights_close(omega_weights_t *w) {
  for (size_t i = 0; i < w->n; i++)
    omega__safetensors_close(&w->files[i]);
  omega__free(w->files);
  w->files = NULL;
  w->n = 0;
}

const omega_st_tensor_t *omega__weights_find(const omega_weights_t *w, const char *name) {
  for (size_t i = 0; i < w->n; i++) {
    const omega_st_tensor_t *t = omega__safetensors_find(&w->files[i], name);
    if (t)
      return t;
  }
  return NULL;
}

static int shard_index(const char **names, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return (int)i;
  return -1;
}

static int open_sharded(const char *dir, omega_weights_t *w) {
  json_t *doc;
  int rc = omega__json_load_file(w->path, MAX_INDEX_FILE, &doc);
  if (rc)
    return rc;
  const json_t *map = json_object_get(doc, "weight_map");
  const char **names = NULL;
  size_t n = 0;
  if (!json_is_object(map) || json_object_size(map) == 0)
    rc = omega__seterr(OMEGA_EFORMAT, "%s: \"weight_map\" must be a non-empty object of tensor -> file", w->path);
  else if (!(names = omega__calloc(MAX_SHARDS, sizeof *names)))
    rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", w->path);
  const char *key;
  const json_t *val;
  if (rc == 0)
    json_object_foreach((json_t *)map, key, val) {
      const char *f = json_string_value(val);
      if (!f || !*f || strchr(f, '/') || strcmp(f, ".") == 0 || strcmp(f, "..") == 0) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%.80s\" maps to \"%.80s\", which is not a file name in the "
                                          "folder",
                           w->path, key, f ? f : "(not a string)");
        break;
      }
      if (shard_index(names, n, f) < 0) {
        if (n == MAX_SHARDS) {
          rc = omega__seterr(OMEGA_EFORMAT, "%s: more than %d shards", w->path, MAX_SHARDS);
          break;
        }
        names[n++] = f;
      }
    }
  if (rc == 0 && !(w->files = omega__calloc(n, sizeof *w->files)))
    rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", w->path);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char p[4096];
    if ((rc = omega__path_join(p, sizeof p, dir, names[i])) || (rc = omega__safetensors_open(p, &w->files[i])))
      break;
    w->n++;
  }
  if (rc == 0)
    json_object_foreach((json_t *)map, key, val) {
      int s = shard_index(names, n, json_string_value(val));
      if (!omega__safetensors_find(&w->files[s], key)) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%.80s\" is not in %s, where the index puts it", w->path, key,
                           names[s]);
        break;
      }
    }
  omega__free(names);
  json_decref(doc);
  if (rc)
    omega__weights_close(w);
  return rc;
}

int omega__weights_open(const char *dir, omega_weights_t *w) {
  memset(w, 0, sizeof *w);
  int rc = omega__path_join(w->path, sizeof w->path, dir, "model.safetensors");
  if (rc)
    return rc;
  if (omega__is_file(w->path)) {
    if (!(w->files = omega__calloc(1, sizeof *w->files)))
      return omega__seterr(OMEGA_ENOMEM, "%s: out of memory", w->path);
    if ((rc = omega__safetensors_open(w->path, &w->files[0]))) {
      omega__weights_close(w);
      return rc;
    }
    w->n = 1;
    return 0;
  }
  char index[4096];
  if ((rc = omega__path_join(index, sizeof index, dir, "model.safetensors.index.json")))
    return rc;
  if (omega__is_file(index)) {
    snprintf(w->path, sizeof w->path, "%s", index);
    return open_sharded(dir, w);
  }
  char bin[4096];
  omega__path_join(bin, sizeof bin, dir, "pytorch_model.bin");
  return omega__seterr(OMEGA_ENOENT, "%s: not found, nor model.safetensors.index.json%s", w->path,
                       omega__is_file(bin)
                           ? " (pytorch_model.bin is not supported: it is a pickle, which can run code when loaded; "
                             "convert it with transformers: AutoModel.from_pretrained(dir).save_pretrained(dir, "
                             "safe_serialization=True))"
                           : "");
}

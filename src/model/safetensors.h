/* safetensors reader: mmap the file, validate the header completely, index the tensors. */
#ifndef OMEGA_MODEL_SAFETENSORS_H
#define OMEGA_MODEL_SAFETENSORS_H

#include "core/file.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { OMEGA_DT_F32, OMEGA_DT_F16, OMEGA_DT_BF16, OMEGA_DT_OTHER } omega_dtype_t;

#define OMEGA_ST_MAX_DIMS 8

typedef struct {
  char *name;
  omega_dtype_t dtype;
  char dtype_name[12];
  int ndim;
  int64_t shape[OMEGA_ST_MAX_DIMS];
  size_t nelem;
  const unsigned char *data; /* inside the mapping; may be unaligned */
  size_t nbytes;
} omega_st_tensor_t;

typedef struct {
  omega_map_t map;
  omega_st_tensor_t *tensors; /* sorted by name */
  size_t n;
} omega_safetensors_t;

int omega__safetensors_open(const char *path, omega_safetensors_t *st);
/* Parse and validate a safetensors image in memory (data stays owned by the caller).
 * `what` names the source in error messages. */
int omega__safetensors_parse(const char *what, const unsigned char *data, size_t size, omega_safetensors_t *st);
void omega__safetensors_close(omega_safetensors_t *st);
const omega_st_tensor_t *omega__safetensors_find(const omega_safetensors_t *st, const char *name);
/* Convert any float tensor to f32 (dst has nelem floats). */
void omega__tensor_to_f32(const omega_st_tensor_t *t, float *dst);
const char *omega__shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

#endif

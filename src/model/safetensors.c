#include "model/safetensors.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/json_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u << 20) /* the format's own limit */

static const struct {
  const char *name;
  size_t size;
  omega_dtype_t dt;
} dtypes[] = {
    {"F32", 4, OMEGA_DT_F32},     {"F16", 2, OMEGA_DT_F16},      {"BF16", 2, OMEGA_DT_BF16},
    {"F64", 8, OMEGA_DT_OTHER},   {"I64", 8, OMEGA_DT_OTHER},    {"I32", 4, OMEGA_DT_OTHER},
    {"I16", 2, OMEGA_DT_OTHER},   {"I8", 1, OMEGA_DT_OTHER},     {"U64", 8, OMEGA_DT_OTHER},
    {"U32", 4, OMEGA_DT_OTHER},   {"U16", 2, OMEGA_DT_OTHER},    {"U8", 1, OMEGA_DT_OTHER},
    {"BOOL", 1, OMEGA_DT_OTHER},  {"F8_E4M3", 1, OMEGA_DT_OTHER}, {"F8_E5M2", 1, OMEGA_DT_OTHER},
};

const char *omega__shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
  size_t k = 0;
  k += (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (k < cap)
    snprintf(buf + k, cap - k, "]");
  return buf;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const omega_st_tensor_t *)a)->name, ((const omega_st_tensor_t *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
  const omega_st_tensor_t *x = *(omega_st_tensor_t *const *)a, *y = *(omega_st_tensor_t *const *)b;
  return x->data < y->data ? -1 : x->data > y->data;
}

static int parse_entry(const char *what, const char *name, const json_t *v, const unsigned char *base,
                       size_t data_size, omega_st_tensor_t *t) {
  if (!json_is_object(v))
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": entry must be an object", what, name);
  const char *dt = json_string_value(json_object_get(v, "dtype"));
  const json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
  if (!dt)
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": \"dtype\" is missing", what, name);
  size_t esize = 0;
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp(dt, dtypes[i].name) == 0) {
      esize = dtypes[i].size;
      t->dtype = dtypes[i].dt;
      snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt);
    }
  if (!esize)
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": unknown dtype \"%.20s\"", what, name, dt);
  if (!json_is_array(shape) || json_array_size(shape) > OMEGA_ST_MAX_DIMS)
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": \"shape\" must be an array of at most %d sizes", what,
                         name, OMEGA_ST_MAX_DIMS);
  t->ndim = (int)json_array_size(shape);
  size_t nelem = 1;
  for (int i = 0; i < t->ndim; i++) {
    const json_t *d = json_array_get(shape, (size_t)i);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": shape entries must be non-negative integers", what,
                           name);
    t->shape[i] = json_integer_value(d);
    if (t->shape[i] && nelem > SIZE_MAX / 16 / (size_t)t->shape[i])
      return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": shape is too large", what, name);
    nelem *= (size_t)t->shape[i];
  }
  t->nelem = nelem;
  if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
      !json_is_integer(json_array_get(offs, 1)))
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end]", what, name);
  json_int_t b = json_integer_value(json_array_get(offs, 0)), e = json_integer_value(json_array_get(offs, 1));
  if (b < 0 || e < b || (unsigned long long)e > data_size)
    return omega__seterr(OMEGA_EFORMAT,
                         "%s: tensor \"%s\": data_offsets [%lld, %lld] out of range (data section is %zu bytes; "
                         "the file may be truncated)",
                         what, name, (long long)b, (long long)e, data_size);
  if ((size_t)(e - b) != nelem * esize)
    return omega__seterr(OMEGA_EFORMAT, "%s: tensor \"%s\": %lld data bytes, but dtype %s and shape need %zu", what,
                         name, (long long)(e - b), dt, nelem * esize);
  t->data = base + b;
  t->nbytes = (size_t)(e - b);
  return 0;
}

int omega__safetensors_parse(const char *what, const unsigned char *data, size_t size, omega_safetensors_t *st) {
  st->tensors = NULL;
  st->n = 0;
  if (size < 8)
    return omega__seterr(OMEGA_EFORMAT, "%s: truncated: %zu bytes, shorter than the 8-byte header length", what,
                         size);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | data[i];
  if (hlen > size - 8)
    return omega__seterr(OMEGA_EFORMAT, "%s: header length %llu goes beyond the file (%zu bytes): truncated or not "
                                        "a safetensors file",
                         what, (unsigned long long)hlen, size);
  if (hlen > MAX_HEADER)
    return omega__seterr(OMEGA_EFORMAT, "%s: header length %llu exceeds the 100 MB limit", what,
                         (unsigned long long)hlen);
  json_t *h;
  int rc = omega__json_load_buf(what, (const char *)data + 8, (size_t)hlen, &h);
  if (rc)
    return omega__prefixerr(rc, "header");
  if (!json_is_object(h)) {
    json_decref(h);
    return omega__seterr(OMEGA_EFORMAT, "%s: header must be a JSON object", what);
  }
  const unsigned char *base = data + 8 + hlen;
  size_t data_size = size - 8 - (size_t)hlen;
  size_t cap = json_object_size(h);
  st->tensors = omega__calloc(cap ? cap : 1, sizeof *st->tensors);
  omega_st_tensor_t **by_off = omega__calloc(cap ? cap : 1, sizeof *by_off);
  if (!st->tensors || !by_off) {
    rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
    goto out;
  }
  const char *key;
  json_t *v;
  json_object_foreach(h, key, v) {
    if (strcmp(key, "__metadata__") == 0) {
      if (!json_is_object(v)) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: __metadata__ must be an object", what);
        goto out;
      }
      continue;
    }
    omega_st_tensor_t *t = &st->tensors[st->n];
    if ((rc = parse_entry(what, key, v, base, data_size, t)))
      goto out;
    if (!(t->name = omega__strdup(key))) {
      rc = omega__seterr(OMEGA_ENOMEM, "%s: out of memory", what);
      goto out;
    }
    by_off[st->n] = t;
    st->n++;
  }
  qsort(by_off, st->n, sizeof *by_off, cmp_offset);
  const omega_st_tensor_t *prev = NULL;
  for (size_t i = 0; i < st->n; i++) {
    const omega_st_tensor_t *t = by_off[i];
    if (!t->nbytes)
      continue;
    if (prev && t->data < prev->data + prev->nbytes) {
      rc = omega__seterr(OMEGA_EFORMAT, "%s: tensors \"%s\" and \"%s\" have overlapping data_offsets", what,
                         prev->name, t->name);
      goto out;
    }
    prev = t;
  }
  qsort(st->tensors, st->n, sizeof *st->tensors, cmp_name);
out:
  omega__free(by_off);
  json_decref(h);
  if (rc) {
    for (size_t i = 0; i < st->n; i++)
      omega__free(st->tensors[i].name);
    omega__free(st->tensors);
    st->tensors = NULL;
    st->n = 0;
  }
  return rc;
}

int omega__safetensors_open(const char *path, omega_safetensors_t *st) {
  memset(st, 0, sizeof *st);
  int rc = omega__map_file(path, &st->map);
  if (rc)
    return rc;
  rc = omega__safetensors_parse(path, st->map.data, st->map.size, st);
  if (rc)
    omega__unmap_file(&st->map);
  return rc;
}

void omega__safetensors_close(omega_safetensors_t *st) {
  for (size_t i = 0; i < st->n; i++)
    omega__free(st->tensors[i].name);
  omega__free(st->tensors);
  omega__unmap_file(&st->map);
  memset(st, 0, sizeof *st);
}

const omega_st_tensor_t *omega__safetensors_find(const omega_safetensors_t *st, const char *name) {
  omega_st_tensor_t key = {.name = (char *)name};
  return bsearch(&key, st->tensors, st->n, sizeof *st->tensors, cmp_name);
}

static float half_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: renormalise */
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) {
        man <<= 1;
        exp--;
      }
      bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

void omega__tensor_to_f32(const omega_st_tensor_t *t, float *dst) {
  const unsigned char *p = t->data;
  switch (t->dtype) {
  case OMEGA_DT_F32:
    memcpy(dst, p, t->nelem * 4);
    break;
  case OMEGA_DT_F16:
    for (size_t i = 0; i < t->nelem; i++)
      dst[i] = half_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    break;
  case OMEGA_DT_BF16:
    for (size_t i = 0; i < t->nelem; i++) {
      uint32_t bits = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
      memcpy(&dst[i], &bits, 4);
    }
    break;
  case OMEGA_DT_OTHER:
    break;
  }
}

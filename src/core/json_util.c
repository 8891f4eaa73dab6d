#include "core/alloc.h"
#include "core/json_util.h"

#include "core/error_internal.h"
#include "core/file.h"

#include <math.h>
#include <stdlib.h>

int omega__json_load_buf(const char *what, const char *buf, size_t len, json_t **out) {
  json_error_t je;
  json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    return omega__seterr(OMEGA_EFORMAT, "%s: invalid JSON at line %d column %d: %s", what, je.line,
                         je.column, je.text);
  *out = j;
  return 0;
}

int omega__json_load_file(const char *path, size_t max_bytes, json_t **out) {
  char *buf;
  size_t len;
  int rc = omega__read_file(path, max_bytes, &buf, &len);
  if (rc)
    return rc;
  rc = omega__json_load_buf(path, buf, len, out);
  omega__free(buf);
  return rc;
}

static const json_t *field(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return (v && !json_is_null(v)) ? v : NULL;
}

int omega__json_int(const json_t *obj, const char *what, const char *key, int64_t def, int64_t min,
                    int64_t max, int64_t *out) {
  const json_t *v = field(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_integer(v))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" must be an integer", what, key);
  json_int_t x = json_integer_value(v);
  if (x < min || x > max)
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" is %lld, must be in [%lld, %lld]", what, key,
                         (long long)x, (long long)min, (long long)max);
  *out = x;
  return 0;
}

int omega__json_bool(const json_t *obj, const char *what, const char *key, bool def, bool *out) {
  const json_t *v = field(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" must be true or false", what, key);
  *out = json_is_true(v);
  return 0;
}

int omega__json_num(const json_t *obj, const char *what, const char *key, double def, double min,
                    double max, double *out) {
  const json_t *v = field(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_number(v))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" must be a number", what, key);
  double x = json_number_value(v);
  if (!isfinite(x) || x < min || x > max)
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" is %g, must be in [%g, %g]", what, key, x, min, max);
  *out = x;
  return 0;
}

int omega__json_str(const json_t *obj, const char *what, const char *key, const char *def,
                    const char **out) {
  const json_t *v = field(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_string(v))
    return omega__seterr(OMEGA_EFORMAT, "%s: \"%s\" must be a string", what, key);
  *out = json_string_value(v);
  return 0;
}

/* Typed field access on jansson objects with error messages that name the file and field. */
#ifndef OMEGA_CORE_JSON_UTIL_H
#define OMEGA_CORE_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a JSON document from a file of at most max_bytes; errors name the file, line and column. */
int omega__json_load_file(const char *path, size_t max_bytes, json_t **out);
/* Parse from memory; `what` names the source in errors. */
int omega__json_load_buf(const char *what, const char *buf, size_t len, json_t **out);

/* Missing (or JSON null) fields take `def`; present fields must have the right type and bounds. */
int omega__json_int(const json_t *obj, const char *what, const char *key, int64_t def, int64_t min,
                    int64_t max, int64_t *out);
int omega__json_bool(const json_t *obj, const char *what, const char *key, bool def, bool *out);
int omega__json_num(const json_t *obj, const char *what, const char *key, double def, double min,
                    double max, double *out);
/* Borrowed string, or `def` when missing/null. */
int omega__json_str(const json_t *obj, const char *what, const char *key, const char *def,
                    const char **out);

#endif

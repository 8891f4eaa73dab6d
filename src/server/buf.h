/* A growable byte buffer with the JSON pieces the server writes by hand (float arrays are
 * most of every response; building them through a JSON tree would cost more than the model). */
#ifndef OMEGA_SERVER_BUF_H
#define OMEGA_SERVER_BUF_H

#include "core/error_internal.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *data;
  size_t len, cap;
  bool oom; /* an allocation failed: the content is incomplete */
} omega_buf_t;

void omega_buf_free(omega_buf_t *b);
void omega_buf_put(omega_buf_t *b, const char *s, size_t n);
void omega_buf_puts(omega_buf_t *b, const char *s);
void omega_buf_printf(omega_buf_t *b, const char *fmt, ...) OMEGA_PRINTF(2, 3);
/* A JSON string literal, escaped. */
void omega_buf_json_str(omega_buf_t *b, const char *s, size_t n);
/* The body of every error answer: {"error": message, "error_type": type}. */
void omega_buf_error(omega_buf_t *b, const char *message, const char *type);
/* A JSON number that reads back as the same float. */
void omega_buf_float(omega_buf_t *b, float v);
void omega_buf_float_array(omega_buf_t *b, const float *v, size_t n);
/* Little-endian float32 bytes, base64 (the OpenAI "base64" encoding), quoted. */
void omega_buf_float_base64(omega_buf_t *b, const float *v, size_t n);

#endif

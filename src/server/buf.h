/* A growable byte buffer with the JSON pieces the server writes by hand (float arrays are
 * most of every response; building them through a JSON tree would cost more than the model).
 * Growth is overflow-checked and capped: an append that cannot fit sets err, leaves the
 * content as it was and makes every later append a no-op, so a caller writes a whole answer
 * and checks once (omega__respond_buf turns err into an error answer, never a cut one). */
#ifndef OMEGA_SERVER_BUF_H
#define OMEGA_SERVER_BUF_H

#include "core/error_internal.h"

#include <stddef.h>

/* The most bytes a buffer holds (its final NUL included) unless it sets a lower max: far past
 * any answer within the default limits (512 inputs of 4,096 floats come to about 27 MB), and
 * small enough that every length fits the int that OpenSSL's base64 takes. */
#define OMEGA_BUF_MAX ((size_t)1 << 30)

typedef struct {
  char *data;
  size_t len, cap;
  size_t max; /* 0: OMEGA_BUF_MAX */
  int err;    /* 0, OMEGA_ENOMEM (an allocation failed), OMEGA_ERANGE (past the cap) or OMEGA_EINVAL (a
                 format printf could not expand) */
} omega_buf_t;

void omega__buf_free(omega_buf_t *b);
/* The cap in force: max, or OMEGA_BUF_MAX. */
size_t omega__buf_limit(const omega_buf_t *b);
void omega__buf_put(omega_buf_t *b, const char *s, size_t n);
void omega__buf_puts(omega_buf_t *b, const char *s);
void omega__buf_printf(omega_buf_t *b, const char *fmt, ...) OMEGA_PRINTF(2, 3);
/* A JSON string literal, escaped. */
void omega__buf_json_str(omega_buf_t *b, const char *s, size_t n);
/* The body of every error answer: {"error": message, "error_type": type}. */
void omega__buf_error(omega_buf_t *b, const char *message, const char *type);
/* A JSON number that reads back as the same float. */
void omega__buf_float(omega_buf_t *b, float v);
void omega__buf_float_array(omega_buf_t *b, const float *v, size_t n);
/* Little-endian float32 bytes, base64 (the OpenAI "base64" encoding), quoted. */
void omega__buf_float_base64(omega_buf_t *b, const float *v, size_t n);

#endif

/* The response buffer: growth, the cap, sizes that would wrap, out of memory, and how the
 * server answers a buffer that failed (an error naming the problem, never a cut answer). */
#include "testutil.h"

#include "server/buf.h"
#include "server/server_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_growth(void **state) {
  (void)state;
  omega_buf_t b = {0};
  char expect[20000];
  size_t n = 0;
  for (int i = 0; i < 2000; i++) {
    omega__buf_printf(&b, "%d,", i);
    n += (size_t)snprintf(expect + n, sizeof expect - n, "%d,", i);
  }
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, n);
  assert_true(b.cap > b.len);
  assert_int_equal(b.data[b.len], '\0');
  assert_string_equal(b.data, expect);
  omega__buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len + b.cap, 0);
}

static void test_json_pieces(void **state) {
  (void)state;
  omega_buf_t b = {0};
  omega__buf_json_str(&b, "a\"b\\c\n\r\t\x01z", 10);
  omega__buf_puts(&b, " ");
  omega__buf_float_array(&b, (const float[]){1.5f, NAN, -0.25f}, 3);
  omega__buf_puts(&b, " ");
  omega__buf_float_base64(&b, (const float[]){1.0f}, 1);
  omega__buf_puts(&b, " ");
  omega__buf_error(&b, "no \"x\"", "validation");
  assert_int_equal(b.err, 0);
  assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\r\\t\\u0001z\" [1.5,null,-0.25] \"AACAPw==\" "
                              "{\"error\":\"no \\\"x\\\"\",\"error_type\":\"validation\"}");
  omega__buf_free(&b);
}

/* A JSON string is valid UTF-8 whatever the bytes: well-formed characters are kept, each
 * ill-formed subpart becomes one U+FFFD (an error message may quote the bytes a client sent;
 * fuzz_routes found a 400 whose body was not JSON). */
static void test_json_str_utf8(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\""},
      {"a\xE5\xBA\xBA\xBA" "b", "\"a\xE5\xBA\xBA\xEF\xBF\xBD" "b\""}, /* a stray continuation byte */
      {"\xE5\\", "\"\xEF\xBF\xBD\\\\\""},                                   /* cut short before an escape */
      {"\xC0\xAF", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},                          /* overlong */
      {"\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},      /* a surrogate */
      {"\xF4\x90\x80\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* past U+10FFFF */
      {"\xFF", "\"\xEF\xBF\xBD\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    omega_buf_t b = {0};
    omega__buf_json_str(&b, cases[i].in, strlen(cases[i].in));
    assert_int_equal(b.err, 0);
    assert_string_equal(b.data, cases[i].out);
    json_error_t e;
    json_t *v = json_loads(b.data, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    json_decref(v);
    omega__buf_free(&b);
  }
}

/* Past the cap an append fails whole: the content stays as it was and later appends, small
 * ones too, do nothing. Exactly at the cap (the NUL included) it fits. */
static void test_cap(void **state) {
  (void)state;
  omega_buf_t b = {.max = 64};
  assert_int_equal(omega__buf_limit(&b), 64);
  char text[64];
  memset(text, 'x', sizeof text);
  omega__buf_put(&b, text, 40);
  omega__buf_put(&b, text, 23); /* 63 bytes and the NUL: full */
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 63);
  assert_true(b.cap <= 64);
  omega__buf_puts(&b, "y");
  assert_int_equal(b.err, OMEGA_ERANGE);
  assert_int_equal(b.len, 63);
  assert_int_equal(b.data[63], '\0');
  omega__buf_free(&b);

  b = (omega_buf_t){.max = 64};
  omega__buf_put(&b, text, 10);
  omega__buf_json_str(&b, text, 60); /* 62 bytes quoted: past the cap */
  assert_int_equal(b.err, OMEGA_ERANGE);
  omega__buf_puts(&b, "z");
  omega__buf_printf(&b, "%d", 1);
  omega__buf_float(&b, 1);
  assert_int_equal(b.len, 10);
  assert_int_equal(memcmp(b.data, text, 10), 0);
  assert_int_equal(b.data[10], '\0');
  omega__buf_free(&b);

  /* a string without escapes needs its length and two quotes, not six bytes a byte */
  b = (omega_buf_t){.max = 64};
  omega__buf_json_str(&b, text, 61);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.len, 63);
  omega__buf_free(&b);

  /* no max: OMEGA_BUF_MAX; a larger max is held to it */
  b = (omega_buf_t){.max = SIZE_MAX};
  assert_int_equal(omega__buf_limit(&b), OMEGA_BUF_MAX);
  assert_int_equal(omega__buf_limit(&(omega_buf_t){0}), OMEGA_BUF_MAX);
}

/* Sizes that would wrap a size_t are refused before anything is read or written. */
static void test_overflow_refused(void **state) {
  (void)state;
  const char *small = "0123456789";
  omega_buf_t b = {0};
  omega__buf_puts(&b, small);
  omega__buf_put(&b, small, SIZE_MAX); /* len + n + 1 wraps to 10 */
  assert_int_equal(b.err, OMEGA_ERANGE);
  assert_int_equal(b.len, 10);
  omega__buf_free(&b);

  b = (omega_buf_t){0};
  omega__buf_put(&b, small, SIZE_MAX - 4);
  assert_int_equal(b.err, OMEGA_ERANGE);
  omega__buf_free(&b);

  b = (omega_buf_t){0};
  omega__buf_float_base64(&b, (const float *)small, SIZE_MAX / 2); /* n * 4 wraps */
  assert_int_equal(b.err, OMEGA_ERANGE);
  assert_int_equal(b.len, 0);
  omega__buf_free(&b);

  b = (omega_buf_t){0};
  omega__buf_float_base64(&b, (const float *)small, OMEGA_BUF_MAX / 4 + 1);
  assert_int_equal(b.err, OMEGA_ERANGE);
  omega__buf_free(&b);

  b = (omega_buf_t){0};
  omega__buf_put(&b, small, OMEGA_BUF_MAX); /* with its NUL one byte past the cap */
  assert_int_equal(b.err, OMEGA_ERANGE);
  assert_null(b.data);
  omega__buf_free(&b);
}

/* An allocation that fails is OMEGA_ENOMEM with the content kept. */
static int grow_until_out_of_memory(void *arg) {
  (void)arg;
  omega_buf_t b = {0};
  static char chunk[1 << 16];
  memset(chunk, 'a', sizeof chunk);
  omega__buf_puts(&b, "kept");
  while (!b.err && b.len < ((size_t)64 << 20))
    omega__buf_put(&b, chunk, sizeof chunk);
  const size_t len = b.len;
  omega__buf_puts(&b, "x");
  return b.err == OMEGA_ENOMEM && b.len == len && memcmp(b.data, "kept", 4) == 0 ? 0 : 2;
}

static void test_out_of_memory(void **state) {
  (void)state;
#ifdef __SANITIZE_ADDRESS__
  skip();
#endif
  assert_int_equal(tu_capped_child(8u << 20, grow_until_out_of_memory, NULL), 0);
}

/* The answer to a buffer: its content with the status asked for, or an error answer naming
 * the problem (over the cap: 500; out of memory: 503 with Retry-After). */
static void respond(omega_buf_t *b, omega_req_t *r, omega_server_t *s) {
  memset(s, 0, sizeof *s);
  atomic_store(&s->retry_after_s, 7);
  memset(r, 0, sizeof *r);
  r->srv = s;
  omega__respond_buf(r, 200, b);
  assert_true(r->responded);
  assert_null(b->data);
}

static void test_server_answers(void **state) {
  (void)state;
  omega_server_t s;
  omega_req_t r;

  omega_buf_t b = {0};
  omega__buf_puts(&b, "[1,2]");
  respond(&b, &r, &s);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.resp_len, 5);
  assert_memory_equal(r.resp, "[1,2]", 5);
  free(r.resp);

  b = (omega_buf_t){.max = 16};
  omega__buf_puts(&b, "[");
  for (int i = 0; i < 10; i++)
    omega__buf_float(&b, 0.5f);
  respond(&b, &r, &s);
  assert_int_equal(r.status, 500);
  assert_string_equal(r.content_type, "application/json");
  assert_non_null(strstr(r.resp, "\"error_type\":\"response_too_large\""));
  assert_non_null(strstr(r.resp, "would exceed 16 bytes"));
  assert_string_equal(r.retry_after, "");
  free(r.resp);

  b = (omega_buf_t){.err = OMEGA_ENOMEM};
  respond(&b, &r, &s);
  assert_int_equal(r.status, 503);
  assert_non_null(strstr(r.resp, "\"error\":\"out of memory building the response\""));
  assert_string_equal(r.retry_after, "7");
  free(r.resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_growth),         cmocka_unit_test(test_json_pieces),
                                     cmocka_unit_test(test_json_str_utf8),
                                     cmocka_unit_test(test_cap),            cmocka_unit_test(test_overflow_refused),
                                     cmocka_unit_test(test_out_of_memory),  cmocka_unit_test(test_server_answers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

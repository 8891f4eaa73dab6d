#include "testutil.h"

#include "text/utf8.h"

#include <string.h>

static void decode_ok(const char *s, uint32_t want, size_t want_len) {
  uint32_t cp = 0;
  size_t bad = 0;
  assert_int_equal(omega__utf8_decode((const unsigned char *)s, strlen(s), &cp, &bad), want_len);
  assert_int_equal(cp, want);
  unsigned char enc[4];
  assert_int_equal(omega__utf8_encode(cp, enc), want_len);
  assert_memory_equal(enc, s, want_len);
}

static void decode_bad(const char *s, size_t n, size_t want_bad) {
  uint32_t cp;
  size_t bad = 0;
  assert_int_equal(omega__utf8_decode((const unsigned char *)s, n, &cp, &bad), 0);
  assert_int_equal(bad, want_bad);
}

static void test_valid(void **state) {
  (void)state;
  decode_ok("A", 0x41, 1);
  decode_ok("\xC2\x80", 0x80, 2);
  decode_ok("\xDF\xBF", 0x7FF, 2);
  decode_ok("\xE0\xA0\x80", 0x800, 3);
  decode_ok("\xED\x9F\xBF", 0xD7FF, 3);
  decode_ok("\xEE\x80\x80", 0xE000, 3);
  decode_ok("\xEF\xBF\xBD", 0xFFFD, 3);
  decode_ok("\xF0\x90\x80\x80", 0x10000, 4);
  decode_ok("\xF4\x8F\xBF\xBF", 0x10FFFF, 4);
}

static void test_invalid(void **state) {
  (void)state;
  decode_bad("\x80", 1, 1);             /* lone continuation */
  decode_bad("\xC0\x80", 2, 1);         /* overlong NUL */
  decode_bad("\xC1\xBF", 2, 1);         /* overlong */
  decode_bad("\xE0\x80\x80", 3, 1);     /* overlong 3-byte: E0 then < A0 */
  decode_bad("\xED\xA0\x80", 3, 1);     /* surrogate D800 */
  decode_bad("\xF4\x90\x80\x80", 4, 1); /* > U+10FFFF */
  decode_bad("\xF5\x80\x80\x80", 4, 1);
  decode_bad("\xFF", 1, 1);
  decode_bad("\xE2\x82", 2, 2);         /* truncated: maximal subpart of 2 bytes */
  decode_bad("\xE2\x82X", 3, 2);
  decode_bad("\xF0\x9F\x98", 3, 3);
  decode_bad("\xC3", 1, 1);
}

static void test_validate(void **state) {
  (void)state;
  const char ok[] = "h\xC3\xA9llo \xF0\x9F\x98\x80";
  assert_int_equal(omega__utf8_validate((const unsigned char *)ok, sizeof ok - 1), sizeof ok - 1);
  const char bad[] = "abc\xC3(";
  assert_int_equal(omega__utf8_validate((const unsigned char *)bad, sizeof bad - 1), 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_valid), cmocka_unit_test(test_invalid),
                                     cmocka_unit_test(test_validate)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

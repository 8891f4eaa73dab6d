/* safetensors parsing: a valid image, dtype conversion, and every malformed-header case
 * giving a clear error (never a crash). */
#include "testutil.h"

#include "model/safetensors.h"
#include "omega/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Build an image: 8-byte length, header, then `data` bytes. */
static unsigned char *image(const char *header, const void *data, size_t data_len, size_t *size) {
  size_t hl = strlen(header);
  unsigned char *b = malloc(8 + hl + data_len);
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, header, hl);
  if (data_len)
    memcpy(b + 8 + hl, data, data_len);
  *size = 8 + hl + data_len;
  return b;
}

static void test_valid_and_dtypes(void **state) {
  (void)state;
  /* F32 [2,2]; F16 [4]: 1.0, -2.5, 65504, 2^-24 (subnormal); BF16 [2]: 1.0, -inf; I64 [1] ignored by loaders */
  unsigned char data[16 + 8 + 4 + 8];
  float f[4] = {1.5f, -2.0f, 0.25f, 3e-8f};
  memcpy(data, f, 16);
  const uint16_t h[4] = {0x3C00, 0xC100, 0x7BFF, 0x0001};
  for (int i = 0; i < 4; i++) {
    data[16 + 2 * i] = (unsigned char)h[i];
    data[17 + 2 * i] = (unsigned char)(h[i] >> 8);
  }
  const uint16_t bf[2] = {0x3F80, 0xFF80};
  for (int i = 0; i < 2; i++) {
    data[24 + 2 * i] = (unsigned char)bf[i];
    data[25 + 2 * i] = (unsigned char)(bf[i] >> 8);
  }
  memset(data + 28, 0, 8);
  const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[16,24]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                    "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[28,36]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[36,36]}}   ";
  size_t size;
  unsigned char *img = image(hdr, data, sizeof data, &size);
  omega_safetensors_t st;
  if (omega__safetensors_parse("x.safetensors", img, size, &st))
    fail_msg("%s", omega_errmsg());
  assert_int_equal(st.n, 5);
  const omega_st_tensor_t *w = omega__safetensors_find(&st, "w"), *hh = omega__safetensors_find(&st, "h"),
                          *b = omega__safetensors_find(&st, "b");
  assert_non_null(w);
  assert_null(omega__safetensors_find(&st, "__metadata__"));
  assert_int_equal(w->ndim, 2);
  assert_int_equal(w->shape[1], 2);
  float out[4];
  omega__tensor_to_f32(w, out);
  assert_memory_equal(out, f, 16);
  omega__tensor_to_f32(hh, out);
  assert_true(out[0] == 1.0f && out[1] == -2.5f && out[2] == 65504.0f && out[3] == ldexpf(1.0f, -24));
  omega__tensor_to_f32(b, out);
  assert_true(out[0] == 1.0f && isinf(out[1]) && out[1] < 0);
  assert_int_equal(omega__safetensors_find(&st, "i")->dtype, OMEGA_DT_OTHER);
  omega__safetensors_close(&st);
  free(img);
}

static void bad(const char *hdr, size_t data_len, const char *want) {
  unsigned char *zeros = calloc(1, data_len + 1);
  size_t size;
  unsigned char *img = image(hdr, zeros, data_len, &size);
  omega_safetensors_t st;
  int rc = omega__safetensors_parse("bad.safetensors", img, size, &st);
  if (rc != OMEGA_EFORMAT || !strstr(omega_errmsg(), want) || !strstr(omega_errmsg(), "bad.safetensors"))
    fail_msg("header %s: rc %d, message \"%s\", wanted \"%s\"", hdr, rc, omega_errmsg(), want);
  free(img);
  free(zeros);
}

static void test_malformed_headers(void **state) {
  (void)state;
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "invalid JSON");
  bad("[1]", 0, "JSON object");
  bad("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"dtype\" is missing");
  bad("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "at most 8");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "too large");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "out of range");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "out of range");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "out of range");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
      12, "overlapping");
  bad("{\"__metadata__\":3}", 0, "__metadata__");
  bad("{\"a\":[]}", 0, "must be an object");
  bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
      8, "invalid JSON"); /* duplicate names */
}

static void test_truncated_files(void **state) {
  (void)state;
  omega_safetensors_t st;
  const unsigned char tiny[4] = {1, 2, 3, 4};
  assert_int_equal(omega__safetensors_parse("t.safetensors", tiny, 4, &st), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "truncated"));
  /* header length pointing past the end */
  unsigned char big[16] = {0xFF, 0xFF, 0, 0, 0, 0, 0, 0, '{', '}'};
  assert_int_equal(omega__safetensors_parse("t.safetensors", big, 16, &st), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), "beyond the file"));
  unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
  assert_int_equal(omega__safetensors_parse("t.safetensors", huge, 16, &st), OMEGA_EFORMAT);
  /* real files: a missing one and an empty one */
  assert_int_equal(omega__safetensors_open("/nonexistent/model.safetensors", &st), OMEGA_ENOENT);
  assert_non_null(strstr(omega_errmsg(), "/nonexistent/model.safetensors"));
  char *dir = tu_mkdtemp(), path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  tu_write_file(path, "", 0);
  assert_int_equal(omega__safetensors_open(path, &st), OMEGA_EFORMAT);
  assert_non_null(strstr(omega_errmsg(), path));
  tu_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_valid_and_dtypes), cmocka_unit_test(test_malformed_headers),
                                     cmocka_unit_test(test_truncated_files)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

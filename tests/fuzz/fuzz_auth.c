/* Fuzz target: HMAC header checking with arbitrary headers and bodies. The input is split
 * at the first three newlines into timestamp, nonce, signature, and the rest is the body. */
#include "server/auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static omega_auth_t *auth;

static void done(void) { omega__auth_free(auth); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!auth) {
    if (omega__auth_create(64, &auth) != 0)
      abort();
    omega__auth_set_secret(auth, "fuzz-secret", 11);
    atexit(done);
  }
  char *copy = malloc(size + 1);
  memcpy(copy, data, size);
  copy[size] = '\0';
  char *parts[3] = {NULL, NULL, NULL}, *p = copy;
  for (int i = 0; i < 3 && p; i++) {
    parts[i] = p;
    p = strchr(p, '\n');
    if (p)
      *p++ = '\0';
  }
  const char *body = p ? p : "";
  omega_auth_result_t r =
      omega__auth_verify(auth, parts[0], parts[1], parts[2], "POST", "/invoke", body, strlen(body), 1700000000, 300);
  if (r == OMEGA_AUTH_OK) {
    /* only a correct signature passes: check it independently */
    char want[68];
    omega__auth_sign("fuzz-secret", 11, parts[0], parts[1], "POST", "/invoke", body, strlen(body), want);
    if (strcmp(want, parts[2]) != 0 && strcasecmp(want, parts[2]) != 0)
      abort();
  }
  free(copy);
  return 0;
}

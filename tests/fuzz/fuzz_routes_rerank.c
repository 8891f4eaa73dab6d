/* Fuzz target: fuzz_routes.c over a cross-encoder (one label), so that /rerank and /predict
 * parse and score their bodies instead of refusing an embedding model. */
#define OMEGA_FUZZ_RERANK 1
#include "fuzz_routes.c"

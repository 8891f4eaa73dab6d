/* SentencePiece's Precompiled normalizer, as tokenizer.json stores it: a base64 blob of
 * [u32 trie bytes][darts-clone double-array trie][NUL-separated replacement strings]. */
#ifndef OMEGA_TEXT_PRECOMPILED_H
#define OMEGA_TEXT_PRECOMPILED_H

#include "text/tokenizer_internal.h"

/* Decode and check a blob (already base64-decoded); `what` names it in errors. */
int omega__charsmap_load(const char *what, const unsigned char *blob, size_t len, omega_charsmap_t **out);
void omega__charsmap_free(omega_charsmap_t *m);
/* Normalize in[0..n) into out (replaced), grapheme by grapheme as HF does. */
int omega__charsmap_normalize(const omega_charsmap_t *m, const uint32_t *in, size_t n, omega_cpbuf_t *out);

#endif

/* omega_tokenizer_tokens: an encoding with each token's string and kind, for showing it
 * (HTTP /tokenize) without reaching into the tokenizer's internals. */
#include "core/alloc.h"
#include "core/error_internal.h"
#include "text/tokenizer_internal.h"

#include <assert.h>
#include <stdlib.h>

static int is_special(const omega_tokenizer_t *t, int32_t id) {
  for (size_t i = 0; i < t->n_added; i++)
    if (t->added[i].id == id && t->added[i].special)
      return 1;
  for (size_t i = 0; i < t->n_prefix; i++)
    if (t->prefix_ids[i] == id)
      return 1;
  for (size_t i = 0; i < t->n_suffix; i++)
    if (t->suffix_ids[i] == id)
      return 1;
  return 0;
}

int omega_tokenizer_tokens(const omega_tokenizer_t *t, const char *text, size_t len, size_t max_len, unsigned flags,
                           omega_token_t *tokens, size_t cap, size_t *n_tokens) {
  if (!t || !n_tokens || (!tokens && cap))
    return omega__seterr(OMEGA_EINVAL, "omega_tokenizer_tokens: NULL argument");
  int32_t *ids = cap ? omega__malloc(cap * sizeof *ids) : NULL;
  if (cap && !ids)
    return omega__seterr(OMEGA_ENOMEM, "tokenizer: out of memory");
  int rc = omega_tokenizer_encode(t, text, len, max_len, flags, ids, cap, n_tokens);
  assert(rc != 0 || *n_tokens <= cap); /* its contract; the analyzer cannot see into another file */
  for (size_t i = 0; rc == 0 && i < *n_tokens; i++) {
    omega_token_t *k = &tokens[i];
    k->id = ids[i];
    k->text = omega_tokenizer_id_to_token(t, ids[i], &k->text_len);
    if (!k->text) {
      k->text = "";
      k->text_len = 0;
    }
    k->special = is_special(t, ids[i]);
    k->from_template = i < t->n_prefix || i >= *n_tokens - t->n_suffix;
  }
  omega__free(ids);
  return rc;
}

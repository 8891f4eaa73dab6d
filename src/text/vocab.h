/* A WordPiece vocabulary: id -> token strings, and a byte trie over all tokens so
 * that greedy longest-match WordPiece is one walk per piece instead of one hash
 * lookup per candidate length. */
#ifndef OMEGA_TEXT_VOCAB_H
#define OMEGA_TEXT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t key; /* parent node << 8 | byte, plus 1 so 0 marks an empty slot */
  int32_t child;
} omega_trie_edge_t;

typedef struct {
  /* id -> token: bytes in one arena */
  char *arena;
  size_t arena_len, arena_cap;
  uint32_t *tok_off; /* UINT32_MAX for an id without a token */
  uint32_t *tok_len;
  uint32_t n_ids;
  /* trie */
  int32_t *term;          /* per node: token id ending here, or -1 */
  uint32_t n_nodes, cap_nodes;
  omega_trie_edge_t *edges;
  size_t edge_mask;       /* table size - 1 (power of two) */
  size_t n_edges;
  int32_t root_child[256]; /* the root is hot: direct table */
} omega_vocab_t;

int omega__vocab_init(omega_vocab_t *v, uint32_t n_ids);
void omega__vocab_free(omega_vocab_t *v);
/* Set token `id` (< n_ids) to s[0..len). With in_trie, WordPiece can match it, and a token
 * string seen before now maps to the new id (the last one wins, as in HF). */
int omega__vocab_set(omega_vocab_t *v, uint32_t id, const char *s, size_t len, int in_trie);
/* Exact lookup: id or -1. */
int32_t omega__vocab_find(const omega_vocab_t *v, const char *s, size_t len);
/* Node reached by walking s from `node` (0 = root), or -1. */
int32_t omega__vocab_walk(const omega_vocab_t *v, int32_t node, const char *s, size_t len);
/* Longest token that is a prefix of s, walking from `node`: returns its id and sets
 * *match_len (bytes of s), or returns -1. Matches of zero bytes are not considered. */
int32_t omega__vocab_longest(const omega_vocab_t *v, int32_t node, const unsigned char *s, size_t len,
                             size_t *match_len);
const char *omega__vocab_token(const omega_vocab_t *v, uint32_t id, size_t *len);

#endif

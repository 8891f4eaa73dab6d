#include "text/vocab.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <stdlib.h>
#include <string.h>

static inline size_t hash_key(uint64_t k) {
  k ^= k >> 31;
  k *= 0x9E3779B97F4A7C15ull;
  k ^= k >> 29;
  return (size_t)k;
}

static inline int32_t edge_get(const omega_vocab_t *v, int32_t node, unsigned char b) {
  if (node == 0)
    return v->root_child[b];
  uint64_t key = (((uint64_t)(uint32_t)node << 8) | b) + 1;
  size_t i = hash_key(key) & v->edge_mask;
  for (;;) {
    const omega_trie_edge_t *e = &v->edges[i];
    if (e->key == key)
      return e->child;
    if (e->key == 0)
      return -1;
    i = (i + 1) & v->edge_mask;
  }
}

static int edges_grow(omega_vocab_t *v) {
  size_t ncap = v->edges ? (v->edge_mask + 1) * 2 : 1024;
  omega_trie_edge_t *ne = omega__calloc(ncap, sizeof *ne);
  if (!ne)
    return omega__seterr(OMEGA_ENOMEM, "vocabulary: out of memory");
  for (size_t i = 0; v->edges && i <= v->edge_mask; i++) {
    if (!v->edges[i].key)
      continue;
    size_t j = hash_key(v->edges[i].key) & (ncap - 1);
    while (ne[j].key)
      j = (j + 1) & (ncap - 1);
    ne[j] = v->edges[i];
  }
  omega__free(v->edges);
  v->edges = ne;
  v->edge_mask = ncap - 1;
  return 0;
}

static int32_t new_node(omega_vocab_t *v) {
  if (v->n_nodes == v->cap_nodes) {
    uint32_t nc = v->cap_nodes ? v->cap_nodes * 2 : 1024;
    int32_t *nt = omega__realloc(v->term, nc * sizeof *nt);
    if (!nt)
      return -1;
    v->term = nt;
    v->cap_nodes = nc;
  }
  v->term[v->n_nodes] = -1;
  return (int32_t)v->n_nodes++;
}

static int32_t edge_add(omega_vocab_t *v, int32_t node, unsigned char b) {
  int32_t child = new_node(v);
  if (child < 0)
    return -1;
  if (node == 0) {
    v->root_child[b] = child;
    return child;
  }
  if ((v->n_edges + 1) * 2 > v->edge_mask + 1 && edges_grow(v) != 0)
    return -1;
  uint64_t key = (((uint64_t)(uint32_t)node << 8) | b) + 1;
  size_t i = hash_key(key) & v->edge_mask;
  while (v->edges[i].key)
    i = (i + 1) & v->edge_mask;
  v->edges[i].key = key;
  v->edges[i].child = child;
  v->n_edges++;
  return child;
}

int omega__vocab_init(omega_vocab_t *v, uint32_t n_ids) {
  memset(v, 0, sizeof *v);
  for (int i = 0; i < 256; i++)
    v->root_child[i] = -1;
  v->n_ids = n_ids;
  v->tok_off = omega__malloc((n_ids ? n_ids : 1) * sizeof *v->tok_off);
  v->tok_len = omega__calloc(n_ids ? n_ids : 1, sizeof *v->tok_len);
  v->arena_cap = 4096;
  v->arena = omega__malloc(v->arena_cap);
  if (!v->tok_off || !v->tok_len || !v->arena || new_node(v) != 0 || edges_grow(v) != 0) {
    omega__vocab_free(v);
    return omega__seterr(OMEGA_ENOMEM, "vocabulary of %u tokens: out of memory", n_ids);
  }
  memset(v->tok_off, 0xFF, (n_ids ? n_ids : 1) * sizeof *v->tok_off);
  return 0;
}

void omega__vocab_free(omega_vocab_t *v) {
  omega__free(v->arena);
  omega__free(v->tok_off);
  omega__free(v->tok_len);
  omega__free(v->term);
  omega__free(v->edges);
  memset(v, 0, sizeof *v);
}

int omega__vocab_set(omega_vocab_t *v, uint32_t id, const char *s, size_t len, int in_trie) {
  if (id >= v->n_ids)
    return omega__seterr(OMEGA_ERANGE, "token id %u out of range (vocabulary size %u)", id, v->n_ids);
  if (len > UINT32_MAX / 2 || v->arena_len + len > UINT32_MAX)
    return omega__seterr(OMEGA_ERANGE, "vocabulary too large");
  if (v->arena_len + len > v->arena_cap) {
    size_t nc = v->arena_cap;
    while (nc < v->arena_len + len)
      nc *= 2;
    char *na = omega__realloc(v->arena, nc);
    if (!na)
      return omega__seterr(OMEGA_ENOMEM, "vocabulary: out of memory");
    v->arena = na;
    v->arena_cap = nc;
  }
  memcpy(v->arena + v->arena_len, s, len);
  v->tok_off[id] = (uint32_t)v->arena_len;
  v->tok_len[id] = (uint32_t)len;
  v->arena_len += len;
  if (!in_trie)
    return 0;

  int32_t node = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)s[i];
    int32_t next = edge_get(v, node, b);
    if (next < 0 && (next = edge_add(v, node, b)) < 0)
      return omega__seterr(OMEGA_ENOMEM, "vocabulary: out of memory");
    node = next;
  }
  v->term[node] = (int32_t)id;
  return 0;
}

int32_t omega__vocab_walk(const omega_vocab_t *v, int32_t node, const char *s, size_t len) {
  for (size_t i = 0; i < len && node >= 0; i++)
    node = edge_get(v, node, (unsigned char)s[i]);
  return node;
}

int32_t omega__vocab_find(const omega_vocab_t *v, const char *s, size_t len) {
  int32_t node = omega__vocab_walk(v, 0, s, len);
  return node < 0 ? -1 : v->term[node];
}

int32_t omega__vocab_longest(const omega_vocab_t *v, int32_t node, const unsigned char *s, size_t len,
                             size_t *match_len) {
  int32_t best = -1;
  for (size_t i = 0; i < len; i++) {
    node = edge_get(v, node, s[i]);
    if (node < 0)
      break;
    if (v->term[node] >= 0) {
      best = v->term[node];
      *match_len = i + 1;
    }
  }
  return best;
}

const char *omega__vocab_token(const omega_vocab_t *v, uint32_t id, size_t *len) {
  if (id >= v->n_ids || v->tok_off[id] == UINT32_MAX)
    return NULL;
  *len = v->tok_len[id];
  return v->arena + v->tok_off[id];
}

#include "index/idmap.h"

#include "core/alloc.h"
#include "core/error_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY UINT32_MAX
#define TOMB (UINT32_MAX - 1)

size_t omega__id_key(const omega_id_t *id, unsigned char out[OMEGA_KEY_MAX]) {
  if (id->is_str) {
    if (!id->str || id->len == 0 || id->len > OMEGA_ID_MAX)
      return 0;
    out[0] = 's';
    memcpy(out + 1, id->str, id->len);
    return 1 + id->len;
  }
  out[0] = 'i';
  uint64_t v = (uint64_t)id->num;
  for (int i = 0; i < 8; i++)
    out[1 + i] = (unsigned char)(v >> (8 * i));
  return 9;
}

void omega__key_to_result(const unsigned char *key, size_t len, omega_result_t *r) {
  if (key[0] == 's') {
    r->is_str = 1;
    r->num = 0;
    memcpy(r->str, key + 1, len - 1);
    r->str[len - 1] = '\0';
  } else {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
      v = (v << 8) | key[1 + i];
    r->is_str = 0;
    r->num = (int64_t)v;
    r->str[0] = '\0';
  }
}

static uint64_t hash(const unsigned char *k, size_t n) {
  uint64_t h = 1469598103934665603ull ^ n;
  for (size_t i = 0; i < n; i++)
    h = (h ^ k[i]) * 1099511628211ull;
  h ^= h >> 29;
  return h * 0xBF58476D1CE4E5B9ull;
}

int omega__idmap_init(omega_idmap_t *m) {
  memset(m, 0, sizeof *m);
  m->mask = 1023;
  m->table = omega__malloc((m->mask + 1) * sizeof *m->table);
  if (!m->table)
    return omega__seterr(OMEGA_ENOMEM, "id map: out of memory");
  memset(m->table, 0xFF, (m->mask + 1) * sizeof *m->table);
  return 0;
}

void omega__idmap_free(omega_idmap_t *m) {
  omega__free(m->table);
  omega__free(m->arena);
  omega__free(m->key_off);
  memset(m, 0, sizeof *m);
}

const unsigned char *omega__idmap_key(const omega_idmap_t *m, uint32_t slot, size_t *len) {
  uint64_t o = m->key_off[slot];
  *len = (size_t)(o & 0xFFFF);
  return (const unsigned char *)m->arena + (o >> 16);
}

static bool same(const omega_idmap_t *m, uint32_t slot, const unsigned char *k, size_t n) {
  size_t len;
  const unsigned char *s = omega__idmap_key(m, slot, &len);
  return len == n && memcmp(s, k, n) == 0;
}

uint32_t omega__idmap_get(const omega_idmap_t *m, const unsigned char *k, size_t n) {
  for (size_t i = hash(k, n) & m->mask;; i = (i + 1) & m->mask) {
    uint32_t s = m->table[i];
    if (s == EMPTY)
      return UINT32_MAX;
    if (s != TOMB && same(m, s, k, n))
      return s;
  }
}

static int rehash(omega_idmap_t *m, size_t nmask) {
  uint32_t *nt = omega__malloc((nmask + 1) * sizeof *nt);
  if (!nt)
    return omega__seterr(OMEGA_ENOMEM, "id map: out of memory");
  memset(nt, 0xFF, (nmask + 1) * sizeof *nt);
  for (size_t i = 0; i <= m->mask; i++) {
    uint32_t s = m->table[i];
    if (s == EMPTY || s == TOMB)
      continue;
    size_t len;
    const unsigned char *k = omega__idmap_key(m, s, &len);
    size_t j = hash(k, len) & nmask;
    while (nt[j] != EMPTY)
      j = (j + 1) & nmask;
    nt[j] = s;
  }
  omega__free(m->table);
  m->table = nt;
  m->mask = nmask;
  m->tombs = 0;
  return 0;
}

int omega__idmap_append_slot(omega_idmap_t *m, const unsigned char *k, size_t n) {
  if (m->n_slots == m->cap_slots) {
    size_t nc = m->cap_slots ? m->cap_slots * 2 : 1024;
    uint64_t *no = omega__realloc(m->key_off, nc * sizeof *no);
    if (!no)
      return omega__seterr(OMEGA_ENOMEM, "id map: out of memory");
    m->key_off = no;
    m->cap_slots = nc;
  }
  if (m->arena_len + n > m->arena_cap) {
    size_t nc = m->arena_cap ? m->arena_cap * 2 : 65536;
    while (nc < m->arena_len + n)
      nc *= 2;
    char *na = omega__realloc(m->arena, nc);
    if (!na)
      return omega__seterr(OMEGA_ENOMEM, "id map: out of memory");
    m->arena = na;
    m->arena_cap = nc;
  }
  memcpy(m->arena + m->arena_len, k, n);
  m->key_off[m->n_slots++] = ((uint64_t)m->arena_len << 16) | n;
  m->arena_len += n;
  return 0;
}

/* Whether a put into a table of *mask with these counts rehashes first, into *mask. */
static bool put_rehashes(size_t used, size_t tombs, size_t *mask) {
  if ((used + tombs + 1) * 10 <= (*mask + 1) * 7)
    return false;
  if ((used + 1) * 10 > (*mask + 1) * 5)
    *mask = *mask * 2 + 1;
  return true;
}

int omega__idmap_put(omega_idmap_t *m, uint32_t slot) {
  size_t nmask = m->mask;
  if (put_rehashes(m->used, m->tombs, &nmask) && rehash(m, nmask))
    return OMEGA_ENOMEM;
  size_t len;
  const unsigned char *k = omega__idmap_key(m, slot, &len);
  size_t i = hash(k, len) & m->mask, tomb = SIZE_MAX;
  for (;; i = (i + 1) & m->mask) {
    uint32_t s = m->table[i];
    if (s == EMPTY)
      break;
    if (s == TOMB) {
      if (tomb == SIZE_MAX)
        tomb = i;
      continue;
    }
    if (same(m, s, k, len)) { /* replace */
      m->table[i] = slot;
      return 0;
    }
  }
  if (tomb != SIZE_MAX) {
    m->table[tomb] = slot;
    m->tombs--;
  } else {
    m->table[i] = slot;
  }
  m->used++;
  return 0;
}

void omega__idmap_remove(omega_idmap_t *m, const unsigned char *k, size_t n) {
  for (size_t i = hash(k, n) & m->mask;; i = (i + 1) & m->mask) {
    uint32_t s = m->table[i];
    if (s == EMPTY)
      return;
    if (s != TOMB && same(m, s, k, n)) {
      m->table[i] = TOMB;
      m->used--;
      m->tombs++;
      return;
    }
  }
}

size_t omega__idmap_bytes(const omega_idmap_t *m) {
  return (m->mask + 1) * sizeof *m->table + m->arena_cap + m->cap_slots * sizeof *m->key_off;
}

static size_t doubled_to(size_t cap, size_t first, size_t need) {
  if (need <= cap)
    return cap;
  size_t nc = cap ? cap * 2 : first;
  while (nc < need)
    nc *= 2;
  return nc;
}

int omega__idmap_prepare(omega_idmap_t *m, size_t n_keys, size_t n_new, size_t key_bytes) {
  const size_t slots = doubled_to(m->cap_slots, 1024, m->n_slots + n_keys);
  if (slots > m->cap_slots) {
    uint64_t *no = omega__realloc(m->key_off, slots * sizeof *no);
    if (!no)
      return omega__seterr(OMEGA_ENOMEM, "id map: out of memory");
    m->key_off = no;
    m->cap_slots = slots;
  }
  const size_t arena = doubled_to(m->arena_cap, 65536, m->arena_len + key_bytes);
  if (arena > m->arena_cap) {
    char *na = omega__realloc(m->arena, arena);
    if (!na)
      return omega__seterr(OMEGA_ENOMEM, "id map: out of memory");
    m->arena = na;
    m->arena_cap = arena;
  }
  /* omega__idmap_put's growth, step by step, the new keys first (the fullest the table gets) */
  size_t mask = m->mask, used = m->used, tombs = m->tombs;
  bool rehashed = false;
  for (size_t i = 0; i < n_keys; i++) {
    if (put_rehashes(used, tombs, &mask)) {
      tombs = 0;
      rehashed = true;
    }
    used += i < n_new;
  }
  return rehashed ? rehash(m, mask) : 0;
}

size_t omega__idmap_bytes_after(const omega_idmap_t *m, size_t n_keys, size_t key_bytes) {
  /* the table doubles at most while the keys ever put (tombstones included) pass 70% */
  size_t size = m->mask + 1;
  while ((m->used + m->tombs + n_keys + 1) * 10 > size * 7)
    size *= 2;
  const size_t arena = doubled_to(m->arena_cap, 65536, m->arena_len + key_bytes);
  const size_t slots = doubled_to(m->cap_slots, 1024, m->n_slots + n_keys);
  return size * sizeof *m->table + arena + slots * sizeof *m->key_off;
}

int omega__idmap_reserve(omega_idmap_t *m, size_t slots, size_t arena) {
  if (slots > m->cap_slots) {
    uint64_t *no = omega__realloc(m->key_off, slots * sizeof *no);
    if (!no)
      return omega__seterr(OMEGA_ENOMEM, "id map: out of memory for %zu ids", slots);
    m->key_off = no;
    m->cap_slots = slots;
  }
  if (arena > m->arena_cap) {
    char *na = omega__realloc(m->arena, arena);
    if (!na)
      return omega__seterr(OMEGA_ENOMEM, "id map: out of memory for %zu bytes of ids", arena);
    m->arena = na;
    m->arena_cap = arena;
  }
  /* a table that holds `slots` keys under the growth threshold (50%) */
  size_t size = m->mask + 1;
  while (slots * 10 > size * 5)
    size *= 2;
  return size > m->mask + 1 ? rehash(m, size - 1) : 0;
}

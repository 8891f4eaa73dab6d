/* External ids (64-bit integers and strings) to internal slots, and each slot's id. Keys
 * are encoded as one type byte ('i' + 8 little-endian bytes, or 's' + the string). */
#ifndef OMEGA_INDEX_IDMAP_H
#define OMEGA_INDEX_IDMAP_H

#include "omega/index.h"

#include <stddef.h>
#include <stdint.h>

#define OMEGA_KEY_MAX (OMEGA_ID_MAX + 1)

typedef struct {
  uint32_t *table; /* slot per bucket; EMPTY or TOMB otherwise */
  size_t mask, used, tombs;
  /* per-slot keys */
  char *arena;
  size_t arena_len, arena_cap;
  uint64_t *key_off; /* offset << 16 | length */
  size_t n_slots, cap_slots;
} omega_idmap_t;

/* Encode an id as a key; returns its length, or 0 for an invalid id. */
size_t omega__id_key(const omega_id_t *id, unsigned char out[OMEGA_KEY_MAX]);
void omega__key_to_result(const unsigned char *key, size_t len, omega_result_t *r);

int omega__idmap_init(omega_idmap_t *m);
void omega__idmap_free(omega_idmap_t *m);
/* Slot of a key, or UINT32_MAX. */
uint32_t omega__idmap_get(const omega_idmap_t *m, const unsigned char *key, size_t len);
/* Record slot's key (slots are assigned in order: slot == number of keys so far). */
int omega__idmap_append_slot(omega_idmap_t *m, const unsigned char *key, size_t len);
/* Allocate now what appending n_keys slots (key_bytes of keys in all) and putting them, n_new
 * of the keys not in the map yet, will need, so that those calls cannot fail; the sizes are
 * the ones the calls would grow to. */
int omega__idmap_prepare(omega_idmap_t *m, size_t n_keys, size_t n_new, size_t key_bytes);
/* Map the key to slot (replacing any earlier slot); the key must be the slot's own. */
int omega__idmap_put(omega_idmap_t *m, uint32_t slot);
void omega__idmap_remove(omega_idmap_t *m, const unsigned char *key, size_t len);
const unsigned char *omega__idmap_key(const omega_idmap_t *m, uint32_t slot, size_t *len);
size_t omega__idmap_bytes(const omega_idmap_t *m);
/* An upper bound of omega__idmap_bytes once n_keys more slots with key_bytes bytes of keys
 * in all are appended and mapped. */
size_t omega__idmap_bytes_after(const omega_idmap_t *m, size_t n_keys, size_t key_bytes);
/* Room for `slots` slots in all, `arena` bytes of keys in all, and a table that maps that
 * many keys without growing; exact sizes (no growth margin); never shrinks. */
int omega__idmap_reserve(omega_idmap_t *m, size_t slots, size_t arena);

#endif

/* Fuzz target: the snapshot parser (index files of `omega index build` and the snapshots
 * of persistent collections). Each input is parsed as it is, and again with its checksums
 * recomputed so that mutations reach the checks behind them. A file that loads must then
 * work: searches on every path (flat, exact reference, filtered, HNSW), an insert into the
 * loaded graph, and a save/parse round trip. Any crash, leak, hang or abort() is a bug. */
#include "index/exact.h"
#include "index/hnsw.h"
#include "index/idmap.h"
#include "index/persist.h"
#include "index/vindex.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the header and section checksums in place (the layout of persist.c: format 1
 * or 2, whose headers differ in length). */
static void repair(uint8_t *d, size_t n) {
  if (n < 64)
    return;
  size_t hlen = (get32(d + 8) == 1 ? 60 : 92) + (size_t)d[30];
  if (hlen + 4 > n)
    return;
  put32(d + hlen, (uint32_t)crc32(crc32(0L, Z_NULL, 0), d, (uInt)hlen));
  for (size_t p = hlen + 4; p + 12 <= n;) {
    uint64_t len = get64(d + p + 4);
    if (len > n - p - 12 || n - p - 12 - len < 4)
      return;
    put32(d + p + 12 + len, (uint32_t)crc32(crc32(0L, Z_NULL, 0), d + p + 12, (uInt)len));
    p += 12 + len + 4;
  }
}

/* The flat paths must agree with the double-precision reference. */
static void check_search(const omega_vindex_t *ix, const float *q) {
  omega_hit_t a[8], b[8];
  size_t na = omega__vindex_search(ix, q, 8, 16, NULL, a);
  if (!ix->g) {
    size_t nb = omega__vindex_search_exact(ix, q, 8, NULL, b);
    if (na != nb)
      abort();
    for (size_t i = 0; i < na; i++)
      if (a[i].slot != b[i].slot)
        abort();
  }
  /* a loaded vector is within OMEGA_VECTOR_NORM_MAX: no distance overflows */
  for (size_t i = 0; i < na; i++)
    if (a[i].slot >= ix->n || ix->dead[a[i].slot] || !isfinite(a[i].dist))
      abort();
  /* a filter over every other slot (small: the exact path) */
  uint8_t *bits = calloc(ix->n / 8 + 1, 1);
  if (!bits)
    return;
  size_t cnt = 0;
  for (size_t s = 0; s < ix->n; s += 2, cnt++)
    bits[s >> 3] |= (uint8_t)(1u << (s & 7));
  omega_allow_t allow = {bits, cnt};
  na = omega__vindex_search(ix, q, 8, 16, &allow, a);
  for (size_t i = 0; i < na; i++)
    if (a[i].slot % 2 || ix->dead[a[i].slot])
      abort();
  free(bits);
}

static void run(const uint8_t *data, size_t size) {
  omega_vindex_t ix;
  omega_idmap_t ids;
  char name[128];
  omega_snap_meta_t meta;
  if (omega__snapshot_parse("fuzz.omg", data, size, name, &meta, &ix, &ids) != 0)
    return;
  if (strlen(name) > 127 || ids.n_slots != ix.n || (meta.version != 1 && meta.version != OMEGA_SNAPSHOT_VERSION) ||
      (meta.version == 1 && (meta.uid || meta.absorbed_len)))
    abort();
  const size_t d = ix.p.dim;
  float *raw = malloc(d * sizeof *raw), *q = malloc(d * sizeof *q);
  if (raw && q) {
    for (size_t i = 0; i < d; i++)
      raw[i] = (float)((int)(i % 3) - 1);
    omega__vindex_prepare_query(&ix, raw, q);
    check_search(&ix, q);
    /* every slot's key reads back */
    for (uint32_t s = 0; s < ix.n; s++) {
      size_t kl;
      const unsigned char *k = omega__idmap_key(&ids, s, &kl);
      omega_result_t r;
      omega__key_to_result(k, kl, &r);
      if (!ix.dead[s] && omega__idmap_get(&ids, k, kl) != s)
        abort();
    }
    /* an insert links into the loaded graph; then search again */
    if (ix.n < 4096 && ix.p.ef_construction <= 1024 && omega__vindex_add(&ix, q, 1, 1, NULL, NULL) == 0)
      check_search(&ix, q);
  }
  free(raw);
  free(q);
  /* what loaded saves back to bytes that load */
  if (ix.g) {
    unsigned char *g;
    size_t glen;
    if (omega__hnsw_serialize(&ix, &g, &glen) == 0)
      free(g);
  }
  omega__vindex_free(&ix);
  omega__idmap_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run(data, size);
  if (size >= 64 && size <= (1u << 20)) {
    uint8_t *copy = malloc(size);
    if (!copy)
      return 0;
    memcpy(copy, data, size);
    repair(copy, size);
    run(copy, size);
    free(copy);
  }
  return 0;
}

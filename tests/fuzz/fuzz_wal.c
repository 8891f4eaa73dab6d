/* Fuzz target: the write-ahead-log parser. Each input is read as it is and again with its
 * header and record checksums recomputed (so mutations reach the checks behind them): the
 * header (either format), its match against snapshots of several generations and ids (the
 * log that follows, the one absorbed, or refused as foreign), and the replay for several
 * dimensions. The records that pass are applied to a real collection. Any crash, leak, hang
 * or abort() is a bug. */
#include "index/idmap.h"
#include "index/persist.h"

#include "omega/omega.h"

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

/* The header's commit slots (format 2: recomputed with the header's own numbers), then
 * every record's checksum. */
static void repair(uint8_t *d, size_t n) {
  size_t p = OMEGA_WAL_HEADER_V1;
  if (n >= OMEGA_WAL_HEADER && get32(d + 8) == OMEGA_WAL_VERSION) {
    for (int s = 0; s < 2; s++) {
      uint8_t *sl = d + 32 + s * OMEGA_WAL_SLOT, fresh[OMEGA_WAL_SLOT];
      omega__wal_slot(fresh, s, get64(d + 16), get64(d + 24), get64(sl), get64(sl + 8));
      memcpy(sl, fresh, sizeof fresh);
    }
    p = OMEGA_WAL_HEADER;
  }
  while (p + 8 <= n) {
    uint32_t len = get32(d + p);
    if (len > n - p - 8)
      return;
    put32(d + p + 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), d + p + 8, (uInt)len));
    p += 8 + len;
  }
}

typedef struct {
  omega_collection_t *c;
  size_t dim, records;
} replay_t;

static int apply(void *user, omega_wal_op_t op, const unsigned char *key, size_t klen, const float *vec) {
  replay_t *r = user;
  if (klen < 2 || klen > OMEGA_KEY_MAX || (op != OMEGA_WAL_UPSERT && op != OMEGA_WAL_DELETE))
    abort();
  omega_result_t res;
  omega__key_to_result(key, klen, &res);
  omega_id_t id = {res.is_str, res.num, res.str, res.is_str ? klen - 1 : 0};
  r->records++;
  if (op == OMEGA_WAL_UPSERT) {
    if (!vec)
      abort();
    for (size_t i = 0; i < r->dim; i++)
      if (!isfinite(vec[i]))
        abort();
    /* a replayed vector is one an upsert accepts (finite, within the norm bound) */
    return r->c && omega_collection_upsert(r->c, &id, vec, 1, 1) != 0 ? (abort(), 0) : 0;
  }
  if (vec)
    abort();
  return r->c ? omega_collection_delete(r->c, &id, 1, NULL) : 0;
}

/* The header's verdicts against snapshots around it: the one it follows, older and newer
 * ones, another collection's; only "follows" and an exact "absorbed" may pass. */
static void match(const omega_wal_head_t *h, size_t size) {
  for (int v = 1; v <= 2; v++)
    for (int dg = -1; dg <= 1; dg++)
      for (int other = 0; other < 2; other++) {
        const uint64_t g = h->generation + (uint64_t)dg;
        omega_snap_meta_t m = {.version = (uint32_t)v, .generation = g, .uid = h->uid ^ (uint64_t)other,
                               .absorbed_gen = g - 1, .absorbed_len = v == 2 ? size : 0};
        omega_wal_role_t role;
        if (omega__wal_match("fuzz.wal", &m, h, size, &role) != 0)
          continue;
        if (role == OMEGA_WAL_FOLLOWS && g != h->generation)
          abort();
        if (v == 2 && h->version == 2 && other)
          abort(); /* another collection's log never matches */
        if (role == OMEGA_WAL_ABSORBED && (v == 2 ? h->generation != g - 1 : h->generation >= g))
          abort();
      }
}

static void replay(const uint8_t *data, size_t size) {
  omega_wal_head_t h;
  if (omega__wal_head("fuzz.wal", data, size, &h) != 0)
    return;
  if (h.size > size || h.committed_len < h.size)
    abort();
  match(&h, size);
  static const size_t dims[] = {4, 1, 7};
  for (size_t di = 0; di < 3; di++) {
    omega_index_params_t p;
    omega_index_params_init(&p);
    p.dim = dims[di];
    replay_t r = {NULL, dims[di], 0};
    if (di == 0 && omega_collection_create("fuzz", &p, NULL, &r.c) != 0)
      abort();
    omega_wal_result_t res;
    int rc = omega__wal_parse("fuzz.wal", data, size, &h, dims[di], apply, &r, &res);
    if (res.good_len > size || res.good_len < h.size || res.records != r.records - (rc != 0 && r.records > res.records))
      abort();
    /* a log that replays in full reached its committed length, and only a tail was cut */
    if (rc == 0 && (res.good_len < h.committed_len || res.records < h.committed_records ||
                    res.good_len + res.torn_bytes != size))
      abort();
    if (r.c) {
      omega_collection_stats_t st;
      omega_collection_stats(r.c, &st);
      if (st.count > res.records)
        abort();
      omega_collection_close(r.c);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  replay(data, size);
  if (size >= OMEGA_WAL_HEADER_V1 && size <= (1u << 20)) {
    uint8_t *copy = malloc(size);
    if (!copy)
      return 0;
    memcpy(copy, data, size);
    repair(copy, size);
    replay(copy, size);
    free(copy);
  }
  return 0;
}

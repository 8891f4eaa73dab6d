/* Fuzz target: the write-ahead-log parser. Each input is replayed as it is and again with
 * its record checksums recomputed (so mutations reach the shape checks behind them), for
 * the generation in its header and others (older: ignored; newer: refused), and for other
 * dimensions. The records that pass are applied to a real collection. Any crash, leak,
 * hang or abort() is a bug. */
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
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void repair(uint8_t *d, size_t n) {
  for (size_t p = OMEGA_WAL_HEADER; p + 8 <= n;) {
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
    return r->c ? omega_collection_upsert(r->c, &id, vec, 1, 1) : 0;
  }
  if (vec)
    abort();
  return r->c ? omega_collection_delete(r->c, &id, 1, NULL) : 0;
}

static void replay(const uint8_t *data, size_t size) {
  uint64_t gen = 0;
  if (size >= OMEGA_WAL_HEADER)
    for (int i = 7; i >= 0; i--)
      gen = gen << 8 | data[16 + i];
  static const size_t dims[] = {4, 1, 7};
  for (size_t di = 0; di < 3; di++) {
    omega_index_params_t p;
    omega_index_params_init(&p);
    p.dim = dims[di];
    replay_t r = {NULL, dims[di], 0};
    if (di == 0 && omega_collection_create("fuzz", &p, NULL, &r.c) != 0)
      abort();
    size_t good = 0, records = 0;
    int rc = omega__wal_parse("fuzz.wal", data, size, gen, dims[di], apply, &r, &good, &records);
    if (good > size || records != r.records - (rc != 0 && r.records > records))
      abort();
    if (rc == 0 && size >= OMEGA_WAL_HEADER && good < OMEGA_WAL_HEADER && r.records)
      abort();
    if (r.c) {
      omega_collection_stats_t st;
      omega_collection_stats(r.c, &st);
      if (st.count > records)
        abort();
      omega_collection_close(r.c);
    }
  }
  /* an older log is ignored, a newer one refused */
  size_t good, records;
  replay_t r = {NULL, 4, 0};
  if (size >= OMEGA_WAL_HEADER && gen < UINT64_MAX &&
      omega__wal_parse("fuzz.wal", data, size, gen + 1, 4, apply, &r, &good, &records) == 0 && records)
    abort();
  if (size >= OMEGA_WAL_HEADER && gen > 0 && memcmp(data, "OMEGAWAL", 8) == 0 && get32(data + 8) == OMEGA_WAL_VERSION &&
      omega__wal_parse("fuzz.wal", data, size, gen - 1, 4, apply, &r, &good, &records) == 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  replay(data, size);
  if (size >= OMEGA_WAL_HEADER && size <= (1u << 20)) {
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

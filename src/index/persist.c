#include "index/persist.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"
#include "index/hnsw.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[8] = {'O', 'M', 'E', 'G', 'A', 'I', 'D', 'X'};
static const char WAL_MAGIC[8] = {'O', 'M', 'E', 'G', 'A', 'W', 'A', 'L'};

#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_VECS TAG('V', 'E', 'C', 'S')
#define TAG_DEAD TAG('D', 'E', 'A', 'D')
#define TAG_KEYS TAG('K', 'E', 'Y', 'S')
#define TAG_HNSW TAG('H', 'N', 'S', 'W')
#define TAG_END TAG('E', 'N', 'D', '!')

/* ---- little-endian helpers (the formats are little-endian; so is every supported host) ---- */

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* ---- writing ---- */

typedef struct {
  FILE *f;
  uLong crc;
  int err;
} writer_t;

static void w_raw(writer_t *w, const void *p, size_t n) {
  if (!w->err && n && fwrite(p, 1, n, w->f) != n)
    w->err = errno ? errno : EIO;
}

static void w_data(writer_t *w, const void *p, size_t n) {
  /* crc32 takes uInt lengths: feed big buffers in pieces */
  const unsigned char *b = p;
  for (size_t off = 0; off < n;) {
    size_t c = n - off > (1u << 30) ? (1u << 30) : n - off;
    w->crc = crc32(w->crc, b + off, (uInt)c);
    off += c;
  }
  w_raw(w, p, n);
}

static void section_begin(writer_t *w, uint32_t tag, uint64_t len) {
  unsigned char h[12];
  put32(h, tag);
  put64(h + 4, len);
  w_raw(w, h, sizeof h);
  w->crc = crc32(0L, Z_NULL, 0);
}

static void section_end(writer_t *w) {
  unsigned char c[4];
  put32(c, (uint32_t)w->crc);
  w_raw(w, c, 4);
}

static int fsync_dir(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* Format 2 header: magic, version, generation, dim, metric, kind, name length, m,
 * ef_construction, ef_search, seed, count (the format 1 fields, at the same offsets), then
 * the collection id and the absorbed log's generation, length and records, then the name. */
#define SNAP_FIXED_V1 60
#define SNAP_FIXED 92

/* Move tmp to path; without `replace`, never over an existing file (link fails on one). */
int omega__file_commit(const char *tmp, const char *path, bool replace) {
  if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    if (e == EEXIST)
      return omega__seterr(OMEGA_EINVAL, "%s already exists: not overwritten", path);
    return omega__seterr(OMEGA_EIO, "%s: rename failed: %s", path, strerror(e));
  }
  if (!replace)
    unlink(tmp);
  fsync_dir(path);
  return 0;
}

int omega__snapshot_write(const char *path, const char *name, const omega_snap_meta_t *meta, const omega_vindex_t *ix,
                          const omega_idmap_t *ids, bool replace) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return omega__seterr(OMEGA_ERANGE, "path too long: %s", path);
  writer_t w = {fopen(tmp, "wb"), 0, 0};
  if (!w.f)
    return omega__seterr(OMEGA_EIO, "%s: %s", tmp, strerror(errno));
  const size_t n = ix->n, d = ix->p.dim, name_len = strlen(name);
  unsigned char h[SNAP_FIXED + 128];
  memset(h, 0, sizeof h);
  memcpy(h, MAGIC, 8);
  put32(h + 8, OMEGA_SNAPSHOT_VERSION);
  put64(h + 16, meta->generation);
  put32(h + 24, (uint32_t)d);
  h[28] = (unsigned char)ix->p.metric;
  h[29] = (unsigned char)ix->p.kind;
  h[30] = (unsigned char)name_len;
  put32(h + 32, (uint32_t)ix->p.m);
  put32(h + 36, (uint32_t)ix->p.ef_construction);
  put32(h + 40, (uint32_t)ix->p.ef_search);
  put64(h + 44, ix->p.seed);
  put64(h + 52, n);
  put64(h + 60, meta->uid);
  put64(h + 68, meta->absorbed_gen);
  put64(h + 76, meta->absorbed_len);
  put64(h + 84, meta->absorbed_records);
  memcpy(h + SNAP_FIXED, name, name_len);
  const size_t hlen = SNAP_FIXED + name_len;
  w.crc = crc32(0L, Z_NULL, 0);
  w_data(&w, h, hlen);
  unsigned char c[4];
  put32(c, (uint32_t)w.crc);
  w_raw(&w, c, 4);

  section_begin(&w, TAG_VECS, (uint64_t)n * d * sizeof(float));
  w_data(&w, ix->vecs, n * d * sizeof(float));
  section_end(&w);
  section_begin(&w, TAG_DEAD, n);
  w_data(&w, ix->dead, n);
  section_end(&w);
  uint64_t keys_len = 0;
  for (uint32_t s = 0; s < n; s++) {
    size_t len;
    omega__idmap_key(ids, s, &len);
    keys_len += 2 + len;
  }
  section_begin(&w, TAG_KEYS, keys_len);
  for (uint32_t s = 0; s < n; s++) {
    size_t len;
    const unsigned char *k = omega__idmap_key(ids, s, &len);
    unsigned char l2[2] = {(unsigned char)len, (unsigned char)(len >> 8)};
    w_data(&w, l2, 2);
    w_data(&w, k, len);
  }
  section_end(&w);
  if (ix->g) {
    unsigned char *graph;
    size_t glen;
    int grc = omega__hnsw_serialize(ix, &graph, &glen);
    if (grc) {
      fclose(w.f);
      unlink(tmp);
      return grc;
    }
    section_begin(&w, TAG_HNSW, glen);
    w_data(&w, graph, glen);
    section_end(&w);
    omega__free(graph);
  }
  section_begin(&w, TAG_END, 0);
  section_end(&w);
  if (!w.err && fflush(w.f) != 0)
    w.err = errno;
  if (!w.err && fsync(fileno(w.f)) != 0)
    w.err = errno;
  if (fclose(w.f) != 0 && !w.err)
    w.err = errno;
  if (w.err) {
    unlink(tmp);
    return omega__seterr(OMEGA_EIO, "%s: write failed: %s", tmp, strerror(w.err));
  }
  return omega__file_commit(tmp, path, replace);
}

/* ---- reading ---- */

typedef struct {
  const char *path;
  const unsigned char *p, *end;
} reader_t;

static int truncated(const reader_t *r, const char *what) {
  return omega__seterr(OMEGA_EFORMAT, "%s: truncated in %s (the file is incomplete or damaged; restore a good copy "
                                      "or rebuild it with omega index build)",
                       r->path, what);
}

/* The next section: tag, payload, verified checksum. */
static int next_section(reader_t *r, uint32_t *tag, const unsigned char **data, uint64_t *len) {
  if (r->end - r->p < 12)
    return truncated(r, "a section header");
  *tag = get32(r->p);
  *len = get64(r->p + 4);
  r->p += 12;
  if (*len > (uint64_t)(r->end - r->p) || (uint64_t)(r->end - r->p) - *len < 4)
    return truncated(r, "a section");
  *data = r->p;
  uLong c = crc32(0L, Z_NULL, 0);
  for (uint64_t off = 0; off < *len;) {
    uint64_t n = *len - off > (1u << 30) ? (1u << 30) : *len - off;
    c = crc32(c, *data + off, (uInt)n);
    off += n;
  }
  r->p += *len;
  uint32_t want = get32(r->p);
  r->p += 4;
  if ((uint32_t)c != want) {
    char t[5] = {(char)(*tag & 0xFF), (char)(*tag >> 8 & 0xFF), (char)(*tag >> 16 & 0xFF), (char)(*tag >> 24), 0};
    return omega__seterr(OMEGA_EFORMAT, "%s: section %s fails its checksum (the file is corrupt; restore a good copy "
                                        "or rebuild it)",
                         r->path, t);
  }
  return 0;
}

/* A well-formed id key: 'i' and 8 bytes, or 's' and 1-256 bytes. */
static bool valid_key(const unsigned char *k, size_t kl) {
  return kl >= 2 && kl <= OMEGA_KEY_MAX && ((k[0] == 'i' && kl == 9) || k[0] == 's');
}

int omega__snapshot_read(const char *path, char name[128], omega_snap_meta_t *meta, omega_vindex_t *ix,
                         omega_idmap_t *ids) {
  omega_map_t map;
  memset(ix, 0, sizeof *ix);
  memset(ids, 0, sizeof *ids);
  int rc = omega__map_file(path, &map);
  if (rc)
    return rc;
  rc = omega__snapshot_parse(path, map.data, map.size, name, meta, ix, ids);
  omega__unmap_file(&map);
  return rc;
}

int omega__snapshot_parse(const char *path, const unsigned char *bytes, size_t size, char name[128],
                          omega_snap_meta_t *meta, omega_vindex_t *ix, omega_idmap_t *ids) {
  const omega_map_t map = {bytes, size};
  int rc = 0;
  reader_t r = {path, map.data, map.data + map.size};
  memset(ix, 0, sizeof *ix);
  memset(ids, 0, sizeof *ids);
  memset(meta, 0, sizeof *meta);
  if (map.size < 64 || memcmp(map.data, MAGIC, 8) != 0) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: not an Omega index file (bad magic number)", path);
    goto out;
  }
  const uint32_t version = get32(map.data + 8);
  if (version != 1 && version != OMEGA_SNAPSHOT_VERSION) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: index format version %u is not supported (this build reads 1 and %u); "
                                      "rebuild it with omega index build",
                       path, version, OMEGA_SNAPSHOT_VERSION);
    goto out;
  }
  const size_t name_len = map.data[30], hlen = (version == 1 ? SNAP_FIXED_V1 : SNAP_FIXED) + name_len;
  if (name_len > 127) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: collection name of %zu bytes (at most 127)", path, name_len);
    goto out;
  }
  if (map.size < hlen + 4) {
    rc = truncated(&r, "the header");
    goto out;
  }
  if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), map.data, (uInt)hlen) != get32(map.data + hlen)) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: header fails its checksum (the file is corrupt)", path);
    goto out;
  }
  omega_index_params_t p;
  omega_index_params_init(&p);
  meta->version = version;
  meta->generation = get64(map.data + 16);
  p.dim = get32(map.data + 24);
  p.metric = (omega_metric_t)map.data[28];
  p.kind = (omega_index_kind_t)map.data[29];
  p.m = get32(map.data + 32);
  p.ef_construction = get32(map.data + 36);
  p.ef_search = get32(map.data + 40);
  p.seed = get64(map.data + 44);
  const uint64_t n = get64(map.data + 52);
  if (version > 1) {
    meta->uid = get64(map.data + 60);
    meta->absorbed_gen = get64(map.data + 68);
    meta->absorbed_len = get64(map.data + 76);
    meta->absorbed_records = get64(map.data + 84);
  }
  memcpy(name, map.data + hlen - name_len, name_len);
  name[name_len] = '\0';
  r.p = map.data + hlen + 4;
  if ((rc = omega__vindex_init(ix, &p))) {
    omega__prefixerr(rc, "%s", path);
    goto out;
  }
  if (n > UINT32_MAX - 1 || (p.dim && n > SIZE_MAX / p.dim / sizeof(float))) {
    rc = omega__seterr(OMEGA_EFORMAT, "%s: implausible vector count %llu", path, (unsigned long long)n);
    goto out;
  }
  if ((rc = omega__idmap_init(ids)))
    goto out;
  bool have_vecs = false, have_dead = false, have_keys = false, have_graph = false;
  /* sections in order: vectors, tombstones, ids, (graph), end; each once */
  for (;;) {
    uint32_t tag = 0;
    const unsigned char *data = NULL;
    uint64_t len = 0;
    if ((rc = next_section(&r, &tag, &data, &len)))
      goto out;
    if (tag == TAG_END) {
      if (r.p != r.end) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: %zu bytes after the end section (the file is damaged)", path,
                           (size_t)(r.end - r.p));
        goto out;
      }
      break;
    }
    if (tag == TAG_VECS && !have_vecs) {
      if (len != n * p.dim * sizeof(float)) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: vector section has %llu bytes, expected %llu", path,
                           (unsigned long long)len, (unsigned long long)(n * p.dim * sizeof(float)));
        goto out;
      }
      size_t cap = n ? n : 1;
      ix->vecs = omega__aligned_alloc(64, ((cap * p.dim * sizeof(float)) + 63) & ~(size_t)63);
      ix->norms = omega__malloc(cap * sizeof(float));
      ix->dead = omega__calloc(cap, 1);
      if (!ix->vecs || !ix->norms || !ix->dead) {
        rc = omega__seterr(OMEGA_ENOMEM, "%s: cannot allocate %llu vectors", path, (unsigned long long)n);
        goto out;
      }
      memcpy(ix->vecs, data, len);
      for (size_t s = 0; s < n; s++) {
        const float *v = ix->vecs + s * p.dim;
        double n2 = 0; /* GCC cannot see omega__check_vector sets it once it inlines the call */
        if (omega__check_vector(v, p.dim, "vector", s, &n2)) {
          rc = omega__prefixerr(OMEGA_EFORMAT, "%s", path);
          goto out;
        }
        ix->norms[s] = ix->simd->dot(v, v, p.dim);
        if (n2 > ix->max_norm2)
          ix->max_norm2 = n2;
      }
      ix->n = ix->cap = n;
      have_vecs = true;
    } else if (tag == TAG_DEAD && have_vecs && !have_dead) {
      if (len != n) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: tombstone section has %llu bytes, expected %llu", path,
                           (unsigned long long)len, (unsigned long long)n);
        goto out;
      }
      for (size_t s = 0; s < n; s++) {
        ix->dead[s] = data[s] != 0;
        ix->n_dead += ix->dead[s];
      }
      have_dead = true;
    } else if (tag == TAG_KEYS && have_dead && !have_keys) {
      const unsigned char *q = data, *qe = data + len;
      for (uint32_t s = 0; s < n; s++) {
        if (qe - q < 2) {
          rc = truncated(&r, "the ids");
          goto out;
        }
        size_t kl = (size_t)(q[0] | q[1] << 8);
        q += 2;
        if ((size_t)(qe - q) < kl || !valid_key(q, kl)) {
          rc = omega__seterr(OMEGA_EFORMAT, "%s: id of slot %u is malformed", path, s);
          goto out;
        }
        if ((rc = omega__idmap_append_slot(ids, q, kl)))
          goto out;
        if (!ix->dead[s]) {
          if (omega__idmap_get(ids, q, kl) != UINT32_MAX) {
            rc = omega__seterr(OMEGA_EFORMAT, "%s: id of slot %u appears twice", path, s);
            goto out;
          }
          if ((rc = omega__idmap_put(ids, s)))
            goto out;
        }
        q += kl;
      }
      if (q != qe) {
        rc = omega__seterr(OMEGA_EFORMAT, "%s: id section has trailing bytes", path);
        goto out;
      }
      have_keys = true;
    } else if (tag == TAG_HNSW && have_keys && ix->g && !have_graph) {
      if ((rc = omega__hnsw_reserve(ix, n ? n : 1)) || (rc = omega__hnsw_read(ix, data, (size_t)len))) {
        omega__prefixerr(rc, "%s", path);
        goto out;
      }
      have_graph = true;
    } else {
      rc = omega__seterr(OMEGA_EFORMAT, "%s: unexpected section %08x", path, tag);
      goto out;
    }
  }
  if (!have_vecs || !have_dead || !have_keys || (ix->g && !have_graph))
    rc = omega__seterr(OMEGA_EFORMAT, "%s: sections are missing (vectors, tombstones, ids%s)", path,
                       ix->g ? ", graph" : "");
out:
  if (rc) {
    omega__vindex_free(ix);
    omega__idmap_free(ids);
  }
  return rc;
}

/* ---- vectors ---- */

int omega__check_vector(const float *v, size_t dim, const char *noun, size_t index, double *norm2) {
  double n2 = 0;
  for (size_t i = 0; i < dim; i++) {
    if (!isfinite(v[i]))
      return omega__seterr(OMEGA_EINVAL, "%s %zu: component %zu is not a finite number", noun, index, i);
    n2 += (double)v[i] * v[i];
  }
  if (n2 > OMEGA_VECTOR_NORM_MAX * OMEGA_VECTOR_NORM_MAX)
    return omega__seterr(OMEGA_EINVAL, "%s %zu: its norm %.6g is past the bound of %g on a vector's norm (past it, "
                                       "distances can overflow float32)",
                         noun, index, sqrt(n2), OMEGA_VECTOR_NORM_MAX);
  if (norm2)
    *norm2 = n2;
  return 0;
}

/* ---- the write-ahead log ---- */

/* The 32 bytes every commit slot's checksum covers, then the slot. */
static void wal_fixed(unsigned char out[32], uint64_t gen, uint64_t uid) {
  memset(out, 0, 32);
  memcpy(out, WAL_MAGIC, 8);
  put32(out + 8, OMEGA_WAL_VERSION);
  put64(out + 16, gen);
  put64(out + 24, uid);
}

static uint32_t slot_crc(const unsigned char fixed[32], const unsigned char slot[16]) {
  return (uint32_t)crc32(crc32(crc32(0L, Z_NULL, 0), fixed, 32), slot, 16);
}

size_t omega__wal_slot(unsigned char out[OMEGA_WAL_SLOT], int slot, uint64_t gen, uint64_t uid, uint64_t len,
                       uint64_t records) {
  unsigned char fixed[32];
  wal_fixed(fixed, gen, uid);
  put64(out, len);
  put64(out + 8, records);
  put32(out + 16, slot_crc(fixed, out));
  return 32 + (size_t)(slot & 1) * OMEGA_WAL_SLOT;
}

void omega__wal_header(unsigned char out[OMEGA_WAL_HEADER], uint64_t gen, uint64_t uid) {
  wal_fixed(out, gen, uid);
  for (int s = 0; s < 2; s++)
    omega__wal_slot(out + 32 + s * OMEGA_WAL_SLOT, s, gen, uid, OMEGA_WAL_HEADER, 0);
}

int omega__wal_head(const char *path, const unsigned char *p, size_t size, omega_wal_head_t *h) {
  memset(h, 0, sizeof *h);
  if (size < OMEGA_WAL_HEADER_V1 || memcmp(p, WAL_MAGIC, 8) != 0)
    return omega__seterr(OMEGA_EFORMAT, "%s: %s", path,
                         size == 0 ? "empty (its header is gone)"
                         : size < OMEGA_WAL_HEADER_V1 ? "too short for a log header"
                                                      : "not an Omega write-ahead log (bad magic number)");
  h->version = get32(p + 8);
  h->generation = get64(p + 16);
  if (h->version == 1) {
    h->size = h->committed_len = OMEGA_WAL_HEADER_V1;
    return 0;
  }
  if (h->version != OMEGA_WAL_VERSION)
    return omega__seterr(OMEGA_EFORMAT, "%s: log format version %u is not supported (this build reads 1 and %u)", path,
                         h->version, OMEGA_WAL_VERSION);
  if (size < OMEGA_WAL_HEADER)
    return omega__seterr(OMEGA_EFORMAT, "%s: %zu bytes, too short for a log header", path, size);
  h->size = OMEGA_WAL_HEADER;
  h->uid = get64(p + 24);
  /* the newest slot that passes its checksum (the other may be a write torn mid-way) */
  bool any = false;
  for (int s = 0; s < 2; s++) {
    const unsigned char *sl = p + 32 + s * OMEGA_WAL_SLOT;
    if (slot_crc(p, sl) != get32(sl + 16))
      continue;
    const uint64_t len = get64(sl), recs = get64(sl + 8);
    if (len < OMEGA_WAL_HEADER || (any && len <= h->committed_len))
      continue;
    h->committed_len = len;
    h->committed_records = recs;
    h->slot = s;
    any = true;
  }
  if (!any)
    return omega__seterr(OMEGA_EFORMAT, "%s: header fails its checksums (the generation and the acknowledged length "
                                        "it records cannot be trusted)",
                         path);
  return 0;
}

int omega__wal_match(const char *path, const omega_snap_meta_t *m, const omega_wal_head_t *h, size_t size,
                     omega_wal_role_t *role) {
  const unsigned long long g = h->generation;
  if (m->version == 1) {
    /* format 1 ties nothing: the rules it was written under */
    if (h->version == 1 && g <= m->generation) {
      *role = g == m->generation ? OMEGA_WAL_FOLLOWS : OMEGA_WAL_ABSORBED;
      return 0;
    }
    return omega__seterr(OMEGA_EFORMAT, "%s: log of format %u, generation %llu, does not follow the format 1 "
                                        "snapshot of generation %llu (the snapshot is missing or old)",
                         path, h->version, g, (unsigned long long)m->generation);
  }
  const bool ours = h->version == 1 || h->uid == m->uid; /* a format 1 log can only be the one absorbed */
  if (h->version > 1 && ours && g == m->generation) {
    *role = OMEGA_WAL_FOLLOWS;
    return 0;
  }
  if (ours && m->absorbed_len && g == m->absorbed_gen && size == m->absorbed_len) {
    *role = OMEGA_WAL_ABSORBED;
    return 0;
  }
  if (!ours)
    return omega__seterr(OMEGA_EFORMAT, "%s: a log of another collection (id %016llx, the snapshot's is %016llx): the "
                                        "writes after the snapshot are not in it",
                         path, (unsigned long long)h->uid, (unsigned long long)m->uid);
  return omega__seterr(OMEGA_EFORMAT, "%s: log of generation %llu (%zu bytes) is neither the one that follows the snapshot "
                                      "(generation %llu) nor the one it absorbed (generation %llu, %llu bytes): the "
                                      "writes after the snapshot are not in it",
                       path, g, size, (unsigned long long)m->generation, (unsigned long long)m->absorbed_gen,
                       (unsigned long long)m->absorbed_len);
}

int omega__wal_encode(char **buf, size_t *len, size_t *cap, omega_wal_op_t op, const unsigned char *key,
                      size_t key_len, const float *vec, size_t dim) {
  const size_t payload = 1 + 2 + key_len + (op == OMEGA_WAL_UPSERT ? dim * sizeof(float) : 0);
  const size_t need = *len + 8 + payload;
  if (need > *cap) {
    size_t nc = *cap ? *cap : 4096;
    while (nc < need)
      nc *= 2;
    char *nb = omega__realloc(*buf, nc);
    if (!nb)
      return omega__seterr(OMEGA_ENOMEM, "log: out of memory");
    *buf = nb;
    *cap = nc;
  }
  unsigned char *p = (unsigned char *)*buf + *len, *pl = p + 8;
  pl[0] = (unsigned char)op;
  pl[1] = (unsigned char)key_len;
  pl[2] = (unsigned char)(key_len >> 8);
  memcpy(pl + 3, key, key_len);
  if (op == OMEGA_WAL_UPSERT)
    memcpy(pl + 3 + key_len, vec, dim * sizeof(float));
  put32(p, (uint32_t)payload);
  put32(p + 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), pl, (uInt)payload));
  *len = need;
  return 0;
}

/* The record at p (end - p bytes left): its payload length when it is whole, checksummed and
 * well-formed for dimension dim, else 0. */
static size_t good_record(const unsigned char *p, const unsigned char *end, size_t dim) {
  if (end - p < 8)
    return 0;
  const uint64_t plen = get32(p);
  if (plen < 3 || plen > (uint64_t)(end - p - 8))
    return 0;
  const unsigned char *pl = p + 8;
  const size_t key_len = (size_t)(pl[1] | pl[2] << 8);
  const unsigned op = pl[0];
  /* the shape first (cheap), the checksum last */
  if (!((op == OMEGA_WAL_UPSERT && plen == 3 + key_len + dim * sizeof(float)) ||
        (op == OMEGA_WAL_DELETE && plen == 3 + key_len)))
    return 0;
  if (!valid_key(pl + 3, key_len))
    return 0;
  if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), pl, (uInt)plen) != get32(p + 4))
    return 0;
  return (size_t)plen;
}

/* A bad record (or the end of the file) at `at`, before the committed length: acknowledged
 * records are lost. */
static int lost_committed(const char *path, size_t size, size_t at, const omega_wal_head_t *h, const char *why,
                          omega_wal_result_t *out) {
  const uint64_t want = h->committed_records;
  out->lost = want > out->records ? (size_t)(want - out->records) : 0;
  out->lost_unknown = want < out->records;
  if (size < h->committed_len)
    return omega__seterr(OMEGA_EFORMAT, "%s: cut short: %zu bytes, but its header says the first %llu bytes (%llu "
                                        "records) were acknowledged; %zu acknowledged records after byte %zu are lost",
                         path, size, (unsigned long long)h->committed_len, (unsigned long long)want, out->lost, at);
  return omega__seterr(OMEGA_EFORMAT, "%s: %s at byte %zu, inside the %llu bytes (%llu records) its header says were "
                                      "acknowledged; %zu acknowledged records from there on are lost",
                       path, why, at, (unsigned long long)h->committed_len, (unsigned long long)want, out->lost);
}

/* A bad record at p, after the committed length. A crash can cut short only the last record
 * (what a write left of a batch is whole records, then part of one), or leave zeros after
 * the last whole record (space the file system allocated but never filled). So it is a torn
 * tail when no more than one record's bytes, or only zeros, follow it, and no valid record
 * lies in them; anything else is damage and is reported, never dropped. The search checks
 * each candidate's shape before its checksum, so it stays linear. */
static int torn_or_damaged(const char *path, const unsigned char *data, const unsigned char *p,
                           const unsigned char *end, size_t dim, omega_wal_result_t *out) {
  const size_t bad_at = (size_t)(p - data), left = (size_t)(end - p);
  const size_t max_rec = 8 + 3 + OMEGA_KEY_MAX + dim * sizeof(float);
  const unsigned char *next = NULL;
  for (const unsigned char *q = p + 1; q + 8 <= end && !next; q++)
    if (good_record(q, end, dim))
      next = q;
  bool zeros = true;
  for (const unsigned char *q = p; q < end && zeros; q++)
    zeros = *q == 0;
  out->lost_unknown = true; /* past the committed length: written, whether acknowledged is not known */
  if (next)
    return omega__seterr(OMEGA_EFORMAT, "%s: corrupt record at byte %zu followed by valid ones at byte %zu (the log is "
                                        "damaged; restore a good copy, or accept the loss of the writes from byte %zu on)",
                         path, bad_at, (size_t)(next - data), bad_at);
  if (left > max_rec && !zeros)
    return omega__seterr(OMEGA_EFORMAT, "%s: corrupt record at byte %zu with %zu unreadable bytes after it, more than a "
                                        "write cut short leaves (the log is damaged; restore a good copy, or accept the "
                                        "loss of the writes from byte %zu on)",
                         path, bad_at, left, bad_at);
  out->lost_unknown = false;
  out->torn_bytes = left;
  return 0;
}

int omega__wal_parse(const char *path, const unsigned char *data, size_t size, const omega_wal_head_t *h, size_t dim,
                     omega_wal_apply_fn fn, void *user, omega_wal_result_t *out) {
  memset(out, 0, sizeof *out);
  if (dim == 0 || dim > 65536)
    return omega__seterr(OMEGA_EINVAL, "%s: dimension %zu out of range", path, dim);
  if (!data || size < h->size)
    return omega__seterr(OMEGA_EFORMAT, "%s: shorter than its header", path);
  const unsigned char *p = data + h->size, *end = data + size;
  out->good_len = h->size;
  float *vec = omega__malloc(dim * sizeof *vec);
  if (!vec)
    return omega__seterr(OMEGA_ENOMEM, "log replay: out of memory");
  int rc = 0;
  for (;;) {
    const size_t at = (size_t)(p - data);
    const bool committed = at < h->committed_len;
    if (at == h->committed_len && out->records != h->committed_records) {
      rc = lost_committed(path, size, at, h, "a record count unlike the header's", out);
      break;
    }
    if (p == end) {
      if (committed)
        rc = lost_committed(path, size, at, h, "the end of the file", out);
      break;
    }
    const size_t plen = good_record(p, end, dim);
    if (!plen || (committed && at + 8 + plen > h->committed_len)) {
      rc = committed ? lost_committed(path, size, at, h, "a corrupt record", out)
                     : torn_or_damaged(path, data, p, end, dim, out);
      break;
    }
    const unsigned char *pl = p + 8;
    const size_t key_len = (size_t)(pl[1] | pl[2] << 8);
    const omega_wal_op_t op = (omega_wal_op_t)pl[0];
    if (op == OMEGA_WAL_UPSERT) {
      memcpy(vec, pl + 3 + key_len, dim * sizeof *vec);
      if (omega__check_vector(vec, dim, "record", out->records, NULL)) {
        rc = committed ? lost_committed(path, size, at, h, "a record with a vector the index refuses", out)
                       : omega__prefixerr(OMEGA_EFORMAT, "%s: at byte %zu", path, at);
        out->lost_unknown |= !committed;
        break;
      }
    }
    if ((rc = fn(user, op, pl + 3, key_len, op == OMEGA_WAL_UPSERT ? vec : NULL))) {
      omega__prefixerr(rc, "%s: replaying record %zu", path, out->records);
      break;
    }
    p = pl + plen;
    out->good_len = (size_t)(p - data);
    out->records++;
  }
  omega__free(vec);
  return rc;
}

/* omega index build | search | stats: vector indices as single files. */
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/parallel.h"
#include "omega/omega.h"

#include <getopt.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Map a float32 file of rows of `dim`; prints the error itself. */
static int load_f32(const char *path, size_t dim, omega_map_t *m, size_t *rows) {
  int rc = omega__map_file(path, m);
  if (rc) {
    fprintf(stderr, "omega index: %s\n", omega_errmsg());
    return OMEGA_EXIT_FAILURE;
  }
  if (m->size % (dim * sizeof(float)) != 0) {
    fprintf(stderr, "omega index: %s is %zu bytes, not a whole number of %zu-dimensional float32 rows\n", path,
            m->size, dim);
    omega__unmap_file(m);
    return OMEGA_EXIT_DATA;
  }
  *rows = m->size / (dim * sizeof(float));
  return 0;
}

static void progress_bar(size_t done, size_t total, double t0, bool final) {
  const int width = 30;
  double f = total ? (double)done / (double)total : 1.0, el = omega__now_ns() / 1e9 - t0;
  int fill = (int)(f * width);
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
  bar[width] = '\0';
  double rate = el > 0 ? (double)done / el : 0;
  fprintf(stderr, "\r[%s] %5.1f%% %zu/%zu vectors, %.0f/s, eta %.0fs ", bar, 100 * f, done, total, rate,
          rate > 0 ? (double)(total - done) / rate : 0.0);
  if (final)
    fputc('\n', stderr);
}

static void build_usage(FILE *f) {
  fputs("usage: omega index build --input base.f32 --dim D --metric l2|ip|cosine --kind flat|hnsw\n"
        "                         [--m M] [--ef-construction E] [--ef-search N] [--threads T] --out PATH\n"
        "\n"
        "Builds an index of the little-endian float32 row-major vectors in --input (row r gets id r)\n"
        "and writes it to PATH. HNSW defaults: M 16, ef_construction 200, ef_search 64.\n",
        f);
}

static int cmd_build(int argc, char **argv) {
  static const struct option opts[] = {{"input", 1, 0, 'i'},  {"dim", 1, 0, 'd'},     {"metric", 1, 0, 'm'},
                                       {"kind", 1, 0, 'k'},   {"m", 1, 0, 'M'},       {"ef-construction", 1, 0, 'e'},
                                       {"ef-search", 1, 0, 'E'}, {"threads", 1, 0, 't'}, {"out", 1, 0, 'o'},
                                       {"progress", 0, 0, 'p'}, {"quiet", 0, 0, 'q'},  {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *input = NULL, *out = NULL, *metric = NULL, *kind = NULL;
  size_t dim = 0, m = 16, efc = 200, efs = 64, threads = 1;
  int progress = isatty(2), c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'i': input = optarg; break;
    case 'o': out = optarg; break;
    case 'm': metric = optarg; break;
    case 'k': kind = optarg; break;
    case 'd':
      if (!omega__cli_parse_size("--dim", optarg, 1, 65536, &dim))
        return OMEGA_EXIT_USAGE;
      break;
    case 'M':
      if (!omega__cli_parse_size("--m", optarg, 2, 256, &m))
        return OMEGA_EXIT_USAGE;
      break;
    case 'e':
      if (!omega__cli_parse_size("--ef-construction", optarg, 1, 100000, &efc))
        return OMEGA_EXIT_USAGE;
      break;
    case 'E':
      if (!omega__cli_parse_size("--ef-search", optarg, 1, 100000, &efs))
        return OMEGA_EXIT_USAGE;
      break;
    case 't':
      if (!omega__cli_parse_size("--threads", optarg, 1, 256, &threads))
        return OMEGA_EXIT_USAGE;
      break;
    case 'p': progress = 1; break;
    case 'q': progress = 0; break;
    case 'h': build_usage(stdout); return OMEGA_EXIT_OK;
    default: build_usage(stderr); return OMEGA_EXIT_USAGE;
    }
  }
  if (!input || !out || !dim || !metric || !kind || optind != argc) {
    fputs("omega index build: --input, --dim, --metric, --kind and --out are required\n", stderr);
    build_usage(stderr);
    return OMEGA_EXIT_USAGE;
  }
  omega_index_params_t p;
  omega_index_params_init(&p);
  p.dim = dim;
  p.m = m;
  p.ef_construction = efc;
  p.ef_search = efs;
  if (omega_metric_parse(metric, &p.metric) || omega_index_kind_parse(kind, &p.kind)) {
    fprintf(stderr, "omega index build: %s\n", omega_errmsg());
    return OMEGA_EXIT_USAGE;
  }
  omega_map_t in;
  size_t n;
  int rc = load_f32(input, dim, &in, &n);
  if (rc)
    return rc;
  omega_collection_t *col;
  char name[128];
  const char *base = strrchr(out, '/');
  snprintf(name, sizeof name, "%s", base ? base + 1 : out);
  for (char *q = name; *q; q++)
    if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' ||
          *q == '-' || *q == '.'))
      *q = '_';
  if (name[0] == '.' || !name[0])
    name[0] = 'x';
  if ((rc = omega_collection_create(name, &p, NULL, &col))) {
    omega__unmap_file(&in);
    return omega__cli_fail("index build", rc);
  }
  /* exactly n slots: the chunks below then never grow (or over-allocate) the index */
  if ((rc = omega_collection_reserve(col, n))) {
    omega__unmap_file(&in);
    omega_collection_close(col);
    return omega__cli_fail("index build", rc);
  }
  /* chunks keep the progress bar moving; each chunk is linked in parallel */
  const size_t chunk = 8192;
  omega_id_t *ids = omega__malloc(chunk * sizeof *ids);
  double t0 = omega__now_ns() / 1e9;
  for (size_t i = 0; i < n && rc == 0; i += chunk) {
    size_t k = n - i < chunk ? n - i : chunk;
    for (size_t j = 0; j < k; j++)
      ids[j] = (omega_id_t){0, (int64_t)(i + j), NULL, 0};
    /* cppcheck-suppress invalidPointerCast ; the mapped .f32 file is little-endian fp32 rows, page-aligned */
    rc = omega_collection_upsert(col, ids, (const float *)in.data + i * dim, k, (int)threads);
    if (progress)
      progress_bar(i + k, n, t0, i + k == n);
  }
  double build_s = omega__now_ns() / 1e9 - t0;
  omega__free(ids);
  omega__unmap_file(&in);
  if (rc == 0)
    rc = omega_collection_save_file(col, out);
  if (rc) {
    int st = omega__cli_fail("index build", rc);
    omega_collection_close(col);
    return st;
  }
  omega_collection_stats_t st;
  omega_collection_stats(col, &st);
  fprintf(stderr, "built %s index of %zu vectors (dim %zu, %s) in %.2f s with %zu threads; %.1f MB in memory; wrote %s\n",
          kind, st.count, dim, metric, build_s, threads, (double)st.bytes / 1048576.0, out);
  omega_collection_close(col);
  return OMEGA_EXIT_OK;
}

static void search_usage(FILE *f) {
  fputs("usage: omega index search --index PATH --queries q.f32 --k K [--ef N] [--threads T]\n"
        "                          [--one-at-a-time] --output ids.i32\n"
        "\n"
        "Writes the ids of the K nearest neighbours of every query as int32 row-major [queries, K]\n"
        "(-1 where fewer exist) and prints QPS and latency percentiles on stderr. Without\n"
        "--one-at-a-time all queries go in one call (flat indices use GEMM); with it, each query is\n"
        "its own call, timed alone, T of them at a time.\n",
        f);
}

typedef struct {
  omega_collection_t *col;
  const float *qs;
  size_t dim, nq, k, ef;
  omega_result_t *res;
  size_t *counts;
  double *lat;
  atomic_size_t next;
  atomic_int rc;
} one_job_t;

static void *one_worker(void *arg) {
  one_job_t *j = arg;
  omega_search_opts_t o = {.k = j->k, .ef = j->ef, .threads = 1};
  for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->nq;) {
    double t = omega__now_ns() / 1e9;
    int rc = omega_collection_search(j->col, j->qs + i * j->dim, 1, &o, j->res + i * j->k, j->counts + i);
    j->lat[i] = (omega__now_ns() / 1e9 - t) * 1e3;
    if (rc)
      atomic_store(&j->rc, rc);
  }
  return NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int cmd_search(int argc, char **argv) {
  static const struct option opts[] = {{"index", 1, 0, 'x'},   {"queries", 1, 0, 'q'}, {"k", 1, 0, 'k'},
                                       {"ef", 1, 0, 'e'},      {"threads", 1, 0, 't'}, {"one-at-a-time", 0, 0, '1'},
                                       {"output", 1, 0, 'o'},  {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
  const char *index = NULL, *queries = NULL, *output = NULL;
  size_t k = 0, ef = 0, threads = 1;
  int one = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'x': index = optarg; break;
    case 'q': queries = optarg; break;
    case 'o': output = optarg; break;
    case '1': one = 1; break;
    case 'k':
      if (!omega__cli_parse_size("--k", optarg, 1, 10000, &k))
        return OMEGA_EXIT_USAGE;
      break;
    case 'e':
      if (!omega__cli_parse_size("--ef", optarg, 1, 100000, &ef))
        return OMEGA_EXIT_USAGE;
      break;
    case 't':
      if (!omega__cli_parse_size("--threads", optarg, 1, 256, &threads))
        return OMEGA_EXIT_USAGE;
      break;
    case 'h': search_usage(stdout); return OMEGA_EXIT_OK;
    default: search_usage(stderr); return OMEGA_EXIT_USAGE;
    }
  }
  if (!index || !queries || !output || !k || optind != argc) {
    fputs("omega index search: --index, --queries, --k and --output are required\n", stderr);
    search_usage(stderr);
    return OMEGA_EXIT_USAGE;
  }
  omega_collection_t *col;
  int rc = omega_collection_load_file(index, &col);
  if (rc)
    return omega__cli_fail("index search", rc);
  omega_collection_stats_t st;
  omega_collection_stats(col, &st);
  omega_map_t qm;
  size_t nq;
  if ((rc = load_f32(queries, st.params.dim, &qm, &nq))) {
    omega_collection_close(col);
    return rc;
  }
  omega_result_t *res = omega__malloc((nq ? nq : 1) * k * sizeof *res);
  size_t *counts = omega__calloc(nq ? nq : 1, sizeof *counts);
  double *lat = omega__calloc(nq ? nq : 1, sizeof *lat);
  int32_t *ids = omega__malloc((nq ? nq : 1) * k * sizeof *ids);
  int status = OMEGA_EXIT_OK;
  if (!res || !counts || !lat || !ids) {
    fputs("omega index search: out of memory\n", stderr);
    status = OMEGA_EXIT_FAILURE;
    goto out;
  }
  /* structures a first search would build (loading is not searching) */
  if (omega_collection_warm(col) != 0) {
    fprintf(stderr, "omega index search: %s\n", omega_errmsg());
    status = OMEGA_EXIT_FAILURE;
    goto out;
  }
  double t0 = omega__now_ns() / 1e9, wall;
  if (one) {
    /* cppcheck-suppress invalidPointerCast ; the mapped .f32 file is little-endian fp32 rows, page-aligned */
    one_job_t j = {.col = col, .qs = (const float *)qm.data, .dim = st.params.dim, .nq = nq, .k = k, .ef = ef,
                   .res = res, .counts = counts, .lat = lat};
    atomic_init(&j.next, 0);
    atomic_init(&j.rc, 0);
    omega__run_workers(one_worker, &j, threads);
    rc = atomic_load(&j.rc);
  } else {
    omega_search_opts_t o = {.k = k, .ef = ef, .threads = (int)threads};
    /* cppcheck-suppress invalidPointerCast ; the mapped .f32 file is little-endian fp32 rows, page-aligned */
    rc = omega_collection_search(col, (const float *)qm.data, nq, &o, res, counts);
  }
  wall = omega__now_ns() / 1e9 - t0;
  if (rc) {
    status = omega__cli_fail("index search", rc);
    goto out;
  }
  for (size_t i = 0; i < nq; i++)
    for (size_t r = 0; r < k; r++) {
      const omega_result_t *x = &res[i * k + r];
      if (r >= counts[i]) {
        ids[i * k + r] = -1;
        continue;
      }
      if (x->is_str || x->num < INT32_MIN || x->num > INT32_MAX) {
        fprintf(stderr, "omega index search: id of a result does not fit int32 (string or large ids)\n");
        status = OMEGA_EXIT_DATA;
        goto out;
      }
      ids[i * k + r] = (int32_t)x->num;
    }
  FILE *f = omega__cli_open(output, "wb");
  if (!f || fwrite(ids, sizeof *ids, nq * k, f) != nq * k || (f != stdout && fclose(f) != 0)) {
    fprintf(stderr, "omega index search: cannot write %s\n", output);
    status = OMEGA_EXIT_FAILURE;
    goto out;
  }
  fprintf(stderr, "%zu queries, k %zu, %s, %zu threads: %.1f QPS (%.3f s)", nq, k,
          one ? "one at a time" : "one batch", threads, wall > 0 ? (double)nq / wall : 0.0, wall);
  if (one && nq) {
    qsort(lat, nq, sizeof *lat, cmp_d);
    fprintf(stderr, "; latency p50 %.3f ms, p95 %.3f ms, p99 %.3f ms", lat[nq / 2], lat[(size_t)(0.95 * (nq - 1))],
            lat[(size_t)(0.99 * (nq - 1))]);
  } else if (nq) {
    fprintf(stderr, "; %.3f ms per query (all in one call)", wall * 1e3 / (double)nq);
  }
  fputc('\n', stderr);
out:
  omega__free(res);
  omega__free(counts);
  omega__free(lat);
  omega__free(ids);
  omega__unmap_file(&qm);
  omega_collection_close(col);
  return status;
}

static int cmd_stats(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "--index") != 0) {
    FILE *f = argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
    fputs("usage: omega index stats --index PATH\n", f);
    return f == stdout ? OMEGA_EXIT_OK : OMEGA_EXIT_USAGE;
  }
  omega_collection_t *col;
  int rc = omega_collection_load_file(argv[2], &col);
  if (rc)
    return omega__cli_fail("index stats", rc);
  omega_collection_stats_t st;
  omega_collection_stats(col, &st);
  struct stat sb;
  stat(argv[2], &sb);
  printf("index:       %s\n"
         "kind:        %s\n"
         "metric:      %s\n"
         "dimension:   %zu\n"
         "vectors:     %zu\n"
         "deleted:     %zu\n",
         argv[2], omega_index_kind_name(st.params.kind), omega_metric_name(st.params.metric), st.params.dim, st.count,
         st.deleted);
  if (st.params.kind == OMEGA_INDEX_HNSW)
    printf("hnsw:        M %zu, ef_construction %zu, ef_search %zu\n", st.params.m, st.params.ef_construction,
           st.params.ef_search);
  printf("memory:      %.1f MB\n"
         "file:        %.1f MB\n",
         (double)st.bytes / 1048576.0, (double)sb.st_size / 1048576.0);
  omega_collection_close(col);
  return OMEGA_EXIT_OK;
}

int omega__cmd_index(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(int, char **);
  } cmds[] = {{"build", cmd_build}, {"search", cmd_search}, {"stats", cmd_stats}};
  for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++) {
    if (strcmp(argv[1], cmds[i].name) != 0)
      continue;
    omega_settings_t set; /* for OMEGA_SIMD and OMEGA_CPU_ISA */
    int rc = omega__cli_settings("index", NULL, &set);
    return rc ? rc : cmds[i].run(argc - 1, argv + 1);
  }
  FILE *f = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) ? stdout : stderr;
  fputs("usage: omega index build|search|stats [options]   (each takes --help)\n", f);
  return f == stdout ? OMEGA_EXIT_OK : OMEGA_EXIT_USAGE;
}

/* The GPU flat index (CUDA plugin) on synthetic data: upload time, batch QPS and
 * one-query latency for fp32 and fp16 storage, recall@k against exact double-precision
 * search on a sample of queries. Writes the data for the peer (bench/gpu/flat_torch.py).
 *   bench_gpu_flat --n 1000000 --dim 384 --nq 10000 --k 10 [--metric ip|l2]
 *                  [--plugin PATH] [--write-data DIR] [--truth-n 20] [--out FILE.json] */
#include "backend/gpu/gpu.h"
#include "bench_common.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 12345;
static float randn(void) { /* Box-Muller on xorshift */
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  double u = ((rs >> 11) + 0.5) / 9007199254740992.0;
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  double v = ((rs >> 11) + 0.5) / 9007199254740992.0;
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static void write_file(const char *dir, const char *name, const void *p, size_t bytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, bytes, f) != bytes) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"n", 1, 0, 'n'},      {"dim", 1, 0, 'd'},    {"nq", 1, 0, 'q'},
                                       {"k", 1, 0, 'k'},      {"metric", 1, 0, 'm'}, {"plugin", 1, 0, 'p'},
                                       {"write-data", 1, 0, 'w'}, {"out", 1, 0, 'o'}, {"truth-n", 1, 0, 't'},
                                       {0, 0, 0, 0}};
  bench_cpu_caps_from_env();
  size_t truth_n = 20;
  size_t n = 1000000, nq = 10000;
  int dim = 384, k = 10, metric = 1;
  const char *plugin = NULL, *wdir = NULL, *out = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'n': n = (size_t)atol(optarg); break;
    case 'd': dim = atoi(optarg); break;
    case 'q': nq = (size_t)atol(optarg); break;
    case 'k': k = atoi(optarg); break;
    case 'm': metric = strcmp(optarg, "l2") == 0 ? 0 : 1; break;
    case 'p': plugin = optarg; break;
    case 'w': wdir = optarg; break;
    case 'o': out = optarg; break;
    case 't': truth_n = (size_t)atol(optarg); break;
    default: fprintf(stderr, "see the header of bench/bench_gpu_flat.c\n"); return 2;
    }
  }
  const ocu_api_t *api;
  char why[512];
  if (omega__cuda_load(plugin, &api, why, sizeof why)) {
    fprintf(stderr, "bench_gpu_flat: no GPU: %s\n", why);
    return 77;
  }
  const size_t d = (size_t)dim;
  float *x = malloc(n * d * sizeof *x), *q = malloc(nq * d * sizeof *q);
  /* clustered unit vectors (cosine data as embedding models make it) */
  const size_t nc = 1000;
  float *cent = malloc(nc * d * sizeof *cent);
  for (size_t i = 0; i < nc * d; i++)
    cent[i] = randn();
  for (size_t i = 0; i < n + nq; i++) {
    float *v = i < n ? x + i * d : q + (i - n) * d;
    const float *ce = cent + (size_t)(rs % nc) * d;
    double ss = 0;
    for (size_t j = 0; j < d; j++) {
      v[j] = ce[j] + 0.8f * randn();
      ss += (double)v[j] * v[j];
    }
    for (size_t j = 0; j < d; j++)
      v[j] = (float)(v[j] / sqrt(ss));
  }
  if (wdir) {
    write_file(wdir, "base.f32", x, n * d * 4);
    write_file(wdir, "queries.f32", q, nq * d * 4);
  }
  /* exact reference for a sample of queries */
  const size_t ns = nq < truth_n ? nq : truth_n;
  int64_t *truth = malloc(ns * (size_t)k * sizeof *truth);
  for (size_t qi = 0; qi < ns; qi++) {
    double *best = malloc((size_t)k * sizeof *best);
    int64_t *bi = truth + qi * (size_t)k;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
      double s = 0;
      for (size_t j = 0; j < d; j++) {
        const double a = q[qi * d + j], b = x[i * d + j];
        s += metric == 0 ? (a - b) * (a - b) : -a * b;
      }
      int at = have;
      while (at > 0 && s < best[at - 1])
        at--;
      if (at >= k)
        continue;
      if (have < k)
        have++;
      for (int j = have - 1; j > at; j--) {
        best[j] = best[j - 1];
        bi[j] = bi[j - 1];
      }
      best[at] = s;
      bi[at] = (int64_t)i;
    }
    free(best);
  }
  FILE *js = out ? fopen(out, "w") : stdout;
  ocu_device_t dev;
  api->device_info(0, &dev, why, sizeof why);
  fprintf(js, "{\"engine\": \"omega-gpu-flat\", \"gpu\": \"%s\", \"n\": %zu, \"dim\": %d, \"nq\": %zu, \"k\": %d, "
              "\"metric\": \"%s\", \"runs\": [",
          dev.name, n, dim, nq, k, metric ? "ip" : "l2");
  float *sc = malloc(nq * (size_t)k * sizeof *sc);
  int64_t *pos = malloc(nq * (size_t)k * sizeof *pos);
  for (int fp16 = 0; fp16 < 2; fp16++) {
    void *f;
    char err[256];
    if (api->flat_create(0, dim, metric, fp16, &f, err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    double t0 = bench_now();
    if (api->flat_add(f, x, n, err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    const double add_s = bench_now() - t0;
    api->flat_search(f, q, 64, k, NULL, sc, pos, err, sizeof err); /* warm-up */
    double best_qps = 0;
    for (int r = 0; r < 3; r++) {
      t0 = bench_now();
      if (api->flat_search(f, q, nq, k, NULL, sc, pos, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
      }
      const double qps = (double)nq / (bench_now() - t0);
      best_qps = qps > best_qps ? qps : best_qps;
    }
    size_t hit = 0;
    for (size_t qi = 0; qi < ns; qi++)
      for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++)
          hit += pos[qi * (size_t)k + (size_t)a] == truth[qi * (size_t)k + (size_t)b];
    const double recall = (double)hit / (double)(ns * (size_t)k);
    const size_t n1 = 200;
    double *lat = malloc(n1 * sizeof *lat);
    for (size_t i = 0; i < n1; i++) {
      t0 = bench_now();
      api->flat_search(f, q + (i % nq) * d, 1, k, NULL, sc, pos, err, sizeof err);
      lat[i] = (bench_now() - t0) * 1e3;
    }
    const double p50 = bench_percentile(lat, n1, 50), p99 = bench_percentile(lat, n1, 99);
    free(lat);
    printf("omega gpu flat %s: upload %.2f s, batch %.0f QPS, recall@%d %.4f, 1 query p50 %.3f ms p99 %.3f ms, "
           "%.0f MB\n",
           fp16 ? "fp16" : "fp32", add_s, best_qps, k, recall, p50, p99, (double)api->flat_bytes(f) / 1048576.0);
    fprintf(js, "%s{\"storage\": \"%s\", \"upload_s\": %.3f, \"qps\": %.1f, \"recall\": %.5f, \"p50_ms\": %.4f, "
                "\"p99_ms\": %.4f, \"bytes\": %zu}",
            fp16 ? ", " : "", fp16 ? "fp16" : "fp32", add_s, best_qps, recall, p50, p99, api->flat_bytes(f));
    api->flat_destroy(f);
  }
  fprintf(js, "]}\n");
  if (out)
    fclose(js);
  if (wdir) {
    write_file(wdir, "truth.i64", truth, ns * (size_t)k * sizeof *truth);
  }
  return 0;
}

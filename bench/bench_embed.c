/* Embedding throughput and latency of the Omega engine, shaped like the peers' harness
 * (../shared/bench/peers/bench_ort.mjs): corpus lines in file order, batches of B sentences
 * (one forward pass each), repeated; single-sentence latency percentiles; peak RSS.
 *   bench_embed --model DIR --corpus FILE [--batches 32,128] [--latency-n 300] [--repeats 3]
 *               [--limit N] [--threads 2] [--out FILE.json]
 *               [--accel cpu|gpu|auto] [--dtype bf16|fp16|fp32|tf32] [--slots S]
 *               [--precision auto|fp32|bf16|bf16x3|int8]  the CPU backend's precision (EMBED_CPU_PRECISION)
 *               [--whole]            the corpus as one request, batched by the engine at B
 *                                    (length-sorted, S batches in flight: how the server runs)
 *               [--load-fraction F]  also: single-sentence requests arriving at F x the peak
 *                                    rate of the largest batch (open loop), latency p50/p95/p99
 *               [--target-ms T]      the latency target of the open-loop run (ACCEL_TARGET_LAT_MS)
 *               [--peak R]           the open loop's peak rate (sentences/s) instead of the measured one,
 *                                    so runs that differ in a setting see the same load (--batches "")
 *               [--graph-tokens N]   EMBED_CUDA_GRAPH_TOKENS (default 256; 0: no CUDA graphs)
 *               [--pairs]            a cross-encoder's workload: corpus lines 2k and 2k+1 are one pair
 *                                    (query, passage); rates and latencies are per pair */
#include "bench_common.h"
#include "omega/omega.h"

#include <getopt.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static omega_accel_mode_t accel = OMEGA_ACCEL_CPU;
static omega_gpu_dtype_t dtype = OMEGA_GPU_DTYPE_AUTO;
static omega_cpu_precision_t cpu_precision = OMEGA_CPU_FP32;
static unsigned slots = 2, target_ms = 100, graph_tokens = 256;

static int bad_choice(const char *what, const char *value, const char *choices) {
  fprintf(stderr, "bench_embed: %s \"%s\" is not %s\n", what, value, choices);
  return 1;
}

/* k items: texts a[0..k) alone, or the pairs (a[i], b[i]) when b is not NULL */
static int run_items(omega_engine_t *e, const omega_text_t *a, const omega_text_t *b, size_t k, float *out) {
  if (!b)
    return omega_engine_embed(e, a, k, 0, out);
  const omega_request_t req = {.texts = a, .texts_b = b, .n = k};
  omega_job_t *job;
  int rc = omega_engine_submit_request(e, &req, NULL, NULL, &job);
  if (rc)
    return rc;
  if ((rc = omega_job_wait(job)) == 0) {
    size_t rows, dim;
    const float *v = omega_job_embeddings(job, &rows, &dim);
    memcpy(out, v, rows * dim * sizeof *out);
  }
  omega_job_release(job);
  return rc;
}

static omega_engine_t *open_engine(const char *model, int threads, size_t batch) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = threads;
  o.accel.mode = accel;
  o.accel.dtype = dtype;
  o.cpu_precision = cpu_precision;
  o.tuning.gpu_slots = slots;
  o.tuning.max_batch = batch;
  o.tuning.max_batch_tokens = batch * 1024;
  o.tuning.adaptive = 0;
  o.tuning.cuda_graph_tokens = graph_tokens;
  omega_engine_t *e;
  if (omega_engine_open(model, &o, &e)) {
    fprintf(stderr, "bench_embed: %s\n", omega_errmsg());
    exit(1);
  }
  return e;
}

/* Open-loop load: single-sentence requests at a fixed rate for ~3 s (at most 30000), latency from
 * submission to completion callback (queueing included). */
typedef struct {
  double *lat;
  double t_submit;
  size_t i;
} ol_req_t;
static pthread_mutex_t ol_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t ol_done;
static void ol_cb(omega_job_t *j, void *user) {
  ol_req_t *r = user;
  r->lat[r->i] = (bench_now() - r->t_submit) * 1e3;
  pthread_mutex_lock(&ol_mu);
  ol_done++;
  pthread_mutex_unlock(&ol_mu);
}

/* What the open loop's batches looked like: sizes and run times. */
typedef struct {
  pthread_mutex_t mu;
  double *run_ms;
  size_t n, cap, seqs, tokens;
} ol_batches_t;
static void ol_observe(const omega_batch_info_t *b, void *user) {
  ol_batches_t *o = user;
  pthread_mutex_lock(&o->mu);
  if (o->n < o->cap)
    o->run_ms[o->n] = b->infer_ms;
  o->n++;
  o->seqs += b->n_seq;
  o->tokens += b->tokens;
  pthread_mutex_unlock(&o->mu);
}

static void open_loop(const char *model, int threads, const omega_text_t *texts, size_t n, double rate, FILE *js) {
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = threads;
  o.accel.mode = accel;
  o.accel.dtype = dtype;
  o.cpu_precision = cpu_precision;
  o.tuning.gpu_slots = slots;
  o.tuning.max_batch = 128;
  o.tuning.queue_capacity = 0;
  o.tuning.target_latency_ms = target_ms;
  o.tuning.cuda_graph_tokens = graph_tokens;
  omega_engine_t *e;
  if (omega_engine_open(model, &o, &e)) {
    fprintf(stderr, "bench_embed: %s\n", omega_errmsg());
    exit(1);
  }
  size_t total = (size_t)(rate * 3.0);
  total = total < 200 ? 200 : total > 30000 ? 30000 : total;
  ol_batches_t bo = {PTHREAD_MUTEX_INITIALIZER, calloc(total, sizeof(double)), 0, total, 0, 0};
  omega_engine_set_observer(e, ol_observe, &bo);
  double *lat = calloc(total, sizeof *lat);
  ol_req_t *reqs = calloc(total, sizeof *reqs);
  ol_done = 0;
  const double t0 = bench_now();
  for (size_t i = 0; i < total; i++) {
    const double due = t0 + (double)i / rate;
    double now;
    while ((now = bench_now()) < due)
      if (due - now > 2e-4) {
        struct timespec ts = {0, (long)((due - now) * 0.5e9)};
        nanosleep(&ts, NULL);
      }
    reqs[i] = (ol_req_t){lat, bench_now(), i};
    if (omega_engine_submit(e, &texts[i % n], 1, 0, ol_cb, &reqs[i], NULL)) {
      fprintf(stderr, "bench_embed: %s\n", omega_errmsg());
      exit(1);
    }
  }
  for (;;) {
    pthread_mutex_lock(&ol_mu);
    size_t d = ol_done;
    pthread_mutex_unlock(&ol_mu);
    if (d == total)
      break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  const double achieved = (double)total / (bench_now() - t0);
  omega_engine_stats_t st;
  omega_engine_stats(e, &st);
  omega_engine_accel_t acc;
  omega_engine_accel(e, &acc);
  omega_engine_close(e);
  /* the p95 over all requests, and over all but the first second (start-up transients) */
  const size_t skip = (size_t)rate < total ? (size_t)rate : 0;
  const double p50 = bench_percentile(lat, total, 50), p95 = bench_percentile(lat, total, 95),
               p99 = bench_percentile(lat, total, 99), p95_late = bench_percentile(lat + skip, total - skip, 95);
  const size_t nb = bo.n < bo.cap ? bo.n : bo.cap;
  const double run_p50 = nb ? bench_percentile(bo.run_ms, nb, 50) : 0, run_p95 = nb ? bench_percentile(bo.run_ms, nb, 95) : 0;
  printf("  open loop at %.0f req/s (achieved %.0f, target %u ms): p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (%zu requests); "
         "after the first second p95 %.2f ms\n",
         rate, achieved, target_ms, p50, p95, p99, total, p95_late);
  printf("    %zu batches of %.1f sequences / %.0f tokens on average, run p50 %.2f ms p95 %.2f ms; ceiling %zu "
         "(%llu up, %llu down); graphs %llu captured, %llu replays; %llu buffer growths\n",
         bo.n, bo.n ? (double)bo.seqs / (double)bo.n : 0, bo.n ? (double)bo.tokens / (double)bo.n : 0, run_p50, run_p95,
         st.batch_ceiling, st.ceiling_up, st.ceiling_down, acc.graph_captures, acc.graph_replays, acc.buffer_growths);
  if (js)
    fprintf(js, "}, \"open_loop\": {\"rate\": %.1f, \"achieved\": %.1f, \"target_ms\": %u, \"p50_ms\": %.3f, "
                "\"p95_ms\": %.3f, \"p99_ms\": %.3f, \"n\": %zu, \"p95_after_1s_ms\": %.3f, \"batches\": %zu, "
                "\"mean_batch_seqs\": %.2f, \"run_p50_ms\": %.3f, \"run_p95_ms\": %.3f, \"ceiling\": %zu, "
                "\"graph_tokens\": %u, \"graph_captures\": %llu, \"graph_replays\": %llu, \"buffer_growths\": %llu",
            rate, achieved, target_ms, p50, p95, p99, total, p95_late, bo.n,
            bo.n ? (double)bo.seqs / (double)bo.n : 0, run_p50, run_p95, st.batch_ceiling, graph_tokens,
            acc.graph_captures, acc.graph_replays, acc.buffer_growths);
  free(bo.run_ms);
  free(lat);
  free(reqs);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"model", 1, 0, 'm'},     {"corpus", 1, 0, 'c'}, {"batches", 1, 0, 'b'},
                                       {"latency-n", 1, 0, 'l'}, {"repeats", 1, 0, 'r'}, {"limit", 1, 0, 'n'},
                                       {"threads", 1, 0, 't'},   {"out", 1, 0, 'o'},     {"accel", 1, 0, 'a'},
                                       {"dtype", 1, 0, 'd'},     {"slots", 1, 0, 's'},   {"whole", 0, 0, 'w'},
                                       {"load-fraction", 1, 0, 'f'}, {"target-ms", 1, 0, 'T'},
                                       {"precision", 1, 0, 'p'}, {"peak", 1, 0, 'P'},
                                       {"graph-tokens", 1, 0, 'g'}, {"pairs", 0, 0, 'x'},
                                       {0, 0, 0, 0}};
  bench_cpu_caps_from_env();
  int whole = 0, pairs = 0;
  double load_fraction = 0, given_peak = 0;
  const char *model = NULL, *corpus = NULL, *batches = "32,128", *out = NULL;
  int lat_n = 300, repeats = 3, threads = 2;
  size_t limit = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'm': model = optarg; break;
    case 'c': corpus = optarg; break;
    case 'b': batches = optarg; break;
    case 'l': lat_n = atoi(optarg); break;
    case 'r': repeats = atoi(optarg); break;
    case 'n': limit = (size_t)atol(optarg); break;
    case 't': threads = atoi(optarg); break;
    case 'o': out = optarg; break;
    case 'a':
      if (omega_accel_mode_parse(optarg, &accel))
        return bad_choice("accelerator mode", optarg, "auto, gpu or cpu");
      break;
    case 'd':
      if (omega_gpu_dtype_parse(optarg, &dtype))
        return bad_choice("GPU dtype", optarg, "bf16, fp16, fp32 or tf32");
      break;
    case 's': slots = (unsigned)atoi(optarg); break;
    case 'w': whole = 1; break;
    case 'f': load_fraction = atof(optarg); break;
    case 'T': target_ms = (unsigned)atoi(optarg); break;
    case 'p':
      if (omega_cpu_precision_parse(optarg, &cpu_precision))
        return bad_choice("CPU precision", optarg, "auto, fp32, bf16, bf16x3 or int8");
      break;
    case 'P': given_peak = atof(optarg); break;
    case 'g': graph_tokens = (unsigned)atoi(optarg); break;
    case 'x': pairs = 1; break;
    default: fprintf(stderr, "see the header of bench/bench_embed.c\n"); return 2;
    }
  }
  if (!model || !corpus || repeats < 1) {
    fprintf(stderr, "usage: bench_embed --model DIR --corpus FILE [--batches 32,128] [--latency-n 300] "
                    "[--repeats 3] [--limit N] [--threads 2] [--out FILE.json]\n");
    return 2;
  }
  char *buf;
  char **lines;
  size_t *lens;
  size_t n_lines = bench_read_lines(corpus, 0, &buf, &lines, &lens);
  const size_t n_all = pairs ? n_lines / 2 : n_lines; /* items: sentences, or pairs */
  size_t n = limit && limit < n_all ? limit : n_all;
  omega_text_t *texts = malloc(n_all * sizeof *texts), *texts_b = pairs ? malloc(n_all * sizeof *texts_b) : NULL;
  for (size_t i = 0; i < n_all; i++) {
    const size_t l = pairs ? 2 * i : i;
    texts[i] = (omega_text_t){lines[l], lens[l]};
    if (pairs)
      texts_b[i] = (omega_text_t){lines[l + 1], lens[l + 1]};
  }
  if (pairs && load_fraction > 0) {
    fprintf(stderr, "bench_embed: --load-fraction measures single sentences, not --pairs\n");
    return 2;
  }

  FILE *js = out ? fopen(out, "w") : NULL;
  if (out && !js) {
    perror(out);
    return 1;
  }
  omega_engine_info_t info;
  omega_engine_accel_t acc;
  {
    omega_engine_t *e = open_engine(model, threads, 1);
    omega_engine_info(e, &info);
    omega_engine_accel(e, &acc);
    omega_engine_close(e);
  }
  const char *precision = strcmp(acc.device, "gpu") == 0 ? acc.dtype : info.cpu_precision;
  float *emb = malloc(n_all * (size_t)info.dim * sizeof *emb);
  printf("omega %s %s %s: hidden %d x %d layers, %d threads, %zu sentences%s%s\n", acc.device, precision, model,
         info.hidden_size, info.num_layers, threads, n, acc.gpu_name[0] ? ", " : "", acc.gpu_name);
  if (js)
    fprintf(js,
            "{\"engine\": \"omega\", \"device\": \"%s\", \"gpu\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
            "\"sentences\": %zu, \"pairs\": %d, \"whole\": %d, \"graph_tokens\": %u, \"throughput\": {",
            acc.device, acc.gpu_name, precision, threads, n, pairs, whole, graph_tokens);
  double peak = 0;
  int first = 1;
  for (const char *p = batches; *p;) {
    size_t B = (size_t)strtoul(p, (char **)&p, 10);
    if (*p == ',')
      p++;
    if (!B)
      continue;
    omega_engine_t *e = open_engine(model, threads, B);
    run_items(e, texts, texts_b, B < n ? B : n, emb); /* warm-up */
    if (whole)
      run_items(e, texts, texts_b, n, emb);
    double *rates = malloc((size_t)repeats * sizeof *rates);
    for (int r = 0; r < repeats; r++) {
      double t0 = bench_now();
      for (size_t i = 0; i < n && whole; i = n)
        if (run_items(e, texts, texts_b, n, emb)) {
          fprintf(stderr, "bench_embed: %s\n", omega_errmsg());
          return 1;
        }
      for (size_t i = 0; i < n && !whole; i += B) {
        size_t k = i + B <= n ? B : n - i;
        if (run_items(e, texts + i, texts_b ? texts_b + i : NULL, k, emb + i * (size_t)info.dim)) {
          fprintf(stderr, "bench_embed: %s\n", omega_errmsg());
          return 1;
        }
      }
      rates[r] = (double)n / (bench_now() - t0);
    }
    omega_engine_close(e);
    double mn = rates[0], mx = rates[0];
    for (int r = 1; r < repeats; r++) {
      mn = rates[r] < mn ? rates[r] : mn;
      mx = rates[r] > mx ? rates[r] : mx;
    }
    double med = bench_median(rates, (size_t)repeats);
    peak = med > peak ? med : peak;
    printf("  batch %4zu: %8.1f %s/s [%.1f-%.1f]\n", B, med, pairs ? "pairs" : "sentences", mn, mx);
    if (js)
      fprintf(js, "%s\"%zu\": {\"sent_per_s\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f}}", first ? "" : ", ", B,
              med, mn, mx);
    first = 0;
    free(rates);
  }
  if (lat_n > 0) {
    omega_engine_t *e = open_engine(model, threads, 1);
    size_t m = (size_t)lat_n < n_all ? (size_t)lat_n : n_all;
    double *lat = malloc(m * sizeof *lat), *p50 = malloc((size_t)repeats * sizeof *p50),
           *p95 = malloc((size_t)repeats * sizeof *p95);
    run_items(e, texts, texts_b, 1, emb);
    for (int r = 0; r < repeats; r++) {
      for (size_t i = 0; i < m; i++) {
        double t0 = bench_now();
        run_items(e, texts + i, texts_b ? texts_b + i : NULL, 1, emb);
        lat[i] = (bench_now() - t0) * 1e3;
      }
      p95[r] = bench_percentile(lat, m, 95);
      p50[r] = bench_percentile(lat, m, 50);
    }
    omega_engine_close(e);
    double a = bench_median(p50, (size_t)repeats), b = bench_median(p95, (size_t)repeats);
    printf("  1 sentence: p50 %.2f ms, p95 %.2f ms (%zu requests)\n", a, b, m);
    if (js)
      fprintf(js, "}, \"latency\": {\"p50_ms\": {\"median\": %.3f}, \"p95_ms\": {\"median\": %.3f}, \"n\": %zu", a, b, m);
    free(lat);
    free(p50);
    free(p95);
  }
  if (given_peak > 0)
    peak = given_peak;
  if (load_fraction > 0 && peak > 0)
    open_loop(model, threads, texts, n, peak * load_fraction, js);
  long rss = bench_peak_rss_kb();
  printf("  peak RSS %.1f MB\n", (double)rss / 1024.0);
  if (js) {
    fprintf(js, "}, \"peak_rss_mb\": %.1f}\n", (double)rss / 1024.0);
    fclose(js);
  }
  free(emb);
  free(texts);
  free(texts_b);
  free(lines);
  free(lens);
  free(buf);
  return 0;
}

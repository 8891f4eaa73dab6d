/* omega rerank: score passages against a query with a cross-encoder, best first. */
#include "cli/cli.h"
#include "config/library_opts.h"
#include "core/alloc.h"
#include "omega/omega.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: omega rerank --model DIR --query TEXT [--input FILE|-] [--top-k N] [--raw-scores]\n"
        "                    [--return-text] [--no-truncate] [--threads N] [--accel auto|gpu|cpu]\n"
        "                    [--precision P] [--set KEY=VALUE]...\n"
        "\n"
        "Scores each input line (a passage) against the query with a cross-encoder\n"
        "(a *ForSequenceClassification model with one label) and writes one JSON line per passage,\n"
        "best first: {\"index\": i, \"score\": s} (i counts input lines from 0), as TEI's /rerank.\n"
        "\n"
        "  --model DIR      the cross-encoder folder\n"
        "  --query TEXT     the query, the pair's first text\n"
        "  --input FILE     passages, one per line (default - = stdin)\n"
        "  --top-k N        only the N best\n"
        "  --raw-scores     the head's logits instead of its activation (sigmoid for CrossEncoder)\n"
        "  --return-text    add \"text\": the passage\n"
        "  --no-truncate    fail (exit 3) on a pair longer than the model's max_seq_length instead of\n"
        "                   cutting it (longest_first, as sentence-transformers' CrossEncoder does)\n"
        "  --precision P    CPU precision (EMBED_CPU_PRECISION): auto (default: the fastest within\n"
        "                   EMBED_CPU_AUTO_MIN_COSINE of fp32), fp32, bf16, bf16x3, int8\n"
        "Cross-encoders run on the CPU (the GPU backend declines them for now).\n",
        f);
}

typedef struct {
  size_t index;
  float score;
} ranked_t;

static int by_score(const void *a, const void *b) {
  const ranked_t *x = a, *y = b;
  if (x->score != y->score)
    return x->score < y->score ? 1 : -1;
  return x->index < y->index ? -1 : x->index > y->index;
}

int omega__cmd_rerank(int argc, char **argv) {
  static const struct option opts[] = {{"model", required_argument, 0, 'm'},  {"query", required_argument, 0, 'q'},
                                       {"input", required_argument, 0, 'i'},  {"top-k", required_argument, 0, 'k'},
                                       {"raw-scores", no_argument, 0, 'r'},   {"return-text", no_argument, 0, 't'},
                                       {"no-truncate", no_argument, 0, 'n'},  {"threads", required_argument, 0, 'T'},
                                       {"set", required_argument, 0, 's'},    {"help", no_argument, 0, 'h'},
                                       {"accel", required_argument, 0, 'a'},  {"precision", required_argument, 0, 'P'},
                                       {0, 0, 0, 0}};
  const char *model = NULL, *query = NULL, *in_path = "-";
  size_t top_k = 0;
  bool raw = false, with_text = false, ok = true;
  unsigned flags = 0;
  omega_cli_pairs_t pairs = {0};
  int c;
  optind = 1;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'm':
      model = optarg;
      break;
    case 'q':
      query = optarg;
      break;
    case 'i':
      in_path = optarg;
      break;
    case 'k':
      ok = omega__cli_parse_size("--top-k", optarg, 1, (size_t)1 << 30, &top_k);
      break;
    case 'r':
      raw = true;
      break;
    case 't':
      with_text = true;
      break;
    case 'n':
      flags |= OMEGA_EMBED_NO_TRUNCATE;
      break;
    case 'T':
      ok = omega__cli_pairs_add(&pairs, "rerank", "EMBED_THREADS", optarg);
      break;
    case 's':
      ok = omega__cli_pairs_add(&pairs, "rerank", NULL, optarg);
      break;
    case 'a':
      ok = omega__cli_pairs_add(&pairs, "rerank", "OMEGA_ACCEL", optarg);
      break;
    case 'P':
      ok = omega__cli_pairs_add(&pairs, "rerank", "EMBED_CPU_PRECISION", optarg);
      break;
    case 'h':
      usage(stdout);
      omega__cli_pairs_free(&pairs);
      return OMEGA_EXIT_OK;
    default:
      usage(stderr);
      ok = false;
    }
  }
  if (ok && (!model || !query || optind != argc)) {
    fputs(!model ? "omega rerank: --model is required\n" : !query ? "omega rerank: --query is required\n"
                                                                   : "omega rerank: unexpected argument\n",
          stderr);
    usage(stderr);
    ok = false;
  }
  omega_settings_t set;
  const int invalid = ok ? omega__cli_settings("rerank", &pairs, &set) : OMEGA_EXIT_USAGE;
  omega__cli_pairs_free(&pairs);
  if (invalid)
    return invalid;
  omega_engine_opts_t eo;
  omega__config_engine_opts(&set, &set, &eo);
  eo.tuning.queue_capacity = 0;
  omega_engine_t *eng;
  int rc = omega_engine_open(model, &eo, &eng);
  if (rc)
    return omega__cli_fail(model, rc);
  omega_engine_info_t info;
  omega_engine_info(eng, &info);
  if (!info.classifier || info.dim != 1) {
    fprintf(stderr, "omega rerank: %s is %s, not a cross-encoder with one score per pair\n", model,
            info.classifier ? "a classifier with several labels" : "an embedding model");
    omega_engine_close(eng);
    return OMEGA_EXIT_USAGE;
  }
  FILE *in = omega__cli_open(in_path, "r");
  char *line = NULL, **texts = NULL;
  size_t cap = 0, n = 0, tcap = 0, *lens = NULL;
  long len;
  int status = in ? OMEGA_EXIT_OK : OMEGA_EXIT_FAILURE;
  while (status == OMEGA_EXIT_OK && (len = omega__cli_getline(in, &line, &cap)) >= 0) {
    if (n == tcap) {
      size_t nc = tcap ? 2 * tcap : 64;
      char **nt = omega__realloc(texts, nc * sizeof *nt);
      size_t *nl = nt ? omega__realloc(lens, nc * sizeof *nl) : NULL;
      if (nt)
        texts = nt;
      if (!nl) {
        status = OMEGA_EXIT_FAILURE;
        break;
      }
      lens = nl;
      tcap = nc;
    }
    if (!(texts[n] = omega__malloc((size_t)len + 1))) {
      status = OMEGA_EXIT_FAILURE;
      break;
    }
    memcpy(texts[n], line, (size_t)len); /* the line may hold a NUL: only len bytes are the text */
    texts[n][len] = '\0';
    lens[n] = (size_t)len;
    n++;
  }
  omega_text_t *a = omega__calloc(n ? n : 1, sizeof *a), *b = omega__calloc(n ? n : 1, sizeof *b);
  ranked_t *rank = omega__calloc(n ? n : 1, sizeof *rank);
  if (!a || !b || !rank)
    status = OMEGA_EXIT_FAILURE;
  for (size_t i = 0; status == OMEGA_EXIT_OK && i < n; i++) {
    a[i] = (omega_text_t){query, strlen(query)};
    b[i] = (omega_text_t){texts[i], lens[i]};
  }
  omega_job_t *job = NULL;
  if (status == OMEGA_EXIT_OK && n) {
    const omega_request_t req = {.texts = a, .texts_b = b, .n = n, .flags = flags};
    if ((rc = omega_engine_submit_request(eng, &req, NULL, NULL, &job)))
      status = omega__cli_fail("rerank", rc);
    else if ((rc = omega_job_wait(job)))
      status = omega__cli_fail_detail("rerank", rc, omega_job_errmsg(job));
  }
  if (status == OMEGA_EXIT_OK && n) {
    size_t rows, dim;
    const float *logits = omega_job_embeddings(job, &rows, &dim);
    for (size_t i = 0; i < n; i++)
      rank[i] = (ranked_t){i, logits[i]};
    if (!raw)
      for (size_t i = 0; i < n; i++)
        omega_engine_activate(eng, &rank[i].score, 1);
    qsort(rank, n, sizeof *rank, by_score);
    const size_t shown = top_k && top_k < n ? top_k : n;
    for (size_t i = 0; i < shown; i++) {
      printf("{\"index\": %zu, \"score\": %.9g", rank[i].index, (double)rank[i].score);
      if (with_text) {
        fputs(", \"text\": ", stdout);
        omega__cli_json_str(stdout, texts[rank[i].index], lens[rank[i].index]);
      }
      fputs("}\n", stdout);
    }
  }
  if (job)
    omega_job_release(job);
  if (status == OMEGA_EXIT_OK && fflush(stdout) != 0)
    status = OMEGA_EXIT_FAILURE;
  for (size_t i = 0; i < n; i++)
    omega__free(texts[i]);
  omega__free(texts);
  omega__free(lens);
  omega__free(a);
  omega__free(b);
  omega__free(rank);
  free(line);
  if (in && in != stdin)
    fclose(in);
  omega_engine_close(eng);
  return status;
}

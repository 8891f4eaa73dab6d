#include "cli/cli.h"
#include "config/library_opts.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "omega/omega.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(f, "usage: omega embed --model DIR [--input FILE|-] [--output FILE|-] [--format jsonl|f32]\n"
             "                   [--batch N] [--threads N] [--no-truncate] [--utf8-replace] [--progress|--quiet]\n"
             "                   [--accel auto|gpu|cpu] [--dtype auto|bf16|fp16|fp32|tf32] [--precision P]\n"
             "                   [--pooling P] [--prompt-name NAME | --prompt TEXT] [--config FILE]\n"
             "                   [--set KEY=VALUE]...\n"
             "\n"
             "Embeds each input line with the model and writes one row per line, in input order.\n"
             "\n"
             "  --model DIR        a sentence-transformers / HuggingFace model folder\n"
             "  --input FILE       text, one input per line (default - = stdin)\n"
             "  --output FILE      default - = stdout\n"
             "  --format jsonl     one JSON array of floats per line (default)\n"
             "  --format f32       little-endian float32, row-major, no header: lines x dim floats\n"
             "  --batch N          sequences per forward pass (EMBED_MAX_BATCH, default %s)\n"
             "  --threads N        CPU threads (EMBED_THREADS, default %s; 0: all online CPUs)\n"
             "  --accel MODE       OMEGA_ACCEL: auto, the GPU when usable (default); gpu: fail without one;\n"
             "                     cpu: never touch CUDA\n"
             "  --dtype T          GPU precision (EMBED_GPU_DTYPE, default auto = bf16 on sm_80+)\n"
             "  --precision P      CPU precision (EMBED_CPU_PRECISION): auto (default: the fastest within\n"
             "                     EMBED_CPU_AUTO_MIN_COSINE of fp32), fp32, bf16, bf16x3, int8\n"
             "  --pooling P        instead of the folder's pooling (EMBED_POOLING): cls, mean, max,\n"
             "                     mean_sqrt_len, weightedmean, lasttoken, or several joined by +\n"
             "  --prompt-name NAME one of the model's prompts (config_sentence_transformers.json, e.g.\n"
             "                     query) in front of every line; default: the model's default_prompt_name\n"
             "  --prompt TEXT      this text in front of every line instead\n"
             "  --config FILE      KEY=VALUE settings file (OMEGA_CONFIG_FILE)\n"
             "  --set KEY=VALUE    any setting (see `omega config`), e.g. OMEGA_CPU_ISA=avx2\n"
             "  --no-truncate      fail (exit 3) on a line longer than the model's max_seq_length\n"
             "                     instead of truncating it as sentence-transformers does\n"
             "  --utf8-replace     replace invalid UTF-8 with U+FFFD instead of failing (exit 3)\n"
             "  --progress         progress on stderr (default when stderr is a terminal)\n"
             "  --quiet            no progress\n"
             "\n"
             "Settings come from, lowest first: defaults, OMEGA_PROFILE, the config file, the environment\n"
             "and the options above; an invalid one stops the command (exit 1).\n"
             "Lines are split on \\n only (\\r belongs to the line); every line, empty ones too, gives one\n"
             "output row.\n",
             omega__config_find("EMBED_MAX_BATCH", NULL)->def, omega__config_find("EMBED_THREADS", NULL)->def);
}

typedef struct {
  char *buf; /* all lines of a chunk, back to back */
  size_t len, cap;
  size_t *off; /* line i is buf[off[i] .. off[i+1]) */
  size_t n, line_cap;
  omega_text_t *texts;
  omega_job_t *job;
  size_t first_line; /* 1-based number of the chunk's first line */
} chunk_t;

static void chunk_free(chunk_t *c) {
  omega__free(c->buf);
  omega__free(c->off);
  omega__free(c->texts);
  if (c->job)
    omega_job_release(c->job);
}

/* Read up to max lines into c; returns -1 on allocation failure, else the count. */
static long read_chunk(FILE *in, chunk_t *c, size_t max, char **line, size_t *lcap) {
  c->len = 0;
  c->n = 0;
  if (!c->off && !(c->off = omega__malloc((max + 1) * sizeof *c->off)))
    return -1;
  if (!c->texts && !(c->texts = omega__malloc(max * sizeof *c->texts)))
    return -1;
  c->off[0] = 0;
  long n;
  while (c->n < max && (n = omega__cli_getline(in, line, lcap)) >= 0) {
    if (c->len + (size_t)n > c->cap) {
      size_t nc = c->cap ? c->cap * 2 : 65536;
      while (nc < c->len + (size_t)n)
        nc *= 2;
      char *nb = omega__realloc(c->buf, nc);
      if (!nb)
        return -1;
      c->buf = nb;
      c->cap = nc;
    }
    if (n) /* empty lines before any text: c->buf may still be NULL */
      memcpy(c->buf + c->len, *line, (size_t)n);
    c->len += (size_t)n;
    c->off[++c->n] = c->len;
  }
  for (size_t i = 0; i < c->n; i++)
    c->texts[i] = (omega_text_t){c->buf + c->off[i], c->off[i + 1] - c->off[i]};
  return (long)c->n;
}

static int write_rows(FILE *out, int f32, const float *v, size_t n, size_t dim) {
  if (f32)
    return fwrite(v, sizeof *v, n * dim, out) == n * dim ? 0 : -1;
  for (size_t i = 0; i < n; i++) {
    fputc('[', out);
    for (size_t k = 0; k < dim; k++)
      fprintf(out, k ? ",%.9g" : "%.9g", (double)v[i * dim + k]);
    fputs("]\n", out);
  }
  return ferror(out) ? -1 : 0;
}

/* Exit code and message for a chunk whose submission failed. */
static int submit_error(const chunk_t *c, int rc) {
  size_t idx;
  char what[64];
  /* The engine names the failing input by its index in the submitted chunk. */
  if (sscanf(omega_errmsg(), "input %zu", &idx) == 1) {
    snprintf(what, sizeof what, "input line %zu", c->first_line + idx);
    const char *rest = strchr(omega_errmsg(), ':');
    fprintf(stderr, "omega: %s%s\n", what, rest ? rest : "");
    return rc == OMEGA_EUTF8 || rc == OMEGA_ERANGE ? OMEGA_EXIT_DATA : OMEGA_EXIT_FAILURE;
  }
  return omega__cli_fail("embed", rc);
}

/* A numeric option checked against its setting's bounds here, so a bad one is a usage error
 * (exit 2) like the other options'. */
static bool numeric_pair(omega_cli_pairs_t *p, const char *opt, const char *setting, const char *arg) {
  const omega_cfg_def_t *d = omega__config_find(setting, NULL);
  size_t v;
  return omega__cli_parse_size(opt, arg, (size_t)d->min, (size_t)d->max, &v) &&
         omega__cli_pairs_add(p, "embed", setting, arg);
}

int omega__cmd_embed(int argc, char **argv) {
  static const struct option opts[] = {{"model", required_argument, 0, 'm'},    {"input", required_argument, 0, 'i'},
                                       {"output", required_argument, 0, 'o'},   {"format", required_argument, 0, 'f'},
                                       {"batch", required_argument, 0, 'b'},    {"threads", required_argument, 0, 't'},
                                       {"no-truncate", no_argument, 0, 'n'},    {"utf8-replace", no_argument, 0, 'r'},
                                       {"progress", no_argument, 0, 'p'},       {"quiet", no_argument, 0, 'q'},
                                       {"accel", required_argument, 0, 'a'},    {"dtype", required_argument, 0, 'd'},
                                       {"precision", required_argument, 0, 'P'}, {"config", required_argument, 0, 'c'},
                                       {"set", required_argument, 0, 's'},      {"help", no_argument, 0, 'h'},
                                       {"prompt-name", required_argument, 0, 'N'},
                                       {"prompt", required_argument, 0, 'T'},
                                       {"pooling", required_argument, 0, 'O'},
                                       {0, 0, 0, 0}};
  const char *model = NULL, *in_path = "-", *out_path = "-", *prompt = NULL, *prompt_name = NULL;
  int f32 = 0, progress = isatty(2);
  omega_cli_pairs_t pairs = {0};
  unsigned flags = 0;
  int c;
  bool ok = true;
  optind = 1;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'm':
      model = optarg;
      break;
    case 'i':
      in_path = optarg;
      break;
    case 'o':
      out_path = optarg;
      break;
    case 'f':
      if (strcmp(optarg, "f32") == 0)
        f32 = 1;
      else if (strcmp(optarg, "jsonl") != 0) {
        fprintf(stderr, "omega embed: --format must be jsonl or f32, got \"%s\"\n", optarg);
        ok = false;
      }
      break;
    case 'b':
      ok = numeric_pair(&pairs, "--batch", "EMBED_MAX_BATCH", optarg);
      break;
    case 't':
      ok = numeric_pair(&pairs, "--threads", "EMBED_THREADS", optarg);
      break;
    case 'n':
      flags |= OMEGA_EMBED_NO_TRUNCATE;
      break;
    case 'r':
      flags |= OMEGA_TOK_UTF8_REPLACE;
      break;
    case 'p':
      progress = 1;
      break;
    case 'q':
      progress = 0;
      break;
    case 'a':
      ok = omega__cli_pairs_add(&pairs, "embed", "OMEGA_ACCEL", optarg);
      break;
    case 'd':
      ok = omega__cli_pairs_add(&pairs, "embed", "EMBED_GPU_DTYPE", optarg);
      break;
    case 'P':
      ok = omega__cli_pairs_add(&pairs, "embed", "EMBED_CPU_PRECISION", optarg);
      break;
    case 'c':
      ok = omega__cli_pairs_add(&pairs, "embed", "OMEGA_CONFIG_FILE", optarg);
      break;
    case 's':
      ok = omega__cli_pairs_add(&pairs, "embed", NULL, optarg);
      break;
    case 'N':
      prompt_name = optarg;
      break;
    case 'T':
      prompt = optarg;
      break;
    case 'O':
      ok = omega__cli_pairs_add(&pairs, "embed", "EMBED_POOLING", optarg);
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
  if (ok && (!model || optind != argc)) {
    fputs(model ? "omega embed: unexpected argument\n" : "omega embed: --model is required\n", stderr);
    usage(stderr);
    ok = false;
  }
  omega_settings_t set;
  const int invalid = ok ? omega__cli_settings("embed", &pairs, &set) : OMEGA_EXIT_USAGE;
  omega__cli_pairs_free(&pairs);
  if (invalid)
    return invalid;
  omega_engine_opts_t eo;
  omega__config_engine_opts(&set, &set, &eo);
  eo.tuning.queue_capacity = 0; /* unbounded: the two chunks in flight below bound it */
  const size_t batch = eo.tuning.max_batch;
  omega_engine_t *eng;
  int rc = omega_engine_open(model, &eo, &eng);
  if (rc)
    return omega__cli_fail(model, rc);
  FILE *in = omega__cli_open(in_path, "r"), *out = in ? omega__cli_open(out_path, f32 ? "wb" : "w") : NULL;
  if (!in || !out) {
    if (in && in != stdin)
      fclose(in);
    omega_engine_close(eng);
    return OMEGA_EXIT_FAILURE;
  }

  /* Two chunks in flight: the engine embeds one while this thread reads and tokenizes the next. */
  const size_t chunk_lines = batch * 16 > 1024 ? batch * 16 : 1024;
  chunk_t ch[2] = {{0}};
  char *line = NULL;
  size_t lcap = 0, done = 0, next_line = 1;
  int status = OMEGA_EXIT_OK, cur = 0;
  double t0 = omega__now_ns() / 1e9, last = t0;
  for (;;) {
    chunk_t *k = &ch[cur];
    long n = read_chunk(in, k, chunk_lines, &line, &lcap);
    if (n < 0) {
      fputs("omega embed: out of memory\n", stderr);
      status = OMEGA_EXIT_FAILURE;
      break;
    }
    k->first_line = next_line;
    next_line += (size_t)n;
    if (n > 0) {
      if (k->job) {
        omega_job_release(k->job);
        k->job = NULL;
      }
      const omega_request_t req = {
          .texts = k->texts, .n = k->n, .flags = flags, .prompt = prompt, .prompt_name = prompt_name};
      rc = omega_engine_submit_request(eng, &req, NULL, NULL, &k->job);
      if (rc) {
        status = submit_error(k, rc);
        break;
      }
    }
    /* Finish the previous chunk while this one runs. */
    chunk_t *p = &ch[cur ^ 1];
    if (p->job) {
      size_t rows, dim;
      if ((rc = omega_job_wait(p->job))) {
        status = omega__cli_fail_detail("embed", rc, omega_job_errmsg(p->job));
        break;
      }
      const float *v = omega_job_embeddings(p->job, &rows, &dim);
      if (write_rows(out, f32, v, rows, dim)) {
        fprintf(stderr, "omega embed: write error on %s\n", out_path);
        status = OMEGA_EXIT_FAILURE;
        break;
      }
      done += rows;
      omega_job_release(p->job);
      p->job = NULL;
      double t = omega__now_ns() / 1e9;
      if (progress && t - last > 0.5) {
        fprintf(stderr, "\romega embed: %zu lines, %.1f lines/s", done, (double)done / (t - t0));
        last = t;
      }
    }
    if (n == 0)
      break;
    cur ^= 1;
  }
  if (status == OMEGA_EXIT_OK && ferror(in)) {
    fprintf(stderr, "omega embed: read error on %s\n", in_path);
    status = OMEGA_EXIT_FAILURE;
  }
  if (fflush(out) != 0 && status == OMEGA_EXIT_OK) {
    fprintf(stderr, "omega embed: write error on %s\n", out_path);
    status = OMEGA_EXIT_FAILURE;
  }
  if (progress) {
    double t = omega__now_ns() / 1e9 - t0;
    fprintf(stderr, "\romega embed: %zu lines in %.2f s (%.1f lines/s)\n", done, t, t > 0 ? (double)done / t : 0.0);
  }
  /* Jobs still in flight after an error finish inside omega_engine_close. */
  omega_engine_close(eng);
  chunk_free(&ch[0]);
  chunk_free(&ch[1]);
  free(line); /* libc: getdelim's buffer */
  if (in != stdin)
    fclose(in);
  if (out != stdout && fclose(out) != 0 && status == OMEGA_EXIT_OK)
    status = OMEGA_EXIT_FAILURE;
  return status;
}

#include "cli/cli.h"
#include "core/alloc.h"
#include "omega/omega.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: omega tokenize --tokenizer PATH [--max-length N] [--lowercase|--cased] [--utf8-replace]\n"
        "\n"
        "Reads text from stdin and writes one line of space-separated token ids per input line,\n"
        "special tokens ([CLS] ... [SEP]) included, exactly as HuggingFace tokenizers does.\n"
        "\n"
        "  --tokenizer PATH   a tokenizer.json, a vocab.txt, or a model folder\n"
        "  --max-length N     truncate to N ids (specials included); 0 = no truncation.\n"
        "                     Default: the model's max_seq_length for a model folder, else 0\n"
        "  --lowercase        vocab.txt only: lowercase and strip accents (uncased models)\n"
        "  --cased            vocab.txt only: keep case and accents\n"
        "                     (default for vocab.txt: tokenizer_config.json's do_lower_case, else lowercase)\n"
        "  --utf8-replace     replace invalid UTF-8 with U+FFFD instead of failing (exit 3)\n"
        "\n"
        "Lines are split on \\n only (\\r belongs to the line); every line, empty ones too, gives one\n"
        "output line.\n",
        f);
}

int omega__cmd_tokenize(int argc, char **argv) {
  static const struct option opts[] = {{"tokenizer", required_argument, 0, 't'},
                                       {"max-length", required_argument, 0, 'm'},
                                       {"lowercase", no_argument, 0, 'l'},
                                       {"cased", no_argument, 0, 'c'},
                                       {"utf8-replace", no_argument, 0, 'r'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *path = NULL;
  size_t max_len = 0;
  bool have_max = false;
  unsigned flags = 0;
  omega_tokenizer_opts_t topts = {OMEGA_CASE_AUTO};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 't':
      path = optarg;
      break;
    case 'm':
      if (!omega__cli_parse_size("--max-length", optarg, 0, 1u << 20, &max_len))
        return OMEGA_EXIT_USAGE;
      have_max = true;
      break;
    case 'l':
      topts.vocab_case = OMEGA_CASE_LOWER;
      break;
    case 'c':
      topts.vocab_case = OMEGA_CASE_CASED;
      break;
    case 'r':
      flags |= OMEGA_TOK_UTF8_REPLACE;
      break;
    case 'h':
      usage(stdout);
      return OMEGA_EXIT_OK;
    default:
      usage(stderr);
      return OMEGA_EXIT_USAGE;
    }
  }
  if (!path || optind != argc) {
    fputs(path ? "omega tokenize: unexpected argument\n" : "omega tokenize: --tokenizer is required\n", stderr);
    usage(stderr);
    return OMEGA_EXIT_USAGE;
  }
  int rc;
  if (!have_max && (rc = omega__cli_default_max_len(path, &max_len)))
    return omega__cli_fail(path, rc);
  omega_tokenizer_t *tok;
  if ((rc = omega_tokenizer_load(path, &topts, &tok)))
    return omega__cli_fail("loading tokenizer", rc);

  char *line = NULL;
  size_t cap = 0, ids_cap = 256, lineno = 0;
  int32_t *ids = omega__malloc(ids_cap * sizeof *ids);
  int status = ids ? OMEGA_EXIT_OK : OMEGA_EXIT_FAILURE;
  long n;
  while (status == OMEGA_EXIT_OK && (n = omega__cli_getline(stdin, &line, &cap)) >= 0) {
    lineno++;
    size_t got;
    rc = omega_tokenizer_encode(tok, line, (size_t)n, max_len, flags, ids, ids_cap, &got);
    if (rc == OMEGA_ERANGE) {
      int32_t *nid = omega__realloc(ids, got * sizeof *ids);
      if (!nid) {
        status = OMEGA_EXIT_FAILURE;
        break;
      }
      ids = nid;
      ids_cap = got;
      rc = omega_tokenizer_encode(tok, line, (size_t)n, max_len, flags, ids, ids_cap, &got);
    }
    if (rc) {
      char what[64];
      snprintf(what, sizeof what, "stdin line %zu", lineno);
      status = omega__cli_fail(what, rc);
      if (rc == OMEGA_EUTF8)
        fputs("omega: hint: pass --utf8-replace to replace invalid bytes with U+FFFD\n", stderr);
      break;
    }
    for (size_t i = 0; i < got; i++)
      fprintf(stdout, i ? " %d" : "%d", ids[i]);
    fputc('\n', stdout);
  }
  if (status == OMEGA_EXIT_OK && (ferror(stdin) || fflush(stdout) != 0)) {
    fputs("omega tokenize: I/O error\n", stderr);
    status = OMEGA_EXIT_FAILURE;
  }
  free(line); /* libc: getdelim's buffer */
  omega__free(ids);
  omega_tokenizer_free(tok);
  return status;
}

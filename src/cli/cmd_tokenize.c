#include "cli/cli.h"
#include "core/alloc.h"
#include "omega/omega.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: omega tokenize --tokenizer PATH [--max-length N] [--pairs [--truncation S]]\n"
        "                      [--lowercase|--cased] [--utf8-replace]\n"
        "\n"
        "Reads text from stdin and writes one line of space-separated token ids per input line,\n"
        "special tokens ([CLS] ... [SEP], <s> ... </s>, ...) included, exactly as HuggingFace\n"
        "tokenizers does, for every tokenizer.json it can load (WordPiece, BPE, Unigram).\n"
        "\n"
        "  --tokenizer PATH   a tokenizer.json, a vocab.txt, or a model folder\n"
        "  --max-length N     truncate to N ids (specials included); 0 = no truncation.\n"
        "                     Default: the model's max_seq_length for a model folder, else 0\n"
        "  --pairs            read lines in pairs (line 2k-1 is text A, line 2k text B, as a\n"
        "                     cross-encoder sees a query and a passage) and write one line of ids\n"
        "                     per pair; an odd last line is an error (exit 2)\n"
        "  --truncation S     how a pair is cut to --max-length: longest_first (default),\n"
        "                     only_first or only_second\n"
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
                                       {"pairs", no_argument, 0, 'p'},
                                       {"truncation", required_argument, 0, 'T'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *path = NULL;
  size_t max_len = 0;
  bool have_max = false;
  unsigned flags = 0;
  bool pairs = false;
  omega_truncation_t how = OMEGA_TRUNCATE_LONGEST_FIRST;
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
    case 'p':
      pairs = true;
      break;
    case 'T':
      if (strcmp(optarg, "longest_first") == 0)
        how = OMEGA_TRUNCATE_LONGEST_FIRST;
      else if (strcmp(optarg, "only_first") == 0)
        how = OMEGA_TRUNCATE_ONLY_FIRST;
      else if (strcmp(optarg, "only_second") == 0)
        how = OMEGA_TRUNCATE_ONLY_SECOND;
      else {
        fprintf(stderr, "omega tokenize: --truncation must be longest_first, only_first or only_second, not \"%s\"\n",
                optarg);
        return OMEGA_EXIT_USAGE;
      }
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

  char *line = NULL, *first = NULL;
  size_t cap = 0, first_len = 0, ids_cap = 256, lineno = 0;
  int32_t *ids = omega__malloc(ids_cap * sizeof *ids);
  int status = ids ? OMEGA_EXIT_OK : OMEGA_EXIT_FAILURE;
  long n;
  while (status == OMEGA_EXIT_OK && (n = omega__cli_getline(stdin, &line, &cap)) >= 0) {
    lineno++;
    if (pairs && lineno % 2) { /* text A: keep it until B arrives */
      omega__free(first);
      first = omega__malloc((size_t)n + 1);
      if (!first) {
        status = OMEGA_EXIT_FAILURE;
        break;
      }
      memcpy(first, line, (size_t)n);
      first_len = (size_t)n;
      continue;
    }
    size_t got;
    for (int attempt = 0; attempt < 2; attempt++) {
      rc = pairs ? omega_tokenizer_encode_pair(tok, first, first_len, line, (size_t)n, max_len, how, flags, ids,
                                               NULL, ids_cap, &got)
                 : omega_tokenizer_encode(tok, line, (size_t)n, max_len, flags, ids, ids_cap, &got);
      if (rc != OMEGA_ERANGE || got <= ids_cap)
        break;
      int32_t *nid = omega__realloc(ids, got * sizeof *ids);
      if (!nid) {
        rc = OMEGA_ENOMEM;
        break;
      }
      ids = nid;
      ids_cap = got;
    }
    if (rc) {
      char what[64];
      if (pairs)
        snprintf(what, sizeof what, "stdin pair %zu (lines %zu-%zu)", lineno / 2, lineno - 1, lineno);
      else
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
  if (status == OMEGA_EXIT_OK && pairs && lineno % 2) {
    fprintf(stderr, "omega tokenize: --pairs needs an even number of lines; line %zu has no partner\n", lineno);
    status = OMEGA_EXIT_USAGE;
  }
  if (status == OMEGA_EXIT_OK && (ferror(stdin) || fflush(stdout) != 0)) {
    fputs("omega tokenize: I/O error\n", stderr);
    status = OMEGA_EXIT_FAILURE;
  }
  free(line); /* libc: getdelim's buffer */
  omega__free(first);
  omega__free(ids);
  omega_tokenizer_free(tok);
  return status;
}

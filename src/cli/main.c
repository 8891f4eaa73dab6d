#include "cli/cli.h"
#include "omega/version.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: omega <command> [options]\n"
        "\n"
        "Commands:\n"
        "  serve       the HTTP server (TEI and OpenAI embeddings, metrics, health, HMAC /invoke)\n"
        "  embed       embed text lines with a model folder (jsonl or float32 output)\n"
        "  rerank      score passages against a query with a cross-encoder, best first\n"
        "  tokenize    print token ids of text lines, exactly as HuggingFace tokenizers\n"
        "  model info  describe a model folder\n"
        "  index       build, search and describe vector indices (flat, HNSW)\n"
        "  config      print every setting and its effective value (--markdown: the README table)\n"
        "  version     print the version\n"
        "\n"
        "Run `omega <command> --help` for the options of a command.\n"
        "\n"
        "Exit codes: 0 success, 1 runtime failure (model, file, resources), 2 usage error,\n"
        "3 invalid input data (e.g. a line that is not UTF-8).\n",
        f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return OMEGA_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "tokenize") == 0)
    return omega__cmd_tokenize(argc - 1, argv + 1);
  if (strcmp(cmd, "embed") == 0)
    return omega__cmd_embed(argc - 1, argv + 1);
  if (strcmp(cmd, "model") == 0)
    return omega__cmd_model(argc - 1, argv + 1);
  if (strcmp(cmd, "serve") == 0)
    return omega__cmd_serve(argc - 1, argv + 1);
  if (strcmp(cmd, "index") == 0)
    return omega__cmd_index(argc - 1, argv + 1);
  if (strcmp(cmd, "rerank") == 0)
    return omega__cmd_rerank(argc - 1, argv + 1);
  if (strcmp(cmd, "config") == 0)
    return omega__cmd_config(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("omega %s\n", omega_version());
    return OMEGA_EXIT_OK;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return OMEGA_EXIT_OK;
  }
  fprintf(stderr, "omega: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return OMEGA_EXIT_USAGE;
}

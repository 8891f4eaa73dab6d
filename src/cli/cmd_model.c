#include "cli/cli.h"
#include "omega/omega.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: omega model info --model DIR [--threads N]\n"
        "\n"
        "Loads the model folder (config.json, model.safetensors, tokenizer, sentence-transformers\n"
        "modules), validating every tensor, and prints its architecture, dimensions, maximum\n"
        "sequence length, weight dtype and pooling.\n",
        f);
}

int omega__cmd_model(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "info") != 0) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
      usage(stdout);
      return OMEGA_EXIT_OK;
    }
    fputs("omega model: expected the subcommand \"info\"\n", stderr);
    usage(stderr);
    return OMEGA_EXIT_USAGE;
  }
  static const struct option opts[] = {
      {"model", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *dir = NULL;
  size_t threads = 1;
  int c;
  optind = 1;
  while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
    switch (c) {
    case 'm':
      dir = optarg;
      break;
    case 't':
      if (!omega__cli_parse_size("--threads", optarg, 1, 1024, &threads))
        return OMEGA_EXIT_USAGE;
      break;
    case 'h':
      usage(stdout);
      return OMEGA_EXIT_OK;
    default:
      usage(stderr);
      return OMEGA_EXIT_USAGE;
    }
  }
  if (!dir || optind != argc - 1) {
    fputs(dir ? "omega model info: unexpected argument\n" : "omega model info: --model is required\n", stderr);
    usage(stderr);
    return OMEGA_EXIT_USAGE;
  }
  omega_engine_opts_t o;
  omega_engine_opts_init(&o);
  o.threads = (int)threads;
  o.accel.mode = OMEGA_ACCEL_CPU; /* describing a model needs no GPU */
  omega_engine_t *e;
  int rc = omega_engine_open(dir, &o, &e);
  if (rc)
    return omega__cli_fail(dir, rc);
  omega_engine_info_t i;
  omega_engine_info(e, &i);
  printf("model:               %s\n"
         "architecture:        %s\n"
         "hidden size:         %d\n"
         "layers:              %d\n"
         "attention heads:     %d\n"
         "intermediate size:   %d\n"
         "activation:          %s\n"
         "vocabulary:          %d (tokenizer %zu ids)\n"
         "max positions:       %d\n"
         "max sequence length: %d\n"
         "weights dtype:       %s\n"
         "parameters:          %zu\n"
         "pooling:             %s\n"
         "normalize:           %s\n"
         "embedding dimension: %d\n",
         i.model_dir, i.architecture, i.hidden_size, i.num_layers, i.num_heads, i.intermediate_size, i.activation,
         i.vocab_size, omega_tokenizer_vocab_size(omega_engine_tokenizer(e)), i.max_position_embeddings,
         i.max_seq_length, i.weight_dtype, i.n_params, i.pooling, i.normalize ? "yes" : "no", i.dim);
  omega_engine_close(e);
  return OMEGA_EXIT_OK;
}

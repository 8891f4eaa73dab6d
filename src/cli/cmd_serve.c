#include "cli/cli.h"
#include "config/config.h"
#include "config/library_opts.h"
#include "omega/error.h"
#include "server/server.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: omega serve --model DIR [--host H] [--port P] [--unix-socket PATH] [--config FILE]\n"
        "                   [--profile NAME] [--set KEY=VALUE]...\n"
        "\n"
        "Serves the model over HTTP: POST /embed (TEI), POST /v1/embeddings (OpenAI), POST /tokenize,\n"
        "POST /invoke (HMAC), GET /info, /health, /ready, /accel/health, /metrics, GET|PUT /accel/config.\n"
        "\n"
        "  --model DIR         model folder (OMEGA_MODEL)\n"
        "  --host H            listen address (OMEGA_HOST, default 127.0.0.1)\n"
        "  --port P            TCP port (OMEGA_PORT, default 8080; 0 picks a free one)\n"
        "  --unix-socket PATH  also listen on a Unix socket (OMEGA_UNIX_SOCKET)\n"
        "  --config FILE       KEY=VALUE settings file, watched for changes (OMEGA_CONFIG_FILE)\n"
        "  --profile NAME      HIGH_THROUGHPUT, LOW_LATENCY, MEMORY_CONSTRAINED or HIGH_AVAILABILITY\n"
        "  --set KEY=VALUE     any setting (see `omega config`)\n"
        "\n"
        "Settings come from, lowest first: defaults, the profile, the config file, the environment,\n"
        "the command line, and runtime changes (PUT /accel/config). SIGHUP or an edit of the config\n"
        "file reloads it; SIGTERM drains in-flight requests and exits 0.\n",
        f);
}

int omega__cmd_serve(int argc, char **argv) {
  static const struct option opts[] = {{"model", 1, 0, 'm'},  {"host", 1, 0, 'H'},    {"port", 1, 0, 'p'},
                                       {"unix-socket", 1, 0, 'u'}, {"config", 1, 0, 'c'}, {"profile", 1, 0, 'P'},
                                       {"set", 1, 0, 's'},    {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
  omega_cli_pairs_t pairs = {0};
  int c, status = OMEGA_EXIT_USAGE;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    const char *key = NULL;
    switch (c) {
    case 'm': key = "OMEGA_MODEL"; break;
    case 'H': key = "OMEGA_HOST"; break;
    case 'p': key = "OMEGA_PORT"; break;
    case 'u': key = "OMEGA_UNIX_SOCKET"; break;
    case 'c': key = "OMEGA_CONFIG_FILE"; break;
    case 'P': key = "OMEGA_PROFILE"; break;
    case 's': break;
    case 'h':
      usage(stdout);
      status = OMEGA_EXIT_OK;
      goto out;
    default:
      usage(stderr);
      goto out;
    }
    if (!omega__cli_pairs_add(&pairs, "serve", key, optarg))
      goto out;
  }
  if (optind != argc) {
    fputs("omega serve: unexpected argument\n", stderr);
    usage(stderr);
    goto out;
  }
  /* before any thread exists, so every thread inherits the mask and only sigwait sees them */
  omega__server_block_signals();
  omega_config_t *cfg;
  omega_settings_t boot;
  int rc = omega__config_create((const char *const *)pairs.v, pairs.n, &cfg);
  if (rc == 0) {
    omega__config_get(cfg, &boot);
    if ((rc = omega__config_force_cpu(&boot))) /* before the engine or a collection runs a kernel */
      omega__config_free(cfg);
  }
  if (rc) {
    fprintf(stderr, "omega serve: %s\n", omega_errmsg());
    status = OMEGA_EXIT_USAGE;
    goto out;
  }
  status = omega__server_run(cfg) == 0 ? OMEGA_EXIT_OK : OMEGA_EXIT_FAILURE;
  omega__config_free(cfg);
out:
  omega__cli_pairs_free(&pairs);
  return status;
}

int omega__cmd_config(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--markdown") == 0) {
    char *md;
    size_t len;
    omega__config_markdown(&md, &len);
    fwrite(md, 1, len, stdout);
    free(md); /* libc: open_memstream's buffer */
    return OMEGA_EXIT_OK;
  }
  if (argc >= 2) {
    fputs("usage: omega config [--markdown]\n"
          "\n"
          "Prints every setting with its effective value (from the defaults, OMEGA_PROFILE,\n"
          "OMEGA_CONFIG_FILE and the environment) and where it came from; --markdown prints the\n"
          "settings table of the README.\n",
          strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return strcmp(argv[1], "--help") == 0 ? OMEGA_EXIT_OK : OMEGA_EXIT_USAGE;
  }
  omega_config_t *cfg;
  if (omega__config_create(NULL, 0, &cfg)) {
    fprintf(stderr, "omega config: %s\n", omega_errmsg());
    return OMEGA_EXIT_USAGE;
  }
  for (size_t i = 0; i < omega__cfg_count; i++) {
    char v[1100];
    omega_cfg_source_t src;
    omega__config_value(cfg, i, true, v, sizeof v, &src);
    printf("%s=%s\t# %s%s\n", omega__cfg_table[i].name, v, omega__config_source_name(src),
           (omega__cfg_table[i].flags & OMEGA_CFG_HOT) ? "" : ", restart-only");
  }
  omega__config_free(cfg);
  return OMEGA_EXIT_OK;
}

/* Single-threaded tokenizer throughput: every line of a corpus encoded (no truncation),
 * repeated; tokens/s and lines/s, the median of the repeats.
 *   bench_tokenize TOKENIZER CORPUS [REPEATS] */
#include "bench_common.h"
#include "omega/omega.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_tokenize TOKENIZER CORPUS [REPEATS]\n");
    return 2;
  }
  int repeats = argc > 3 ? atoi(argv[3]) : 5;
  omega_tokenizer_t *tok;
  if (omega_tokenizer_load(argv[1], NULL, &tok)) {
    fprintf(stderr, "bench_tokenize: %s\n", omega_errmsg());
    return 1;
  }
  char *buf;
  char **lines;
  size_t *lens;
  size_t n = bench_read_lines(argv[2], 0, &buf, &lines, &lens);
  int32_t *ids = malloc(65536 * sizeof *ids);
  double *rates = malloc((size_t)repeats * sizeof *rates);
  size_t tokens = 0;
  for (int r = -1; r < repeats; r++) { /* r = -1 warms up */
    tokens = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
      size_t k;
      if (omega_tokenizer_encode(tok, lines[i], lens[i], 0, OMEGA_TOK_UTF8_REPLACE, ids, 65536, &k)) {
        fprintf(stderr, "bench_tokenize: line %zu: %s\n", i + 1, omega_errmsg());
        return 1;
      }
      tokens += k;
    }
    if (r >= 0)
      rates[r] = (double)tokens / (bench_now() - t0);
  }
  double med = bench_median(rates, (size_t)repeats);
  printf("{\"engine\": \"omega\", \"lines\": %zu, \"tokens\": %zu, \"tokens_per_s\": %.0f, \"lines_per_s\": %.0f}\n", n,
         tokens, med, med * (double)n / (double)tokens);
  free(rates);
  free(ids);
  free(lines);
  free(lens);
  free(buf);
  omega_tokenizer_free(tok);
  return 0;
}

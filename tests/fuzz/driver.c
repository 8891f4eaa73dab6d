/* A libFuzzer-compatible driver for builds without libFuzzer (gcc, CI): replays every
 * file of a seed corpus, then runs deterministic mutations of them (bit flips, byte
 * edits, insertions, deletions, splices, truncations). Under ASan/UBSan this is a quick
 * smoke fuzz; `-DOMEGA_FUZZ=ON` with clang builds real libFuzzer binaries instead.
 *   fuzz_x CORPUS_DIR [ITERATIONS] [SEED] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state;
static uint64_t next(void) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

typedef struct {
  uint8_t *d;
  size_t n;
} buf_t;

static const uint8_t interesting[] = {0x00, 0xFF, 0x7F, 0x80, '"', '\\', '{', '}', '[', ']', ',', ':', '-', '0',
                                      '9',  'e',  0xC3, 0xE2, 0xF0, 0xED, ' ', '\n'};

static size_t mutate(uint8_t *d, size_t n, size_t cap, const buf_t *corpus, size_t nc) {
  int rounds = 1 + (int)(next() % 4);
  for (int r = 0; r < rounds; r++) {
    size_t pos = n ? next() % n : 0;
    switch (next() % 7) {
    case 0: /* bit flip */
      if (n)
        d[pos] ^= (uint8_t)(1u << (next() % 8));
      break;
    case 1: /* interesting byte */
      if (n)
        d[pos] = interesting[next() % sizeof interesting];
      break;
    case 2: /* insert */
      if (n < cap) {
        memmove(d + pos + 1, d + pos, n - pos);
        d[pos] = (uint8_t)next();
        n++;
      }
      break;
    case 3: /* delete a run */
      if (n) {
        size_t k = 1 + next() % 8;
        if (k > n - pos)
          k = n - pos;
        memmove(d + pos, d + pos + k, n - pos - k);
        n -= k;
      }
      break;
    case 4: /* truncate */
      n = pos;
      break;
    case 5: /* splice a chunk of another seed */
      if (nc) {
        const buf_t *o = &corpus[next() % nc];
        if (o->n) {
          size_t from = next() % o->n, k = 1 + next() % 64;
          if (k > o->n - from)
            k = o->n - from;
          if (pos + k > cap)
            k = cap - pos;
          memcpy(d + pos, o->d + from, k);
          if (pos + k > n)
            n = pos + k;
        }
      }
      break;
    case 6: /* digits: numbers at boundaries */
      if (n) {
        static const char *const nums[] = {"0", "-1", "4294967296", "9223372036854775807", "1e308", "65536"};
        const char *s = nums[next() % 6];
        size_t k = strlen(s);
        if (pos + k <= cap) {
          memcpy(d + pos, s, k);
          if (pos + k > n)
            n = pos + k;
        }
      }
      break;
    }
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS] [SEED]\n", argv[0]);
    return 2;
  }
  long iters = argc > 2 ? atol(argv[2]) : 2000;
  state = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
  buf_t *corpus = NULL;
  size_t nc = 0;
  DIR *dir = opendir(argv[1]);
  if (!dir) {
    perror(argv[1]);
    return 2;
  }
  struct dirent *de;
  while ((de = readdir(dir))) {
    if (de->d_name[0] == '.')
      continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", argv[1], de->d_name);
    FILE *f = fopen(p, "rb");
    if (!f)
      continue;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    corpus = realloc(corpus, (nc + 1) * sizeof *corpus);
    corpus[nc].d = malloc((size_t)len + 1);
    corpus[nc].n = fread(corpus[nc].d, 1, (size_t)len, f);
    fclose(f);
    LLVMFuzzerTestOneInput(corpus[nc].d, corpus[nc].n);
    nc++;
  }
  closedir(dir);
  size_t cap = 1 << 16;
  uint8_t *work = malloc(cap);
  for (long i = 0; i < iters; i++) {
    size_t n = 0;
    if (nc) {
      const buf_t *s = &corpus[next() % nc];
      n = s->n < cap ? s->n : cap;
      memcpy(work, s->d, n);
    }
    n = mutate(work, n, cap, corpus, nc);
    /* exact-size copy so ASan sees reads past the end */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, work, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
  }
  printf("%s: %zu seeds, %ld mutations, no crash\n", argv[0], nc, iters);
  for (size_t i = 0; i < nc; i++)
    free(corpus[i].d);
  free(corpus);
  free(work);
  return 0;
}

/* A program embedding Omega through its installed public API only (tests/install).
 * usage: embed_one MODEL_DIR TEXT [REFERENCE.f32]
 * Embeds TEXT twice, blocking (omega_engine_embed) and as a submitted job, and checks the two
 * agree, are finite and not zero, and match REFERENCE (one float32 row, e.g. written by
 * `omega embed --format f32`) when given. Prints "dim=N checksum=X"; exits 1 on any failure. */
#include <omega/omega.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int err) {
  fprintf(stderr, "embed_one: %s: %s (%s)\n", what, omega_strerror(err), omega_errmsg());
  return 1;
}

/* The row from REFERENCE, which must hold exactly dim floats. */
static int read_reference(const char *path, float *ref, size_t dim) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 1;
  }
  size_t got = fread(ref, sizeof *ref, dim, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != dim || extra) {
    fprintf(stderr, "embed_one: %s does not hold exactly %zu floats\n", path, dim);
    return 1;
  }
  return 0;
}

static int check(const char *model_dir, const char *text, const char *ref_path) {
  if (strcmp(omega_version(), OMEGA_VERSION_STRING) != 0) {
    fprintf(stderr, "embed_one: library %s, headers %s\n", omega_version(), OMEGA_VERSION_STRING);
    return 1;
  }
  omega_engine_opts_t opts;
  omega_engine_opts_init(&opts);
  opts.threads = 1;
  omega_engine_t *e = NULL;
  int err = omega_engine_open(model_dir, &opts, &e);
  if (err)
    return fail(model_dir, err);
  omega_engine_info_t info;
  omega_engine_info(e, &info);
  size_t dim = (size_t)info.dim;
  float *direct = calloc(dim, sizeof *direct), *ref = calloc(dim, sizeof *ref);
  omega_text_t t = {text, strlen(text)};
  omega_job_t *job = NULL;
  int rc = 1;
  if (!direct || !ref) {
    fprintf(stderr, "embed_one: out of memory\n");
    goto out;
  }
  if ((err = omega_engine_embed(e, &t, 1, 0, direct)) != 0) {
    rc = fail("omega_engine_embed", err);
    goto out;
  }
  if ((err = omega_engine_submit(e, &t, 1, 0, NULL, NULL, &job)) != 0 || (err = omega_job_wait(job)) != 0) {
    rc = fail("omega_engine_submit", err);
    goto out;
  }
  size_t n = 0, jdim = 0;
  const float *queued = omega_job_embeddings(job, &n, &jdim);
  if (n != 1 || jdim != dim) {
    fprintf(stderr, "embed_one: the job gave %zu rows of %zu, expected 1 of %zu\n", n, jdim, dim);
    goto out;
  }
  if (ref_path && read_reference(ref_path, ref, dim))
    goto out;
  double checksum = 0, norm = 0;
  for (size_t i = 0; i < dim; i++) {
    int off_ref = ref_path && fabsf(direct[i] - ref[i]) > 1e-5f;
    if (!isfinite(direct[i]) || fabsf(direct[i] - queued[i]) > 1e-6f || off_ref) {
      fprintf(stderr, "embed_one: value %zu: embed %g, job %g, reference %g\n", i, direct[i], queued[i],
              ref_path ? ref[i] : direct[i]);
      goto out;
    }
    checksum += (double)(i + 1) * direct[i];
    norm += (double)direct[i] * direct[i];
  }
  if (norm == 0) {
    fprintf(stderr, "embed_one: the embedding is all zeros\n");
    goto out;
  }
  printf("dim=%zu checksum=%.6f\n", dim, checksum);
  rc = 0;
out:
  if (job)
    omega_job_release(job);
  free(direct);
  free(ref);
  omega_engine_close(e);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: embed_one MODEL_DIR TEXT [REFERENCE.f32]\n");
    return 2;
  }
  return check(argv[1], argv[2], argc == 4 ? argv[3] : NULL);
}

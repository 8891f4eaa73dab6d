#ifndef OMEGA_CLI_H
#define OMEGA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Documented exit codes (see `omega --help`). */
enum {
  OMEGA_EXIT_OK = 0,
  OMEGA_EXIT_FAILURE = 1, /* runtime failure: model, file, resources */
  OMEGA_EXIT_USAGE = 2,   /* bad command line */
  OMEGA_EXIT_DATA = 3,    /* invalid input data, e.g. a line that is not UTF-8 */
};

int omega_cmd_tokenize(int argc, char **argv);
int omega_cmd_embed(int argc, char **argv);
int omega_cmd_model(int argc, char **argv);
int omega_cmd_serve(int argc, char **argv);
int omega_cmd_config(int argc, char **argv);
int omega_cmd_index(int argc, char **argv);

/* Parse a non-negative integer option value; prints a usage error and returns false. */
bool omega_cli_parse_size(const char *opt, const char *s, size_t min, size_t max, size_t *out);
/* Print "omega: <what>: <error detail>" for a failed library call and return the exit code. */
int omega_cli_fail(const char *what, int rc);
/* The same with the detail given (a failed job's omega_job_errmsg). */
int omega_cli_fail_detail(const char *what, int rc, const char *detail);
/* Read one input line (split on '\n' only; a final '\n' does not start a new line).
 * Returns the length without the '\n', or -1 at end of input. */
long omega_cli_getline(FILE *f, char **buf, size_t *cap);
/* Open "-" as stdin/stdout, else the file. */
FILE *omega_cli_open(const char *path, const char *mode);
/* Max sequence length implied by a tokenizer path: a model folder's max_seq_length, else 0. */
int omega_cli_default_max_len(const char *tokenizer_path, size_t *out);

#endif

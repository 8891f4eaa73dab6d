#ifndef OMEGA_CLI_H
#define OMEGA_CLI_H

#include "config/config.h"

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

int omega__cmd_tokenize(int argc, char **argv);
int omega__cmd_embed(int argc, char **argv);
int omega__cmd_model(int argc, char **argv);
int omega__cmd_serve(int argc, char **argv);
int omega__cmd_config(int argc, char **argv);
int omega__cmd_index(int argc, char **argv);
int omega__cmd_rerank(int argc, char **argv);

/* Parse a non-negative integer option value; prints a usage error and returns false. */
bool omega__cli_parse_size(const char *opt, const char *s, size_t min, size_t max, size_t *out);
/* Print "omega: <what>: <error detail>" for a failed library call and return the exit code. */
int omega__cli_fail(const char *what, int rc);
/* The same with the detail given (a failed job's omega_job_errmsg). */
int omega__cli_fail_detail(const char *what, int rc, const char *detail);
/* Read one input line (split on '\n' only; a final '\n' does not start a new line).
 * Returns the length without the '\n', or -1 at end of input. *buf is getdelim's, from libc's
 * heap: free it with libc's free on a line marked "libc:" (tools/alloc-sweep.sh). */
long omega__cli_getline(FILE *f, char **buf, size_t *cap);
/* Open "-" as stdin/stdout, else the file. */
FILE *omega__cli_open(const char *path, const char *mode);
/* s as a JSON string (quotes, backslashes and control characters escaped; UTF-8 kept). */
void omega__cli_json_str(FILE *f, const char *s, size_t len);
/* Max sequence length implied by a tokenizer path: a model folder's max_seq_length, else 0. */
int omega__cli_default_max_len(const char *tokenizer_path, size_t *out);

/* Settings given on a command line, as KEY=VALUE pairs for omega__config_create. */
typedef struct {
  char **v;
  size_t n;
} omega_cli_pairs_t;
/* Add KEY=VALUE; with key NULL, value is a whole KEY=VALUE (--set). Prints why and returns
 * false when it is not one, or out of memory. */
bool omega__cli_pairs_add(omega_cli_pairs_t *p, const char *cmd, const char *key, const char *value);
void omega__cli_pairs_free(omega_cli_pairs_t *p);
/* The settings from the defaults, the profile, the config file, the environment and pairs
 * (see omega__config_create), with the log level and the CPU kernel caps (OMEGA_CPU_ISA,
 * OMEGA_SIMD) applied: call it before anything runs the kernels. On invalid settings it prints
 * "omega CMD: why" and returns OMEGA_EXIT_FAILURE; else 0. */
int omega__cli_settings(const char *cmd, const omega_cli_pairs_t *pairs, omega_settings_t *out);

#endif

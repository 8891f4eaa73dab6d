/* JSON pieces shared by the vector-search routes: ids, vectors, results, library errors. */
#ifndef OMEGA_SERVER_INDEX_JSON_H
#define OMEGA_SERVER_INDEX_JSON_H

#include "server/server_internal.h"

/* The {name} of /collections/{name}[/...] into out; false (answered 404) when it cannot be
 * a collection's name. */
bool omega__ix_path_name(omega_req_t *r, char *out, size_t cap);
/* The collection, referenced; NULL after answering 404. */
omega_coll_t *omega__ix_get(omega_req_t *r, const char *name);
/* An index library failure as an HTTP answer: 422 invalid input, 507 past the memory
 * limit, 503 out of memory, 500 for I/O and the rest. */
void omega__ix_respond_lib(omega_req_t *r, int rc, const char *what);
/* An id: a JSON integer or a string of 1-256 bytes without NUL (borrowed from v). false:
 * answered 422 naming `what`. */
bool omega__ix_take_id(omega_req_t *r, const json_t *v, omega_id_t *out, const char *what);
/* A JSON array of exactly dim numbers that fit a float32. false: answered 422. */
bool omega__ix_take_vector(omega_req_t *r, const json_t *v, size_t dim, float *out, const char *what);
/* An array of ids (allocated into *out, strings borrowed from v). false: answered. */
bool omega__ix_take_ids(omega_req_t *r, const json_t *v, omega_id_t **out, size_t *n, const char *what);
/* An optional integer field in [min, max]; def when absent or null. false: answered 422. */
bool omega__ix_opt_int(omega_req_t *r, const json_t *doc, const char *key, long long def, long long min, long long max,
                       long long *out);
/* The rows of a finished embedding job: n rows of dim floats. NULL after answering its
 * failure (`what` names the work) or a shape other than asked. */
const float *omega__ix_job_rows(omega_req_t *r, size_t n, size_t dim, const char *what);
/* A result id as JSON: a number or a string. */
void omega__ix_put_id(omega_buf_t *b, const omega_result_t *res);
/* The collection as JSON: parameters and stats. */
void omega__ix_describe(omega_buf_t *b, const omega_coll_t *e, const omega_collection_stats_t *st, size_t memory_limit);

#endif

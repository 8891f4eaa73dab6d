/* The request body as a JSON object: every route that takes a JSON body reads it here, so
 * that its error answers are the same everywhere. */
#include "server/server_internal.h"

#include <jansson.h>

json_t *omega__req_json(omega_req_t *r) {
  json_error_t je;
  json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  if (!doc) {
    omega__respond_error(r, 400, "bad_request", "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return NULL;
  }
  if (!json_is_object(doc)) {
    omega__respond_error(r, 422, "validation", "the request body must be a JSON object");
    json_decref(doc);
    return NULL;
  }
  return doc;
}

/* HTTP/1.x request heads checked by Omega itself, before libmicrohttpd reads them: the
 * framing rules of RFC 9112 that libmicrohttpd 0.9.75 does not enforce (one Content-Length,
 * never with Transfer-Encoding), garbage answered at once instead of waited on, and size
 * limits answered as JSON. A pure function on bytes, so the fuzz suite drives it directly. */
#ifndef OMEGA_SERVER_HTTP_HEAD_H
#define OMEGA_SERVER_HTTP_HEAD_H

#include <stddef.h>

typedef enum {
  OMEGA_HEAD_INCOMPLETE, /* no verdict yet: wait for more bytes */
  OMEGA_HEAD_OK,         /* a whole, well-framed head */
  OMEGA_HEAD_BAD,        /* answer `status` with `message`, then close */
} omega_head_state_t;

typedef struct {
  int status;        /* 400, 414, 431, 501 or 505 when BAD */
  const char *type;  /* the JSON error_type */
  char message[192]; /* what is wrong, for the client */
} omega_head_verdict_t;

/* Check the bytes a client has sent so far (buf, len) against the head limits: max_head
 * bytes for the whole head, max_target for the request target. */
omega_head_state_t omega__http_head_check(const char *buf, size_t len, size_t max_head, size_t max_target,
                                          omega_head_verdict_t *v);

/* The framing headers of a request as libmicrohttpd parsed them (every request on a
 * connection, the first one included): OMEGA_HEAD_BAD with a verdict when a body's length
 * is ambiguous. n_cl/n_te: how many Content-Length / Transfer-Encoding fields; cl, te: the
 * first of each (NULL when none). */
omega_head_state_t omega__http_framing_check(unsigned n_cl, const char *cl, unsigned n_te, const char *te,
                                             omega_head_verdict_t *v);

#endif

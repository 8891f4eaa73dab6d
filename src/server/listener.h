/* The accept loop in front of libmicrohttpd. Omega accepts every connection itself so that
 * no client can make others wait: past the connection limits a client is answered 503 and
 * closed at once (libmicrohttpd would leave it in the listen backlog); the first request
 * head must arrive whole within a short timeout and pass omega__http_head_check before the
 * connection is handed to libmicrohttpd (MHD_add_connection). Counts of open connections,
 * per client address too, come from here and from libmicrohttpd's connection notices. */
#ifndef OMEGA_SERVER_LISTENER_H
#define OMEGA_SERVER_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;
typedef struct omega_server omega_server_t;
typedef struct omega_listener omega_listener_t;

/* Start accepting on the given listening sockets (-1: none), which the listener owns. */
int omega__listener_start(omega_server_t *s, int tcp_fd, int unix_fd, omega_listener_t **out);
/* Drain: close the listening sockets; connections already accepted are still served. */
void omega__listener_stop_accepting(omega_listener_t *l);
/* Stop the thread: nothing is handed to libmicrohttpd any more. Call it before stopping the
 * daemon, whose connection notices still reach the listener until the daemon has stopped. */
void omega__listener_halt(omega_listener_t *l);
/* Halt, and close the connections not handed to libmicrohttpd yet. */
void omega__listener_free(omega_listener_t *l);

/* libmicrohttpd's connection notices: one opened, one closed (addr: the client's). */
void omega__listener_conn_opened(omega_listener_t *l, const struct sockaddr *addr);
void omega__listener_conn_closed(omega_listener_t *l, const struct sockaddr *addr);
/* Connections open now (accepted and not yet closed). */
size_t omega__listener_open(const omega_listener_t *l);

#endif

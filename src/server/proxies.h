/* Trusted proxies (OMEGA_TRUSTED_PROXIES): behind a load balancer every request comes from the
 * balancer's address, so the per-address limit on failed authentications would hold one
 * bucket for all clients, and one client's bad keys would lock out everyone. When the peer is
 * a trusted proxy, the client is read from X-Forwarded-For instead: the rightmost address that
 * is not itself a trusted proxy (addresses to its left were written by the client and may be
 * forged). A peer that is not trusted is the client, whatever it sends. */
#ifndef OMEGA_SERVER_PROXIES_H
#define OMEGA_SERVER_PROXIES_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;
struct sockaddr_storage;

#define OMEGA_PROXIES_MAX 64

typedef struct {
  unsigned char net[OMEGA_PROXIES_MAX][16]; /* IPv4 as IPv4-mapped IPv6 */
  unsigned char bits[OMEGA_PROXIES_MAX];
  size_t n;
} omega_proxies_t;

/* Parse a comma-separated list of addresses and CIDR blocks (192.0.2.1, 10.0.0.0/8,
 * 2001:db8::/32); an error names the entry. */
int omega__proxies_parse(const char *list, omega_proxies_t *out);
bool omega__proxies_trusted(const omega_proxies_t *p, const unsigned char key[16]);
/* The client of a request from peer (NULL: a Unix socket, no address) with the X-Forwarded-For
 * values xff (the headers joined by commas, in order; NULL: none): written to *out as an IPv6
 * address when it is not the peer. Returns what to count: peer, out, or NULL. */
const struct sockaddr *omega__proxies_client(const omega_proxies_t *p, const struct sockaddr *peer, const char *xff,
                                             struct sockaddr_storage *out);

#endif

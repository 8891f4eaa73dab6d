#include "server/proxies.h"

#include "core/error_internal.h"
#include "server/addr_count.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* An address as a 16-byte key; false when s[0..n) is not one. */
static bool parse_addr(const char *s, size_t n, unsigned char key[16], bool *v4) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (n == 0 || n >= sizeof buf)
    return false;
  memcpy(buf, s, n);
  buf[n] = 0;
  struct in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    memset(key, 0, 10);
    key[10] = key[11] = 0xFF;
    memcpy(key + 12, &a4, 4);
    *v4 = true;
    return true;
  }
  *v4 = false;
  return inet_pton(AF_INET6, buf, key) == 1;
}

static const char *trim(const char *s, const char *end, size_t *n) {
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *n = (size_t)(end - s);
  return s;
}

int omega__proxies_parse(const char *list, omega_proxies_t *out) {
  memset(out, 0, sizeof *out);
  for (const char *p = list; *p;) {
    const char *comma = strchr(p, ',');
    const char *end = comma ? comma : p + strlen(p);
    size_t n;
    const char *e = trim(p, end, &n);
    p = comma ? comma + 1 : end;
    if (!n)
      continue;
    if (out->n == OMEGA_PROXIES_MAX)
      return omega__seterr(OMEGA_EINVAL, "OMEGA_TRUSTED_PROXIES: more than %d entries", OMEGA_PROXIES_MAX);
    const char *slash = memchr(e, '/', n);
    bool v4;
    unsigned char *net = out->net[out->n];
    if (!parse_addr(e, slash ? (size_t)(slash - e) : n, net, &v4))
      return omega__seterr(OMEGA_EINVAL, "OMEGA_TRUSTED_PROXIES: \"%.*s\" is not an IP address or CIDR block", (int)n,
                           e);
    long bits = v4 ? 32 : 128;
    if (slash) {
      char *stop;
      const size_t digits = n - (size_t)(slash - e) - 1;
      bits = digits && digits <= 3 ? strtol(slash + 1, &stop, 10) : -1;
      if (bits < 0 || bits > (v4 ? 32 : 128) || stop != e + n)
        return omega__seterr(OMEGA_EINVAL, "OMEGA_TRUSTED_PROXIES: \"%.*s\" has a bad prefix length", (int)n, e);
    }
    out->bits[out->n] = (unsigned char)(v4 ? bits + 96 : bits);
    /* the host bits are cleared, so that 10.1.2.3/8 means 10.0.0.0/8 */
    for (unsigned i = out->bits[out->n]; i < 128; i++)
      net[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    out->n++;
  }
  return 0;
}

bool omega__proxies_trusted(const omega_proxies_t *p, const unsigned char key[16]) {
  for (size_t i = 0; i < p->n; i++) {
    const unsigned bits = p->bits[i], whole = bits / 8, rest = bits % 8;
    if (memcmp(key, p->net[i], whole) != 0)
      continue;
    if (rest && ((key[whole] ^ p->net[i][whole]) & (unsigned char)(0xFF00u >> rest)))
      continue;
    return true;
  }
  return false;
}

const struct sockaddr *omega__proxies_client(const omega_proxies_t *p, const struct sockaddr *peer, const char *xff,
                                             struct sockaddr_storage *out) {
  unsigned char key[16], hop[16];
  if (!p->n || !xff || !omega__addr_key(peer, key) || !omega__proxies_trusted(p, key))
    return peer;
  /* right to left: each hop that is a trusted proxy vouches for the one before it; a value
   * that is not an address ends the walk at the last good one */
  bool moved = false;
  for (const char *end = xff + strlen(xff); end > xff;) {
    const char *start = end;
    while (start > xff && start[-1] != ',')
      start--;
    size_t n;
    const char *e = trim(start, end, &n);
    end = start > xff ? start - 1 : xff;
    bool v4;
    if (!n)
      continue;
    if (!parse_addr(e, n, hop, &v4))
      break;
    memcpy(key, hop, 16);
    moved = true;
    if (!omega__proxies_trusted(p, key))
      break;
  }
  if (!moved)
    return peer;
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
  memset(out, 0, sizeof *out);
  a->sin6_family = AF_INET6;
  memcpy(&a->sin6_addr, key, 16);
  return (const struct sockaddr *)out;
}

/* Trusted proxies: the list's parsing (addresses, CIDR blocks of both families, host bits,
 * errors naming the entry) and which address a request's failures count against for each
 * shape of X-Forwarded-For chain, forged entries to the left of the trusted hops included. */
#include "testutil.h"

#include "core/error_internal.h"
#include "server/proxies.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static struct sockaddr_storage peer_of(const char *ip) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
  }
  return ss;
}

/* The address counted, as text ("peer" when it is the peer itself). */
static const char *client(const omega_proxies_t *p, const char *peer, const char *xff, char *buf, size_t cap) {
  struct sockaddr_storage ps = peer_of(peer), out;
  const struct sockaddr *c = omega__proxies_client(p, (const struct sockaddr *)&ps, xff, &out);
  if (c == (const struct sockaddr *)&ps)
    return "peer";
  assert_ptr_equal(c, &out);
  const struct in6_addr *a = &((const struct sockaddr_in6 *)&out)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a))
    inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)cap);
  else
    inet_ntop(AF_INET6, a, buf, (socklen_t)cap);
  return buf;
}

static void test_parse(void **state) {
  (void)state;
  omega_proxies_t p;
  assert_int_equal(omega__proxies_parse("", &p), 0);
  assert_int_equal(p.n, 0);
  assert_int_equal(omega__proxies_parse(" 10.1.2.3/8 , 192.0.2.7,2001:db8::/32, ::1 ,", &p), 0);
  assert_int_equal(p.n, 4);
  struct {
    const char *ip;
    bool trusted;
  } cases[] = {{"10.0.0.1", true},   {"10.255.255.255", true}, {"11.0.0.0", false}, {"192.0.2.7", true},
               {"192.0.2.8", false}, {"2001:db8:ffff::1", true}, {"2001:db9::", false}, {"::1", true},
               {"::2", false},       {"::ffff:10.9.9.9", true} /* the mapped form of an IPv4 address */};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct sockaddr_storage ss = peer_of(cases[i].ip);
    unsigned char key[16];
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    memset(key, 0, sizeof key);
    if (sa->sa_family == AF_INET) {
      key[10] = key[11] = 0xFF;
      memcpy(key + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else {
      memcpy(key, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    }
    assert_int_equal(omega__proxies_trusted(&p, key), cases[i].trusted);
  }
  static const char *const bad[] = {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x", "example.com",
                                    "10.0.0.0/-1", "1.2.3.4.5", "10.0.0.0/0008"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(omega__proxies_parse(bad[i], &p), OMEGA_EINVAL);
    assert_non_null(strstr(omega_errmsg(), "OMEGA_TRUSTED_PROXIES"));
  }
  char many[2048] = "";
  for (int i = 0; i <= OMEGA_PROXIES_MAX; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.0.%d,", i);
  assert_int_equal(omega__proxies_parse(many, &p), OMEGA_EINVAL);
  assert_non_null(strstr(omega_errmsg(), "more than 64"));
}

static void test_client(void **state) {
  (void)state;
  omega_proxies_t p;
  char b[64];
  assert_int_equal(omega__proxies_parse("10.0.0.0/8, 2001:db8::/32", &p), 0);
  /* an untrusted peer is the client whatever it claims */
  assert_string_equal(client(&p, "198.51.100.1", "203.0.113.9", b, sizeof b), "peer");
  /* a trusted peer: the rightmost address that is not a proxy */
  assert_string_equal(client(&p, "10.0.0.2", "203.0.113.9", b, sizeof b), "203.0.113.9");
  assert_string_equal(client(&p, "10.0.0.2", "1.1.1.1, 203.0.113.9, 10.3.3.3", b, sizeof b), "203.0.113.9");
  assert_string_equal(client(&p, "2001:db8::5", "2001:db8::6,2001:db8::7 , 2001:db9::1", b, sizeof b), "2001:db9::1");
  /* headers joined by the server: "forged, real" from two lines reads the same */
  assert_string_equal(client(&p, "10.0.0.2", "6.6.6.6,203.0.113.9", b, sizeof b), "203.0.113.9");
  /* every hop a proxy: the leftmost */
  assert_string_equal(client(&p, "10.0.0.2", "10.9.9.9, 10.8.8.8", b, sizeof b), "10.9.9.9");
  /* garbage ends the walk at the last good hop; garbage first: the peer */
  assert_string_equal(client(&p, "10.0.0.2", "203.0.113.9, unknown, 10.1.1.1", b, sizeof b), "10.1.1.1");
  assert_string_equal(client(&p, "10.0.0.2", "unknown", b, sizeof b), "peer");
  assert_string_equal(client(&p, "10.0.0.2", " , ,", b, sizeof b), "peer");
  assert_string_equal(client(&p, "10.0.0.2", "203.0.113.9:443", b, sizeof b), "peer");
  assert_string_equal(client(&p, "10.0.0.2", NULL, b, sizeof b), "peer");
  /* no proxies configured, or a Unix-socket peer: unchanged */
  omega_proxies_t none;
  assert_int_equal(omega__proxies_parse("", &none), 0);
  assert_string_equal(client(&none, "10.0.0.2", "203.0.113.9", b, sizeof b), "peer");
  struct sockaddr_storage out;
  assert_null(omega__proxies_client(&p, NULL, "203.0.113.9", &out));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_client)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

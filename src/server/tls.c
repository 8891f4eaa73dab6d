#include "server/tls.h"

#include "core/alloc.h"
#include "core/error_internal.h"
#include "core/file.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CHAIN_MAX 16
#define PEM_MAX (1 << 20)
/* A replaced certificate is kept this long: a handshake that was handed it may still sign with
 * it (the callback's certificate and key belong to the caller, GnuTLS does not copy them). */
#define RETIRE_S (24 * 3600)

typedef struct gen {
  gnutls_pcert_st chain[CHAIN_MAX];
  unsigned n;
  gnutls_privkey_t key;
  char *cert_pem, *key_pem; /* to tell whether a reload changed anything */
  size_t cert_len, key_len;
  int64_t not_after;
  int64_t retired_at;
  struct gen *next; /* retired ones, newest first */
} gen_t;

struct omega_tls {
  pthread_mutex_t mu;
  char cert_file[1024], key_file[1024];
  gen_t *cur, *retired;
};

/* the one a handshake asks for: GnuTLS gives the callback no user pointer */
static omega_tls_t *process_tls;

static void gen_free(gen_t *g) {
  if (!g)
    return;
  for (unsigned i = 0; i < g->n; i++)
    gnutls_pcert_deinit(&g->chain[i]);
  if (g->key)
    gnutls_privkey_deinit(g->key);
  if (g->key_pem)
    gnutls_memset(g->key_pem, 0, g->key_len);
  omega__free(g->cert_pem);
  omega__free(g->key_pem);
  omega__free(g);
}

static int tls_err(const char *what, const char *file, int e) {
  return omega__seterr(OMEGA_EINVAL, "TLS: %s %s: %s", what, file, gnutls_strerror(e));
}

static int gen_load(const char *cert_file, const char *key_file, gen_t **out) {
  gen_t *g = omega__calloc(1, sizeof *g);
  if (!g)
    return omega__seterr(OMEGA_ENOMEM, "TLS: out of memory");
  int rc = omega__read_file(cert_file, PEM_MAX, &g->cert_pem, &g->cert_len);
  if (rc) {
    rc = omega__prefixerr(rc, "OMEGA_TLS_CERT_FILE");
    goto fail;
  }
  if ((rc = omega__read_file(key_file, PEM_MAX, &g->key_pem, &g->key_len))) {
    rc = omega__prefixerr(rc, "OMEGA_TLS_KEY_FILE");
    goto fail;
  }
  gnutls_datum_t cert = {(unsigned char *)g->cert_pem, (unsigned)g->cert_len};
  gnutls_datum_t key = {(unsigned char *)g->key_pem, (unsigned)g->key_len};
  unsigned n = CHAIN_MAX;
  int e = gnutls_pcert_list_import_x509_raw(g->chain, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
  if (e < 0 || n == 0) {
    rc = tls_err("cannot read the certificate chain in", cert_file, e < 0 ? e : GNUTLS_E_NO_CERTIFICATE_FOUND);
    goto fail;
  }
  g->n = n;
  if ((e = gnutls_privkey_init(&g->key)) < 0 ||
      (e = gnutls_privkey_import_x509_raw(g->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
    rc = tls_err("cannot read the private key in", key_file, e);
    goto fail;
  }
  /* the key must be the certificate's: compare the public halves' key ids */
  unsigned char id_cert[64], id_key[64];
  size_t l_cert = sizeof id_cert, l_key = sizeof id_key;
  gnutls_pubkey_t pub = NULL;
  e = gnutls_pubkey_init(&pub);
  if (e >= 0)
    e = gnutls_pubkey_import_privkey(pub, g->key, 0, 0);
  if (e >= 0)
    e = gnutls_pubkey_get_key_id(pub, 0, id_key, &l_key);
  if (e >= 0)
    e = gnutls_pubkey_get_key_id(g->chain[0].pubkey, 0, id_cert, &l_cert);
  if (pub)
    gnutls_pubkey_deinit(pub);
  if (e < 0) {
    rc = tls_err("cannot compare the key with the certificate of", cert_file, e);
    goto fail;
  }
  if (l_cert != l_key || memcmp(id_cert, id_key, l_key) != 0) {
    rc = omega__seterr(OMEGA_EINVAL, "TLS: the private key in %s is not the key of the certificate in %s", key_file,
                       cert_file);
    goto fail;
  }
  gnutls_x509_crt_t crt;
  if (gnutls_x509_crt_init(&crt) >= 0) {
    if (gnutls_x509_crt_import(crt, &g->chain[0].cert, GNUTLS_X509_FMT_DER) >= 0)
      g->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
  }
  *out = g;
  return 0;
fail:
  gen_free(g);
  return rc;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                    unsigned int *pcert_length, gnutls_privkey_t *pkey) {
  (void)session;
  (void)req_ca_dn;
  (void)nreqs;
  (void)pk_algos;
  (void)pk_algos_length;
  omega_tls_t *t = process_tls;
  if (!t)
    return -1;
  pthread_mutex_lock(&t->mu);
  *pcert = t->cur->chain;
  *pcert_length = t->cur->n;
  *pkey = t->cur->key;
  pthread_mutex_unlock(&t->mu);
  return 0;
}

void *omega__tls_callback(void) { return (void *)retrieve; }

int omega__tls_create(const char *cert_file, const char *key_file, omega_tls_t **out) {
  if (!cert_file[0] || !key_file[0])
    return omega__seterr(OMEGA_EINVAL, "TLS: set both OMEGA_TLS_CERT_FILE and OMEGA_TLS_KEY_FILE");
  if (process_tls)
    return omega__seterr(OMEGA_EINVAL, "TLS: one HTTPS server per process");
  omega_tls_t *t = omega__calloc(1, sizeof *t);
  if (!t)
    return omega__seterr(OMEGA_ENOMEM, "TLS: out of memory");
  snprintf(t->cert_file, sizeof t->cert_file, "%s", cert_file);
  snprintf(t->key_file, sizeof t->key_file, "%s", key_file);
  int rc = gen_load(cert_file, key_file, &t->cur);
  if (rc) {
    omega__free(t);
    return rc;
  }
  pthread_mutex_init(&t->mu, NULL);
  process_tls = t;
  *out = t;
  return 0;
}

int omega__tls_reload(omega_tls_t *t, int *changed) {
  *changed = 0;
  gen_t *g = NULL;
  int rc = gen_load(t->cert_file, t->key_file, &g);
  if (rc || !g)
    return rc ? rc : OMEGA_EINVAL;
  const int64_t now = (int64_t)time(NULL);
  pthread_mutex_lock(&t->mu);
  const gen_t *c = t->cur;
  if (g->cert_len == c->cert_len && g->key_len == c->key_len && memcmp(g->cert_pem, c->cert_pem, g->cert_len) == 0 &&
      memcmp(g->key_pem, c->key_pem, g->key_len) == 0) {
    pthread_mutex_unlock(&t->mu);
    gen_free(g);
    return 0;
  }
  t->cur->retired_at = now;
  t->cur->next = t->retired;
  t->retired = t->cur;
  t->cur = g;
  /* the list is newest first: cut it at the first one retired long enough ago */
  gen_t **pp = &t->retired, *old = NULL;
  while (*pp && now - (*pp)->retired_at < RETIRE_S)
    pp = &(*pp)->next;
  old = *pp;
  *pp = NULL;
  pthread_mutex_unlock(&t->mu);
  while (old) {
    gen_t *next = old->next;
    gen_free(old);
    old = next;
  }
  *changed = 1;
  return 0;
}

int64_t omega__tls_not_after(omega_tls_t *t) {
  pthread_mutex_lock(&t->mu);
  const int64_t v = t->cur->not_after;
  pthread_mutex_unlock(&t->mu);
  return v;
}

void omega__tls_free(omega_tls_t *t) {
  if (!t)
    return;
  if (process_tls == t)
    process_tls = NULL;
  gen_free(t->cur);
  while (t->retired) {
    gen_t *next = t->retired->next;
    gen_free(t->retired);
    t->retired = next;
  }
  pthread_mutex_destroy(&t->mu);
  omega__free(t);
}

/* HTTPS: the certificate chain and key that libmicrohttpd's TLS (GnuTLS) presents. They are
 * handed to each handshake by a callback, so that a reload (SIGHUP, a config-file change) can
 * replace them without a restart and without touching open connections: a new handshake gets
 * the new certificate, one under way keeps the one it was given. One per process. */
#ifndef OMEGA_SERVER_TLS_H
#define OMEGA_SERVER_TLS_H

#include <stdint.h>

typedef struct omega_tls omega_tls_t;

/* Load the PEM chain and key (checked to belong together) and make them the process's. */
int omega__tls_create(const char *cert_file, const char *key_file, omega_tls_t **out);
/* Read the files again; on failure the certificate in use stays and the error says why.
 * *changed: whether they differ from the ones in use. */
int omega__tls_reload(omega_tls_t *t, int *changed);
void omega__tls_free(omega_tls_t *t);
/* When the certificate in use (the chain's first) expires, unix seconds. */
int64_t omega__tls_not_after(omega_tls_t *t);
/* The callback for MHD_OPTION_HTTPS_CERT_CALLBACK (a gnutls_certificate_retrieve_function2). */
void *omega__tls_callback(void);
/* The GnuTLS priority string: TLS 1.2 and 1.3, forward-secret key exchanges only. */
#define OMEGA_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-VERS-SSL3.0"

#endif

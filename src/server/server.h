/* `omega serve`: start the HTTP server, load and warm the model, then handle signals
 * (SIGHUP reloads the configuration, SIGTERM/SIGINT drain and exit) until stopped. */
#ifndef OMEGA_SERVER_SERVER_H
#define OMEGA_SERVER_SERVER_H

#include "config/config.h"

/* Blocks until the server has drained after SIGTERM or SIGINT; returns the process exit
 * code (0 after a clean drain). The caller must have blocked SIGTERM, SIGINT and SIGHUP
 * in every thread (omega__server_block_signals) before creating any. */
int omega__server_run(omega_config_t *cfg);
void omega__server_block_signals(void);

#endif

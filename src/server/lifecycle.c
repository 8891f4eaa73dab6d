/* Server lifecycle: start-up (listen first, then load and warm the model), hot settings,
 * SIGHUP and config-file reloads, and the graceful drain on SIGTERM. */
#include "server/server.h"

#include "config/library_opts.h"
#include "core/alloc.h"
#include "core/fault.h"
#include "core/file.h"
#include "core/heap.h"
#include "core/log.h"
#include "server/listener.h"
#include "server/tls.h"
#include "server/server_internal.h"

#include <errno.h>
#include <libgen.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void omega__server_block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

#define SECRET_MAX 4096

int omega__server_load_secret(omega_server_t *s, const omega_settings_t *set) {
  if (set->omega_hmac_secret_file[0]) {
    char *buf;
    size_t len;
    /* room for the line ending an editor or `echo` adds after a secret of the full size */
    int rc = omega__read_file(set->omega_hmac_secret_file, SECRET_MAX + 2, &buf, &len);
    if (rc)
      return omega__prefixerr(rc, "OMEGA_HMAC_SECRET_FILE");
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
      len--;
    if (!len || len > SECRET_MAX) {
      memset(buf, 0, len);
      omega__free(buf);
      return len ? omega__seterr(OMEGA_EINVAL, "OMEGA_HMAC_SECRET_FILE %s: the secret is longer than %d bytes",
                                 set->omega_hmac_secret_file, SECRET_MAX)
                 : omega__seterr(OMEGA_EINVAL, "OMEGA_HMAC_SECRET_FILE %s is empty", set->omega_hmac_secret_file);
    }
    omega__auth_set_secret(s->auth, buf, len);
    memset(buf, 0, len);
    omega__free(buf);
    return 0;
  }
  omega__auth_set_secret(s->auth, set->omega_hmac_secret, strlen(set->omega_hmac_secret));
  return 0;
}

#define NONCE_CACHE_MAX (1ll << 24)

/* A nonce must be remembered while a request carrying it could still pass the clock check:
 * 2 x window + 1 s. So sustaining OMEGA_HMAC_MAX_RATE signed requests a second takes rate x
 * (2 x window + 1) entries; past that the cache is full and refuses (fails closed). */
static int nonce_capacity(const omega_settings_t *set, size_t *out) {
  if (set->omega_nonce_cache) {
    *out = (size_t)set->omega_nonce_cache;
    return 0;
  }
  const long long n = set->omega_hmac_max_rate * (2 * set->omega_hmac_window_s + 1);
  if (n > NONCE_CACHE_MAX)
    return omega__seterr(OMEGA_EINVAL,
                         "OMEGA_HMAC_MAX_RATE %lld x (2 x OMEGA_HMAC_WINDOW_S %lld + 1) = %lld nonces, more than the "
                         "%lld the replay cache may hold: lower one of them, or set OMEGA_NONCE_CACHE",
                         set->omega_hmac_max_rate, set->omega_hmac_window_s, n, NONCE_CACHE_MAX);
  *out = (size_t)n;
  return 0;
}

static void set_hot_values(omega_server_t *s, const omega_settings_t *set) {
  atomic_store(&s->max_body, set->omega_max_body_bytes);
  atomic_store(&s->max_inputs, set->omega_max_inputs);
  atomic_store(&s->retry_after_s, set->omega_retry_after_s);
  atomic_store(&s->request_timeout_ms, set->omega_request_timeout_ms);
  atomic_store(&s->hmac_window_s, set->omega_hmac_window_s);
  atomic_store(&s->drain_grace_ms, set->omega_drain_grace_ms);
  atomic_store(&s->search_max_k, set->omega_search_max_k);
  atomic_store(&s->search_max_batch, set->omega_search_max_batch);
  atomic_store(&s->max_conns_per_ip, set->omega_max_connections_per_ip);
  atomic_store(&s->head_timeout_ms, set->omega_http_head_timeout_ms);
  atomic_store(&s->body_timeout_s, set->omega_http_body_timeout_s);
  atomic_store(&s->idle_timeout_s, set->omega_http_idle_timeout_s);
  atomic_store(&s->max_held_bytes, set->omega_max_held_response_bytes);
  atomic_store(&s->tokenize_max_tokens, set->omega_tokenize_max_tokens);
  atomic_store(&s->auth_max_failures, set->omega_auth_max_failures);
  omega__log_set_level(set->omega_log_level);
}

int omega__server_apply(const omega_settings_t *old, const omega_settings_t *now, void *user) {
  omega_server_t *s = user;
  int rc = omega__fault_configure(now->omega_fault_inject);
  if (rc)
    return rc;
  /* the keys file is read on every reload too: adding or revoking a key is editing it */
  omega_access_t access;
  if ((rc = omega__access_prepare(now, &access)))
    return rc;
  /* the file is read on every reload, not only when its path changes: rotating a secret is
   * rewriting the file and sending SIGHUP */
  if (now->omega_hmac_secret_file[0] || strcmp(old->omega_hmac_secret_file, now->omega_hmac_secret_file) != 0 ||
      strcmp(old->omega_hmac_secret, now->omega_hmac_secret) != 0) {
    if ((rc = omega__server_load_secret(s, now)))
      goto fail;
  }
  size_t nonces = 0;
  if ((rc = nonce_capacity(now, &nonces)) || (rc = omega__auth_set_capacity(s->auth, nonces)))
    goto fail;
  if (s->engine) {
    omega_engine_tuning_t t;
    omega__config_engine_tuning(now, &t);
    if ((rc = omega_engine_tune(s->engine, &t)))
      goto fail;
  }
  omega__access_commit(s, &access);
  set_hot_values(s, now);
  return 0;
fail:
  omega__apikeys_free(access.keys);
  return rc;
}

/* The certificate files are read again apart from the settings: a renewed certificate is in
 * use whatever the settings' reload decided, and a bad one fails alone. */
static void reload_tls(omega_server_t *s) {
  int changed = 0;
  if (omega__tls_reload(s->tls, &changed)) {
    omega__series_add(omega__series(s->m.tls_reloads, "rejected", NULL, NULL), 1);
    omega__log(OMEGA_LOG_WARN, "TLS: keeping the certificate in use: %s", omega_errmsg());
    return;
  }
  omega__series_add(omega__series(s->m.tls_reloads, changed ? "changed" : "unchanged", NULL, NULL), 1);
  if (changed)
    omega__log(OMEGA_LOG_INFO, "TLS: new certificate from %s (expires in %.1f days)", s->boot.omega_tls_cert_file,
               (double)(omega__tls_not_after(s->tls) - (int64_t)time(NULL)) / 86400.0);
}

static void reload(omega_server_t *s, const char *why) {
  char msg[2048];
  int rc = omega__config_reload(s->cfg, msg, sizeof msg);
  if (rc)
    omega__log(OMEGA_LOG_WARN, "config reload (%s) rejected, keeping the previous settings: %s", why, msg);
  else
    omega__log(OMEGA_LOG_INFO, "config reloaded (%s)%s%s", why, msg[0] ? ": " : "", msg);
  if (s->tls)
    reload_tls(s);
}

/* ---- watching the config file ---- */

typedef struct {
  omega_server_t *srv;
  char dir[4096], name[1024];
  int fd;
  atomic_int stop;
  pthread_t th;
} watcher_t;

static void *watch_config(void *arg) {
  watcher_t *w = arg;
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (!atomic_load(&w->stop)) {
    struct pollfd p = {w->fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0)
      continue;
    ssize_t n = read(w->fd, buf, sizeof buf);
    bool ours = false;
    for (char *q = buf; n > 0 && q < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)q;
      if (ev->len && strcmp(ev->name, w->name) == 0)
        ours = true;
      q += sizeof *ev + ev->len;
    }
    if (!ours)
      continue;
    /* editors write in several steps: let the burst settle */
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    while (read(w->fd, buf, sizeof buf) > 0) {
    }
    reload(w->srv, "config file changed");
  }
  return NULL;
}

static watcher_t *watch_start(omega_server_t *s, const char *path) {
  watcher_t *w = omega__calloc(1, sizeof *w);
  if (!w)
    return NULL;
  char a[4096], b[4096];
  snprintf(a, sizeof a, "%s", path);
  snprintf(b, sizeof b, "%s", path);
  snprintf(w->dir, sizeof w->dir, "%s", dirname(a));
  snprintf(w->name, sizeof w->name, "%s", basename(b));
  w->srv = s;
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0 || inotify_add_watch(w->fd, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0 ||
      pthread_create(&w->th, NULL, watch_config, w) != 0) {
    omega__log(OMEGA_LOG_WARN, "cannot watch %s for changes (%s); SIGHUP still reloads it", path, strerror(errno));
    if (w->fd >= 0)
      close(w->fd);
    omega__free(w);
    return NULL;
  }
  return w;
}

static void watch_stop(watcher_t *w) {
  if (!w)
    return;
  atomic_store(&w->stop, 1);
  pthread_join(w->th, NULL);
  close(w->fd);
  omega__free(w);
}

/* ---- listening ---- */

static int listen_tcp(omega_server_t *s, int *out) {
  char port[16];
  snprintf(port, sizeof port, "%lld", s->boot.omega_port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai;
  int rc = getaddrinfo(s->boot.omega_host, port, &hints, &ai);
  if (rc != 0)
    return omega__seterr(OMEGA_EINVAL, "OMEGA_HOST %s: %s", s->boot.omega_host, gai_strerror(rc));
  const int one = 1;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
    const int e = errno;
    freeaddrinfo(ai);
    if (fd >= 0)
      close(fd);
    return omega__seterr(OMEGA_EIO, "cannot listen on %s:%s: %s", s->boot.omega_host, port, strerror(e));
  }
  freeaddrinfo(ai);
  /* the port the kernel chose when OMEGA_PORT is 0 */
  struct sockaddr_storage sa = {0};
  socklen_t len = sizeof sa;
  char serv[NI_MAXSERV];
  s->port = (int)s->boot.omega_port;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
      getnameinfo((struct sockaddr *)&sa, len, NULL, 0, serv, sizeof serv, NI_NUMERICSERV) == 0)
    s->port = atoi(serv);
  *out = fd;
  return 0;
}

/* Something at the socket path: a stale socket of an earlier run is removed; a socket some
 * process still serves, or anything that is not a socket, is left alone and refused. */
static int clear_unix_path(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : omega__seterr(OMEGA_EIO, "OMEGA_UNIX_SOCKET %s: %s", path, strerror(errno));
  if (!S_ISSOCK(st.st_mode))
    return omega__seterr(OMEGA_EINVAL, "OMEGA_UNIX_SOCKET %s exists and is not a socket; not removing it (choose "
                                       "another path or remove it yourself)", path);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  const int e = errno;
  if (fd >= 0)
    close(fd);
  if (live)
    return omega__seterr(OMEGA_EINVAL, "OMEGA_UNIX_SOCKET %s: another process is serving on it", path);
  if (e != ECONNREFUSED)
    return omega__seterr(OMEGA_EIO, "OMEGA_UNIX_SOCKET %s: cannot tell whether it is stale: %s", path, strerror(e));
  if (unlink(path) != 0)
    return omega__seterr(OMEGA_EIO, "OMEGA_UNIX_SOCKET %s: cannot remove the stale socket: %s", path, strerror(errno));
  omega__log(OMEGA_LOG_INFO, "removed the stale socket %s", path);
  return 0;
}

static int listen_unix(omega_server_t *s, int *out) {
  const char *path = s->boot.omega_unix_socket;
  int rc = clear_unix_path(path);
  if (rc)
    return rc;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return omega__seterr(OMEGA_EIO, "OMEGA_UNIX_SOCKET %s: %s", path, strerror(e));
  }
  *out = fd;
  return 0;
}

/* Bind the sockets, start libmicrohttpd and the listener that feeds it. */
static int start_http(omega_server_t *s) {
  int tcp = -1, ux = -1;
  int rc = listen_tcp(s, &tcp);
  if (rc == 0 && s->boot.omega_unix_socket[0])
    rc = listen_unix(s, &ux);
  if (rc == 0 && !(s->daemon = omega__http_start(s)))
    rc = omega__seterr(OMEGA_EIO, "cannot start the HTTP daemon");
  if (rc == 0)
    rc = omega__listener_start(s, tcp, ux, &s->listener);
  if (rc) {
    if (tcp >= 0)
      close(tcp);
    if (ux >= 0) {
      close(ux);
      unlink(s->boot.omega_unix_socket);
    }
  }
  return rc;
}

/* Connections need descriptors: the soft open-files limit is raised to the hard one, and a
 * connection limit above it is reported (the listener refuses past it with 503 either way). */
static void raise_fd_limit(const omega_settings_t *set) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && (unsigned long long)set->omega_max_connections + 256 > rl.rlim_cur)
    omega__log(OMEGA_LOG_WARN, "OMEGA_MAX_CONNECTIONS %lld is near the open-files limit %llu: raise the limit (ulimit "
              "-n, LimitNOFILE=) or connections will be refused earlier", set->omega_max_connections,
              (unsigned long long)rl.rlim_cur);
}

/* ---- start-up ---- */

static int load_model(omega_server_t *s) {
  const omega_settings_t *set = &s->boot;
  snprintf(s->not_ready_reason, sizeof s->not_ready_reason, "loading the model %s", set->omega_model);
  long delay = omega__fault_get(OMEGA_FAULT_LOAD_DELAY_MS);
  if (delay) {
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  omega_settings_t now;
  omega__config_get(s->cfg, &now);
  omega_engine_opts_t o;
  omega__config_engine_opts(set, &now, &o);
  int rc = omega_engine_open(set->omega_model, &o, &s->engine);
  if (rc)
    return rc;
  omega_engine_accel_t acc;
  omega_engine_accel(s->engine, &acc);
  snprintf(s->accel_reason, sizeof s->accel_reason, "%s", acc.reason);
  omega_engine_info(s->engine, &s->info);
  if (set->omega_model_name[0]) {
    snprintf(s->model_name, sizeof s->model_name, "%s", set->omega_model_name);
  } else {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", set->omega_model);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/')
      tmp[--l] = '\0';
    snprintf(s->model_name, sizeof s->model_name, "%s", basename(tmp));
  }
  /* warm-up: every kernel and buffer touched once, short and long sequences */
  snprintf(s->not_ready_reason, sizeof s->not_ready_reason, "warming up");
  char long_text[4096];
  size_t k = 0;
  while (k + 8 < sizeof long_text)
    k += (size_t)snprintf(long_text + k, sizeof long_text - k, "warm up ");
  /* and on the GPU a full batch too, so the GEMM algorithms of big batches are chosen now */
  const size_t n_warm = strcmp(s->info.backend, "gpu") == 0 ? 64 : 3;
  omega_text_t t[64];
  t[0] = (omega_text_t){"warm up", 7};
  t[2] = (omega_text_t){long_text, k};
  for (size_t i = 1; i < n_warm; i++)
    if (i != 2)
      t[i] = (omega_text_t){"the quick brown fox jumps over the lazy dog", 43};
  float *out = omega__malloc(n_warm * (size_t)s->info.dim * sizeof *out);
  rc = out ? omega_engine_embed(s->engine, t, n_warm, 0, out) : OMEGA_ENOMEM;
  omega__free(out);
  if (rc)
    return omega__prefixerr(rc, "warm-up");
  omega_engine_set_observer(s->engine, omega__observe_batch, s);
  omega__server_metrics_model(s);
  return 0;
}

static bool is_loopback(const char *host) {
  return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
}

static void drain(omega_server_t *s) {
  atomic_store(&s->draining, 1);
  const long long grace = atomic_load(&s->drain_grace_ms);
  omega__log(OMEGA_LOG_INFO, "draining: not accepting connections, %ld requests in flight, grace %lld ms",
            (long)atomic_load(&s->inflight), grace);
  omega__listener_stop_accepting(s->listener);
  const int64_t until = omega__now_ns() + grace * 1000000;
  while (atomic_load(&s->inflight) > 0 && omega__now_ns() < until) {
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  if (atomic_load(&s->inflight) > 0) {
    omega__log(OMEGA_LOG_WARN, "grace period over: canceling %ld requests", (long)atomic_load(&s->inflight));
    pthread_mutex_lock(&s->pending_mu);
    for (omega_req_t *r = s->pending; r; r = r->next_pending) {
      pthread_mutex_lock(&r->job_mu);
      if (r->job)
        omega_job_cancel(r->job);
      pthread_mutex_unlock(&r->job_mu);
    }
    pthread_mutex_unlock(&s->pending_mu);
    const int64_t hard = omega__now_ns() + 5000000000LL;
    while (atomic_load(&s->inflight) > 0 && omega__now_ns() < hard) {
      struct timespec ts = {0, 10 * 1000000};
      nanosleep(&ts, NULL);
    }
  }
}

/* Free heap past this is handed back to the system, checked this often. Large blocks are
 * mapped apart (omega__heap_server_policy), so what can pile up here is a peak of small ones
 * (many threads' worth of mid-sized requests); without a trim it would keep the resident size
 * at its height. The free
 * chunks stay in the allocator's bins (only their pages go back), so the free bytes do not
 * fall and the check trims again each time: a walk of the free lists (1 ms for 100 MiB free in
 * 1 KiB chunks on a Zen 5 EPYC; handing 200 MiB of pages back took 18 ms there). */
#define HEAP_TRIM_MIN_FREE ((size_t)32 << 20)
#define HEAP_TRIM_EVERY_NS 10000000000LL

static int serve(omega_server_t *s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  watcher_t *w = s->boot.omega_config_file[0] ? watch_start(s, s->boot.omega_config_file) : NULL;
  int64_t next_trim = omega__now_ns() + HEAP_TRIM_EVERY_NS;
  for (;;) {
    struct timespec to = {0, 200 * 1000000};
    int sig = sigtimedwait(&set, NULL, &to);
    if (omega__now_ns() >= next_trim) {
      omega__heap_trim(HEAP_TRIM_MIN_FREE);
      next_trim = omega__now_ns() + HEAP_TRIM_EVERY_NS;
    }
    if (sig == SIGHUP) {
      reload(s, "SIGHUP");
    } else if (sig == SIGTERM || sig == SIGINT) {
      omega__log(OMEGA_LOG_INFO, "%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  watch_stop(w);
  drain(s);
  return 0;
}

int omega__server_run(omega_config_t *cfg) {
  omega__heap_server_policy();
  omega_server_t *s = omega__calloc(1, sizeof *s);
  if (!s)
    return 1;
  s->cfg = cfg;
  s->start_ns = omega__now_ns();
  omega__config_get(cfg, &s->boot);
  set_hot_values(s, &s->boot);
  pthread_mutex_init(&s->pending_mu, NULL);
  pthread_rwlock_init(&s->access_lock, NULL);
  int rc = 0, status = 1;
  size_t nonces = 0;
  omega_access_t access = {0};
  if (!s->boot.omega_model[0]) {
    omega__log(OMEGA_LOG_ERROR, "no model: pass --model DIR (or set OMEGA_MODEL)");
    goto out;
  }
  if (omega__metrics_create(&s->metrics) != 0 ||
      (rc = omega__workq_create((int)s->boot.omega_workers, (size_t)s->boot.omega_worker_queue, &s->wq)) ||
      (rc = nonce_capacity(&s->boot, &nonces)) || (rc = omega__auth_create(nonces, &s->auth)) ||
      (rc = omega__server_load_secret(s, &s->boot)) || (rc = omega__fault_configure(s->boot.omega_fault_inject)) ||
      (rc = omega__auth_limit_create(&s->auth_limit)) || (rc = omega__access_prepare(&s->boot, &access))) {
    omega__log(OMEGA_LOG_ERROR, "start-up failed: %s", omega_errmsg());
    goto out;
  }
  omega__access_commit(s, &access);
  if ((s->boot.omega_tls_cert_file[0] || s->boot.omega_tls_key_file[0]) &&
      (rc = omega__tls_create(s->boot.omega_tls_cert_file, s->boot.omega_tls_key_file, &s->tls))) {
    omega__log(OMEGA_LOG_ERROR, "start-up failed: %s", omega_errmsg());
    goto out;
  }
  omega__server_metrics_init(s);
  snprintf(s->not_ready_reason, sizeof s->not_ready_reason, "starting");
  raise_fd_limit(&s->boot);
  if (geteuid() == 0)
    omega__log(OMEGA_LOG_WARN, "running as root: omega needs no privileges; run it as an unprivileged user");
  if ((rc = start_http(s))) {
    omega__log(OMEGA_LOG_ERROR, "%s", omega_errmsg());
    goto out;
  }
  if (s->tls) {
    const double days = (double)(omega__tls_not_after(s->tls) - (int64_t)time(NULL)) / 86400.0;
    omega__log(days < 14 ? OMEGA_LOG_WARN : OMEGA_LOG_INFO, "TLS: certificate %s expires in %.1f days",
               s->boot.omega_tls_cert_file, days);
  }
  omega__log(OMEGA_LOG_INFO, "listening on %s://%s:%d%s%s", s->tls ? "https" : "http", s->boot.omega_host, s->port,
            s->boot.omega_unix_socket[0] ? " and unix:" : "", s->boot.omega_unix_socket);
  if (s->access.keys)
    omega__log(OMEGA_LOG_INFO, "API keys: %zu from %s; public endpoints: %s", omega__apikeys_count(s->access.keys),
               s->boot.omega_api_keys_file, s->boot.omega_api_keys_public[0] ? s->boot.omega_api_keys_public : "none");
  else
    omega__log(is_loopback(s->boot.omega_host) ? OMEGA_LOG_INFO : OMEGA_LOG_WARN,
               "no API keys (OMEGA_API_KEYS_FILE): the data plane is open to anyone who reaches %s",
               s->boot.omega_host);
  if (!omega__auth_has_secret(s->auth))
    omega__log(OMEGA_LOG_WARN, "no HMAC secret configured: /invoke and /accel/config answer 503");
  else
    omega__log(OMEGA_LOG_INFO, "HMAC replay cache: %zu nonces, enough for %.0f signed requests/s sustained", nonces,
              (double)nonces / (double)(2 * s->boot.omega_hmac_window_s + 1));
  if (omega__watchdog_start(s) != 0) {
    omega__log(OMEGA_LOG_ERROR, "cannot start the watchdog thread");
    goto out;
  }
  snprintf(s->not_ready_reason, sizeof s->not_ready_reason, "opening the collections");
  if ((rc = omega__colls_open(&s->boot, s->metrics, &s->colls))) {
    omega__log(OMEGA_LOG_ERROR, "cannot open the collections: %s", omega_errmsg());
    omega__watchdog_stop(s);
    goto out;
  }
  if ((rc = load_model(s))) {
    omega__log(OMEGA_LOG_ERROR, "cannot serve the model: %s", omega_errmsg());
    omega__watchdog_stop(s);
    goto out;
  }
  omega__config_set_apply(cfg, omega__server_apply, s);
  atomic_store(&s->ready, 1);
  omega__log(OMEGA_LOG_INFO, "ready: model %s (%s, dim %d, max length %d), %d threads", s->model_name,
            s->info.architecture, s->info.dim, s->info.max_seq_length, s->info.threads);
  status = serve(s);
  omega__watchdog_stop(s);
out:
  omega__config_set_apply(cfg, NULL, NULL);
  if (s->listener && s->boot.omega_unix_socket[0])
    unlink(s->boot.omega_unix_socket);
  omega__listener_halt(s->listener);
  if (s->daemon)
    MHD_stop_daemon(s->daemon);
  omega__listener_free(s->listener);
  if (s->engine)
    omega_engine_close(s->engine);
  omega__workq_destroy(s->wq);
  omega__colls_close(s->colls); /* after the last request: a checkpoint each */
  omega__auth_free(s->auth);
  omega__auth_limit_free(s->auth_limit);
  omega__tls_free(s->tls);
  omega__apikeys_free(s->access.keys);
  pthread_rwlock_destroy(&s->access_lock);
  omega__metrics_free(s->metrics);
  pthread_mutex_destroy(&s->pending_mu);
  if (status == 0)
    omega__log(OMEGA_LOG_INFO, "stopped cleanly");
  omega__free(s);
  return status;
}

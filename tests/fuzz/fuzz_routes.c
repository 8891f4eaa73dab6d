/* Fuzz target: the JSON body of every route that reads one, through the whole server. The
 * first call writes a tiny random-weight model (omega-genmodel), starts a real `omega serve`
 * in this process on a unix socket and creates two collections; every input then is one
 * request on a kept-alive connection: its first byte picks the route, the rest is the body.
 * /invoke is signed by the harness, so its actions are reached. Each answer must be a JSON
 * body with a status from the documented set (2xx, or 4xx / 503 / 504 / 507 with an
 * "error"): a 500, a malformed answer, a hang (30 s) or a dropped connection aborts, and so
 * does any sanitizer report in the server's threads.
 *
 * Collections keep their state from one input to the next, so a finding may need the inputs
 * before it: libFuzzer's -runs with the corpus replays them. fuzz_routes_rerank.c builds the
 * same harness over a cross-encoder, for /rerank and /predict. */
#include "config/config.h"
#include "config/library_opts.h"
#include "server/auth.h"
#include "server/server.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef OMEGA_FUZZ_RERANK
#define OMEGA_FUZZ_RERANK 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-routes-secret-0123456789abcdef";

/* The routes with a body; "fz" is a flat cosine collection of the model's dimension (text
 * queries work on it), "fh" an HNSW l2 collection of dimension 4. */
static const char *const routes[] = {
    "/embed",
    "/v1/embeddings",
    "/tokenize",
    "/rerank",
    "/predict",
    "/invoke",
    "/collections",
    "/collections/fz/upsert",
    "/collections/fz/delete",
    "/collections/fz/search",
    "/collections/fz/compact",
    "/collections/fz/snapshot",
    "/collections/fh/upsert",
    "/collections/fh/delete",
    "/collections/fh/search",
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static char dir[256], sock_path[300];
static pthread_t server_thread;
static omega_config_t *cfg;
static int fd = -1;
static unsigned long long n_inputs, n_by_class[N_ROUTES][6]; /* 2xx, 4xx, 503, 504, 507 */

static void *serve(void *arg) {
  (void)arg;
  omega__server_run(cfg);
  return NULL;
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_routes: %s\n", what);
  abort();
}

static void connect_server(void) {
  if (fd >= 0)
    close(fd);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    fd = -1;
    return;
  }
  struct timeval tv = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int send_all(const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

typedef struct {
  int status;
  bool close;
  char *body;
  size_t len;
} answer_t;

/* One request and its answer; -1 when the connection failed before an answer began. */
static int request(const char *method, const char *path, const void *body, size_t len, answer_t *ans) {
  char head[1024];
  int hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n", method, path, len);
  if (strcmp(path, "/invoke") == 0) {
    char ts[24], nonce[40], sig[68];
    static unsigned long long seq;
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    snprintf(nonce, sizeof nonce, "fuzz-%020llu", ++seq);
    omega__auth_sign(secret, sizeof secret - 1, ts, nonce, method, path, body, len, sig);
    hl += snprintf(head + hl, sizeof head - (size_t)hl,
                   "X-Omega-Timestamp: %s\r\nX-Omega-Nonce: %s\r\nX-Omega-Signature: %s\r\n", ts, nonce, sig);
  }
  hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
  if (fd < 0)
    connect_server();
  if (fd < 0 || send_all(head, (size_t)hl) || send_all(body, len))
    return -1;
  static char buf[1 << 20];
  size_t got = 0;
  char *end = NULL;
  while (!end) {
    if (got == sizeof buf - 1)
      die("answer head too large");
    ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (got)
        die("connection closed inside an answer head");
      return -1;
    }
    got += (size_t)n;
    buf[got] = 0;
    end = strstr(buf, "\r\n\r\n");
  }
  *end = 0;
  if (sscanf(buf, "HTTP/1.1 %d", &ans->status) != 1)
    die("no status line");
  const char *cl = strcasestr(buf, "\r\ncontent-length:");
  if (!cl)
    die("answer without Content-Length");
  const size_t body_len = strtoull(cl + 17, NULL, 10);
  ans->close = strcasestr(buf, "\r\nconnection: close") != NULL;
  const size_t head_len = (size_t)(end + 4 - buf);
  ans->body = malloc(body_len + 1);
  if (!ans->body)
    die("out of memory");
  size_t have = got - head_len < body_len ? got - head_len : body_len;
  memcpy(ans->body, buf + head_len, have);
  while (have < body_len) {
    ssize_t n = recv(fd, ans->body + have, body_len - have, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die("connection closed inside an answer body");
    have += (size_t)n;
  }
  ans->body[body_len] = 0;
  ans->len = body_len;
  if (ans->close) {
    close(fd);
    fd = -1;
  }
  return 0;
}

/* A request the harness itself makes; its answer must have this status. */
static void must(const char *method, const char *path, const char *body, int want) {
  answer_t a;
  for (int tries = 0; tries < 200; tries++) {
    if (request(method, path, body, strlen(body), &a) == 0) {
      if (a.status != want) {
        fprintf(stderr, "fuzz_routes: %s %s answered %d: %s\n", method, path, a.status, a.body);
        abort();
      }
      free(a.body);
      return;
    }
    usleep(50000); /* the server is still starting */
  }
  die("the server never answered");
}

static void stop(void) {
  if (fd >= 0)
    close(fd);
  /* what the inputs reached: a harness whose requests all fail reaches no parser's end */
  unsigned long long ok = 0;
  fprintf(stderr, "fuzz_routes: %llu inputs; per route 2xx/4xx/503/504/507:", n_inputs);
  for (size_t i = 0; i < N_ROUTES; i++) {
    fprintf(stderr, " %s %llu/%llu/%llu/%llu/%llu", routes[i], n_by_class[i][0], n_by_class[i][1], n_by_class[i][2],
            n_by_class[i][3], n_by_class[i][4]);
    ok += n_by_class[i][0];
  }
  fputc('\n', stderr);
  if (n_inputs >= 100 && !ok)
    die("no input was answered 2xx");
  pthread_kill(server_thread, SIGTERM);
  pthread_join(server_thread, NULL);
  omega__config_free(cfg);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "fuzz_routes: could not remove %s\n", dir);
}

static void start(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/omega-fuzz-routes-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    die("mkdtemp failed");
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s '%s' --out '%s/model' --vocab '%s/data/vocab/bert-base-uncased-vocab.txt' --hidden 32 --layers 1 "
           "--heads 2 --intermediate 64 --max-seq-length 64 %s > /dev/null 2>&1",
           OMEGA_EMULATOR, OMEGA_GENMODEL, dir, OMEGA_SOURCE_DIR, OMEGA_FUZZ_RERANK ? "--head rerank --num-labels 1" : "");
  if (system(cmd) != 0)
    die("omega-genmodel failed");
  snprintf(sock_path, sizeof sock_path, "%s/omega.sock", dir);
  char model[300], data[300], sock[320], sec[96];
  snprintf(model, sizeof model, "OMEGA_MODEL=%s/model", dir);
  snprintf(data, sizeof data, "OMEGA_DATA_DIR=%s/data", dir);
  snprintf(sock, sizeof sock, "OMEGA_UNIX_SOCKET=%s", sock_path);
  snprintf(sec, sizeof sec, "OMEGA_HMAC_SECRET=%s", secret);
  /* one engine thread and few workers keep the fuzzer's own thread busy; the memory limit
   * keeps the collections bounded (an upsert past it gets 507) */
  const char *const pairs[] = {model, data, sock, sec, "OMEGA_PORT=0", "OMEGA_ACCEL=cpu", "EMBED_THREADS=1",
                               "OMEGA_WORKERS=2", "OMEGA_IO_THREADS=2", "OMEGA_LOG_LEVEL=error",
                               "OMEGA_INDEX_FSYNC=interval", "OMEGA_INDEX_MEMORY_LIMIT_MB=64",
                               "OMEGA_HMAC_MAX_RATE=1000000", "OMEGA_NONCE_CACHE=1000000",
                               "OMEGA_AUTH_MAX_FAILURES=1000000", "OMEGA_REQUEST_TIMEOUT_MS=20000"};
  omega_settings_t boot;
  if (omega__config_create(pairs, sizeof pairs / sizeof pairs[0], &cfg) != 0)
    die("bad settings");
  omega__config_get(cfg, &boot);
  if (omega__config_force_cpu(&boot) != 0)
    die("bad settings");
  /* The server's threads block SIGTERM, SIGINT and SIGHUP (its sigtimedwait takes them); this
   * thread does not, so a signal to the process still reaches libFuzzer, which stops as it
   * always does, and stop() then hands SIGTERM to the server thread itself. */
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  omega__server_block_signals();
  const int started = pthread_create(&server_thread, NULL, serve, NULL);
  pthread_sigmask(SIG_SETMASK, &mask, NULL);
  if (started != 0)
    die("cannot start the server");
  /* No OpenSSL exit handler: run before stop() has joined the server's threads, it removes
   * the thread-exit hook that frees each thread's OpenSSL error state, which LeakSanitizer
   * then reports (`omega serve` joins its threads before it exits and has no such leak). */
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
  atexit(stop);
  for (int i = 0; i < 600; i++) { /* /ready: the model is loaded and warmed */
    answer_t a;
    if (request("GET", "/ready", "", 0, &a) == 0) {
      free(a.body);
      if (a.status == 200)
        break;
    }
    usleep(50000);
  }
  char fz[128];
  snprintf(fz, sizeof fz, "{\"name\":\"fz\",\"dim\":%d,\"metric\":\"cosine\"}", OMEGA_FUZZ_RERANK ? 4 : 32);
  must("POST", "/collections", fz, 201);
  must("POST", "/collections", "{\"name\":\"fh\",\"dim\":4,\"metric\":\"l2\",\"kind\":\"hnsw\"}", 201);
}

/* Collections the inputs created: dropped once there are more than a few, so that a long
 * run does not fill the disk. */
static void drop_extra_collections(void) {
  answer_t a;
  if (request("GET", "/collections", "", 0, &a) != 0)
    return;
  json_t *doc = json_loads(a.body, 0, NULL);
  free(a.body);
  json_t *list = json_object_get(doc, "collections"), *c;
  size_t i;
  if (json_array_size(list) > 8)
    json_array_foreach(list, i, c) {
      const char *name = json_string_value(json_object_get(c, "name"));
      if (name && strcmp(name, "fz") != 0 && strcmp(name, "fh") != 0) {
        char path[128];
        snprintf(path, sizeof path, "/collections/%s", name);
        answer_t d;
        if (request("DELETE", path, "", 0, &d) == 0)
          free(d.body);
      }
    }
  json_decref(doc);
}

static bool status_allowed(int s) {
  return (s >= 200 && s < 300) || (s >= 400 && s < 500) || s == 503 || s == 504 || s == 507;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!cfg)
    start();
  if (size == 0)
    return 0;
  const char *path = routes[data[0] % N_ROUTES];
  answer_t a;
  if (request("POST", path, data + 1, size - 1, &a) != 0) {
    /* the server may close an idle kept-alive connection; a fresh one must answer */
    connect_server();
    if (request("POST", path, data + 1, size - 1, &a) != 0)
      die("no answer on a fresh connection");
  }
  json_error_t err;
  json_t *doc = json_loadb(a.body, a.len, 0, &err);
  const bool error_shape = a.status < 300 || json_is_string(json_object_get(doc, "error"));
  if (!status_allowed(a.status) || !doc || !error_shape) {
    fprintf(stderr, "fuzz_routes: POST %s answered %d with %s: %.*s\n", path, a.status,
            !doc ? "a body that is not JSON" : !error_shape ? "an error without \"error\"" : "that status",
            (int)(a.len < 2000 ? a.len : 2000), a.body);
    abort();
  }
  const size_t r = data[0] % N_ROUTES;
  n_by_class[r][a.status < 300 ? 0 : a.status < 500 ? 1 : a.status == 503 ? 2 : a.status == 504 ? 3 : 4]++;
  json_decref(doc);
  free(a.body);
  if (++n_inputs % 256 == 0)
    drop_extra_collections();
  return 0;
}

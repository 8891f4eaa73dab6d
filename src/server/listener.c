#include "server/listener.h"

#include "core/alloc.h"
#include "core/log.h"
#include "server/addr_count.h"
#include "server/http_head.h"
#include "server/server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* A bad head's answer is written and the connection read until the client closes, for at
 * most this long: closing with unread bytes would reset the connection and the client could
 * lose the answer before reading it. */
#define LINGER_MS 2000

typedef enum { WAIT_HEAD, LINGER } pend_state_t;

typedef struct {
  int fd;
  pend_state_t state;
  int64_t deadline_ns;
  size_t idx; /* in the listener's array */
  struct sockaddr_storage addr;
  socklen_t addr_len;
} pending_t;

struct omega_listener {
  omega_server_t *s;
  int ep, wake, lfd[2];
  pthread_t th;
  bool running;
  atomic_int stop, stop_accepting;
  atomic_size_t open;
  omega_addr_count_t per_ip;
  pending_t **pend;
  size_t n_pend, cap_pend;
  char *peek; /* the bytes a head check looks at */
  size_t peek_cap;
  int reserve_fd; /* given up to accept and close a client when the process runs out of descriptors */
  int64_t last_warn_ns;
  int64_t next_sweep_ns;
};

size_t omega__listener_open(const omega_listener_t *l) { return l ? atomic_load(&l->open) : 0; }

void omega__listener_conn_opened(omega_listener_t *l, const struct sockaddr *addr) {
  atomic_fetch_add(&l->open, 1);
  omega__addr_count_add(&l->per_ip, addr);
}

void omega__listener_conn_closed(omega_listener_t *l, const struct sockaddr *addr) {
  atomic_fetch_sub(&l->open, 1);
  omega__addr_count_release(&l->per_ip, addr);
}

static void refused(omega_listener_t *l, const char *reason) {
  omega__series_add(omega__series(l->s->m.conns_refused, reason, NULL, NULL), 1);
}

/* One JSON error answer and the end of the connection's writing. */
static void answer(int fd, int status, const char *type, const char *message, bool retry) {
  char body[512], resp[1024];
  const char *text = status == 503 ? "Service Unavailable" : status == 408 ? "Request Timeout"
                     : status == 414 ? "URI Too Long" : status == 431 ? "Request Header Fields Too Large"
                     : status == 501 ? "Not Implemented" : status == 505 ? "HTTP Version Not Supported"
                                     : "Bad Request";
  omega_buf_t b = {0};
  omega__buf_error(&b, message, type);
  snprintf(body, sizeof body, "%.*s", b.err ? 0 : (int)b.len, b.err ? "" : b.data);
  omega__buf_free(&b);
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
                   status, text, retry ? "Retry-After: 1\r\n" : "", strlen(body), body);
  if (n > 0 && send(fd, resp, (size_t)n < sizeof resp ? (size_t)n : sizeof resp - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    omega__log(OMEGA_LOG_DEBUG, "http: answering a refused connection: %s", strerror(errno));
  shutdown(fd, SHUT_WR);
}

static void warn_limited(omega_listener_t *l, const char *fmt, const char *what) {
  const int64_t now = omega__now_ns();
  if (now - l->last_warn_ns > 10000000000LL) { /* once every 10 s: a flood must not flood the log */
    l->last_warn_ns = now;
    omega__log(OMEGA_LOG_WARN, fmt, what);
  }
}

/* ---- connections waiting for their first request head ---- */

static pending_t *pend_add(omega_listener_t *l, int fd, const struct sockaddr_storage *addr, socklen_t alen) {
  if (l->n_pend == l->cap_pend) {
    size_t nc = l->cap_pend ? l->cap_pend * 2 : 256;
    pending_t **np = omega__realloc(l->pend, nc * sizeof *np);
    if (!np)
      return NULL;
    l->pend = np;
    l->cap_pend = nc;
  }
  pending_t *p = omega__calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->fd = fd;
  p->state = WAIT_HEAD;
  p->deadline_ns = omega__now_ns() + atomic_load(&l->s->head_timeout_ms) * 1000000;
  p->addr = *addr;
  p->addr_len = alen;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.ptr = p};
  if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    omega__free(p);
    return NULL;
  }
  p->idx = l->n_pend;
  l->pend[l->n_pend++] = p;
  return p;
}

/* Forget p (its descriptor is closed or handed over already). */
static void pend_remove(omega_listener_t *l, pending_t *p) {
  l->pend[p->idx] = l->pend[--l->n_pend];
  l->pend[p->idx]->idx = p->idx;
  omega__free(p);
}

static void pend_close(omega_listener_t *l, pending_t *p) {
  epoll_ctl(l->ep, EPOLL_CTL_DEL, p->fd, NULL);
  close(p->fd);
  omega__listener_conn_closed(l, (const struct sockaddr *)&p->addr);
  pend_remove(l, p);
}

static void drain_input(int fd) {
  char junk[4096];
  while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
  }
}

/* Answer a bad head and keep reading until the client closes or LINGER_MS pass. */
static void pend_refuse(omega_listener_t *l, pending_t *p, const omega_head_verdict_t *v) {
  drain_input(p->fd);
  answer(p->fd, v->status, v->type, v->message, false);
  refused(l, v->status == 414 || v->status == 431 ? "head_too_large" : "malformed");
  omega__log(OMEGA_LOG_DEBUG, "http: refused a request head: %d %s", v->status, v->message);
  p->state = LINGER;
  p->deadline_ns = omega__now_ns() + (int64_t)LINGER_MS * 1000000;
}

/* Give the connection to libmicrohttpd, which reads the head again from the socket. */
static void pend_hand_over(omega_listener_t *l, pending_t *p) {
  epoll_ctl(l->ep, EPOLL_CTL_DEL, p->fd, NULL);
  const int fd = p->fd;
  struct sockaddr_storage addr = p->addr;
  const socklen_t alen = p->addr_len;
  /* libmicrohttpd's connection notice counts it again from here */
  omega__listener_conn_closed(l, (const struct sockaddr *)&addr);
  pend_remove(l, p);
  if (MHD_add_connection(l->s->daemon, fd, (const struct sockaddr *)&addr, alen) != MHD_YES) {
    /* libmicrohttpd closes the socket itself on failure */
    refused(l, "limit");
    warn_limited(l, "http: libmicrohttpd refused a connection (%s)", strerror(errno));
  }
}

static void on_pending(omega_listener_t *l, pending_t *p) {
  if (p->state == LINGER) {
    char junk[4096];
    ssize_t n;
    while ((n = recv(p->fd, junk, sizeof junk, MSG_DONTWAIT)) > 0) {
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      pend_close(l, p);
    return;
  }
  const ssize_t n = recv(p->fd, l->peek, l->peek_cap, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    pend_close(l, p);
    return;
  }
  if (n < 0)
    return;
  if (l->s->tls) {
    /* HTTPS: libmicrohttpd does the handshake, and the heads are judged once decrypted (in
     * http.c's head_acceptable). A plain-HTTP client (its first byte a method's letter, not a
     * TLS record's 0x16) is told so instead of getting a failed handshake. */
    if ((unsigned char)l->peek[0] == 0x16) {
      pend_hand_over(l, p);
    } else {
      const omega_head_verdict_t plain = {400, "bad_request", "this server speaks HTTPS: use an https:// URL"};
      pend_refuse(l, p, &plain);
    }
    return;
  }
  omega_head_verdict_t v;
  const omega_head_state_t st =
      omega__http_head_check(l->peek, (size_t)n, (size_t)l->s->boot.omega_http_max_head_bytes,
                             (size_t)l->s->boot.omega_http_max_target_bytes, &v);
  if (st == OMEGA_HEAD_OK)
    pend_hand_over(l, p);
  else if (st == OMEGA_HEAD_BAD)
    pend_refuse(l, p, &v);
}

/* Close what has waited too long: a head that did not arrive, a lingering close. The scan
 * covers every waiting connection, so it runs every 10 ms at most, not on each wake-up (the
 * head timeout is at least 100 ms). */
static void sweep(omega_listener_t *l) {
  const int64_t now = omega__now_ns();
  if (now < l->next_sweep_ns)
    return;
  l->next_sweep_ns = now + 10000000;
  for (size_t i = 0; i < l->n_pend;) {
    pending_t *p = l->pend[i];
    if (now < p->deadline_ns) {
      i++;
      continue;
    }
    if (p->state == WAIT_HEAD) {
      char msg[128];
      snprintf(msg, sizeof msg, "the request head did not arrive within %lld ms",
               atomic_load(&l->s->head_timeout_ms));
      drain_input(p->fd);
      answer(p->fd, 408, "timeout", msg, false);
      refused(l, "head_timeout");
    }
    pend_close(l, p); /* moves the last entry to i */
  }
}

/* ---- accepting ---- */

static void accept_all(omega_listener_t *l, int lfd) {
  for (;;) {
    struct sockaddr_storage addr;
    socklen_t alen = sizeof addr;
    int fd = accept4(lfd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if ((errno == EMFILE || errno == ENFILE) && l->reserve_fd >= 0) {
        /* out of descriptors: take the client with the one kept back, tell it, close it */
        close(l->reserve_fd);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
          answer(fd, 503, "overloaded", "the server is out of file descriptors", true);
          close(fd);
        }
        l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        refused(l, "limit");
        warn_limited(l, "http: %s", "out of file descriptors: connections are refused (raise the open-files limit)");
        continue;
      }
      return; /* EAGAIN: all taken */
    }
    const struct sockaddr *sa = (const struct sockaddr *)&addr;
    const size_t limit = (size_t)l->s->boot.omega_max_connections;
    if (atomic_load(&l->stop_accepting)) {
      answer(fd, 503, "unavailable", "the server is shutting down", true);
      close(fd);
    } else if (atomic_load(&l->open) >= limit) {
      answer(fd, 503, "overloaded", "too many connections to this server, retry later", true);
      close(fd);
      refused(l, "limit");
      warn_limited(l, "http: %s", "the connection limit (OMEGA_MAX_CONNECTIONS) is reached: connections are refused");
    } else if (!omega__addr_count_acquire(&l->per_ip, sa, (size_t)atomic_load(&l->s->max_conns_per_ip))) {
      answer(fd, 503, "overloaded", "too many connections from this address, retry later", true);
      close(fd);
      refused(l, "per_address_limit");
      warn_limited(l, "http: %s",
                   "a client address reached OMEGA_MAX_CONNECTIONS_PER_IP: its further connections are refused");
    } else {
      atomic_fetch_add(&l->open, 1);
      pending_t *p = pend_add(l, fd, &addr, alen);
      if (!p) {
        close(fd);
        omega__listener_conn_closed(l, sa);
        refused(l, "limit");
      } else {
        on_pending(l, p); /* a client that sent at once is handed over without another wait */
      }
    }
  }
}

static void close_listening(omega_listener_t *l) {
  for (int i = 0; i < 2; i++)
    if (l->lfd[i] >= 0) {
      epoll_ctl(l->ep, EPOLL_CTL_DEL, l->lfd[i], NULL);
      close(l->lfd[i]);
      l->lfd[i] = -1;
    }
}

static void *run(void *arg) {
  omega_listener_t *l = arg;
  struct epoll_event evs[64];
  while (!atomic_load(&l->stop)) {
    const int n = epoll_wait(l->ep, evs, 64, 50);
    for (int i = 0; i < n; i++) {
      void *tag = evs[i].data.ptr;
      if (tag == &l->lfd[0] || tag == &l->lfd[1]) {
        const int fd = *(int *)tag;
        if (fd >= 0)
          accept_all(l, fd);
      } else if (tag == &l->wake) {
        uint64_t v;
        if (read(l->wake, &v, sizeof v) < 0 && errno != EAGAIN)
          omega__log(OMEGA_LOG_DEBUG, "http: listener wake-up: %s", strerror(errno));
      } else {
        on_pending(l, tag);
      }
    }
    if (atomic_load(&l->stop_accepting))
      close_listening(l);
    sweep(l);
  }
  return NULL;
}

int omega__listener_start(omega_server_t *s, int tcp_fd, int unix_fd, omega_listener_t **out) {
  omega_listener_t *l = omega__calloc(1, sizeof *l);
  if (!l)
    return omega__seterr(OMEGA_ENOMEM, "listener: out of memory");
  l->ep = l->wake = l->reserve_fd = -1;
  l->s = s;
  l->lfd[0] = tcp_fd;
  l->lfd[1] = unix_fd;
  l->peek_cap = (size_t)s->boot.omega_http_max_head_bytes + 1;
  l->peek = omega__malloc(l->peek_cap);
  l->ep = epoll_create1(EPOLL_CLOEXEC);
  l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int rc = l->peek && l->ep >= 0 && l->wake >= 0 ? 0 : omega__seterr(OMEGA_ENOMEM, "listener: %s", strerror(errno));
  if (rc == 0)
    rc = omega__addr_count_init(&l->per_ip, (size_t)s->boot.omega_max_connections);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->wake};
  if (rc == 0 && epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ev) != 0)
    rc = omega__seterr(OMEGA_EIO, "listener: epoll: %s", strerror(errno));
  for (int i = 0; i < 2 && rc == 0; i++) {
    if (l->lfd[i] < 0)
      continue;
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &l->lfd[i]};
    if (fcntl(l->lfd[i], F_SETFL, fcntl(l->lfd[i], F_GETFL) | O_NONBLOCK) != 0 ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd[i], &ev) != 0)
      rc = omega__seterr(OMEGA_EIO, "listener: %s", strerror(errno));
  }
  if (rc == 0 && pthread_create(&l->th, NULL, run, l) != 0)
    rc = omega__seterr(OMEGA_ENOMEM, "listener: cannot start its thread");
  l->running = rc == 0;
  if (rc) {
    l->lfd[0] = l->lfd[1] = -1; /* the caller still owns them */
    omega__listener_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

void omega__listener_stop_accepting(omega_listener_t *l) {
  if (!l)
    return;
  atomic_store(&l->stop_accepting, 1);
  const uint64_t one = 1;
  if (write(l->wake, &one, sizeof one) < 0)
    omega__log(OMEGA_LOG_DEBUG, "http: waking the listener: %s", strerror(errno));
}

void omega__listener_halt(omega_listener_t *l) {
  if (!l || !l->running)
    return;
  atomic_store(&l->stop, 1);
  omega__listener_stop_accepting(l);
  pthread_join(l->th, NULL);
  l->running = false;
}

void omega__listener_free(omega_listener_t *l) {
  if (!l)
    return;
  omega__listener_halt(l);
  while (l->n_pend)
    pend_close(l, l->pend[0]);
  close_listening(l);
  if (l->ep >= 0)
    close(l->ep);
  if (l->wake >= 0)
    close(l->wake);
  if (l->reserve_fd >= 0)
    close(l->reserve_fd);
  omega__addr_count_free(&l->per_ip);
  omega__free(l->pend);
  omega__free(l->peek);
  omega__free(l);
}

#include "core/alloc.h"

#include "core/error_internal.h"
#include "omega/alloc.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The fast path is one relaxed load compared with MODE_LIBC_USED: the C library's allocator,
 * already used, no test mode. Any other mode takes the slow path, which also marks the
 * allocator used (so omega_set_allocator can refuse a late install). */
enum { MODE_USED = 1, MODE_HOOK = 2, MODE_FAIL = 4 };
#define MODE_LIBC_USED MODE_USED

static atomic_int mode;
static omega_allocator_t hook;
static atomic_long counted, fail_at;
static atomic_bool fail_all_later;

static void json_free(void *p) { omega__free(p); }
static void *json_malloc(size_t size);

/* jansson's allocations join the hook whenever it is not plain libc: its results (json_dumps'
 * text included) are then freed with omega__free, which is libc's free otherwise. */
static void route_jansson(void) { json_set_alloc_funcs(json_malloc, json_free); }

int omega_set_allocator(const omega_allocator_t *a) {
  int m = atomic_load(&mode);
  if (m & MODE_USED)
    return omega__seterr(OMEGA_EINVAL, "omega_set_allocator: Omega has already allocated memory");
  if (a && (!a->malloc || !a->realloc || !a->aligned_alloc || !a->free))
    return omega__seterr(OMEGA_EINVAL, "omega_set_allocator: every function is required");
  if (a) {
    hook = *a;
    route_jansson();
  }
  atomic_store(&mode, a ? (m | MODE_HOOK) : (m & ~MODE_HOOK));
  return OMEGA_OK;
}

/* False when the test mode fails this allocation. */
static bool admit(int m) {
  if (!(m & MODE_USED))
    atomic_fetch_or(&mode, MODE_USED);
  if (!(m & MODE_FAIL))
    return true;
  long n = atomic_fetch_add(&counted, 1) + 1, at = atomic_load(&fail_at);
  return at <= 0 || n < at || (n > at && !atomic_load(&fail_all_later));
}

#define SLOW(m) __builtin_expect((m) != MODE_LIBC_USED, 0)

/* Never failed by the test mode: jansson 2.14's parser crashes on some of its own
 * out-of-memory paths (akheron/jansson#362), which no caller can handle. */
static void *json_malloc(size_t size) {
  int m = atomic_load_explicit(&mode, memory_order_relaxed);
  return (m & MODE_HOOK) ? hook.malloc(size, hook.user) : malloc(size);
}

void *omega__malloc(size_t size) {
  int m = atomic_load_explicit(&mode, memory_order_relaxed);
  if (SLOW(m)) {
    if (!admit(m))
      return NULL;
    if (m & MODE_HOOK)
      return hook.malloc(size, hook.user);
  }
  return malloc(size);
}

void *omega__calloc(size_t n, size_t size) {
  int m = atomic_load_explicit(&mode, memory_order_relaxed);
  if (SLOW(m)) {
    if (!admit(m))
      return NULL;
    if (m & MODE_HOOK) {
      if (size && n > SIZE_MAX / size)
        return NULL;
      void *p = hook.malloc(n * size, hook.user);
      if (p)
        memset(p, 0, n * size);
      return p;
    }
  }
  return calloc(n, size);
}

void *omega__realloc(void *ptr, size_t size) {
  int m = atomic_load_explicit(&mode, memory_order_relaxed);
  if (SLOW(m)) {
    if (!admit(m))
      return NULL;
    if (m & MODE_HOOK)
      return ptr ? hook.realloc(ptr, size, hook.user) : hook.malloc(size, hook.user);
  }
  return realloc(ptr, size);
}

void *omega__aligned_alloc(size_t align, size_t size) {
  if (size > SIZE_MAX - (align - 1))
    return NULL;
  size = (size + align - 1) & ~(align - 1);
  int m = atomic_load_explicit(&mode, memory_order_relaxed);
  if (SLOW(m)) {
    if (!admit(m))
      return NULL;
    if (m & MODE_HOOK)
      return hook.aligned_alloc(align, size, hook.user);
  }
  return aligned_alloc(align, size);
}

void omega__free(void *ptr) {
  if (__builtin_expect(atomic_load_explicit(&mode, memory_order_relaxed) & MODE_HOOK, 0)) {
    if (ptr)
      hook.free(ptr, hook.user);
    return;
  }
  free(ptr);
}

char *omega__strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = omega__malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = '\0';
  }
  return d;
}

char *omega__strdup(const char *s) { return omega__strndup(s, SIZE_MAX); }

void omega__alloc_fail_after(long n, bool all_later) {
  if (n < 0) {
    atomic_fetch_and(&mode, ~MODE_FAIL);
    return;
  }
  atomic_store(&fail_at, n);
  atomic_store(&fail_all_later, all_later);
  atomic_store(&counted, 0);
  route_jansson();
  atomic_fetch_or(&mode, MODE_FAIL | MODE_USED);
}

long omega__alloc_count(void) { return atomic_load(&counted); }

#include "core/alloc.h"
#include "core/file.h"

#include "core/error_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_err(const char *path) {
  int e = errno;
  return omega__seterr(e == ENOENT ? OMEGA_ENOENT : OMEGA_EIO, "%s: %s", path, strerror(e));
}

int omega__read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return open_err(path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return omega__seterr(OMEGA_EIO, "%s: not a regular file", path);
  }
  if ((unsigned long long)st.st_size > max_bytes) {
    close(fd);
    return omega__seterr(OMEGA_ERANGE, "%s: file is %lld bytes, more than the %zu allowed", path,
                         (long long)st.st_size, max_bytes);
  }
  size_t n = (size_t)st.st_size;
  char *buf = omega__malloc(n + 1);
  if (!buf) {
    close(fd);
    return omega__seterr(OMEGA_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      int e = errno;
      omega__free(buf);
      close(fd);
      return omega__seterr(OMEGA_EIO, "%s: read failed: %s", path, r == 0 ? "file shrank" : strerror(e));
    }
    got += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

int omega__map_file(const char *path, omega_map_t *map) {
  map->data = NULL;
  map->size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return open_err(path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return omega__seterr(OMEGA_EIO, "%s: not a regular file", path);
  }
  if (st.st_size == 0) {
    close(fd);
    return 0;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED)
    return omega__seterr(OMEGA_EIO, "%s: mmap failed: %s", path, strerror(e));
  map->data = p;
  map->size = (size_t)st.st_size;
  return 0;
}

void omega__unmap_file(omega_map_t *map) {
  if (map->data)
    munmap((void *)map->data, map->size);
  map->data = NULL;
  map->size = 0;
}

int omega__path_join(char *out, size_t cap, const char *dir, const char *name) {
  size_t dl = strlen(dir);
  int n = (dl && dir[dl - 1] == '/') ? snprintf(out, cap, "%s%s", dir, name)
                                     : snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap)
    return omega__seterr(OMEGA_ERANGE, "path too long: %s/%s", dir, name);
  return 0;
}

int omega__is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int omega__is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int omega__mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
    return omega__seterr(OMEGA_ERANGE, "cannot create %.200s...: the path is too long", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return omega__seterr(OMEGA_EIO, "cannot create %s: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    return omega__seterr(OMEGA_EIO, "cannot create %s: %s", tmp, strerror(errno));
  return 0;
}

#ifndef OMEGA_CORE_FILE_H
#define OMEGA_CORE_FILE_H

#include <stddef.h>

/* A read-only file mapping. Empty files map to data == NULL, size == 0. */
typedef struct {
  const unsigned char *data;
  size_t size;
} omega_map_t;

/* Read a whole file (at most max_bytes) into a NUL-terminated heap buffer. */
int omega__read_file(const char *path, size_t max_bytes, char **out, size_t *len);
int omega__map_file(const char *path, omega_map_t *map);
void omega__unmap_file(omega_map_t *map);
/* Join dir and name into out (cap bytes); OMEGA_ERANGE if it does not fit. */
int omega__path_join(char *out, size_t cap, const char *dir, const char *name);
int omega__is_dir(const char *path);
int omega__is_file(const char *path);
/* Create path and the folders above it that are missing (mode 0755); OMEGA_EIO names the one
 * that could not be made. */
int omega__mkdir_p(const char *path);

#endif

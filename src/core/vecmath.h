/* Small vector helpers shared by the engine, the index and the server. */
#ifndef OMEGA_CORE_VECMATH_H
#define OMEGA_CORE_VECMATH_H

#include <stddef.h>

/* v *= (float)(1 / ||v||), the sum of squares in double; a zero vector stays zero. The index's
 * exact reference (tests/index/ref.h) rounds the same way, so ties order alike.
 * PyTorch's F.normalize (sentence-transformers' Normalize) floors the norm at 1e-12 instead:
 * the two differ only below that, where an embedding is noise, and a cosine index needs unit
 * length there too. */
void omega__l2_normalize(float *v, size_t n);
/* v = softmax(v) in place: exponentials shifted by the maximum, their sum in double. */
void omega__softmax(float *v, size_t n);

#endif

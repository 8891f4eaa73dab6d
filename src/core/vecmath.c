#include "core/vecmath.h"

#include <math.h>

void omega__l2_normalize(float *v, size_t n) {
  double ss = 0;
  for (size_t i = 0; i < n; i++)
    ss += (double)v[i] * v[i];
  if (!(ss > 0))
    return;
  const float inv = (float)(1.0 / sqrt(ss));
  for (size_t i = 0; i < n; i++)
    v[i] *= inv;
}

void omega__softmax(float *v, size_t n) {
  if (!n)
    return;
  float mx = v[0];
  for (size_t i = 1; i < n; i++)
    mx = v[i] > mx ? v[i] : mx;
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += (v[i] = expf(v[i] - mx));
  for (size_t i = 0; i < n; i++)
    v[i] = (float)(v[i] / sum);
}

/* OMEGA_API marks each function of the public API. libomega is compiled with hidden
 * visibility (-fvisibility=hidden), so these are the only symbols libomega.so exports; the
 * internal omega__* functions stay inside it. The same attribute serves the shared build and
 * static use: on ELF it only decides what a shared object exports, and on the caller's side
 * it keeps the declarations default even under `#pragma GCC visibility push(hidden)`. */
#ifndef OMEGA_EXPORT_H
#define OMEGA_EXPORT_H

#if defined(__GNUC__)
#define OMEGA_API __attribute__((visibility("default")))
#else
#define OMEGA_API
#endif

#endif

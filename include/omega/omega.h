/* Omega: text embeddings and vector search. Umbrella header for the public C API. */
#ifndef OMEGA_H
#define OMEGA_H

#include "omega/alloc.h"
#include "omega/cpu.h"
#include "omega/error.h"
#include "omega/engine.h"
#include "omega/index.h"
#include "omega/tokenizer.h"
#include "omega/version.h"

#endif

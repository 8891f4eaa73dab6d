#include "omega/version.h"

const char *omega_version(void) { return OMEGA_VERSION_STRING; }

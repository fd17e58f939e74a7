/* rand.h - cryptographic random bytes from getrandom(2). */
#ifndef CROWDSKY_RAND_H
#define CROWDSKY_RAND_H

#include <stddef.h>
#include "err.h"

/* Fills buf with n random bytes. CS_OK or CS_EIO. Thread-safe. */
int cs_random_bytes(void *buf, size_t n, struct cs_err *err);
/* n random bytes as lower-case hex into out (2n+1 bytes). */
int cs_random_hex(char *out, size_t nbytes, struct cs_err *err);

#endif

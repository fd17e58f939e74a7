/* rand.c - getrandom(2) wrapper. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "crowdsky/rand.h"
#include "crowdsky/str.h"

int cs_random_bytes(void *buf, size_t n, struct cs_err *err)
{
        unsigned char *p = buf;

        while (n) {
                ssize_t got = getrandom(p, n, 0);
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return cs_err_set(err, CS_EIO, "getrandom: %s", strerror(errno));
                }
                p += got;
                n -= (size_t)got;
        }
        return CS_OK;
}

int cs_random_hex(char *out, size_t nbytes, struct cs_err *err)
{
        unsigned char tmp[64];
        int r;

        if (nbytes > sizeof tmp)
                return cs_err_set(err, CS_EINVAL, "cs_random_hex: %zu bytes is too many", nbytes);
        r = cs_random_bytes(tmp, nbytes, err);
        if (r < 0)
                return r;
        cs_hex(tmp, nbytes, out);
        return CS_OK;
}

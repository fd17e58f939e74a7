/* err.c - status codes and caller-owned error detail. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crowdsky/err.h"

int cs_err_set(struct cs_err *err, int code, const char *fmt, ...)
{
        if (err) {
                va_list ap;
                err->code = code;
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof err->msg, fmt, ap);
                va_end(ap);
        }
        return code;
}

int cs_err_prefix(struct cs_err *err, const char *fmt, ...)
{
        char pre[CS_ERR_MSG_MAX], old[CS_ERR_MSG_MAX];
        va_list ap;

        if (!err)
                return CS_OK;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof pre, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        /* both halves are bounded so the result is always a (possibly cut) line */
        snprintf(err->msg, sizeof err->msg, "%.*s: %.*s", (int)(sizeof pre / 2), pre,
                 (int)(sizeof old - sizeof pre / 2 - 3), old);
        return err->code;
}

void cs_err_clear(struct cs_err *err)
{
        if (err) {
                err->code = CS_OK;
                err->msg[0] = '\0';
        }
}

const char *cs_status_name(int code)
{
        switch (code) {
        case CS_OK: return "ok";
        case CS_ENOMEM: return "enomem";
        case CS_EINVAL: return "einval";
        case CS_ETOOBIG: return "etoobig";
        case CS_EIO: return "eio";
        case CS_EFITS: return "efits";
        case CS_EDB: return "edb";
        case CS_EAUTH: return "eauth";
        case CS_ENOTFOUND: return "enotfound";
        case CS_ECONFLICT: return "econflict";
        case CS_EREMOTE: return "eremote";
        case CS_ECANCELLED: return "ecancelled";
        case CS_EQUOTA: return "equota";
        case CS_EFORBIDDEN: return "eforbidden";
        case CS_ERATELIMIT: return "eratelimit";
        }
        return "eunknown";
}

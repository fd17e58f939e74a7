/* log.c - one stderr line per event: "<time> <ident> <level> message". */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "crowdsky/log.h"

static enum cs_log_level g_level = CS_LOG_INFO; /* set once at start-up */
static const char *g_ident = "crowdsky";

void cs_log_set_level(enum cs_log_level lvl) { g_level = lvl; }
void cs_log_set_ident(const char *ident) { g_ident = ident; }

void cs_log(enum cs_log_level lvl, const char *fmt, ...)
{
        static const char *names[] = { "error", "warn", "info", "debug" };
        char line[2048];
        struct timespec ts;
        struct tm tm;
        va_list ap;
        int n, m;

        if (lvl > g_level)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, g_ident, names[lvl]);
        va_start(ap, fmt);
        m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m < 0)
                m = 0;
        n += m;
        if ((size_t)n > sizeof line - 2)
                n = (int)sizeof line - 2;
        line[n++] = '\n';
        if (write(STDERR_FILENO, line, (size_t)n) < 0) {
                /* nothing sensible to do when stderr is gone */
        }
}

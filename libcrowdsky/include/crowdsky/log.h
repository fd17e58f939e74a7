/* log.h - one-line key=value logging to stderr (programs log; the library only
 * at CS_LOG_DEBUG). Thread-safe: each line is written with one write(2). */
#ifndef CROWDSKY_LOG_H
#define CROWDSKY_LOG_H

enum cs_log_level { CS_LOG_ERROR = 0, CS_LOG_WARN, CS_LOG_INFO, CS_LOG_DEBUG };

void cs_log_set_level(enum cs_log_level lvl);
void cs_log_set_ident(const char *ident); /* program name shown on each line (borrowed) */
void cs_log(enum cs_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cs_log_error(...) cs_log(CS_LOG_ERROR, __VA_ARGS__)
#define cs_log_warn(...)  cs_log(CS_LOG_WARN, __VA_ARGS__)
#define cs_log_info(...)  cs_log(CS_LOG_INFO, __VA_ARGS__)
#define cs_log_debug(...) cs_log(CS_LOG_DEBUG, __VA_ARGS__)

#endif

/* attempts.c - failed log-ins in the database (table login_attempts): the
 * count every crowdsky-fcgi process behind the same database shares; see
 * crowdsky/auth.h. */
#include <stdio.h>
#include <string.h>

#include "crowdsky/auth.h"
#include "crowdsky/db.h"

/* Failures of one column's value within the window, and the seconds until
 * the oldest of them leaves it. */
static int count_one(struct cs_db *db, const char *sql, const char *value, int window_seconds,
                     int64_t *ret_n, int *ret_retry, struct cs_err *err)
{
        struct cs_db_param p[] = { CS_DB_I64(window_seconds), CS_DB_STR(value), CS_DB_I64(window_seconds) };
        struct cs_db_rows *rows = NULL;
        int r;

        r = cs_db_query(db, sql, p, CS_DB_N(p), &rows, err);
        if (r < 0)
                return r;
        *ret_n = cs_db_rows_count(rows) ? cs_db_rows_i64(rows, 0, 0) : 0;
        *ret_retry = cs_db_rows_count(rows) && !cs_db_rows_isnull(rows, 0, 1) ? (int)cs_db_rows_i64(rows, 0, 1) : 0;
        cs_db_rows_free(rows);
        return CS_OK;
}

int cs_login_failures(struct cs_db *db, const char *user, const char *addr, int window_seconds,
                      unsigned max_failures, int *ret_retry_after, struct cs_err *err)
{
        /* the first ? is the window for the retry time, the last the window itself */
        static const char *const by_user =
                "SELECT COUNT(*), TIMESTAMPDIFF(SECOND, NOW(6), MIN(attempted_at) + INTERVAL ? SECOND) + 1 "
                "FROM login_attempts WHERE username = ? AND success = 0 "
                "AND attempted_at > NOW(6) - INTERVAL ? SECOND";
        static const char *const by_addr =
                "SELECT COUNT(*), TIMESTAMPDIFF(SECOND, NOW(6), MIN(attempted_at) + INTERVAL ? SECOND) + 1 "
                "FROM login_attempts WHERE ip = ? AND success = 0 "
                "AND attempted_at > NOW(6) - INTERVAL ? SECOND";
        char a[46];
        int64_t n;
        int retry = 0, t, r;
        bool blocked = false;

        /* names are compared case-insensitively by the column's collation; a
         * name no account can have is never stored, so it has no count */
        snprintf(a, sizeof a, "%s", addr ? addr : "");
        if (user && cs_user_validate_name(user, NULL) == CS_OK) {
                r = count_one(db, by_user, user, window_seconds, &n, &t, err);
                if (r < 0)
                        return r;
                if (n >= (int64_t)max_failures) {
                        blocked = true;
                        retry = t;
                }
        }
        r = count_one(db, by_addr, a, window_seconds, &n, &t, err);
        if (r < 0)
                return r;
        if (n >= (int64_t)max_failures) {
                blocked = true;
                if (t > retry)
                        retry = t;
        }
        if (ret_retry_after)
                *ret_retry_after = blocked ? (retry > 0 ? retry : 1) : 0;
        return blocked ? 1 : 0;
}

int cs_login_failure_record(struct cs_db *db, const char *user, const char *addr, struct cs_err *err)
{
        char a[46];
        /* a name no account can have (any bytes may come in a Basic header)
         * is stored as NULL: the address still counts */
        bool valid = user && cs_user_validate_name(user, NULL) == CS_OK;
        struct cs_db_param p[] = { valid ? CS_DB_STR(user) : CS_DB_NULL, CS_DB_STR(a) };

        snprintf(a, sizeof a, "%s", addr ? addr : "");
        return cs_db_exec(db, "INSERT INTO login_attempts (username, ip, success) VALUES (?, ?, 0)", p, CS_DB_N(p),
                          NULL, NULL, err);
}

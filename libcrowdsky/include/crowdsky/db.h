/* db.h - MariaDB access over Connector/C prepared statements.
 *
 * Every statement goes through mysql_stmt_* with bound parameters; SQL text is
 * always a constant of the caller, never assembled from input.
 *
 * Threads: one struct cs_db per thread. A handle is not safe to share between
 * threads at the same time (a responder thread or a worker owns its own). The
 * client library is initialised once, thread-safely, by the first cs_db_open.
 *
 * Time: the schema stores times as DATETIME(6) in UTC. cs_db_open sets the
 * session time zone to '+00:00', so NOW(6), UTC_TIMESTAMP(6),
 * FROM_UNIXTIME(?) and UNIX_TIMESTAMP(col) all agree with UTC. DATETIME columns
 * come back as text "YYYY-MM-DD HH:MM:SS[.ffffff]"; select
 * UNIX_TIMESTAMP(col) when epoch seconds are wanted.
 *
 * Reconnects: MYSQL_OPT_RECONNECT stays off. When the connection is found gone
 * (CR_SERVER_GONE_ERROR, CR_SERVER_LOST) outside a transaction, the handle
 * reconnects and prepares again; a statement is replayed only when it cannot
 * have reached the server (lost while preparing, or "gone" before the
 * execute was sent). Inside an open transaction nothing is replayed: the call
 * fails with CS_EDB, the transaction is over (the server rolled it back) and
 * the caller must call cs_db_rollback and start again.
 *
 * Errors: duplicate key (1062) -> CS_ECONFLICT; deadlock (1213) and lock wait
 * timeout (1205) -> CS_ECONFLICT with cs_db_retryable() true (retry the whole
 * transaction); anything else -> CS_EDB with the server's message. */
#ifndef CROWDSKY_DB_H
#define CROWDSKY_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct cs_db;
struct cs_db_rows;

enum cs_db_type {
        CS_DB_T_NULL = 0,
        CS_DB_T_I64,
        CS_DB_T_F64,
        CS_DB_T_STR,  /* text; p == NULL binds SQL NULL */
        CS_DB_T_BLOB, /* bytes; p == NULL binds SQL NULL */
};

/* One bound parameter (`?` in the SQL, in order). Borrowed: p must stay valid
 * for the duration of the call. len == CS_DB_NTS means "NUL-terminated". */
struct cs_db_param {
        enum cs_db_type type;
        int64_t i64;
        double f64;
        const void *p;
        size_t len;
};

#define CS_DB_NTS ((size_t)-1)
#define CS_DB_NULL ((struct cs_db_param){ .type = CS_DB_T_NULL })
#define CS_DB_I64(v) ((struct cs_db_param){ .type = CS_DB_T_I64, .i64 = (int64_t)(v) })
#define CS_DB_F64(v) ((struct cs_db_param){ .type = CS_DB_T_F64, .f64 = (double)(v) })
#define CS_DB_STR(s) ((struct cs_db_param){ .type = CS_DB_T_STR, .p = (s), .len = CS_DB_NTS })
#define CS_DB_STRN(s, n) ((struct cs_db_param){ .type = CS_DB_T_STR, .p = (s), .len = (n) })
#define CS_DB_BLOB(b, n) ((struct cs_db_param){ .type = CS_DB_T_BLOB, .p = (b), .len = (n) })
/* Boolean as 0/1 (TINYINT(1) columns). */
#define CS_DB_BOOL(v) CS_DB_I64((v) ? 1 : 0)

/* Number of elements of a parameter array literal:
 *   struct cs_db_param p[] = { CS_DB_I64(id), CS_DB_STR(name) };
 *   cs_db_exec(db, "UPDATE ...", p, CS_DB_N(p), NULL, NULL, err); */
#define CS_DB_N(arr) (sizeof(arr) / sizeof((arr)[0]))

/* Largest result cs_db_query accepts; more rows fail with CS_ETOOBIG. The
 * app's results are small: paginate with LIMIT. */
#define CS_DB_ROWS_MAX 100000

/* Connects with cfg: db_socket if set (non-empty), else db_host:db_port;
 * db_user, db_password, db_name; utf8mb4; session time zone UTC.
 * Returns the handle (caller frees with cs_db_free) or NULL with err set
 * (CS_EDB, message names the server and the reason). */
struct cs_db *cs_db_open(const struct cs_config *cfg, struct cs_err *err);

/* As cs_db_open, but connects without selecting a database and creates
 * cfg->db_name (utf8mb4) if it is missing, then selects it. For the migration
 * runner and tests. */
struct cs_db *cs_db_open_create(const struct cs_config *cfg, struct cs_err *err);

/* Closes the connection and its cached statements. Accepts NULL; returns NULL. */
struct cs_db *cs_db_free(struct cs_db *db);

/* Runs a statement that returns no rows (INSERT/UPDATE/DELETE/DDL).
 * ret_affected (rows changed) and ret_insert_id (AUTO_INCREMENT of an INSERT)
 * may be NULL; written only on success. */
int cs_db_exec(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
               uint64_t *ret_affected, uint64_t *ret_insert_id, struct cs_err *err);

/* Runs a SELECT and returns the whole result in memory (caller frees with
 * cs_db_rows_free). At most CS_DB_ROWS_MAX rows (else CS_ETOOBIG).
 * Also runs `CALL proc(?, ...)` of a stored procedure that returns a result
 * set: *ret_rows is its first result set, later ones are read and dropped,
 * and an error the procedure raises fails the call (deadlock etc. mapped as
 * above). A CALL outside cs_db_begin commits or rolls back by itself. */
int cs_db_query(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
                struct cs_db_rows **ret_rows, struct cs_err *err);

/* Convenience: first column of the first row as an integer.
 * CS_ENOTFOUND if there is no row or the value is NULL. */
int cs_db_query_i64(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
                    int64_t *ret_value, struct cs_err *err);

/* Transactions. cs_db_begin starts one (START TRANSACTION); commit/rollback end
 * it. cs_db_rollback is safe to call when no transaction is open or the
 * connection is gone (then it only resets the state) and returns CS_OK. */
int cs_db_begin(struct cs_db *db, struct cs_err *err);
/* As cs_db_begin, at READ COMMITTED for this one transaction (the job claim's
 * SKIP LOCKED scans lock less). Both statements run on the same connection,
 * so a reconnect can never lose the isolation level. */
int cs_db_begin_read_committed(struct cs_db *db, struct cs_err *err);
int cs_db_commit(struct cs_db *db, struct cs_err *err);
int cs_db_rollback(struct cs_db *db, struct cs_err *err);
bool cs_db_in_transaction(const struct cs_db *db);

/* True when the last failure on db was a deadlock or a lock wait timeout:
 * roll back and run the whole transaction again. */
bool cs_db_retryable(const struct cs_db *db);
/* MariaDB error number of the last failure (0 if none / not a server error). */
unsigned cs_db_last_errno(const struct cs_db *db);

/* Checks that the server answers (reconnecting if the connection was idle and
 * dropped, outside a transaction). CS_OK or CS_EDB. For /health. */
int cs_db_ping(struct cs_db *db, struct cs_err *err);

/* ---- results (borrowed pointers live until cs_db_rows_free) ---- */
size_t cs_db_rows_count(const struct cs_db_rows *rows);
size_t cs_db_rows_cols(const struct cs_db_rows *rows);
/* Column index of a column name/alias, or -1. */
int cs_db_rows_col(const struct cs_db_rows *rows, const char *name);
/* Cell as text (numbers formatted; doubles with %.17g): NULL if SQL NULL or
 * r/c out of range. Always NUL-terminated; may contain NULs for BLOBs, see _len. */
const char *cs_db_rows_str(const struct cs_db_rows *rows, size_t r, size_t c);
size_t cs_db_rows_len(const struct cs_db_rows *rows, size_t r, size_t c);
/* Cell as number: 0 if NULL, out of range or not a number. */
int64_t cs_db_rows_i64(const struct cs_db_rows *rows, size_t r, size_t c);
double cs_db_rows_f64(const struct cs_db_rows *rows, size_t r, size_t c);
bool cs_db_rows_isnull(const struct cs_db_rows *rows, size_t r, size_t c);
/* Accepts NULL; returns NULL. */
struct cs_db_rows *cs_db_rows_free(struct cs_db_rows *rows);

/* ---- schema migrations (migrate.c) ---- */

/* Applies every sql_dir/NNN_name.sql (NNN digits, ascending) that the table
 * schema_migrations does not list yet, in order, recording each. Statements
 * are split on ';' at the end of a line; a "DELIMITER //" line (as in the
 * mariadb client) changes that to "//" until "DELIMITER ;", for
 * procedure bodies.
 * ret_applied (may be NULL): number of migrations applied now. If log is
 * not NULL, it is called with each applied file name. A failed migration stops
 * the run with its file name and statement number in err. */
int cs_db_migrate(struct cs_db *db, const char *sql_dir, int *ret_applied,
                  void (*log)(const char *name, void *ctx), void *ctx, struct cs_err *err);

#endif

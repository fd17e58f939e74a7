/* db.c - MariaDB access over Connector/C prepared statements (see db.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "crowdsky/alloc.h"
#include "crowdsky/db.h"
#include "crowdsky/log.h"
#include "crowdsky/str.h"

#define STMT_CACHE 48
#define MAX_PARAMS 64
/* After this much idle time the connection is pinged before use, so a server
 * that dropped an idle connection (wait_timeout) costs a reconnect, not an error. */
#define IDLE_PING_SECONDS 30
#define STR_FETCH_INITIAL 256

struct stmt_entry {
        char *sql;
        MYSQL_STMT *stmt;
        uint64_t used;
};

struct cs_db {
        MYSQL *mysql;              /* NULL while disconnected */
        struct cs_config cfg;      /* copy: reconnects need it */
        bool in_tx;
        bool retryable;
        unsigned last_errno;
        time_t last_used;
        uint64_t tick;
        struct stmt_entry cache[STMT_CACHE];
};

struct cell {
        char *s;      /* NUL-terminated text, NULL if SQL NULL */
        size_t len;
        int64_t i;
        double d;
};

struct cs_db_rows {
        size_t nrows, ncols, alloc_rows;
        char **names;
        struct cell *cells; /* nrows * ncols */
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;

static void lib_init(void)
{
        lib_status = mysql_library_init(0, NULL, NULL);
}

static bool is_gone(unsigned e)
{
        return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST;
}

/* Maps a server/client error to a cs_status and records it on db. */
static int map_err(struct cs_db *db, unsigned eno, const char *msg, const char *what,
                   struct cs_err *err)
{
        db->last_errno = eno;
        db->retryable = false;
        if (eno == ER_DUP_ENTRY)
                return cs_err_set(err, CS_ECONFLICT, "duplicate: %s", msg);
        if (eno == ER_LOCK_DEADLOCK || eno == ER_LOCK_WAIT_TIMEOUT) {
                db->retryable = true;
                /* the server rolled back (deadlock) or abandons the statement:
                 * the caller restarts the transaction */
                return cs_err_set(err, CS_ECONFLICT, "%s (retry the transaction)", msg);
        }
        return cs_err_set(err, CS_EDB, "%s: %s (%u)", what, msg, eno);
}

static void cache_clear(struct cs_db *db)
{
        size_t i;

        for (i = 0; i < STMT_CACHE; i++) {
                if (db->cache[i].stmt)
                        mysql_stmt_close(db->cache[i].stmt);
                free(db->cache[i].sql);
                db->cache[i] = (struct stmt_entry){ 0 };
        }
}

static void disconnect(struct cs_db *db)
{
        cache_clear(db);
        if (db->mysql)
                mysql_close(db->mysql);
        db->mysql = NULL;
}

static int connect_db(struct cs_db *db, bool select_db, struct cs_err *err)
{
        const struct cs_config *c = &db->cfg;
        MYSQL *m;
        my_bool off = 0;
        unsigned timeout = 10;
        const char *host, *sock;
        int r = CS_OK;

        m = mysql_init(NULL);
        if (!m)
                return cs_err_set(err, CS_ENOMEM, "mysql_init failed");
        mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_options(m, MYSQL_OPT_RECONNECT, &off);
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
        sock = c->db_socket[0] ? c->db_socket : NULL;
        host = sock ? "localhost" : c->db_host;
        if (!mysql_real_connect(m, host, c->db_user, c->db_password,
                                select_db ? c->db_name : NULL, (unsigned)c->db_port, sock, 0)) {
                r = cs_err_set(err, CS_EDB, "cannot connect to MariaDB at %s: %s (%u)",
                               sock ? sock : host, mysql_error(m), mysql_errno(m));
                db->last_errno = mysql_errno(m);
                mysql_close(m);
                return r;
        }
        db->mysql = m;
        db->last_used = time(NULL);
        return CS_OK;
}

static struct cs_db *open_common(const struct cs_config *cfg, bool create, struct cs_err *err)
{
        struct cs_db *db;

        pthread_once(&lib_once, lib_init);
        if (lib_status != 0) {
                cs_err_set(err, CS_EDB, "MariaDB client library failed to initialise");
                return NULL;
        }
        db = cs_xcalloc(1, sizeof *db);
        db->cfg = *cfg;
        if (connect_db(db, !create, err) < 0)
                return cs_db_free(db);
        if (create) {
                struct cs_db_param p[] = { CS_DB_STR(cfg->db_name) };
                struct cs_db_rows *rows = NULL;
                bool exists;
                char *q;

                if (cs_db_query(db, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                                p, 1, &rows, err) < 0)
                        return cs_db_free(db);
                exists = cs_db_rows_count(rows) > 0;
                rows = cs_db_rows_free(rows);
                if (!exists) {
                        /* A schema name cannot be a bound parameter. Only the
                         * administrator's configured name goes here, and only
                         * when it is a plain identifier. */
                        const char *s;

                        for (s = cfg->db_name; *s; s++)
                                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                      (*s >= '0' && *s <= '9') || *s == '_'))
                                        break;
                        if (*s || !cfg->db_name[0]) {
                                cs_err_set(err, CS_EINVAL,
                                           "database name '%s' must be letters, digits and '_'",
                                           cfg->db_name);
                                return cs_db_free(db);
                        }
                        q = cs_xasprintf("CREATE DATABASE IF NOT EXISTS `%s` "
                                         "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                                         cfg->db_name);
                        if (mysql_real_query(db->mysql, q, strlen(q)) != 0) {
                                map_err(db, mysql_errno(db->mysql), mysql_error(db->mysql),
                                        "CREATE DATABASE", err);
                                free(q);
                                return cs_db_free(db);
                        }
                        free(q);
                }
                if (mysql_select_db(db->mysql, cfg->db_name) != 0) {
                        map_err(db, mysql_errno(db->mysql), mysql_error(db->mysql), "USE", err);
                        return cs_db_free(db);
                }
        }
        return db;
}

struct cs_db *cs_db_open(const struct cs_config *cfg, struct cs_err *err)
{
        return open_common(cfg, false, err);
}

struct cs_db *cs_db_open_create(const struct cs_config *cfg, struct cs_err *err)
{
        return open_common(cfg, true, err);
}

struct cs_db *cs_db_free(struct cs_db *db)
{
        if (!db)
                return NULL;
        disconnect(db);
        /* wipe the copied password */
        memset(&db->cfg, 0, sizeof db->cfg);
        free(db);
        return NULL;
}

bool cs_db_in_transaction(const struct cs_db *db)
{
        return db->in_tx;
}

bool cs_db_retryable(const struct cs_db *db)
{
        return db->retryable;
}

unsigned cs_db_last_errno(const struct cs_db *db)
{
        return db->last_errno;
}

/* Makes sure there is a live connection before a statement. Outside a
 * transaction it reconnects when needed; inside one a lost connection is an
 * error the caller must answer with a rollback. */
static int ensure_conn(struct cs_db *db, struct cs_err *err)
{
        time_t now = time(NULL);

        if (!db->mysql) {
                if (db->in_tx) {
                        db->last_errno = CR_SERVER_LOST;
                        return cs_err_set(err, CS_EDB,
                                          "connection lost inside a transaction; roll back and retry");
                }
                return connect_db(db, true, err);
        }
        if (!db->in_tx && now - db->last_used > IDLE_PING_SECONDS) {
                if (mysql_ping(db->mysql) != 0) {
                        cs_log_debug("db ping failed: %s, reconnecting", mysql_error(db->mysql));
                        disconnect(db);
                        return connect_db(db, true, err);
                }
        }
        return CS_OK;
}

/* Returns the prepared statement for sql, from the cache or newly prepared.
 * On failure *ret_eno holds the error number (0 for non-server errors). */
static int get_stmt(struct cs_db *db, const char *sql, MYSQL_STMT **ret_stmt, unsigned *ret_eno,
                    struct cs_err *err)
{
        size_t i, victim = 0;
        MYSQL_STMT *st;

        *ret_eno = 0;
        for (i = 0; i < STMT_CACHE; i++) {
                if (db->cache[i].sql && strcmp(db->cache[i].sql, sql) == 0) {
                        db->cache[i].used = ++db->tick;
                        *ret_stmt = db->cache[i].stmt;
                        return CS_OK;
                }
        }
        st = mysql_stmt_init(db->mysql);
        if (!st)
                return cs_err_set(err, CS_ENOMEM, "mysql_stmt_init failed");
        if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
                unsigned eno = mysql_stmt_errno(st);
                int r;

                *ret_eno = eno;
                r = map_err(db, eno, mysql_stmt_error(st), "prepare", err);
                mysql_stmt_close(st);
                return r;
        }
        for (i = 0; i < STMT_CACHE; i++) {
                if (!db->cache[i].sql) {
                        victim = i;
                        break;
                }
                if (db->cache[i].used < db->cache[victim].used)
                        victim = i;
        }
        if (db->cache[victim].stmt)
                mysql_stmt_close(db->cache[victim].stmt);
        free(db->cache[victim].sql);
        db->cache[victim].sql = cs_xstrdup(sql);
        db->cache[victim].stmt = st;
        db->cache[victim].used = ++db->tick;
        *ret_stmt = st;
        return CS_OK;
}

/* Drops one statement from the cache (after an error left it in doubt). */
static void forget_stmt(struct cs_db *db, MYSQL_STMT *st)
{
        size_t i;

        for (i = 0; i < STMT_CACHE; i++) {
                if (db->cache[i].stmt == st) {
                        mysql_stmt_close(st);
                        free(db->cache[i].sql);
                        db->cache[i] = (struct stmt_entry){ 0 };
                        return;
                }
        }
}

struct pbind {
        MYSQL_BIND bind[MAX_PARAMS];
        unsigned long len[MAX_PARAMS];
        my_bool isnull[MAX_PARAMS];
};

static int bind_params(MYSQL_STMT *st, const struct cs_db_param *params, size_t n,
                       struct pbind *pb, struct cs_err *err)
{
        size_t i;

        if (mysql_stmt_param_count(st) != n)
                return cs_err_set(err, CS_EINVAL, "statement takes %lu parameters, %zu given",
                                  mysql_stmt_param_count(st), n);
        if (n > MAX_PARAMS)
                return cs_err_set(err, CS_EINVAL, "too many parameters (%zu)", n);
        memset(pb->bind, 0, sizeof(MYSQL_BIND) * n);
        for (i = 0; i < n; i++) {
                MYSQL_BIND *b = &pb->bind[i];
                const struct cs_db_param *p = &params[i];

                pb->isnull[i] = 0;
                b->is_null = &pb->isnull[i];
                switch (p->type) {
                case CS_DB_T_NULL:
                        b->buffer_type = MYSQL_TYPE_NULL;
                        pb->isnull[i] = 1;
                        break;
                case CS_DB_T_I64:
                        b->buffer_type = MYSQL_TYPE_LONGLONG;
                        b->buffer = (void *)&p->i64;
                        break;
                case CS_DB_T_F64:
                        b->buffer_type = MYSQL_TYPE_DOUBLE;
                        b->buffer = (void *)&p->f64;
                        break;
                case CS_DB_T_STR:
                case CS_DB_T_BLOB:
                        b->buffer_type = p->type == CS_DB_T_STR ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
                        if (!p->p) {
                                b->buffer_type = MYSQL_TYPE_NULL;
                                pb->isnull[i] = 1;
                                break;
                        }
                        pb->len[i] = (unsigned long)(p->len == CS_DB_NTS ? strlen(p->p) : p->len);
                        b->buffer = (void *)p->p;
                        b->buffer_length = pb->len[i];
                        b->length = &pb->len[i];
                        break;
                default:
                        return cs_err_set(err, CS_EINVAL, "parameter %zu has an unknown type", i + 1);
                }
        }
        if (n && mysql_stmt_bind_param(st, pb->bind) != 0)
                return cs_err_set(err, CS_EDB, "bind: %s", mysql_stmt_error(st));
        return CS_OK;
}

/* Prepares (or reuses) and executes sql with params, reconnecting as db.h
 * describes. On success *ret_stmt is the executed statement (still cached). */
static int run(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
               MYSQL_STMT **ret_stmt, struct cs_err *err)
{
        struct pbind pb;
        MYSQL_STMT *st = NULL;
        unsigned eno = 0;
        int attempt, r;

        if (!sql)
                return cs_err_set(err, CS_EINVAL, "no SQL given");
        db->retryable = false;
        db->last_errno = 0;
        for (attempt = 0;; attempt++) {
                r = ensure_conn(db, err);
                if (r < 0)
                        return r;
                r = get_stmt(db, sql, &st, &eno, err);
                if (r < 0) {
                        if (is_gone(eno)) {
                                disconnect(db);
                                /* nothing reached the server: safe to retry once */
                                if (!db->in_tx && attempt == 0)
                                        continue;
                        }
                        return r;
                }
                r = bind_params(st, params, n, &pb, err);
                if (r < 0)
                        return r;
                if (mysql_stmt_execute(st) != 0) {
                        eno = mysql_stmt_errno(st);
                        r = map_err(db, eno, mysql_stmt_error(st), "execute", err);
                        if (is_gone(eno)) {
                                disconnect(db);
                                /* "gone" means the request was not delivered; "lost"
                                 * means it may have run: never replay that one */
                                if (eno == CR_SERVER_GONE_ERROR && !db->in_tx && attempt == 0)
                                        continue;
                                return r;
                        }
                        /* the statement's state is in doubt after a failure:
                         * prepare it afresh next time */
                        forget_stmt(db, st);
                        return r;
                }
                db->last_used = time(NULL);
                *ret_stmt = st;
                return CS_OK;
        }
}

int cs_db_exec(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
               uint64_t *ret_affected, uint64_t *ret_insert_id, struct cs_err *err)
{
        MYSQL_STMT *st;
        int r;

        r = run(db, sql, params, n, &st, err);
        if (r < 0)
                return r;
        if (ret_affected) {
                my_ulonglong a = mysql_stmt_affected_rows(st);
                *ret_affected = a == (my_ulonglong)-1 ? 0 : (uint64_t)a;
        }
        if (ret_insert_id)
                *ret_insert_id = (uint64_t)mysql_stmt_insert_id(st);
        /* a statement that unexpectedly returned rows must not block the next one */
        mysql_stmt_free_result(st);
        return CS_OK;
}

static bool is_int_type(enum enum_field_types t)
{
        return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT || t == MYSQL_TYPE_INT24 ||
               t == MYSQL_TYPE_LONG || t == MYSQL_TYPE_LONGLONG || t == MYSQL_TYPE_YEAR;
}

static bool is_float_type(enum enum_field_types t)
{
        return t == MYSQL_TYPE_FLOAT || t == MYSQL_TYPE_DOUBLE;
}

struct cs_db_rows *cs_db_rows_free(struct cs_db_rows *rows)
{
        size_t i;

        if (!rows)
                return NULL;
        for (i = 0; i < rows->nrows * rows->ncols; i++)
                free(rows->cells[i].s);
        for (i = 0; i < rows->ncols; i++)
                free(rows->names[i]);
        free(rows->names);
        free(rows->cells);
        free(rows);
        return NULL;
}

struct colbuf {
        MYSQL_BIND *bind;
        unsigned long *len;
        my_bool *isnull;
        my_bool *trunc;
        int64_t *ival;
        double *dval;
        char **sbuf;
};

int cs_db_query(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
                struct cs_db_rows **ret_rows, struct cs_err *err)
{
        MYSQL_STMT *st;
        MYSQL_RES *meta = NULL;
        MYSQL_FIELD *fields;
        struct cs_db_rows *rows = NULL;
        struct colbuf cb = { 0 };
        size_t nc = 0, c;
        int r, fr;

        r = run(db, sql, params, n, &st, err);
        if (r < 0)
                return r;
        meta = mysql_stmt_result_metadata(st);
        if (!meta) {
                r = cs_err_set(err, CS_EINVAL, "statement returns no result set");
                goto out;
        }
        nc = mysql_num_fields(meta);
        fields = mysql_fetch_fields(meta);
        rows = cs_xcalloc(1, sizeof *rows);
        rows->ncols = nc;
        rows->names = cs_xcalloc(nc ? nc : 1, sizeof *rows->names);
        cb.bind = cs_xcalloc(nc ? nc : 1, sizeof *cb.bind);
        cb.len = cs_xcalloc(nc ? nc : 1, sizeof *cb.len);
        cb.isnull = cs_xcalloc(nc ? nc : 1, sizeof *cb.isnull);
        cb.trunc = cs_xcalloc(nc ? nc : 1, sizeof *cb.trunc);
        cb.ival = cs_xcalloc(nc ? nc : 1, sizeof *cb.ival);
        cb.dval = cs_xcalloc(nc ? nc : 1, sizeof *cb.dval);
        cb.sbuf = cs_xcalloc(nc ? nc : 1, sizeof *cb.sbuf);
        for (c = 0; c < nc; c++) {
                MYSQL_BIND *b = &cb.bind[c];

                rows->names[c] = cs_xstrdup(fields[c].name ? fields[c].name : "");
                b->is_null = &cb.isnull[c];
                b->length = &cb.len[c];
                b->error = &cb.trunc[c];
                if (is_int_type(fields[c].type)) {
                        b->buffer_type = MYSQL_TYPE_LONGLONG;
                        b->buffer = &cb.ival[c];
                        b->is_unsigned = (fields[c].flags & UNSIGNED_FLAG) != 0;
                } else if (is_float_type(fields[c].type)) {
                        b->buffer_type = MYSQL_TYPE_DOUBLE;
                        b->buffer = &cb.dval[c];
                } else {
                        b->buffer_type = MYSQL_TYPE_STRING;
                        cb.sbuf[c] = cs_xmalloc(STR_FETCH_INITIAL);
                        b->buffer = cb.sbuf[c];
                        b->buffer_length = STR_FETCH_INITIAL;
                }
        }
        if (nc && mysql_stmt_bind_result(st, cb.bind) != 0) {
                r = cs_err_set(err, CS_EDB, "bind result: %s", mysql_stmt_error(st));
                goto out;
        }
        while ((fr = mysql_stmt_fetch(st)) == 0 || fr == MYSQL_DATA_TRUNCATED) {
                struct cell *row;

                if (rows->nrows >= CS_DB_ROWS_MAX) {
                        r = cs_err_set(err, CS_ETOOBIG, "query returned more than %d rows",
                                       CS_DB_ROWS_MAX);
                        goto out;
                }
                if (rows->nrows == rows->alloc_rows) {
                        rows->alloc_rows = rows->alloc_rows ? rows->alloc_rows * 2 : 16;
                        rows->cells = cs_xrealloc(rows->cells,
                                                  rows->alloc_rows * (nc ? nc : 1) * sizeof *rows->cells);
                }
                row = &rows->cells[rows->nrows * nc];
                memset(row, 0, nc * sizeof *row);
                rows->nrows++;
                for (c = 0; c < nc; c++) {
                        struct cell *cell = &row[c];
                        MYSQL_BIND *b = &cb.bind[c];

                        if (cb.isnull[c])
                                continue;
                        if (b->buffer_type == MYSQL_TYPE_LONGLONG) {
                                char tmp[32];

                                if (b->is_unsigned) {
                                        uint64_t u = (uint64_t)cb.ival[c];
                                        snprintf(tmp, sizeof tmp, "%" PRIu64, u);
                                        cell->i = u > INT64_MAX ? INT64_MAX : (int64_t)u;
                                } else {
                                        snprintf(tmp, sizeof tmp, "%" PRId64, cb.ival[c]);
                                        cell->i = cb.ival[c];
                                }
                                cell->d = (double)cell->i;
                                cell->s = cs_xstrdup(tmp);
                                cell->len = strlen(tmp);
                        } else if (b->buffer_type == MYSQL_TYPE_DOUBLE) {
                                char tmp[40];

                                snprintf(tmp, sizeof tmp, "%.17g", cb.dval[c]);
                                cell->d = cb.dval[c];
                                cell->i = (cell->d >= -9.2e18 && cell->d <= 9.2e18) ? (int64_t)cell->d : 0;
                                cell->s = cs_xstrdup(tmp);
                                cell->len = strlen(tmp);
                        } else {
                                size_t len = cb.len[c];

                                cell->s = cs_xmalloc(len + 1);
                                if (len <= STR_FETCH_INITIAL) {
                                        memcpy(cell->s, cb.sbuf[c], len);
                                } else {
                                        MYSQL_BIND fb = { 0 };
                                        unsigned long flen = 0;

                                        fb.buffer_type = MYSQL_TYPE_STRING;
                                        fb.buffer = cell->s;
                                        fb.buffer_length = (unsigned long)len;
                                        fb.length = &flen;
                                        if (mysql_stmt_fetch_column(st, &fb, (unsigned)c, 0) != 0) {
                                                r = cs_err_set(err, CS_EDB, "fetch column: %s",
                                                               mysql_stmt_error(st));
                                                cell->s[0] = '\0';
                                                goto out;
                                        }
                                }
                                cell->s[len] = '\0';
                                cell->len = len;
                                if (cs_parse_i64(cs_str_from(cell->s, len), &cell->i) == CS_OK) {
                                        cell->d = (double)cell->i;
                                } else if (cs_parse_f64(cs_str_from(cell->s, len), &cell->d) == CS_OK) {
                                        cell->i = (cell->d >= -9.2e18 && cell->d <= 9.2e18) ? (int64_t)cell->d : 0;
                                }
                        }
                }
        }
        if (fr != MYSQL_NO_DATA) {
                unsigned eno = mysql_stmt_errno(st);

                r = map_err(db, eno, mysql_stmt_error(st), "fetch", err);
                if (is_gone(eno))
                        disconnect(db);
                st = NULL;
                goto out;
        }
        /* A CALL's result set is followed by the procedure's status (and
         * any further result sets, which are dropped): read to the end, so
         * the connection is ready for the next statement. An error raised
         * after the first result set fails the call. */
        while (mysql_stmt_more_results(st)) {
                int nr = mysql_stmt_next_result(st);

                if (nr < 0)
                        break;
                if (nr > 0) {
                        unsigned eno = mysql_stmt_errno(st);

                        r = map_err(db, eno, mysql_stmt_error(st), "next result", err);
                        if (is_gone(eno))
                                disconnect(db);
                        else
                                forget_stmt(db, st);
                        st = NULL;
                        goto out;
                }
                mysql_stmt_free_result(st);
        }
        *ret_rows = rows;
        rows = NULL;
        r = CS_OK;
out:
        if (st) {
                mysql_stmt_free_result(st);
                if (r < 0 && mysql_stmt_more_results(st)) {
                        /* unread results of a CALL: a fresh statement next time */
                        forget_stmt(db, st);
                        st = NULL;
                } else if (r < 0) {
                        mysql_stmt_reset(st); /* drop unread rows after an error */
                }
        }
        if (meta)
                mysql_free_result(meta);
        for (c = 0; c < nc; c++)
                free(cb.sbuf[c]);
        free(cb.sbuf);
        free(cb.bind);
        free(cb.len);
        free(cb.isnull);
        free(cb.trunc);
        free(cb.ival);
        free(cb.dval);
        cs_db_rows_free(rows);
        return r;
}

int cs_db_query_i64(struct cs_db *db, const char *sql, const struct cs_db_param *params, size_t n,
                    int64_t *ret_value, struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        int r;

        r = cs_db_query(db, sql, params, n, &rows, err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0 || cs_db_rows_cols(rows) == 0 || cs_db_rows_isnull(rows, 0, 0))
                r = cs_err_set(err, CS_ENOTFOUND, "no row");
        else
                *ret_value = cs_db_rows_i64(rows, 0, 0);
        cs_db_rows_free(rows);
        return r;
}

static int simple_query(struct cs_db *db, const char *q, struct cs_err *err)
{
        unsigned eno;
        int r;

        if (mysql_real_query(db->mysql, q, strlen(q)) == 0) {
                db->last_used = time(NULL);
                return CS_OK;
        }
        eno = mysql_errno(db->mysql);
        r = map_err(db, eno, mysql_error(db->mysql), q, err);
        if (is_gone(eno))
                disconnect(db);
        return r;
}

static int begin_once(struct cs_db *db, bool read_committed, struct cs_err *err)
{
        int r = ensure_conn(db, err);

        if (r < 0)
                return r;
        if (read_committed) {
                r = simple_query(db, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", err);
                if (r < 0)
                        return r;
        }
        return simple_query(db, "START TRANSACTION", err);
}

static int begin(struct cs_db *db, bool read_committed, struct cs_err *err)
{
        int r;

        if (db->in_tx)
                return cs_err_set(err, CS_EINVAL, "a transaction is already open");
        db->retryable = false;
        r = begin_once(db, read_committed, err);
        /* the connection was gone before the transaction began: one fresh try
         * (begin_once dropped it, so this reconnects) */
        if (r < 0 && !db->mysql)
                r = begin_once(db, read_committed, err);
        if (r < 0)
                return r;
        db->in_tx = true;
        return CS_OK;
}

int cs_db_begin(struct cs_db *db, struct cs_err *err)
{
        return begin(db, false, err);
}

int cs_db_begin_read_committed(struct cs_db *db, struct cs_err *err)
{
        return begin(db, true, err);
}

int cs_db_commit(struct cs_db *db, struct cs_err *err)
{
        int r;

        if (!db->in_tx)
                return cs_err_set(err, CS_EINVAL, "commit without a transaction");
        if (!db->mysql) {
                db->in_tx = false;
                return cs_err_set(err, CS_EDB, "connection lost inside a transaction; nothing committed");
        }
        r = simple_query(db, "COMMIT", err);
        db->in_tx = false;
        return r;
}

int cs_db_rollback(struct cs_db *db, struct cs_err *err)
{
        (void)err;
        if (!db->in_tx)
                return CS_OK;
        db->in_tx = false;
        if (!db->mysql)
                return CS_OK;
        if (mysql_real_query(db->mysql, "ROLLBACK", 8) != 0) {
                cs_log_debug("db rollback failed: %s, dropping the connection", mysql_error(db->mysql));
                disconnect(db);
        }
        return CS_OK;
}

int cs_db_ping(struct cs_db *db, struct cs_err *err)
{
        int r;

        r = ensure_conn(db, err);
        if (r < 0)
                return r;
        if (mysql_ping(db->mysql) != 0) {
                unsigned eno = mysql_errno(db->mysql);

                r = map_err(db, eno, mysql_error(db->mysql), "ping", err);
                disconnect(db);
                if (db->in_tx)
                        return r;
                r = connect_db(db, true, err);
                if (r < 0)
                        return r;
        }
        db->last_used = time(NULL);
        return CS_OK;
}

/* ---- results ---- */

size_t cs_db_rows_count(const struct cs_db_rows *rows)
{
        return rows ? rows->nrows : 0;
}

size_t cs_db_rows_cols(const struct cs_db_rows *rows)
{
        return rows ? rows->ncols : 0;
}

int cs_db_rows_col(const struct cs_db_rows *rows, const char *name)
{
        size_t c;

        if (!rows || !name)
                return -1;
        for (c = 0; c < rows->ncols; c++)
                if (strcmp(rows->names[c], name) == 0)
                        return (int)c;
        return -1;
}

static const struct cell *cell_at(const struct cs_db_rows *rows, size_t r, size_t c)
{
        if (!rows || r >= rows->nrows || c >= rows->ncols)
                return NULL;
        return &rows->cells[r * rows->ncols + c];
}

const char *cs_db_rows_str(const struct cs_db_rows *rows, size_t r, size_t c)
{
        const struct cell *cell = cell_at(rows, r, c);

        return cell ? cell->s : NULL;
}

size_t cs_db_rows_len(const struct cs_db_rows *rows, size_t r, size_t c)
{
        const struct cell *cell = cell_at(rows, r, c);

        return cell && cell->s ? cell->len : 0;
}

int64_t cs_db_rows_i64(const struct cs_db_rows *rows, size_t r, size_t c)
{
        const struct cell *cell = cell_at(rows, r, c);

        return cell && cell->s ? cell->i : 0;
}

double cs_db_rows_f64(const struct cs_db_rows *rows, size_t r, size_t c)
{
        const struct cell *cell = cell_at(rows, r, c);

        return cell && cell->s ? cell->d : 0.0;
}

bool cs_db_rows_isnull(const struct cs_db_rows *rows, size_t r, size_t c)
{
        const struct cell *cell = cell_at(rows, r, c);

        return !cell || !cell->s;
}

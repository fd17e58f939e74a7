/* test_db.c - the db module against a real MariaDB (skipped, 77, unless
 * CS_TEST_DB_SOCKET is set). Works in its own scratch database, dropped at
 * the end. Credentials come from CS_TEST_CONF (the stack's crowdsky.conf) or
 * CS_TEST_DB_USER / CS_TEST_DB_PASSWORD. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cs_test.h"
#include "crowdsky/db.h"

static struct cs_config cfg;
static char scratch[64];

static struct cs_db *open_db(void)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = cs_db_open(&cfg, &err);

        if (!db)
                CS_FAIL("cs_db_open: %s", err.msg);
        return db;
}

static void exec_ok(struct cs_db *db, const char *sql)
{
        struct cs_err err = CS_ERR_INIT;

        if (cs_db_exec(db, sql, NULL, 0, NULL, NULL, &err) < 0)
                CS_FAIL("%s: %s", sql, err.msg);
}

static void setup(void)
{
        struct cs_err err = CS_ERR_INIT;
        const char *conf = getenv("CS_TEST_CONF");
        const char *sock = getenv("CS_TEST_DB_SOCKET");
        const char *v;
        struct cs_db *db;

        if (cs_config_load(conf && *conf ? conf : NULL, &cfg, &err) < 0)
                CS_FAIL("config: %s", err.msg);
        snprintf(cfg.db_socket, sizeof cfg.db_socket, "%s", sock);
        if ((v = getenv("CS_TEST_DB_USER")) && *v)
                snprintf(cfg.db_user, sizeof cfg.db_user, "%s", v);
        if ((v = getenv("CS_TEST_DB_PASSWORD")))
                snprintf(cfg.db_password, sizeof cfg.db_password, "%s", v);
        snprintf(scratch, sizeof scratch, "crowdsky_test_db_%ld", (long)getpid());
        snprintf(cfg.db_name, sizeof cfg.db_name, "%s", scratch);
        db = cs_db_open_create(&cfg, &err);
        if (!db)
                CS_FAIL("cs_db_open_create: %s", err.msg);
        exec_ok(db, "CREATE TABLE t (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
                    " name VARCHAR(200) NOT NULL UNIQUE, n BIGINT NULL, x DOUBLE NULL,"
                    " f FLOAT NULL, d DECIMAL(10,3) NULL, b LONGBLOB NULL, txt LONGTEXT NULL,"
                    " ts DATETIME(6) NULL) ENGINE=InnoDB");
        cs_db_free(db);
}

static void teardown(void)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = open_db();
        char *q;

        /* scratch is our own "crowdsky_test_db_<pid>", a plain identifier */
        q = malloc(128);
        snprintf(q, 128, "DROP DATABASE IF EXISTS `%s`", scratch);
        if (cs_db_exec(db, q, NULL, 0, NULL, NULL, &err) < 0)
                fprintf(stderr, "drop scratch database: %s\n", err.msg);
        free(q);
        cs_db_free(db);
}

CS_TEST(types_roundtrip)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = open_db();
        struct cs_db_rows *rows = NULL;
        char longtxt[5000], blob[600];
        uint64_t affected = 0, id1 = 0, id2 = 0;
        size_t i;
        int c;

        for (i = 0; i < sizeof longtxt - 1; i++)
                longtxt[i] = (char)('a' + i % 26);
        longtxt[sizeof longtxt - 1] = '\0';
        for (i = 0; i < sizeof blob; i++)
                blob[i] = (char)(i % 256); /* holds NULs */
        {
                struct cs_db_param p[] = { CS_DB_STR("alpha \xc3\xa9\xf0\x9f\x8c\x8c"), CS_DB_I64(-9000000000LL),
                                           CS_DB_F64(83.63308333333333), CS_DB_F64(1.5),
                                           CS_DB_STR("12.345"), CS_DB_BLOB(blob, sizeof blob),
                                           CS_DB_STR(longtxt), CS_DB_STR("2025-01-15 19:30:12.250000") };
                CS_ASSERT_OK(cs_db_exec(db, "INSERT INTO t (name, n, x, f, d, b, txt, ts) VALUES (?,?,?,?,?,?,?,?)",
                                        p, CS_DB_N(p), &affected, &id1, &err));
                CS_ASSERT_EQ(affected, 1);
                CS_ASSERT(id1 > 0);
        }
        {
                struct cs_db_param p[] = { CS_DB_STRN("beta-and-more", 4), CS_DB_NULL, CS_DB_STR(NULL) };
                CS_ASSERT_OK(cs_db_exec(db, "INSERT INTO t (name, n, txt) VALUES (?,?,?)", p, CS_DB_N(p),
                                        NULL, &id2, &err));
                CS_ASSERT_EQ(id2, id1 + 1);
        }
        {
                struct cs_db_param p[] = { CS_DB_I64(0) };
                CS_ASSERT_OK(cs_db_query(db, "SELECT id, name, n, x, f, d, b, txt, ts, UNIX_TIMESTAMP(ts) AS epoch"
                                             " FROM t WHERE id > ? ORDER BY id", p, 1, &rows, &err));
        }
        CS_ASSERT_EQ(cs_db_rows_count(rows), 2);
        CS_ASSERT_EQ(cs_db_rows_cols(rows), 10);
        CS_ASSERT_EQ(cs_db_rows_col(rows, "epoch"), 9);
        CS_ASSERT_EQ(cs_db_rows_col(rows, "nope"), -1);
        CS_ASSERT_EQ(cs_db_rows_i64(rows, 0, 0), id1);
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 0, 1), "alpha \xc3\xa9\xf0\x9f\x8c\x8c");
        CS_ASSERT_EQ(cs_db_rows_i64(rows, 0, 2), -9000000000LL);
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 0, 2), "-9000000000");
        CS_ASSERT(cs_db_rows_f64(rows, 0, 3) == 83.63308333333333);
        CS_ASSERT_NEAR(cs_db_rows_f64(rows, 0, 4), 1.5, 1e-9);
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 0, 5), "12.345");
        CS_ASSERT_NEAR(cs_db_rows_f64(rows, 0, 5), 12.345, 1e-12);
        CS_ASSERT_EQ(cs_db_rows_len(rows, 0, 6), sizeof blob);
        CS_ASSERT(memcmp(cs_db_rows_str(rows, 0, 6), blob, sizeof blob) == 0);
        CS_ASSERT_EQ(cs_db_rows_len(rows, 0, 7), strlen(longtxt));
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 0, 7), longtxt);
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 0, 8), "2025-01-15 19:30:12.250000");
        /* the session runs in UTC */
        CS_ASSERT_NEAR(cs_db_rows_f64(rows, 0, 9), 1736969412.25, 1e-6);
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 1, 1), "beta");
        for (c = 2; c < 10; c++) {
                CS_ASSERT(cs_db_rows_isnull(rows, 1, (size_t)c));
                CS_ASSERT(cs_db_rows_str(rows, 1, (size_t)c) == NULL);
                CS_ASSERT_EQ(cs_db_rows_i64(rows, 1, (size_t)c), 0);
        }
        /* out of range is NULL, never a crash */
        CS_ASSERT(cs_db_rows_str(rows, 2, 0) == NULL);
        CS_ASSERT(cs_db_rows_str(rows, 0, 10) == NULL);
        CS_ASSERT(cs_db_rows_isnull(rows, 5, 5));
        rows = cs_db_rows_free(rows);
        CS_ASSERT(rows == NULL);
        CS_ASSERT(cs_db_rows_free(NULL) == NULL);

        {
                struct cs_db_param p[] = { CS_DB_I64(7), CS_DB_I64((int64_t)id2) };
                CS_ASSERT_OK(cs_db_exec(db, "UPDATE t SET n = ? WHERE id = ?", p, 2, &affected, NULL, &err));
                CS_ASSERT_EQ(affected, 1);
        }
        {
                struct cs_db_param p[] = { CS_DB_I64((int64_t)id2) };
                int64_t v = 0;

                CS_ASSERT_OK(cs_db_query_i64(db, "SELECT n FROM t WHERE id = ?", p, 1, &v, &err));
                CS_ASSERT_EQ(v, 7);
                p[0] = CS_DB_I64(-1);
                CS_ASSERT_EQ(cs_db_query_i64(db, "SELECT n FROM t WHERE id = ?", p, 1, &v, &err), CS_ENOTFOUND);
        }
        cs_db_free(db);
}

CS_TEST(errors_are_mapped)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = open_db();
        struct cs_db_rows *rows = NULL;
        struct cs_db_param p[] = { CS_DB_STR("dup") };

        CS_ASSERT_OK(cs_db_exec(db, "INSERT INTO t (name) VALUES (?)", p, 1, NULL, NULL, &err));
        CS_ASSERT_EQ(cs_db_exec(db, "INSERT INTO t (name) VALUES (?)", p, 1, NULL, NULL, &err), CS_ECONFLICT);
        CS_ASSERT_EQ(err.code, CS_ECONFLICT);
        CS_ASSERT(strstr(err.msg, "Duplicate") != NULL);
        CS_ASSERT_EQ(cs_db_last_errno(db), 1062);
        CS_ASSERT(!cs_db_retryable(db));
        /* the statement stays usable after the failure */
        p[0] = CS_DB_STR("dup2");
        CS_ASSERT_OK(cs_db_exec(db, "INSERT INTO t (name) VALUES (?)", p, 1, NULL, NULL, &err));

        CS_ASSERT_EQ(cs_db_exec(db, "INSERT INTO nosuchtable VALUES (1)", NULL, 0, NULL, NULL, &err), CS_EDB);
        CS_ASSERT(strstr(err.msg, "nosuchtable") != NULL);
        CS_ASSERT_EQ(cs_db_exec(db, "SELEKT 1", NULL, 0, NULL, NULL, &err), CS_EDB);
        CS_ASSERT(strstr(err.msg, "syntax") != NULL);
        /* wrong number of parameters */
        CS_ASSERT_EQ(cs_db_exec(db, "INSERT INTO t (name) VALUES (?)", NULL, 0, NULL, NULL, &err), CS_EINVAL);
        /* a query of a statement without a result set */
        CS_ASSERT_EQ(cs_db_query(db, "DO 1", NULL, 0, &rows, &err), CS_EINVAL);
        CS_ASSERT(rows == NULL);
        CS_ASSERT_EQ(cs_db_exec(db, NULL, NULL, 0, NULL, NULL, &err), CS_EINVAL);
        /* rows of a SELECT run through cs_db_exec are discarded, not left pending */
        CS_ASSERT_OK(cs_db_exec(db, "SELECT seq FROM seq_1_to_3000", NULL, 0, NULL, NULL, &err));
        /* still fine afterwards */
        {
                int64_t v = 0;
                CS_ASSERT_OK(cs_db_query_i64(db, "SELECT 40 + 2", NULL, 0, &v, &err));
                CS_ASSERT_EQ(v, 42);
        }
        cs_db_free(db);

        /* a wrong password is a clear CS_EDB, not a crash */
        {
                struct cs_config bad = cfg;
                snprintf(bad.db_password, sizeof bad.db_password, "definitely-wrong");
                CS_ASSERT(cs_db_open(&bad, &err) == NULL);
                CS_ASSERT_EQ(err.code, CS_EDB);
                CS_ASSERT(strstr(err.msg, "denied") != NULL);
        }
        CS_ASSERT(cs_db_free(NULL) == NULL);
}

CS_TEST(transactions)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *a = open_db(), *b = open_db();
        struct cs_db_param p[] = { CS_DB_STR("tx-rolled-back") };
        int64_t v = -1;

        CS_ASSERT_OK(cs_db_begin(a, &err));
        CS_ASSERT(cs_db_in_transaction(a));
        CS_ASSERT_EQ(cs_db_begin(a, &err), CS_EINVAL);
        CS_ASSERT_OK(cs_db_exec(a, "INSERT INTO t (name) VALUES (?)", p, 1, NULL, NULL, &err));
        /* not visible to another connection before commit */
        CS_ASSERT_OK(cs_db_query_i64(b, "SELECT COUNT(*) FROM t WHERE name = ?", p, 1, &v, &err));
        CS_ASSERT_EQ(v, 0);
        CS_ASSERT_OK(cs_db_rollback(a, &err));
        CS_ASSERT(!cs_db_in_transaction(a));
        CS_ASSERT_OK(cs_db_query_i64(a, "SELECT COUNT(*) FROM t WHERE name = ?", p, 1, &v, &err));
        CS_ASSERT_EQ(v, 0);

        p[0] = CS_DB_STR("tx-committed");
        CS_ASSERT_OK(cs_db_begin(a, &err));
        CS_ASSERT_OK(cs_db_exec(a, "INSERT INTO t (name) VALUES (?)", p, 1, NULL, NULL, &err));
        CS_ASSERT_OK(cs_db_commit(a, &err));
        CS_ASSERT_OK(cs_db_query_i64(b, "SELECT COUNT(*) FROM t WHERE name = ?", p, 1, &v, &err));
        CS_ASSERT_EQ(v, 1);
        CS_ASSERT_EQ(cs_db_commit(a, &err), CS_EINVAL);
        CS_ASSERT_OK(cs_db_rollback(a, &err)); /* harmless without a transaction */

        /* READ COMMITTED for one transaction: a row committed meanwhile by
         * another connection becomes visible; the next plain transaction is
         * REPEATABLE READ again (the first snapshot holds) */
        {
                struct cs_db_param q[] = { CS_DB_STR("rc-1") };
                int64_t before = -1, after = -1;

                CS_ASSERT_OK(cs_db_begin_read_committed(a, &err));
                CS_ASSERT_OK(cs_db_query_i64(a, "SELECT COUNT(*) FROM t WHERE name = ?", q, 1, &before, &err));
                CS_ASSERT_OK(cs_db_exec(b, "INSERT INTO t (name) VALUES (?)", q, 1, NULL, NULL, &err));
                CS_ASSERT_OK(cs_db_query_i64(a, "SELECT COUNT(*) FROM t WHERE name = ?", q, 1, &after, &err));
                CS_ASSERT_OK(cs_db_commit(a, &err));
                CS_ASSERT_EQ(before, 0);
                CS_ASSERT_EQ(after, 1);

                q[0] = CS_DB_STR("rr-1");
                CS_ASSERT_OK(cs_db_begin(a, &err));
                CS_ASSERT_OK(cs_db_query_i64(a, "SELECT COUNT(*) FROM t WHERE name = ?", q, 1, &before, &err));
                CS_ASSERT_OK(cs_db_exec(b, "INSERT INTO t (name) VALUES (?)", q, 1, NULL, NULL, &err));
                CS_ASSERT_OK(cs_db_query_i64(a, "SELECT COUNT(*) FROM t WHERE name = ?", q, 1, &after, &err));
                CS_ASSERT_OK(cs_db_rollback(a, &err));
                CS_ASSERT_EQ(before, 0);
                CS_ASSERT_EQ(after, 0);
        }
        cs_db_free(a);
        cs_db_free(b);
}

/* SKIP LOCKED, as the job claim uses it: a row locked by one connection is
 * skipped by the other. */
CS_TEST(skip_locked)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *a = open_db(), *b = open_db();
        struct cs_db_rows *ra = NULL, *rb = NULL;
        const char *q = "SELECT id FROM q WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";

        exec_ok(a, "CREATE TABLE q (id INT PRIMARY KEY, state VARCHAR(10), KEY (state, id)) ENGINE=InnoDB");
        exec_ok(a, "INSERT INTO q VALUES (1, 'pending'), (2, 'pending'), (3, 'done')");
        CS_ASSERT_OK(cs_db_begin(a, &err));
        CS_ASSERT_OK(cs_db_begin(b, &err));
        CS_ASSERT_OK(cs_db_query(a, q, NULL, 0, &ra, &err));
        CS_ASSERT_OK(cs_db_query(b, q, NULL, 0, &rb, &err));
        CS_ASSERT_EQ(cs_db_rows_count(ra), 1);
        CS_ASSERT_EQ(cs_db_rows_count(rb), 1);
        CS_ASSERT(cs_db_rows_i64(ra, 0, 0) != cs_db_rows_i64(rb, 0, 0));
        CS_ASSERT_OK(cs_db_commit(a, &err));
        CS_ASSERT_OK(cs_db_commit(b, &err));
        cs_db_rows_free(ra);
        cs_db_rows_free(rb);
        cs_db_free(a);
        cs_db_free(b);
}

CS_TEST(lock_wait_is_retryable)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *a = open_db(), *b = open_db();

        exec_ok(a, "INSERT INTO t (name) VALUES ('lw')");
        exec_ok(b, "SET SESSION innodb_lock_wait_timeout = 1");
        CS_ASSERT_OK(cs_db_begin(a, &err));
        exec_ok(a, "UPDATE t SET n = 1 WHERE name = 'lw'");
        CS_ASSERT_OK(cs_db_begin(b, &err));
        CS_ASSERT_EQ(cs_db_exec(b, "UPDATE t SET n = 2 WHERE name = 'lw'", NULL, 0, NULL, NULL, &err),
                     CS_ECONFLICT);
        CS_ASSERT(cs_db_retryable(b));
        CS_ASSERT_EQ(cs_db_last_errno(b), 1205);
        CS_ASSERT_OK(cs_db_rollback(b, &err));
        CS_ASSERT_OK(cs_db_commit(a, &err));
        cs_db_free(a);
        cs_db_free(b);
}

struct dl_arg {
        struct cs_db *db;
        int rc;
        bool retryable;
};

static void *dl_thread(void *p)
{
        struct dl_arg *a = p;
        struct cs_err err = CS_ERR_INIT;

        a->rc = cs_db_exec(a->db, "UPDATE t SET n = 10 WHERE name = 'dl2'", NULL, 0, NULL, NULL, &err);
        a->retryable = cs_db_retryable(a->db);
        return NULL;
}

CS_TEST(deadlock_is_retryable)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *a = open_db(), *b = open_db();
        struct dl_arg arg;
        pthread_t th;
        int rb;

        exec_ok(a, "INSERT INTO t (name) VALUES ('dl1'), ('dl2')");
        CS_ASSERT_OK(cs_db_begin(a, &err));
        CS_ASSERT_OK(cs_db_begin(b, &err));
        exec_ok(a, "UPDATE t SET n = 1 WHERE name = 'dl1'");
        exec_ok(b, "UPDATE t SET n = 2 WHERE name = 'dl2'");
        arg = (struct dl_arg){ a, 0, false };
        pthread_create(&th, NULL, dl_thread, &arg); /* a waits for b's row */
        usleep(300 * 1000);
        rb = cs_db_exec(b, "UPDATE t SET n = 20 WHERE name = 'dl1'", NULL, 0, NULL, NULL, &err);
        if (rb < 0) {
                CS_ASSERT_EQ(rb, CS_ECONFLICT);
                CS_ASSERT(cs_db_retryable(b));
                cs_db_rollback(b, &err);
        }
        pthread_join(th, NULL);
        /* exactly one of the two was chosen as the deadlock victim */
        CS_ASSERT((rb < 0) != (arg.rc < 0));
        if (arg.rc < 0) {
                CS_ASSERT_EQ(arg.rc, CS_ECONFLICT);
                CS_ASSERT(arg.retryable);
                cs_db_rollback(a, &err);
                CS_ASSERT_OK(cs_db_commit(b, &err));
        } else {
                CS_ASSERT_OK(cs_db_commit(a, &err));
        }
        cs_db_free(a);
        cs_db_free(b);
}

/* A connection killed by the server: the next statement outside a
 * transaction reconnects; inside a transaction the call fails and nothing is
 * replayed. */
CS_TEST(reconnect_after_kill)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *a = open_db(), *b = open_db();
        int64_t id1 = 0, id2 = 0, id3 = 0, v = 0;
        struct cs_db_param p[1];
        int r;

        CS_ASSERT_OK(cs_db_query_i64(a, "SELECT CONNECTION_ID()", NULL, 0, &id1, &err));
        p[0] = CS_DB_I64(id1);
        CS_ASSERT_OK(cs_db_exec(b, "KILL CONNECTION ?", p, 1, NULL, NULL, &err));
        usleep(100 * 1000);
        /* a statement never prepared on this connection: transparently retried */
        CS_ASSERT_OK(cs_db_query_i64(a, "SELECT CONNECTION_ID() + 0", NULL, 0, &id2, &err));
        CS_ASSERT(id2 != id1);

        /* a cached statement after a kill: may fail once, then works again */
        p[0] = CS_DB_I64(id2);
        CS_ASSERT_OK(cs_db_exec(b, "KILL CONNECTION ?", p, 1, NULL, NULL, &err));
        usleep(100 * 1000);
        r = cs_db_query_i64(a, "SELECT CONNECTION_ID()", NULL, 0, &id3, &err);
        if (r < 0)
                CS_ASSERT_OK(cs_db_query_i64(a, "SELECT CONNECTION_ID()", NULL, 0, &id3, &err));
        CS_ASSERT(id3 != id2);

        /* inside a transaction: an error, then rollback and carry on */
        CS_ASSERT_OK(cs_db_begin(a, &err));
        exec_ok(a, "INSERT INTO t (name) VALUES ('lost-in-tx')");
        p[0] = CS_DB_I64(id3);
        CS_ASSERT_OK(cs_db_exec(b, "KILL CONNECTION ?", p, 1, NULL, NULL, &err));
        usleep(100 * 1000);
        CS_ASSERT(cs_db_exec(a, "INSERT INTO t (name) VALUES ('lost-in-tx-2')", NULL, 0, NULL, NULL, &err) < 0);
        CS_ASSERT(cs_db_in_transaction(a));
        CS_ASSERT(cs_db_exec(a, "SELECT 1", NULL, 0, NULL, NULL, &err) < 0);
        CS_ASSERT_OK(cs_db_rollback(a, &err));
        CS_ASSERT_OK(cs_db_query_i64(a, "SELECT COUNT(*) FROM t WHERE name LIKE 'lost-in-tx%'", NULL, 0, &v, &err));
        CS_ASSERT_EQ(v, 0);
        CS_ASSERT_OK(cs_db_ping(a, &err));
        cs_db_free(a);
        cs_db_free(b);
}

CS_TEST(many_rows_and_statement_cache)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = open_db();
        struct cs_db_rows *rows = NULL;
        char sql[128];
        int i;

        CS_ASSERT_OK(cs_db_query(db, "SELECT seq, CONCAT('row', seq) FROM seq_1_to_5000", NULL, 0, &rows, &err));
        CS_ASSERT_EQ(cs_db_rows_count(rows), 5000);
        CS_ASSERT_EQ(cs_db_rows_i64(rows, 4999, 0), 5000);
        CS_ASSERT_STREQ(cs_db_rows_str(rows, 4999, 1), "row5000");
        cs_db_rows_free(rows);
        CS_ASSERT_EQ(cs_db_query(db, "SELECT seq FROM seq_1_to_100001", NULL, 0, &rows, &err), CS_ETOOBIG);
        /* more distinct statements than the cache holds */
        for (i = 0; i < 120; i++) {
                int64_t v = 0;

                snprintf(sql, sizeof sql, "SELECT %d + ?", i);
                {
                        struct cs_db_param p[] = { CS_DB_I64(i) };
                        CS_ASSERT_OK(cs_db_query_i64(db, sql, p, 1, &v, &err));
                }
                CS_ASSERT_EQ(v, 2 * i);
        }
        cs_db_free(db);
}

static void write_file(const char *dir, const char *name, const char *text)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "w");
        CS_ASSERT(f != NULL);
        fputs(text, f);
        fclose(f);
}

static void count_cb(const char *name, void *ctx)
{
        (void)name;
        (*(int *)ctx)++;
}

CS_TEST(migrations)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = open_db();
        char dir[] = "/tmp/cs-test-migrate-XXXXXX";
        int applied = -1, seen = 0;
        int64_t v = 0;

        CS_ASSERT(mkdtemp(dir) != NULL);
        write_file(dir, "001_first.sql",
                   "-- a comment; with a semicolon;\n"
                   "CREATE TABLE m1 (id INT PRIMARY KEY,\n  s VARCHAR(20) DEFAULT 'a;b');\n"
                   "\n"
                   "INSERT INTO m1 (id) VALUES (1);\n");
        write_file(dir, "002_second.sql", "CREATE TABLE m2 (id INT);\r\nINSERT INTO m2 VALUES (2);\r\n");
        write_file(dir, "README", "not a migration");
        write_file(dir, "010_tenth.sql", "INSERT INTO m2 VALUES (10);\n");
        CS_ASSERT_OK(cs_db_migrate(db, dir, &applied, count_cb, &seen, &err));
        CS_ASSERT_EQ(applied, 3);
        CS_ASSERT_EQ(seen, 3);
        CS_ASSERT_OK(cs_db_query_i64(db, "SELECT SUM(id) FROM m2", NULL, 0, &v, &err));
        CS_ASSERT_EQ(v, 12);
        CS_ASSERT_OK(cs_db_query_i64(db, "SELECT COUNT(*) FROM m1 WHERE s = 'a;b'", NULL, 0, &v, &err));
        CS_ASSERT_EQ(v, 1);
        /* again: nothing to do */
        CS_ASSERT_OK(cs_db_migrate(db, dir, &applied, NULL, NULL, &err));
        CS_ASSERT_EQ(applied, 0);
        /* a new one is applied, in number order */
        write_file(dir, "011_more.sql", "INSERT INTO m2 VALUES (11);\n");
        CS_ASSERT_OK(cs_db_migrate(db, dir, &applied, NULL, NULL, &err));
        CS_ASSERT_EQ(applied, 1);
        /* a broken one names the file and statement, and is not recorded */
        write_file(dir, "012_broken.sql", "INSERT INTO m2 VALUES (12);\nINSERT INTO nope VALUES (1);\n");
        CS_ASSERT_EQ(cs_db_migrate(db, dir, &applied, NULL, NULL, &err), CS_EDB);
        CS_ASSERT(strstr(err.msg, "012_broken.sql, statement 2") != NULL);
        CS_ASSERT_OK(cs_db_query_i64(db, "SELECT COUNT(*) FROM schema_migrations WHERE version = 12",
                                     NULL, 0, &v, &err));
        CS_ASSERT_EQ(v, 0);
        write_file(dir, "012_broken.sql", "INSERT INTO m2 VALUES (12)\n");
        CS_ASSERT_EQ(cs_db_migrate(db, dir, &applied, NULL, NULL, &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "does not end with ';'") != NULL);
        CS_ASSERT_EQ(cs_db_migrate(db, "/nonexistent-cs-dir", &applied, NULL, NULL, &err), CS_EIO);
        {
                char cmd[600];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                CS_ASSERT_EQ(system(cmd), 0);
        }
        cs_db_free(db);
}

/* DELIMITER lines in a migration (procedure bodies), and a CALL's result set
 * through cs_db_query, twice on the same cached statement, then plain
 * statements on the same connection (the CALL's status was read). */
CS_TEST(procedures_and_call)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = open_db();
        struct cs_db_rows *rows = NULL;
        char dir[] = "/tmp/cs-test-migrate-XXXXXX";
        int applied = -1, i;
        int64_t v = 0;

        CS_ASSERT(mkdtemp(dir) != NULL);
        write_file(dir, "201_proc.sql",
                   "CREATE TABLE pc (id INT PRIMARY KEY, n INT NOT NULL);\n"
                   "INSERT INTO pc VALUES (1, 0);\n"
                   "DELIMITER //\n"
                   "-- bumps n; returns it; raises on a negative step\n"
                   "CREATE PROCEDURE pc_bump(IN p_step INT)\n"
                   "BEGIN\n"
                   "  IF p_step < 0 THEN\n"
                   "    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'negative step';\n"
                   "  END IF;\n"
                   "  UPDATE pc SET n = n + p_step WHERE id = 1;\n"
                   "  SELECT n, 'x;y' AS s FROM pc WHERE id = 1;\n"
                   "END //  \n"
                   "delimiter ;\n"
                   "INSERT INTO pc VALUES (2, 7);\n");
        CS_ASSERT_OK(cs_db_migrate(db, dir, &applied, NULL, NULL, &err));
        CS_ASSERT_EQ(applied, 1);
        for (i = 1; i <= 3; i++) {
                struct cs_db_param p[] = { CS_DB_I64(5) };
                CS_ASSERT_OK(cs_db_query(db, "CALL pc_bump(?)", p, 1, &rows, &err));
                CS_ASSERT_EQ(cs_db_rows_count(rows), 1);
                CS_ASSERT_EQ(cs_db_rows_i64(rows, 0, 0), 5 * i);
                CS_ASSERT_STREQ(cs_db_rows_str(rows, 0, 1), "x;y");
                rows = cs_db_rows_free(rows);
                CS_ASSERT_OK(cs_db_query_i64(db, "SELECT n FROM pc WHERE id = 2", NULL, 0, &v, &err));
                CS_ASSERT_EQ(v, 7);
        }
        {
                struct cs_db_param p[] = { CS_DB_I64(-1) };
                CS_ASSERT_EQ(cs_db_query(db, "CALL pc_bump(?)", p, 1, &rows, &err), CS_EDB);
                CS_ASSERT(strstr(err.msg, "negative step") != NULL);
        }
        CS_ASSERT_OK(cs_db_query_i64(db, "SELECT n FROM pc WHERE id = 1", NULL, 0, &v, &err));
        CS_ASSERT_EQ(v, 15);
        /* a DELIMITER statement that never ends is refused with its delimiter named */
        write_file(dir, "202_open.sql", "DELIMITER $$\nSELECT 1;\n");
        CS_ASSERT_EQ(cs_db_migrate(db, dir, &applied, NULL, NULL, &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "does not end with '$$'") != NULL);
        {
                char cmd[600];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                CS_ASSERT_EQ(system(cmd), 0);
        }
        cs_db_free(db);
}

/* The project's own sql/ applies cleanly to an empty database, twice. */
CS_TEST(project_schema)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_config c2 = cfg;
        struct cs_db *db, *admin;
        char sqldir[512], name[80], q[160];
        const char *root = getenv("CS_SOURCE_ROOT");
        int applied = 0;
        int64_t v = 0;

        CS_ASSERT(root != NULL);
        snprintf(sqldir, sizeof sqldir, "%s/sql", root);
        snprintf(name, sizeof name, "%s_schema", scratch);
        snprintf(c2.db_name, sizeof c2.db_name, "%s", name);
        db = cs_db_open_create(&c2, &err);
        if (!db)
                CS_FAIL("open_create: %s", err.msg);
        if (cs_db_migrate(db, sqldir, &applied, NULL, NULL, &err) < 0)
                CS_FAIL("migrate: %s", err.msg);
        CS_ASSERT(applied >= 1);
        CS_ASSERT_OK(cs_db_migrate(db, sqldir, &applied, NULL, NULL, &err));
        CS_ASSERT_EQ(applied, 0);
        /* the claim query the jobs API runs uses the claim index */
        CS_ASSERT_OK(cs_db_query_i64(db, "SELECT COUNT(*) FROM information_schema.STATISTICS"
                                         " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'stacking_jobs'"
                                         " AND INDEX_NAME = 'ix_jobs_claim'", NULL, 0, &v, &err));
        CS_ASSERT_EQ(v, 3);
        {
                struct cs_db_param p[] = { CS_DB_STR("u1"), CS_DB_STR("u1@example.org"), CS_DB_STR("$argon2id$x") };
                uint64_t uid = 0;
                CS_ASSERT_OK(cs_db_exec(db, "INSERT INTO users (username, email, password_hash) VALUES (?,?,?)",
                                        p, 3, NULL, &uid, &err));
                p[0] = CS_DB_STR("U1"); /* user names are case-insensitive */
                CS_ASSERT_EQ(cs_db_exec(db, "INSERT INTO users (username, email, password_hash) VALUES (?,?,?)",
                                        p, 3, NULL, NULL, &err), CS_ECONFLICT);
        }
        cs_db_free(db);
        admin = open_db();
        snprintf(q, sizeof q, "DROP DATABASE `%s`", name);
        CS_ASSERT_OK(cs_db_exec(admin, q, NULL, 0, NULL, NULL, &err));
        cs_db_free(admin);
}

/* CS_TEST_MAIN with set-up/tear-down around it. */
struct cs_test_case cs_test_cases[CS_TEST_MAX];
int cs_test_count;

int main(int argc, char **argv)
{
        const char *sock = getenv("CS_TEST_DB_SOCKET");
        int i, ran = 0;

        if (!sock || !*sock) {
                printf("CS_TEST_DB_SOCKET is not set: skipped (script/test starts a database)\n");
                return 77;
        }
        setup();
        for (i = 0; i < cs_test_count; i++) {
                if (argc > 1 && strcmp(argv[1], cs_test_cases[i].name) != 0)
                        continue;
                printf("== %s\n", cs_test_cases[i].name);
                fflush(stdout);
                cs_test_cases[i].fn();
                ran++;
        }
        teardown();
        printf("%d tests passed\n", ran);
        return ran > 0 ? 0 : 1;
}

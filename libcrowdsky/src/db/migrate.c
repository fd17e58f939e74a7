/* migrate.c - applies sql/NNN_name.sql migrations that schema_migrations lacks. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crowdsky/alloc.h"
#include "crowdsky/buf.h"
#include "crowdsky/db.h"
#include "crowdsky/str.h"

#define MIGRATION_MAX_BYTES (4u << 20)
#define LOCK_NAME "crowdsky_migrate"

static const char create_table_sql[] =
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INT UNSIGNED NOT NULL PRIMARY KEY,"
        " name VARCHAR(255) NOT NULL,"
        " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";

/* NNN_something.sql: digits, '_', anything, ".sql". */
static int migration_filter(const struct dirent *d)
{
        const char *s = d->d_name;
        size_t len = strlen(s), i = 0;

        while (isdigit((unsigned char)s[i]))
                i++;
        return i > 0 && s[i] == '_' && len > 4 && strcmp(s + len - 4, ".sql") == 0;
}

static int version_of(const char *name, int64_t *ret)
{
        size_t i = 0;

        while (isdigit((unsigned char)name[i]))
                i++;
        return cs_parse_i64(cs_str_from(name, i), ret);
}

static int by_version(const struct dirent **a, const struct dirent **b)
{
        int64_t va = 0, vb = 0;

        version_of((*a)->d_name, &va);
        version_of((*b)->d_name, &vb);
        if (va != vb)
                return va < vb ? -1 : 1;
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int read_file(const char *path, struct cs_buf *out, struct cs_err *err)
{
        char chunk[8192];
        size_t n;
        FILE *f = fopen(path, "r");
        int r = CS_OK;

        if (!f)
                return cs_err_set(err, CS_EIO, "cannot open '%s': %s", path, strerror(errno));
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
                r = cs_buf_add(out, chunk, n);
                if (r < 0) {
                        cs_err_set(err, r, "'%s' is too large", path);
                        break;
                }
        }
        if (r == CS_OK && ferror(f))
                r = cs_err_set(err, CS_EIO, "cannot read '%s'", path);
        fclose(f);
        return r;
}

/* Whether t is a "DELIMITER xyz" line; sets *ret_delim to xyz. */
static bool delimiter_line(struct cs_str t, struct cs_str *ret_delim)
{
        static const char kw[] = "DELIMITER";
        size_t k = sizeof kw - 1;

        if (t.len <= k || strncasecmp(t.p, kw, k) != 0 || (t.p[k] != ' ' && t.p[k] != '\t'))
                return false;
        *ret_delim = cs_str_trim(cs_str_from(t.p + k, t.len - k));
        return true;
}

/* Runs the statements of one file: a statement ends with the delimiter (';'
 * unless changed) at the end of a line; whole-line "--" comments are dropped
 * (they may hold ';'). As in the mariadb client, a line "DELIMITER //"
 * makes "//" the delimiter (for procedure bodies, whose statements end with
 * ';') until "DELIMITER ;". */
static int apply_file(struct cs_db *db, const char *path, const char *name, struct cs_err *err)
{
        struct cs_buf text = CS_BUF_INIT(MIGRATION_MAX_BYTES);
        struct cs_buf stmt = CS_BUF_INIT(MIGRATION_MAX_BYTES);
        struct cs_str rest, line, delim = cs_str_c(";");
        int r, nstmt = 0;

        r = read_file(path, &text, err);
        if (r < 0)
                goto out;
        rest = cs_str_from(text.data, text.len);
        while (rest.len > 0) {
                struct cs_str t, d;

                if (!cs_str_split(&rest, '\n', &line)) {
                        line = rest;
                        rest.len = 0;
                }
                t = cs_str_trim(line);
                while (t.len && (t.p[t.len - 1] == '\r'))
                        t.len--;
                if (t.len >= 2 && t.p[0] == '-' && t.p[1] == '-')
                        continue;
                if (t.len == 0 && stmt.len == 0)
                        continue;
                if (stmt.len == 0 && delimiter_line(t, &d)) {
                        if (d.len == 0 || d.len > 8 || memchr(d.p, ' ', d.len)) {
                                r = cs_err_set(err, CS_EINVAL, "%s: bad DELIMITER line", name);
                                goto out;
                        }
                        delim = d;
                        continue;
                }
                r = cs_buf_add(&stmt, line.p, line.len);
                if (r == CS_OK)
                        r = cs_buf_addc(&stmt, '\n');
                if (r < 0) {
                        cs_err_set(err, r, "%s: statement too long", name);
                        goto out;
                }
                if (t.len >= delim.len && memcmp(t.p + t.len - delim.len, delim.p, delim.len) == 0) {
                        /* cut the delimiter and what follows it on that line
                         * (t ends the line but for trailing blanks) */
                        size_t end = (size_t)(t.p - line.p) + t.len - delim.len;

                        stmt.len = stmt.len - (line.len + 1) + end;
                        stmt.data[stmt.len] = '\0';
                        nstmt++;
                        if (cs_str_trim(cs_str_c(stmt.data)).len > 0) {
                                r = cs_db_exec(db, stmt.data, NULL, 0, NULL, NULL, err);
                                if (r < 0) {
                                        cs_err_prefix(err, "%s, statement %d", name, nstmt);
                                        goto out;
                                }
                        }
                        cs_buf_reset(&stmt);
                }
        }
        if (stmt.len > 0 && cs_str_trim(cs_str_c(stmt.data)).len > 0) {
                r = cs_err_set(err, CS_EINVAL, "%s: last statement does not end with '%.*s'", name,
                               (int)delim.len, delim.p);
                goto out;
        }
        r = CS_OK;
out:
        cs_buf_release(&stmt);
        cs_buf_release(&text);
        return r;
}

int cs_db_migrate(struct cs_db *db, const char *sql_dir, int *ret_applied,
                  void (*log)(const char *name, void *ctx), void *ctx, struct cs_err *err)
{
        struct dirent **list = NULL;
        int n = -1, i, r, applied = 0;
        bool locked = false;
        int64_t got = 0;

        {
                struct cs_db_param p[] = { CS_DB_STR(LOCK_NAME) };

                /* two migrate runs at once (two hosts starting) must not interleave */
                r = cs_db_query_i64(db, "SELECT GET_LOCK(?, 60)", p, 1, &got, err);
                if (r < 0)
                        goto out;
                if (got != 1) {
                        r = cs_err_set(err, CS_ECONFLICT, "another migration is running");
                        goto out;
                }
                locked = true;
        }
        r = cs_db_exec(db, create_table_sql, NULL, 0, NULL, NULL, err);
        if (r < 0)
                goto out;
        n = scandir(sql_dir, &list, migration_filter, by_version);
        if (n < 0) {
                r = cs_err_set(err, CS_EIO, "cannot read migrations folder '%s': %s", sql_dir,
                               strerror(errno));
                goto out;
        }
        for (i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                int64_t version = 0, have = 0;
                char *path;

                if (version_of(name, &version) < 0 || version < 0 || version > 4294967295LL) {
                        r = cs_err_set(err, CS_EINVAL, "bad migration number in '%s'", name);
                        goto out;
                }
                {
                        struct cs_db_param p[] = { CS_DB_I64(version) };

                        r = cs_db_query_i64(db, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?",
                                            p, 1, &have, err);
                        if (r < 0)
                                goto out;
                }
                if (have > 0)
                        continue;
                path = cs_xasprintf("%s/%s", sql_dir, name);
                r = apply_file(db, path, name, err);
                free(path);
                if (r < 0)
                        goto out;
                {
                        struct cs_db_param p[] = { CS_DB_I64(version), CS_DB_STR(name) };

                        r = cs_db_exec(db, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                                       p, 2, NULL, NULL, err);
                        if (r < 0)
                                goto out;
                }
                applied++;
                if (log)
                        log(name, ctx);
        }
        if (ret_applied)
                *ret_applied = applied;
        r = CS_OK;
out:
        if (locked) {
                struct cs_db_param p[] = { CS_DB_STR(LOCK_NAME) };
                struct cs_err ignored = CS_ERR_INIT;

                cs_db_query_i64(db, "SELECT RELEASE_LOCK(?)", p, 1, &got, &ignored);
        }
        for (i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return r;
}

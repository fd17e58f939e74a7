/* cmd_migrate.c - crowdsky-fcgi migrate [--config FILE] [--sql-dir DIR]
 *
 * Creates the database if it is missing and applies the sql/NNN_*.sql
 * migrations that schema_migrations does not list yet, printing each. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "crowdsky/config.h"
#include "crowdsky/db.h"

#ifndef CS_DATADIR
#define CS_DATADIR "/usr/local/share/crowdsky"
#endif

static bool is_dir(const char *p)
{
        struct stat st;

        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The source tree's sql/ next to the build folder (binary in BUILD/fcgi/, so
 * BUILD/../sql), then the installed datadir. */
static bool default_sql_dir(char *out, size_t n)
{
        char exe[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        const char *rel[] = { "/../../sql", "/../sql", "/../share/crowdsky/sql" };
        size_t i;

        if (len > 0) {
                char *slash;

                exe[len] = '\0';
                slash = strrchr(exe, '/');
                if (slash)
                        *slash = '\0';
                for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                        char cand[PATH_MAX];

                        if (snprintf(cand, sizeof cand, "%s%s", exe, rel[i]) >= (int)sizeof cand)
                                continue;
                        if (is_dir(cand) && realpath(cand, out) && strlen(out) < n)
                                return true;
                }
        }
        if (snprintf(out, n, "%s/sql", CS_DATADIR) < (int)n && is_dir(out))
                return true;
        return false;
}

static void print_applied(const char *name, void *ctx)
{
        (void)ctx;
        printf("applied %s\n", name);
        fflush(stdout);
}

int cmd_migrate(int argc, char **argv)
{
        const char *config = NULL, *sql_dir = NULL;
        char found[PATH_MAX];
        struct cs_config cfg;
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = NULL;
        int i, applied = 0, rc = 1;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        config = argv[++i];
                } else if (!strcmp(argv[i], "--sql-dir") && i + 1 < argc) {
                        sql_dir = argv[++i];
                } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        printf("usage: crowdsky-fcgi migrate [--config FILE] [--sql-dir DIR]\n"
                               "Creates the database if missing and applies the migrations\n"
                               "(DIR/NNN_*.sql) it lacks. Default DIR: the source tree's sql/,\n"
                               "else %s/sql.\n", CS_DATADIR);
                        return 0;
                } else {
                        fprintf(stderr, "crowdsky-fcgi migrate: unexpected argument '%s'\n", argv[i]);
                        return 2;
                }
        }
        if (!sql_dir) {
                if (!default_sql_dir(found, sizeof found)) {
                        fprintf(stderr, "crowdsky-fcgi migrate: no sql/ folder found; use --sql-dir DIR\n");
                        return 1;
                }
                sql_dir = found;
        }
        if (cs_config_load(config, &cfg, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi migrate: %s\n", err.msg);
                return 1;
        }
        db = cs_db_open_create(&cfg, &err);
        if (!db) {
                fprintf(stderr, "crowdsky-fcgi migrate: %s\n", err.msg);
                return 1;
        }
        if (cs_db_migrate(db, sql_dir, &applied, print_applied, NULL, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi migrate: %s\n", err.msg);
                goto out;
        }
        printf("%d migration%s applied from %s; schema is up to date\n", applied,
               applied == 1 ? "" : "s", sql_dir);
        rc = 0;
out:
        cs_db_free(db);
        return rc;
}

/* cmd_token.c - crowdsky-fcgi token create NAME | revoke NAME | list
 * [--config FILE]: worker bearer tokens. `create` prints the token once (the
 * database keeps only its SHA-256); it is the last word of the output, so
 * scripts can take it with awk '{print $NF}'. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "crowdsky/db.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: crowdsky-fcgi token create NAME [--config FILE]   print a new worker token (once)\n"
                   "       crowdsky-fcgi token revoke NAME [--config FILE]   the token stops working at once\n"
                   "       crowdsky-fcgi token list [--config FILE]          names, state, last seen\n");
}

static int do_list(struct cs_db *db)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db_rows *rows = NULL;
        size_t i;

        if (cs_db_query(db,
                        "SELECT name, IF(revoked_at IS NULL, 'active', 'revoked'), "
                        "DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ'), "
                        "COALESCE(DATE_FORMAT(last_seen_at, '%Y-%m-%dT%H:%i:%sZ'), '-'), "
                        "(SELECT COUNT(*) FROM stacking_jobs j WHERE j.holder_token_id = t.id "
                        "AND j.state = 'processing') FROM worker_tokens t ORDER BY name",
                        NULL, 0, &rows, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi token list: %s\n", err.msg);
                return 1;
        }
        printf("%-32s %-8s %-21s %-21s %s\n", "NAME", "STATE", "CREATED", "LAST SEEN", "JOBS");
        for (i = 0; i < cs_db_rows_count(rows); i++)
                printf("%-32s %-8s %-21s %-21s %s\n", cs_db_rows_str(rows, i, 0), cs_db_rows_str(rows, i, 1),
                       cs_db_rows_str(rows, i, 2), cs_db_rows_str(rows, i, 3), cs_db_rows_str(rows, i, 4));
        cs_db_rows_free(rows);
        return 0;
}

int cmd_token(int argc, char **argv)
{
        const char *conf = NULL, *pos[2] = { NULL, NULL };
        struct cs_config cfg;
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = NULL;
        int i, npos = 0, rc = 1;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        conf = argv[++i];
                } else if (!strncmp(argv[i], "--config=", 9)) {
                        conf = argv[i] + 9;
                } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        usage(stdout);
                        return 0;
                } else if (argv[i][0] == '-') {
                        fprintf(stderr, "crowdsky-fcgi token: unknown option '%s'\n", argv[i]);
                        return 2;
                } else if (npos < 2) {
                        pos[npos++] = argv[i];
                } else {
                        fprintf(stderr, "crowdsky-fcgi token: too many arguments\n");
                        return 2;
                }
        }
        if (!pos[0] || (strcmp(pos[0], "list") && !pos[1]) || (!strcmp(pos[0], "list") && pos[1])) {
                usage(stderr);
                return 2;
        }
        if (strcmp(pos[0], "create") && strcmp(pos[0], "revoke") && strcmp(pos[0], "list")) {
                fprintf(stderr, "crowdsky-fcgi token: unknown action '%s' (create, revoke, list)\n", pos[0]);
                return 2;
        }
        if (cs_config_load(conf, &cfg, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi token: %s\n", err.msg);
                return 1;
        }
        db = cs_db_open(&cfg, &err);
        if (!db) {
                fprintf(stderr, "crowdsky-fcgi token: %s\n", err.msg);
                return 1;
        }
        if (!strcmp(pos[0], "list")) {
                rc = do_list(db);
        } else if (!strcmp(pos[0], "create")) {
                char tok[CS_WORKER_TOKEN_LEN + 1];
                if (cs_worker_token_create(db, pos[1], tok, &err) < 0) {
                        fprintf(stderr, "crowdsky-fcgi token create: %s\n", err.msg);
                } else {
                        fprintf(stderr, "worker token '%s' created; it is shown only this once:\n", pos[1]);
                        printf("%s\n", tok);
                        memset(tok, 0, sizeof tok);
                        rc = 0;
                }
        } else {
                if (cs_worker_token_revoke(db, pos[1], &err) < 0) {
                        fprintf(stderr, "crowdsky-fcgi token revoke: %s\n", err.msg);
                } else {
                        printf("worker token '%s' revoked\n", pos[1]);
                        rc = 0;
                }
        }
        cs_db_free(db);
        return rc;
}

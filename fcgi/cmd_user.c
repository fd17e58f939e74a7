/* cmd_user.c - crowdsky-fcgi user create NAME EMAIL [--admin] | user passwd NAME
 * [--config FILE]. The password is read from stdin (first line), never from
 * the command line (it would show in ps and shell history). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "crowdsky/auth.h"
#include "crowdsky/db.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: crowdsky-fcgi user create NAME EMAIL [--admin] [--config FILE]\n"
                   "       crowdsky-fcgi user passwd NAME [--config FILE]\n"
                   "The password is read from the first line of stdin.\n");
}

static int read_password(char *out, size_t outsz)
{
        size_t n;

        if (isatty(STDIN_FILENO))
                fprintf(stderr, "password: ");
        if (!fgets(out, (int)outsz, stdin))
                return -1;
        n = strlen(out);
        if (n && out[n - 1] == '\n')
                out[--n] = '\0';
        if (n && out[n - 1] == '\r')
                out[--n] = '\0';
        return 0;
}

int cmd_user(int argc, char **argv)
{
        const char *conf = NULL, *pos[3] = { NULL, NULL, NULL };
        char pw[CS_AUTH_PASSWORD_MAX + 2];
        struct cs_config cfg;
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = NULL;
        bool admin = false;
        int i, npos = 0, rc = 1, r;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc)
                        conf = argv[++i];
                else if (!strncmp(argv[i], "--config=", 9))
                        conf = argv[i] + 9;
                else if (!strcmp(argv[i], "--admin"))
                        admin = true;
                else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        usage(stdout);
                        return 0;
                } else if (argv[i][0] == '-') {
                        fprintf(stderr, "crowdsky-fcgi user: unknown option '%s'\n", argv[i]);
                        return 2;
                } else if (npos < 3) {
                        pos[npos++] = argv[i];
                } else {
                        usage(stderr);
                        return 2;
                }
        }
        if (npos < 1 || (strcmp(pos[0], "create") == 0 ? npos != 3 : strcmp(pos[0], "passwd") == 0 ? npos != 2 : 1)) {
                usage(stderr);
                return 2;
        }
        if (cs_config_load(conf, &cfg, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi user: %s\n", err.msg);
                return 1;
        }
        if (read_password(pw, sizeof pw) < 0) {
                fprintf(stderr, "crowdsky-fcgi user: no password on stdin\n");
                return 1;
        }
        if (cs_auth_password_policy(pw, strlen(pw), &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi user: %s\n", err.msg);
                goto out;
        }
        db = cs_db_open(&cfg, &err);
        if (!db) {
                fprintf(stderr, "crowdsky-fcgi user: %s\n", err.msg);
                goto out;
        }
        if (!strcmp(pos[0], "create")) {
                int64_t id;
                r = cs_user_create(db, pos[1], pos[2], pw, admin, &id, &err);
                if (r < 0) {
                        fprintf(stderr, "crowdsky-fcgi user create: %s\n", err.msg);
                        goto out;
                }
                printf("created user '%s' (id %lld%s)\n", pos[1], (long long)id, admin ? ", admin" : "");
        } else {
                struct cs_user u;
                r = cs_user_find(db, pos[1], &u, &err);
                if (r == CS_OK)
                        r = cs_user_set_password(db, u.id, pw, &err);
                if (r < 0) {
                        fprintf(stderr, "crowdsky-fcgi user passwd: %s\n", err.msg);
                        goto out;
                }
                printf("password of '%s' changed; their sessions were ended\n", u.name);
        }
        rc = 0;
out:
        memset(pw, 0, sizeof pw);
        cs_db_free(db);
        return rc;
}

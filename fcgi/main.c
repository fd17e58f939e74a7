/* main.c - crowdsky-fcgi: the FastCGI responder pool and its admin commands. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "crowdsky/log.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *help;
} cmds[] = {
        { "serve", cmd_serve, "serve [--config FILE]              run the responder pool (default)" },
        { "migrate", cmd_migrate, "migrate [--config FILE] [--sql-dir DIR]   create the database if missing, apply missing migrations" },
        { "user", cmd_user, "user create NAME EMAIL [--admin] | passwd NAME   accounts (password on stdin)" },
        { "token", cmd_token, "token create|revoke|list [NAME]    manage worker tokens" },
        { "cleanup", cmd_cleanup, "cleanup [--config FILE] [--dry-run]  remove abandoned uploads and orphans, return stuck jobs" },
};

static void usage(FILE *f)
{
        size_t i;

        fprintf(f, "usage: crowdsky-fcgi [COMMAND] [ARGS]\n\ncommands:\n");
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
                fprintf(f, "  %s\n", cmds[i].help);
}

int main(int argc, char **argv)
{
        size_t i;

        cs_log_set_ident("crowdsky-fcgi");
        if (argc < 2 || argv[1][0] == '-') {
                if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                        usage(stdout);
                        return 0;
                }
                if (argc >= 2 && !strcmp(argv[1], "--version")) {
                        printf("crowdsky-fcgi %s\n", CS_VERSION);
                        return 0;
                }
                /* no command: serve, with the given options */
                argv[0] = "serve";
                return cmd_serve(argc, argv);
        }
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
                if (!strcmp(argv[1], cmds[i].name))
                        return cmds[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "crowdsky-fcgi: unknown command '%s' (try --help)\n", argv[1]);
        return 2;
}

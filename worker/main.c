/* main.c - crowdsky-worker: the command-line stacker and the polling daemon. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "crowdsky/log.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *help;
} cmds[] = {
        { "inspect", cmd_inspect, "inspect FILE...                 header summary + chunk key as JSON lines" },
        { "stack", cmd_stack, "stack [options] FILE...         align and sigma-clip stack raw frames" },
        { "simulate", cmd_simulate, "simulate --out DIR --frames N   write Seestar-like frames + truth.json" },
        { "run", cmd_run, "run [--config FILE] [--once]    the polling daemon" },
};

static void usage(FILE *f)
{
        size_t i;

        fprintf(f, "usage: crowdsky-worker COMMAND [ARGS]\n\ncommands:\n");
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
                fprintf(f, "  %s\n", cmds[i].help);
        fprintf(f, "\ncrowdsky-worker COMMAND --help shows the options of a command.\n");
}

int main(int argc, char **argv)
{
        size_t i;

        cs_log_set_ident("crowdsky-worker");
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        if (!strcmp(argv[1], "--version")) {
                printf("crowdsky-worker %s\n", CS_VERSION);
                return 0;
        }
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
                if (!strcmp(argv[1], cmds[i].name))
                        return cmds[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "crowdsky-worker: unknown command '%s' (try --help)\n", argv[1]);
        return 2;
}

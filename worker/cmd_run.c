/* cmd_run.c - crowdsky-worker run (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_run(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-worker: 'run' is not built yet\n");
        return 1;
}

/* cmd_simulate.c - crowdsky-worker simulate (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_simulate(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-worker: 'simulate' is not built yet\n");
        return 1;
}

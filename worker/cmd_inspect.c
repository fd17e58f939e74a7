/* cmd_inspect.c - crowdsky-worker inspect (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_inspect(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-worker: 'inspect' is not built yet\n");
        return 1;
}

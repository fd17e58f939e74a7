/* cmd_stack.c - crowdsky-worker stack (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_stack(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-worker: 'stack' is not built yet\n");
        return 1;
}

/* cmd_cleanup.c - crowdsky-fcgi cleanup (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_cleanup(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-fcgi: 'cleanup' is not built yet\n");
        return 1;
}

/* cmd_migrate.c - crowdsky-fcgi migrate (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_migrate(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-fcgi: 'migrate' is not built yet\n");
        return 1;
}

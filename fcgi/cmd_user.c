/* cmd_user.c - crowdsky-fcgi user (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_user(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-fcgi: 'user' is not built yet\n");
        return 1;
}

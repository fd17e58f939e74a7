/* cmd_token.c - crowdsky-fcgi token (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_token(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-fcgi: 'token' is not built yet\n");
        return 1;
}

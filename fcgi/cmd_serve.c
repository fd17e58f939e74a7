/* cmd_serve.c - crowdsky-fcgi serve (placeholder until its issue lands). */
#include <stdio.h>

#include "cmds.h"

int cmd_serve(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "crowdsky-fcgi: 'serve' is not built yet\n");
        return 1;
}

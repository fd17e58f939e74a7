/* main.c - crowdsky-fcgi (placeholder until the web platform issue lands). */
#include <stdio.h>

int main(void)
{
        fprintf(stderr, "crowdsky-fcgi: not built yet\n");
        return 1;
}

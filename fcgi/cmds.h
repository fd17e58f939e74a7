/* cmds.h - the subcommands of crowdsky-fcgi. Each takes the arguments after
 * the subcommand name (argv[0] is the subcommand) and returns the exit status. */
#ifndef CROWDSKY_FCGI_CMDS_H
#define CROWDSKY_FCGI_CMDS_H

int cmd_serve(int argc, char **argv);   /* the responder pool (default) */
int cmd_migrate(int argc, char **argv); /* apply missing sql/ migrations */
int cmd_user(int argc, char **argv);    /* user create|passwd NAME ... */
int cmd_token(int argc, char **argv);   /* worker token create|revoke|list */
int cmd_cleanup(int argc, char **argv); /* housekeeping, run by the timer */

#endif

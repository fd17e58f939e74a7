/* cmds.h - the subcommands of crowdsky-worker (SPEC section 3). Each takes the
 * arguments after the subcommand name and returns the process exit status. */
#ifndef CROWDSKY_WORKER_CMDS_H
#define CROWDSKY_WORKER_CMDS_H

int cmd_inspect(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_stack(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif

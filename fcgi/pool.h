/* pool.h - the responder pool: N threads, each looping on FCGX_Accept_r on
 * one listening socket with its own database handle, and one place where
 * signals are handled.
 *
 * Shutdown (SIGTERM/SIGINT): SIGTERM, SIGINT, SIGHUP and SIGQUIT are blocked
 * in every thread; a dedicated thread waits for them with sigwait(). On a
 * signal it calls FCGX_ShutdownPending() (libfcgi stops accepting), then
 * shutdown(2) on the listening socket, which wakes every thread blocked in
 * accept(2) (a signal would wake only one). Threads in the middle of a
 * request finish it, reply and exit; the pool then joins them.
 *
 * libfcgi limits: Debian's libfcgi 2.4.2 still has select()-based code paths
 * (the async I/O helpers; we never call them). select() cannot handle
 * descriptors >= FD_SETSIZE, so the pool caps RLIMIT_NOFILE at FD_SETSIZE:
 * past it, open/accept fail with EMFILE instead of corrupting memory. */
#ifndef CROWDSKY_FCGI_POOL_H
#define CROWDSKY_FCGI_POOL_H

#include "app.h"

/* Opens the listening socket (a unix socket path, or ":port" / "host:port"
 * for TCP). Returns the fd or -1 with err set. */
int cs_pool_listen(const char *spec, int backlog, struct cs_err *err);
/* Runs the pool until SIGTERM/SIGINT; returns the process exit status. */
int cs_pool_run(struct cs_app *app, int listen_fd);

#endif

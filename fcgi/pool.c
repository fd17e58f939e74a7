/* pool.c - responder threads, signal thread, graceful shutdown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool.h"
#include "crowdsky/alloc.h"
#include "crowdsky/log.h"

static atomic_int stopping;

int cs_pool_listen(const char *spec, int backlog, struct cs_err *err)
{
        int fd;
        bool is_unix = strchr(spec, '/') != NULL || strchr(spec, ':') == NULL;

        fd = FCGX_OpenSocket(spec, backlog);
        if (fd < 0) {
                cs_err_set(err, CS_EIO, "cannot listen on '%s': %s", spec, strerror(errno));
                return -1;
        }
        /* the web server (same user or same group) must be able to connect */
        if (is_unix && chmod(spec, 0660) < 0)
                cs_log_warn("chmod '%s': %s, ignoring", spec, strerror(errno));
        return fd;
}

struct thread_arg {
        struct cs_app *app;
        int listen_fd;
        int index;
        pthread_t tid;
};

/* Bytes of unread request body worth reading here to allow the quick close. */
#define CLOSE_DRAIN_MAX (64 * 1024)

/* Lets FCGX_Finish_r close the connection at once instead of libfcgi's
 * lingering close. By default libfcgi ends every connection with
 * shutdown(SHUT_WR), then poll + read until the web server closes its end
 * (up to 2 s per wait): three more system calls and one more sleep and wake-up
 * of the responder per request, and the thread stays tied to the connection
 * until nginx has read the answer. The lingering exists for one case: the
 * server still sending request data we never read (a refused upload), which a
 * plain close would turn into a broken pipe on its side (and, on a unix
 * socket, unread data in our receive queue makes the peer's next read fail
 * with ECONNRESET). Neither can happen once the request's stdin has been read
 * to its end (the empty FCGI_STDIN record is the last thing nginx sends on a
 * connection it does not keep): then the kernel's queue is empty, nothing
 * more will come, and close() hands nginx the whole answer, then end-of-file.
 * So: read what is left of a small body (GET: just the empty record, usually
 * already in libfcgi's buffer), and only if stdin ended cleanly, mark the
 * request detached, which makes libfcgi skip the lingering part (FCGX_Free:
 * OS_IpcClose(fd, !detached)). A large unread body (a refused upload) keeps
 * the lingering close, which drains it. Reading the end of stdin waits for it
 * like libfcgi's own reading of the parameters does: nginx sends it with the
 * request; only a broken FastCGI client that never sends it could hold the
 * thread (as it already can by sending half the parameters). */
static void close_quickly(FCGX_Request *fx, const struct cs_req *req, char *buf)
{
        long total = 0;
        int k;

        if (fx->keepConnection || !fx->in)
                return;
        if (req->content_length > 0 && req->content_length - req->body_read > CLOSE_DRAIN_MAX)
                return;
        do {
                k = FCGX_GetStr(buf, CS_IOBUF_SIZE, fx->in);
                total += k > 0 ? k : 0;
        } while (k > 0 && total <= CLOSE_DRAIN_MAX);
        if (k == 0 && FCGX_HasSeenEOF(fx->in) == EOF && FCGX_GetError(fx->in) == 0)
                FCGX_Detach(fx);
}

static void *responder(void *p)
{
        struct thread_arg *ta = p;
        struct cs_worker w;
        FCGX_Request fx;

        memset(&w, 0, sizeof w);
        w.app = ta->app;
        w.index = ta->index;
        w.iobuf = cs_xmalloc(CS_IOBUF_SIZE);
        if (FCGX_InitRequest(&fx, ta->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
                cs_log_error("thread=%d FCGX_InitRequest failed", ta->index);
                free(w.iobuf);
                return NULL;
        }
        while (!atomic_load(&stopping)) {
                struct cs_req req;
                int rc = FCGX_Accept_r(&fx);

                if (rc < 0) {
                        if (atomic_load(&stopping))
                                break;
                        /* a transient accept error (EMFILE, ECONNABORTED...): back off a little */
                        cs_log_warn("thread=%d accept failed (%d), retrying", ta->index, rc);
                        usleep(100 * 1000);
                        continue;
                }
                atomic_fetch_add(&ta->app->busy, 1);
                memset(&req, 0, sizeof req);
                req.fx = &fx;
                req.app = ta->app;
                req.w = &w;
                snprintf(req.id, sizeof req.id, "%d-%llu", ta->index, (unsigned long long)++w.req_counter);
                cs_dispatch(&req);
                close_quickly(&fx, &req, w.iobuf);
                FCGX_Finish_r(&fx);
                atomic_fetch_add(&ta->app->requests, 1);
                atomic_fetch_sub(&ta->app->busy, 1);
        }
        w.db = cs_db_free(w.db);
        free(w.iobuf);
        return NULL;
}

int cs_pool_run(struct cs_app *app, int listen_fd)
{
        sigset_t set;
        struct thread_arg *ta;
        struct rlimit rl;
        int i, sig = 0, started = 0;

        /* select() in libfcgi cannot take fds >= FD_SETSIZE: never have any */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > FD_SETSIZE)) {
                rl.rlim_cur = FD_SETSIZE;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        cs_log_warn("cannot cap RLIMIT_NOFILE at %d: %s, ignoring", FD_SETSIZE, strerror(errno));
        }
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGQUIT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread below */

        ta = cs_xcalloc((size_t)app->nthreads, sizeof *ta);
        for (i = 0; i < app->nthreads; i++) {
                ta[i].app = app;
                ta[i].listen_fd = listen_fd;
                ta[i].index = i;
                if (pthread_create(&ta[i].tid, NULL, responder, &ta[i]) != 0) {
                        cs_log_error("cannot start responder thread %d", i);
                        break;
                }
                started++;
        }
        if (started == 0) {
                free(ta);
                return 1;
        }
        cs_log_info("serving threads=%d", started);

        /* this thread is the signal thread */
        for (;;) {
                if (sigwait(&set, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        cs_log_info("SIGHUP: nothing to reload, ignoring");
                        continue;
                }
                break;
        }
        cs_log_info("signal %d: finishing in-flight requests (%d busy)", sig, atomic_load(&app->busy));
        atomic_store(&stopping, 1);
        FCGX_ShutdownPending();
        /* wakes every thread blocked in accept(2) on this socket */
        shutdown(listen_fd, SHUT_RDWR);
        for (i = 0; i < started; i++)
                pthread_join(ta[i].tid, NULL);
        close(listen_fd);
        /* a unix socket file left behind would look like a live pool */
        if (strchr(app->cfg.fcgi_listen, '/') || !strchr(app->cfg.fcgi_listen, ':'))
                unlink(app->cfg.fcgi_listen);
        free(ta);
        cs_log_info("stopped after %lld requests", (long long)atomic_load(&app->requests));
        return 0;
}

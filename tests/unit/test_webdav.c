/* test_webdav.c - the WebDAV client against a real nginx dav server that this
 * test starts in a temporary folder (nginx + libnginx-mod-http-dav-ext). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cs_test.h"
#include "crowdsky/alloc.h"
#include "crowdsky/buf.h"
#include "crowdsky/err.h"
#include "crowdsky/webdav.h"

static const char *g_nginx = "/usr/sbin/nginx";
static const char *g_module = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";
static char g_dir[256];
static int g_port;
static pid_t g_pid = -1;
static char g_url[128];

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        CS_ASSERT(f != NULL);
        CS_ASSERT(fputs(text, f) >= 0);
        CS_ASSERT(fclose(f) == 0);
}

static int free_port(void)
{
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        CS_ASSERT(fd >= 0);
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CS_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
        CS_ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

static bool port_open(int port)
{
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        bool ok;

        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        return ok;
}

static void nginx_start(void)
{
        char *argv[] = { (char *)g_nginx, "-p", g_dir, "-c", NULL, NULL };
        char *conf = cs_xasprintf("%s/nginx.conf", g_dir);
        int i;

        argv[4] = conf;
        g_pid = fork();
        CS_ASSERT(g_pid >= 0);
        if (g_pid == 0) {
                int fd = open("/dev/null", O_WRONLY);
                /* nginx dies with the test, even on an assertion's abort() */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(fd, 1);
                dup2(fd, 2);
                execv(g_nginx, argv);
                _exit(127);
        }
        for (i = 0; i < 200 && !port_open(g_port); i++) {
                struct timespec ts = { 0, 20 * 1000000L };
                int st;
                CS_ASSERT(waitpid(g_pid, &st, WNOHANG) == 0); /* nginx must not have died */
                nanosleep(&ts, NULL);
        }
        CS_ASSERT(port_open(g_port));
        free(conf);
}

static void nginx_stop(void)
{
        int st;

        if (g_pid <= 0)
                return;
        kill(g_pid, SIGTERM);
        waitpid(g_pid, &st, 0);
        g_pid = -1;
}

static void cleanup_all(void)
{
        char *cmd;

        nginx_stop();
        if (g_dir[0]) {
                cmd = cs_xasprintf("rm -rf '%s'", g_dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", g_dir);
                free(cmd);
                g_dir[0] = '\0';
        }
}

/* Starts nginx once for the whole file; exits 77 when nginx is not installed. */
static void setup(void)
{
        char *conf, *path;

        if (g_pid > 0)
                return;
        if (access(g_nginx, X_OK) != 0 || access(g_module, R_OK) != 0) {
                fprintf(stderr, "nginx or its dav-ext module is missing: skipped\n");
                exit(77);
        }
        snprintf(g_dir, sizeof g_dir, "/tmp/cs-test-webdav-XXXXXX");
        CS_ASSERT(mkdtemp(g_dir) != NULL);
        atexit(cleanup_all);
        path = cs_xasprintf("%s/dav", g_dir);
        CS_ASSERT(mkdir(path, 0755) == 0);
        free(path);
        path = cs_xasprintf("%s/logs", g_dir);
        CS_ASSERT(mkdir(path, 0755) == 0);
        free(path);
        path = cs_xasprintf("%s/htpasswd", g_dir);
        write_text(path, "cs:{PLAIN}s3cret\n");
        free(path);
        g_port = free_port();
        conf = cs_xasprintf(
                "load_module %s;\n"
                "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                "pid %s/nginx.pid;\nerror_log %s/logs/error.log info;\n"
                "events { worker_connections 64; }\n"
                "http {\n"
                "  access_log %s/logs/access.log;\n"
                "  client_body_temp_path %s/tmp_body;\n  proxy_temp_path %s/tmp_proxy;\n"
                "  fastcgi_temp_path %s/tmp_fcgi;\n  uwsgi_temp_path %s/tmp_uwsgi;\n"
                "  scgi_temp_path %s/tmp_scgi;\n"
                "  client_max_body_size 0;\n"
                "  server {\n"
                "    listen 127.0.0.1:%d;\n"
                "    root %s;\n"
                "    location /dav/ {\n"
                "      dav_methods PUT DELETE MKCOL COPY MOVE;\n"
                "      dav_ext_methods PROPFIND OPTIONS;\n"
                "      dav_access user:rw group:r all:r;\n"
                "      auth_basic \"dav\";\n      auth_basic_user_file %s/htpasswd;\n"
                "    }\n"
                "    location /flaky/ { return 503; }\n"
                "    location /teapot/ { return 418; }\n"
                "  }\n"
                "}\n",
                g_module, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_dir, g_port, g_dir, g_dir);
        path = cs_xasprintf("%s/nginx.conf", g_dir);
        write_text(path, conf);
        free(path);
        free(conf);
        snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d/dav", g_port); /* no trailing '/' on purpose */
        nginx_start();
}

struct retries {
        int n;
        bool restart_at_2; /* start nginx from the retry hook (server comes back) */
};

static void on_retry(void *ud, const char *what, const char *reason, int attempt, int delay_ms)
{
        struct retries *rt = ud;

        (void)what;
        (void)reason;
        (void)delay_ms;
        rt->n++;
        if (rt->restart_at_2 && attempt == 2)
                nginx_start();
}

static struct cs_webdav *client(const char *url, const char *password, struct retries *rt)
{
        struct cs_webdav_opts o = { 0 };
        struct cs_webdav *dav = NULL;
        struct cs_err err = CS_ERR_INIT;

        o.url = url;
        o.user = "cs";
        o.password = password;
        o.max_attempts = 4;
        o.backoff_base_ms = 20;
        o.backoff_max_ms = 200;
        o.connect_timeout_s = 2;
        o.on_retry = rt ? on_retry : NULL;
        o.retry_ud = rt;
        CS_ASSERT_OK(cs_webdav_new(&o, &dav, &err));
        return dav;
}

static char *make_file(size_t n)
{
        char *path = cs_xasprintf("%s/src-%zu.bin", g_dir, n);
        FILE *f = fopen(path, "wb");
        size_t i;
        uint32_t x = 2463534242u;

        CS_ASSERT(f != NULL);
        for (i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                CS_ASSERT(fputc((int)(x & 0xff), f) != EOF);
        }
        CS_ASSERT(fclose(f) == 0);
        return path;
}

static bool same_files(const char *a, const char *b)
{
        FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
        bool same = fa && fb;
        int ca, cb;

        while (same) {
                ca = fgetc(fa);
                cb = fgetc(fb);
                if (ca != cb)
                        same = false;
                if (ca == EOF || cb == EOF)
                        break;
        }
        if (fa)
                fclose(fa);
        if (fb)
                fclose(fb);
        return same;
}

static int64_t file_size(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int count_in_log(const char *needle)
{
        char *path = cs_xasprintf("%s/logs/access.log", g_dir);
        FILE *f = fopen(path, "r");
        char line[4096];
        int n = 0;

        free(path);
        if (!f)
                return 0;
        while (fgets(line, sizeof line, f))
                if (strstr(line, needle))
                        n++;
        fclose(f);
        return n;
}

/* nginx writes its access-log line just after the reply: give it a moment */
static int count_in_log_settled(const char *needle, int want)
{
        int i, n = 0;

        for (i = 0; i < 50; i++) {
                struct timespec ts = { 0, 20 * 1000000L };
                n = count_in_log(needle);
                if (n >= want)
                        break;
                nanosleep(&ts, NULL);
        }
        return n;
}

CS_TEST(mkcol_put_stat_get_delete)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_webdav *dav;
        char *src, *onserver, *back, *dir;
        int64_t size = -1;
        struct stat st;

        setup();
        dav = client(g_url, "s3cret", NULL);
        /* a chunk key has '+' and '.', which must survive the percent-encoding */
        CS_ASSERT_OK(cs_webdav_mkcol_p(dav, "stacks/alice/20250115.78_83.6_+22.0/12", &err));
        dir = cs_xasprintf("%s/dav/stacks/alice/20250115.78_83.6_+22.0/12", g_dir);
        CS_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
        /* existing levels answer 405: still fine */
        CS_ASSERT_OK(cs_webdav_mkcol_p(dav, "/stacks/alice/20250115.78_83.6_+22.0/12/", &err));

        src = make_file(3 * 1024 * 1024 + 17);
        CS_ASSERT_OK(cs_webdav_put_file(dav, "stacks/alice/20250115.78_83.6_+22.0/12/stacked.fits", src,
                                        "application/fits", &err));
        onserver = cs_xasprintf("%s/stacked.fits", dir);
        CS_ASSERT(same_files(src, onserver));

        CS_ASSERT_OK(cs_webdav_stat(dav, "stacks/alice/20250115.78_83.6_+22.0/12/stacked.fits", &size, &err));
        CS_ASSERT_EQ(size, 3 * 1024 * 1024 + 17);
        size = -1;
        CS_ASSERT_OK(cs_webdav_propfind_size(dav, "stacks/alice/20250115.78_83.6_+22.0/12/stacked.fits", &size,
                                             &err));
        CS_ASSERT_EQ(size, 3 * 1024 * 1024 + 17);

        back = cs_xasprintf("%s/back.bin", g_dir);
        CS_ASSERT_OK(cs_webdav_get_file(dav, "stacks/alice/20250115.78_83.6_+22.0/12/stacked.fits", back, &err));
        CS_ASSERT(same_files(src, back));

        /* overwrite with a smaller file: PUT replaces */
        free(src);
        src = make_file(100);
        CS_ASSERT_OK(cs_webdav_put_file(dav, "stacks/alice/20250115.78_83.6_+22.0/12/stacked.fits", src, NULL,
                                        &err));
        CS_ASSERT_EQ(file_size(onserver), 100);

        /* missing things */
        CS_ASSERT_EQ(cs_webdav_stat(dav, "stacks/alice/nope.fits", &size, &err), CS_ENOTFOUND);
        CS_ASSERT_EQ(cs_webdav_propfind_size(dav, "stacks/alice/nope.fits", &size, &err), CS_ENOTFOUND);
        CS_ASSERT_EQ(cs_webdav_get_file(dav, "stacks/alice/nope.fits", back, &err), CS_ENOTFOUND);
        CS_ASSERT(access(back, F_OK) != 0); /* a failed download leaves no file */

        /* PUT into a missing collection fails (nginx without create_full_put_path
         * answers 500, which is retried; Nextcloud answers 409) */
        CS_ASSERT_EQ(cs_webdav_put_file(dav, "stacks/bob/x/stacked.fits", src, NULL, &err), CS_EREMOTE);
        CS_ASSERT(strstr(err.msg, "stacks/bob/x/stacked.fits") != NULL);

        /* DELETE: a file, then the whole collection, then nothing */
        CS_ASSERT_OK(cs_webdav_delete(dav, "stacks/alice/20250115.78_83.6_+22.0/12/stacked.fits", 1, &err));
        CS_ASSERT(access(onserver, F_OK) != 0);
        CS_ASSERT_OK(cs_webdav_delete(dav, "stacks/alice", 1, &err));
        CS_ASSERT(access(dir, F_OK) != 0);
        CS_ASSERT_OK(cs_webdav_delete(dav, "stacks/alice", 0, &err));
        CS_ASSERT_EQ(cs_webdav_delete(dav, "stacks/alice", 1, &err), CS_ENOTFOUND);

        /* a base collection that does not exist yet is made on the first MKCOL */
        {
                char *url = cs_xasprintf("%s/fresh-base/", g_url), *made;
                struct cs_webdav *d2 = client(url, "s3cret", NULL);
                CS_ASSERT_OK(cs_webdav_mkcol_p(d2, "stacks/carol", &err));
                made = cs_xasprintf("%s/dav/fresh-base/stacks/carol", g_dir);
                CS_ASSERT(stat(made, &st) == 0 && S_ISDIR(st.st_mode));
                free(made);
                free(url);
                cs_webdav_free(d2);
        }

        /* path traversal is refused before any request */
        CS_ASSERT_EQ(cs_webdav_mkcol_p(dav, "stacks/../../etc", &err), CS_EINVAL);

        free(back);
        free(onserver);
        free(src);
        free(dir);
        cs_webdav_free(dav);
}

struct collect {
        struct cs_buf b;
        int begins;
        int64_t length;
        int abort_after;
};

static int c_begin(void *ud, int64_t length, const char *ctype)
{
        struct collect *c = ud;
        (void)ctype;
        c->begins++;
        c->length = length;
        return CS_OK;
}

static int c_data(void *ud, const void *data, size_t n)
{
        struct collect *c = ud;
        if (c->abort_after && c->b.len >= (size_t)c->abort_after)
                return CS_ECANCELLED;
        return cs_buf_add(&c->b, data, n);
}

CS_TEST(streamed_get_and_abort)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_webdav *dav;
        struct collect c = { CS_BUF_INIT(8 << 20), 0, 0, 0 };
        struct cs_webdav_sink sink = { c_begin, c_data, &c };
        char *src, *empty;

        setup();
        dav = client(g_url, "s3cret", NULL);
        CS_ASSERT_OK(cs_webdav_mkcol_p(dav, "g", &err));
        src = make_file(1000000);
        CS_ASSERT_OK(cs_webdav_put_file(dav, "g/a.bin", src, NULL, &err));
        CS_ASSERT_OK(cs_webdav_get(dav, "g/a.bin", &sink, &err));
        CS_ASSERT_EQ(c.begins, 1);
        CS_ASSERT_EQ(c.length, 1000000);
        CS_ASSERT_EQ(c.b.len, 1000000);

        /* the receiver aborts: its code comes back, no retry */
        cs_buf_reset(&c.b);
        c.begins = 0;
        c.abort_after = 1;
        CS_ASSERT_EQ(cs_webdav_get(dav, "g/a.bin", &sink, &err), CS_ECANCELLED);
        CS_ASSERT_EQ(c.begins, 1);

        /* a zero-byte file still begins the reply */
        empty = cs_xasprintf("%s/empty", g_dir);
        write_text(empty, "");
        CS_ASSERT_OK(cs_webdav_put_file(dav, "g/empty", empty, NULL, &err));
        cs_buf_reset(&c.b);
        c.begins = 0;
        c.abort_after = 0;
        CS_ASSERT_OK(cs_webdav_get(dav, "g/empty", &sink, &err));
        CS_ASSERT_EQ(c.begins, 1);
        CS_ASSERT_EQ(c.b.len, 0);

        cs_buf_release(&c.b);
        free(src);
        free(empty);
        cs_webdav_free(dav);
}

CS_TEST(auth_and_4xx_fail_at_once)
{
        struct cs_err err = CS_ERR_INIT;
        struct retries rt = { 0, false };
        struct cs_webdav *dav;
        char *url;
        int before;

        setup();
        dav = client(g_url, "wrong", &rt);
        CS_ASSERT_EQ(cs_webdav_mkcol_p(dav, "x", &err), CS_EAUTH);
        CS_ASSERT_EQ(rt.n, 0);
        cs_webdav_free(dav);

        url = cs_xasprintf("http://127.0.0.1:%d/teapot/", g_port);
        dav = client(url, "s3cret", &rt);
        before = count_in_log("/teapot/");
        CS_ASSERT_EQ(cs_webdav_mkcol_p(dav, "x", &err), CS_EREMOTE);
        CS_ASSERT(strstr(err.msg, "418") != NULL);
        CS_ASSERT_EQ(count_in_log_settled("/teapot/", before + 1) - before, 1);
        CS_ASSERT_EQ(rt.n, 0);
        cs_webdav_free(dav);
        free(url);
}

CS_TEST(retries_5xx_then_gives_up)
{
        struct cs_err err = CS_ERR_INIT;
        struct retries rt = { 0, false };
        struct cs_webdav *dav;
        char *url, *src;
        int before;

        setup();
        url = cs_xasprintf("http://127.0.0.1:%d/flaky/", g_port);
        dav = client(url, "s3cret", &rt);
        src = make_file(5000);
        before = count_in_log("PUT /flaky/");
        CS_ASSERT_EQ(cs_webdav_put_file(dav, "s.fits", src, NULL, &err), CS_EREMOTE);
        CS_ASSERT(strstr(err.msg, "503") != NULL);
        CS_ASSERT(strstr(err.msg, "gave up") != NULL);
        CS_ASSERT_EQ(count_in_log_settled("PUT /flaky/", before + 4) - before, 4); /* max_attempts */
        CS_ASSERT_EQ(rt.n, 3);
        cs_webdav_free(dav);
        free(url);
        free(src);
}

CS_TEST(server_down_then_back)
{
        struct cs_err err = CS_ERR_INIT;
        struct retries rt = { 0, false };
        struct cs_webdav *dav;
        char *src, *onserver;

        setup();
        src = make_file(200000);
        dav = client(g_url, "s3cret", &rt);
        CS_ASSERT_OK(cs_webdav_mkcol_p(dav, "down", &err));

        /* down for good: connection refused is retried, then a clear failure */
        nginx_stop();
        CS_ASSERT_EQ(cs_webdav_put_file(dav, "down/a.bin", src, NULL, &err), CS_EREMOTE);
        CS_ASSERT(strstr(err.msg, "gave up") != NULL);
        CS_ASSERT_EQ(rt.n, 3);

        /* down, and back while we retry: the PUT succeeds */
        rt.n = 0;
        rt.restart_at_2 = true;
        CS_ASSERT_OK(cs_webdav_put_file(dav, "down/a.bin", src, NULL, &err));
        CS_ASSERT_EQ(rt.n, 2);
        onserver = cs_xasprintf("%s/dav/down/a.bin", g_dir);
        CS_ASSERT(same_files(src, onserver));
        free(onserver);
        free(src);
        cs_webdav_free(dav);
}

CS_TEST(bad_options)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_webdav_opts o = { 0 };
        struct cs_webdav *dav = NULL;

        CS_ASSERT_EQ(cs_webdav_new(&o, &dav, &err), CS_EINVAL);
        o.url = "ftp://example.org/";
        CS_ASSERT_EQ(cs_webdav_new(&o, &dav, &err), CS_EINVAL);
        CS_ASSERT(dav == NULL);
        CS_ASSERT(cs_webdav_free(NULL) == NULL);
}

CS_TEST_MAIN()

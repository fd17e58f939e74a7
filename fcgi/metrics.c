/* metrics.c - per-thread request counters and their Prometheus rendering;
 * see metrics.h. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "crowdsky/alloc.h"

#define MAX_SLOTS 1024                 /* responder threads with a slot of their own */
#define MAX_ROUTES 128                 /* rows of routes.c counted; more -> "unmatched" */

/* the status codes counted one by one; anything else is counted as its class (2xx...) */
static const int codes[] = { 200, 201, 204, 206, 301, 302, 303, 304, 307, 400, 401, 403, 404, 405,
                             409, 410, 413, 415, 416, 429, 500, 502, 503, 504, 507 };
#define NCODES (sizeof codes / sizeof codes[0])
#define NSTATUS (NCODES + 5)           /* + 1xx..5xx classes of the others */

/* latency buckets, seconds (upper bounds; +Inf implicit) */
static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct route_counters {
        atomic_uint_fast64_t status[NSTATUS];
        atomic_uint_fast64_t le[NBUCKETS + 1];  /* per bucket (not cumulative); last = above all */
        atomic_uint_fast64_t sum_us;
        atomic_uint_fast64_t count;
};

struct slot {
        struct route_counters r[MAX_ROUTES + 1]; /* last = unmatched */
};

static _Atomic(struct slot *) slots[MAX_SLOTS];
/* threads beyond MAX_SLOTS share this one (still lock-free: atomic adds) */
static struct slot shared_slot;

static size_t status_index(int http)
{
        size_t i;

        for (i = 0; i < NCODES; i++)
                if (codes[i] == http)
                        return i;
        if (http >= 100 && http < 600)
                return NCODES + (size_t)(http / 100 - 1);
        return NCODES + 4; /* nonsense status: count as 5xx */
}

static struct slot *my_slot(int index)
{
        struct slot *s;

        if (index < 0 || index >= MAX_SLOTS)
                return &shared_slot;
        s = atomic_load_explicit(&slots[index], memory_order_acquire);
        if (!s) {
                /* only the thread with this index ever stores here */
                s = cs_xcalloc(1, sizeof *s);
                atomic_store_explicit(&slots[index], s, memory_order_release);
        }
        return s;
}

void cs_metrics_observe(const struct cs_req *req)
{
        struct slot *s = my_slot(req->w ? req->w->index : -1);
        size_t ri = MAX_ROUTES;
        struct route_counters *rc;
        int64_t us = cs_now_us() - req->t_start_us;
        double sec;
        size_t b;

        if (req->route) {
                ptrdiff_t k = req->route - cs_routes;
                if (k >= 0 && (size_t)k < cs_routes_count && k < MAX_ROUTES)
                        ri = (size_t)k;
        }
        if (us < 0)
                us = 0;
        sec = (double)us / 1e6;
        for (b = 0; b < NBUCKETS && sec > buckets[b]; b++)
                ;
        rc = &s->r[ri];
        atomic_fetch_add_explicit(&rc->status[status_index(req->status)], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&rc->le[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&rc->sum_us, (uint_fast64_t)us, memory_order_relaxed);
        atomic_fetch_add_explicit(&rc->count, 1, memory_order_relaxed);
}

/* Sums one route's counters over every slot. */
static void sum_route(size_t ri, uint64_t status[NSTATUS], uint64_t le[NBUCKETS + 1], uint64_t *sum_us,
                      uint64_t *count)
{
        size_t i, k;

        memset(status, 0, NSTATUS * sizeof *status);
        memset(le, 0, (NBUCKETS + 1) * sizeof *le);
        *sum_us = *count = 0;
        for (i = 0; i <= MAX_SLOTS; i++) {
                struct slot *s = i < MAX_SLOTS ? atomic_load_explicit(&slots[i], memory_order_acquire)
                                               : &shared_slot;
                struct route_counters *rc;
                if (!s)
                        continue;
                rc = &s->r[ri];
                for (k = 0; k < NSTATUS; k++)
                        status[k] += atomic_load_explicit(&rc->status[k], memory_order_relaxed);
                for (k = 0; k <= NBUCKETS; k++)
                        le[k] += atomic_load_explicit(&rc->le[k], memory_order_relaxed);
                *sum_us += atomic_load_explicit(&rc->sum_us, memory_order_relaxed);
                *count += atomic_load_explicit(&rc->count, memory_order_relaxed);
        }
}

/* The label pair of a route row: route="/path",methods="GET|POST". */
static void route_labels(size_t ri, char *out, size_t n)
{
        const struct cs_route *rt;
        char m[48] = "";

        if (ri >= cs_routes_count || ri >= MAX_ROUTES) {
                snprintf(out, n, "route=\"unmatched\",methods=\"\"");
                return;
        }
        rt = &cs_routes[ri];
        snprintf(m, sizeof m, "%s%s%s%s", rt->methods & CS_M_GET ? "GET|" : "", rt->methods & CS_M_POST ? "POST|" : "",
                 rt->methods & CS_M_PUT ? "PUT|" : "", rt->methods & CS_M_DELETE ? "DELETE|" : "");
        if (m[0])
                m[strlen(m) - 1] = '\0';
        /* route paths are constants of routes.c: no quotes or backslashes */
        snprintf(out, n, "route=\"%s%s\",methods=\"%s\"", rt->path, (rt->flags & CS_R_PREFIX) ? "*" : "", m);
}

static void status_label(size_t k, char *out, size_t n)
{
        if (k < NCODES)
                snprintf(out, n, "%d", codes[k]);
        else
                snprintf(out, n, "%zuxx", k - NCODES + 1);
}

int cs_metrics_render_requests(const struct cs_app *app, struct cs_buf *out)
{
        uint64_t status[NSTATUS], le[NBUCKETS + 1], sum_us, count;
        size_t ri, k, nr = cs_routes_count < MAX_ROUTES ? cs_routes_count : MAX_ROUTES;
        char labels[256], st[8];
        int r = CS_OK;

        r |= cs_buf_printf(out, "# HELP crowdsky_http_requests_total Requests served, by route and HTTP status.\n"
                                "# TYPE crowdsky_http_requests_total counter\n");
        for (ri = 0; ri <= nr; ri++) {
                size_t idx = ri == nr ? MAX_ROUTES : ri;
                sum_route(idx, status, le, &sum_us, &count);
                if (!count)
                        continue;
                route_labels(idx, labels, sizeof labels);
                for (k = 0; k < NSTATUS; k++) {
                        if (!status[k])
                                continue;
                        status_label(k, st, sizeof st);
                        r |= cs_buf_printf(out, "crowdsky_http_requests_total{%s,status=\"%s\"} %llu\n", labels, st,
                                           (unsigned long long)status[k]);
                }
        }
        r |= cs_buf_printf(out, "# HELP crowdsky_http_request_duration_seconds Time from accept to the end of the "
                                "reply, by route.\n"
                                "# TYPE crowdsky_http_request_duration_seconds histogram\n");
        for (ri = 0; ri <= nr; ri++) {
                size_t idx = ri == nr ? MAX_ROUTES : ri;
                uint64_t cum = 0;
                sum_route(idx, status, le, &sum_us, &count);
                if (!count)
                        continue;
                route_labels(idx, labels, sizeof labels);
                for (k = 0; k < NBUCKETS; k++) {
                        cum += le[k];
                        r |= cs_buf_printf(out, "crowdsky_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                                           labels, buckets[k], (unsigned long long)cum);
                }
                cum += le[NBUCKETS];
                r |= cs_buf_printf(out, "crowdsky_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
                                        "crowdsky_http_request_duration_seconds_sum{%s} %.6f\n"
                                        "crowdsky_http_request_duration_seconds_count{%s} %llu\n",
                                   labels, (unsigned long long)cum, labels, (double)sum_us / 1e6, labels,
                                   (unsigned long long)count);
        }
        r |= cs_buf_printf(out,
                           "# HELP crowdsky_http_requests_in_flight Requests being served now (this one included).\n"
                           "# TYPE crowdsky_http_requests_in_flight gauge\n"
                           "crowdsky_http_requests_in_flight %d\n"
                           "# HELP crowdsky_responder_threads Responder threads of this process.\n"
                           "# TYPE crowdsky_responder_threads gauge\n"
                           "crowdsky_responder_threads %d\n"
                           "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n"
                           "# TYPE process_start_time_seconds gauge\n"
                           "process_start_time_seconds %lld\n"
                           "# HELP crowdsky_build_info Version of crowdsky-fcgi.\n"
                           "# TYPE crowdsky_build_info gauge\n"
                           "crowdsky_build_info{version=\"%s\"} 1\n",
                           atomic_load(&((struct cs_app *)app)->busy), app->nthreads, (long long)app->started_at,
                           CS_VERSION);
        return r < 0 ? CS_ETOOBIG : CS_OK;
}

/* metrics.h - request counters of crowdsky-fcgi for GET /metrics (Prometheus
 * text exposition format 0.0.4).
 *
 * Counters live in per-thread slots (one per responder thread, indexed by
 * struct cs_worker.index, allocated by that thread on its first request):
 * the hot path is a few relaxed atomic adds on memory no other thread writes,
 * with no lock and no shared cache line. The /metrics handler sums the slots
 * (relaxed loads: each counter is monotonic, a scrape may see one request
 * half-counted, which Prometheus tolerates). */
#ifndef CROWDSKY_FCGI_METRICS_H
#define CROWDSKY_FCGI_METRICS_H

#include "app.h"

/* Records one finished request: route (or "unmatched"), status, latency.
 * Called once at the end of cs_dispatch. Thread-safe, lock-free. */
void cs_metrics_observe(const struct cs_req *req);

/* Appends the request metrics (counters by route and status, the latency
 * histogram by route, in-flight, totals, process start time) to out. */
int cs_metrics_render_requests(const struct cs_app *app, struct cs_buf *out);

#endif

/* h_health.c - GET /health: liveness and the database check. */
#include "handlers.h"

int h_health(struct cs_req *req)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = cs_req_db(req);
        bool db_ok = db && cs_db_ping(db, &err) == CS_OK;
        cJSON *doc = cJSON_CreateObject();

        cJSON_AddStringToObject(doc, "status", db_ok ? "ok" : "degraded");
        cJSON_AddBoolToObject(doc, "db", db_ok);
        cJSON_AddStringToObject(doc, "version", CS_VERSION);
        cJSON_AddNumberToObject(doc, "uptime_seconds", (double)(cs_now() - req->app->started_at));
        cJSON_AddNumberToObject(doc, "threads", req->app->nthreads);
        cJSON_AddNumberToObject(doc, "busy", atomic_load(&req->app->busy));
        cJSON_AddNumberToObject(doc, "requests", (double)atomic_load(&req->app->requests));
        return cs_reply_json(req, db_ok ? 200 : 503, doc);
}

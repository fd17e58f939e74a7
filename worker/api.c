/* api.c - the worker API client (libcurl + cJSON). */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "crowdsky/alloc.h"
#include "crowdsky/auth.h"
#include "crowdsky/buf.h"
#include "crowdsky/webdav.h"

#define REPLY_MAX (16 << 20)

struct wk_api {
        char *base;     /* without trailing '/' */
        char *auth;     /* "Authorization: Bearer ..." */
        CURL *h;
        char errbuf[CURL_ERROR_SIZE];
        const volatile sig_atomic_t *cancel;
};

int wk_api_new(const char *base, const char *token, struct wk_api **ret, struct cs_err *err)
{
        struct wk_api *api;
        size_t n;
        int r;

        if (!base || (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)))
                return cs_err_set(err, CS_EINVAL, "api_url '%s' is not an http(s) URL", base ? base : "");
        if (!token || !*token)
                return cs_err_set(err, CS_EINVAL, "no worker_token configured (crowdsky-fcgi token create NAME)");
        r = cs_webdav_global_init(err); /* curl_global_init, once */
        if (r < 0)
                return r;
        api = cs_xcalloc(1, sizeof *api);
        api->base = cs_xstrdup(base);
        n = strlen(api->base);
        while (n && api->base[n - 1] == '/')
                api->base[--n] = '\0';
        api->auth = cs_xasprintf("Authorization: Bearer %s", token);
        api->h = curl_easy_init();
        if (!api->h) {
                wk_api_free(api);
                return cs_err_set(err, CS_ENOMEM, "curl_easy_init failed");
        }
        *ret = api;
        return CS_OK;
}

struct wk_api *wk_api_free(struct wk_api *api)
{
        if (!api)
                return NULL;
        if (api->h)
                curl_easy_cleanup(api->h);
        if (api->auth) {
                volatile char *p = api->auth;
                while (*p)
                        *p++ = 0;
        }
        free(api->auth);
        free(api->base);
        free(api);
        return NULL;
}

void wk_api_set_cancel(struct wk_api *api, const volatile sig_atomic_t *flag)
{
        api->cancel = flag;
}

struct sink {
        struct wk_api *api;
        struct cs_buf body;     /* JSON replies / error text */
        FILE *file;             /* downloads: bytes go here on 2xx */
        struct cs_sha256 *sha;
        int64_t written;
        int write_errno;
};

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
        struct sink *s = ud;
        size_t n = sz * nm;
        long code = 0;

        curl_easy_getinfo(s->api->h, CURLINFO_RESPONSE_CODE, &code);
        if (s->file && code >= 200 && code < 300) {
                if (fwrite(p, 1, n, s->file) != n) {
                        s->write_errno = errno ? errno : EIO;
                        return 0;
                }
                cs_sha256_update(s->sha, p, n);
                s->written += (int64_t)n;
                return n;
        }
        if (cs_buf_add(&s->body, p, n) < 0)
                return 0;
        return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
        struct wk_api *api = ud;
        (void)dt;
        (void)dn;
        (void)ut;
        (void)un;
        return api->cancel && *api->cancel ? 1 : 0;
}

/* Maps a finished transfer to a status; err gets the server's message. */
static int status_of(struct wk_api *api, CURLcode rc, long code, const char *what, struct sink *s,
                     struct cs_err *err)
{
        char msg[300] = "";
        cJSON *doc;

        if (rc == CURLE_ABORTED_BY_CALLBACK)
                return cs_err_set(err, CS_ECANCELLED, "%s: cancelled", what);
        if (rc == CURLE_WRITE_ERROR && s->write_errno)
                return cs_err_set(err, CS_EIO, "%s: writing: %s", what, strerror(s->write_errno));
        if (rc != CURLE_OK)
                return cs_err_set(err, CS_EREMOTE, "%s: %s", what, api->errbuf[0] ? api->errbuf : curl_easy_strerror(rc));
        if (code >= 200 && code < 300)
                return CS_OK;
        doc = cJSON_ParseWithLength(s->body.data, s->body.len);
        if (doc && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "error")))
                snprintf(msg, sizeof msg, "%s", cJSON_GetObjectItemCaseSensitive(doc, "error")->valuestring);
        else
                snprintf(msg, sizeof msg, "%.200s", s->body.data);
        cJSON_Delete(doc);
        switch (code) {
        case 401:
                return cs_err_set(err, CS_EAUTH, "%s: HTTP 401 %s", what, msg);
        case 403:
                return cs_err_set(err, CS_EFORBIDDEN, "%s: HTTP 403 %s", what, msg);
        case 404:
        case 410:
                return cs_err_set(err, CS_ENOTFOUND, "%s: HTTP %ld %s", what, code, msg);
        case 409:
                return cs_err_set(err, CS_ECONFLICT, "%s: HTTP 409 %s", what, msg);
        default:
                return cs_err_set(err, code >= 500 ? CS_EREMOTE : CS_EINVAL, "%s: HTTP %ld %s", what, code, msg);
        }
}

static int perform(struct wk_api *api, const char *method, const char *path, const char *json_body,
                   struct sink *s, long *ret_code, struct cs_err *err)
{
        struct curl_slist *hdrs = NULL;
        char *url = cs_xasprintf("%s%s", api->base, path);
        char what[600];
        CURLcode rc;
        CURL *h = api->h;
        int r;

        snprintf(what, sizeof what, "%s %s", method, path);
        curl_easy_reset(h);
        api->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, api->errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, "crowdsky-worker/" CS_VERSION);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        if (!s->file)
                curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, api);
        hdrs = curl_slist_append(hdrs, api->auth);
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (json_body) {
                hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        rc = curl_easy_perform(h);
        *ret_code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, ret_code);
        r = status_of(api, rc, *ret_code, what, s, err);
        curl_slist_free_all(hdrs);
        free(url);
        return r;
}

static int json_reply(struct sink *s, long code, const char *path, cJSON **ret_doc, struct cs_err *err)
{
        cJSON *doc;

        if (!ret_doc)
                return CS_OK;
        *ret_doc = NULL;
        if (code == 204)
                return CS_OK;
        doc = cJSON_ParseWithLength(s->body.data, s->body.len);
        if (!doc || !cJSON_IsObject(doc)) {
                cJSON_Delete(doc);
                return cs_err_set(err, CS_EREMOTE, "%s: the reply is not a JSON object", path);
        }
        *ret_doc = doc;
        return CS_OK;
}

int wk_api_get_json(struct wk_api *api, const char *path, cJSON **ret_doc, struct cs_err *err)
{
        struct sink s = { api, CS_BUF_INIT(REPLY_MAX), NULL, NULL, 0, 0 };
        long code = 0;
        int r;

        r = perform(api, "GET", path, NULL, &s, &code, err);
        if (r == CS_OK)
                r = json_reply(&s, code, path, ret_doc, err);
        cs_buf_release(&s.body);
        return r;
}

int wk_api_post_json(struct wk_api *api, const char *path, const cJSON *body, cJSON **ret_doc,
                     struct cs_err *err)
{
        struct sink s = { api, CS_BUF_INIT(REPLY_MAX), NULL, NULL, 0, 0 };
        char *text = cJSON_PrintUnformatted(body);
        long code = 0;
        int r;

        if (!text)
                return cs_err_set(err, CS_ENOMEM, "%s: cannot encode the body", path);
        r = perform(api, "POST", path, text, &s, &code, err);
        if (r == CS_OK)
                r = json_reply(&s, code, path, ret_doc, err);
        cJSON_free(text);
        cs_buf_release(&s.body);
        return r;
}

int wk_api_download(struct wk_api *api, const char *path, const char *local_path, int64_t *ret_size,
                    char ret_sha[65], struct cs_err *err)
{
        struct sink s = { api, CS_BUF_INIT(64 * 1024), NULL, NULL, 0, 0 };
        long code = 0;
        int r;

        s.file = fopen(local_path, "wb");
        if (!s.file)
                return cs_err_set(err, CS_EIO, "cannot create '%s': %s", local_path, strerror(errno));
        s.sha = cs_sha256_new();
        r = perform(api, "GET", path, NULL, &s, &code, err);
        if (fclose(s.file) != 0 && r == CS_OK)
                r = cs_err_set(err, CS_EIO, "writing '%s': %s", local_path, strerror(errno));
        if (r == CS_OK) {
                cs_sha256_final_hex(s.sha, ret_sha);
                *ret_size = s.written;
        } else {
                unlink(local_path);
        }
        cs_sha256_free(s.sha);
        cs_buf_release(&s.body);
        return r;
}

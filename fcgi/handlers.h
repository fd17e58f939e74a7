/* handlers.h - prototypes of every route handler (one per row of routes.c)
 * and the helpers handlers share. A handler replies once (cs_reply_*) and
 * returns CS_OK, or returns a negative cs_status with req->err set. */
#ifndef CROWDSKY_FCGI_HANDLERS_H
#define CROWDSKY_FCGI_HANDLERS_H

#include "app.h"

/* body_max of a route that takes one uploaded file: cfg.max_upload_bytes + framing */
#define CS_BODY_UPLOAD ((int64_t)-1)
#define CS_BODY_FORM ((int64_t)64 * 1024)

/* h_health.c */
int h_health(struct cs_req *req);
/* h_ops.c: Prometheus metrics (token or loopback), buffer usage for admins */
int h_metrics(struct cs_req *req);
int h_admin_buffer(struct cs_req *req);
/* h_account.c: sign up, log in/out, who am I, account settings, API tokens */
int h_signup(struct cs_req *req);
int h_login(struct cs_req *req);
int h_logout(struct cs_req *req);
int h_me(struct cs_req *req);
int h_tokens_list(struct cs_req *req);
int h_tokens_create(struct cs_req *req);
int h_tokens_revoke(struct cs_req *req);
int h_account_settings(struct cs_req *req);
/* h_upload.c: browser upload flow and the script API */
int h_upload(struct cs_req *req);
int h_upload_status(struct cs_req *req);
int h_finalize(struct cs_req *req);
int h_raw_upload(struct cs_req *req);
/* h_stacks.c: JSON lists for pages and scripts */
int h_my_stacks(struct cs_req *req);
int h_jobs_list(struct cs_req *req);
int h_job_delete(struct cs_req *req);
/* page_account.c: drops this process's one-second copy of the home page's
 * "Recently published" list (call it when a stack is published, made private
 * or replaced by a new stack of its chunk). */
void cs_home_list_forget(void);
/* How long the home page's list is kept (microseconds). */
#define CS_HOME_LIST_CACHE_US 1000000

/* h_worker.c: worker API (Bearer) and the script API's stack downloads */
int h_next_job(struct cs_req *req);
int h_job_files(struct cs_req *req);
/* Drops this process's remembered job_files answers of a job (call it when the
 * job's holder or files change; see the cache's comment in h_worker.c). */
void cs_job_files_forget(int64_t job_id);
/* How long a job_files answer is remembered (microseconds). */
#define CS_JOB_FILES_CACHE_US 1000000
int h_download_raw(struct cs_req *req);
int h_heartbeat(struct cs_req *req);
int h_complete_job(struct cs_req *req);
int h_fail_job(struct cs_req *req);
int h_download_stack(struct cs_req *req);
int h_thumbnail(struct cs_req *req);
/* h_upload_stack.c: a stack made on the telescope -> an 'upload_stack' job */
int h_upload_stack(struct cs_req *req);

/* ---- shared helpers ---- */

/* The raw buffer's layout (h_upload.c): a stored raw frame is
 * <buffer_dir>/sess_<session token>/<raw_files.id>.fit, never a user-supplied
 * name. Writes the path into out. CS_OK or CS_ETOOBIG. */
int cs_raw_path(const struct cs_config *cfg, const char *token, int64_t file_id, char *out,
                size_t outsz);


/* dispatch.c: */
/* Records a failed log-in / Basic attempt for the account and the address. */
void cs_auth_note_failure(struct cs_req *req, const char *user);
/* True (and Retry-After queued) if the account or address is throttled. */
bool cs_auth_is_throttled(struct cs_req *req, const char *user);
/* Origin check for forms posted without a session (sign up, log in). */
bool cs_req_same_origin(struct cs_req *req);

#endif

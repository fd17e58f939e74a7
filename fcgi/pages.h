/* pages.h - handlers of the HTML pages and of the routes that serve them
 * (page_*.c); rows in routes.c. */
#ifndef CROWDSKY_FCGI_PAGES_H
#define CROWDSKY_FCGI_PAGES_H

#include "app.h"

/* page_account.c */
int page_home(struct cs_req *req);       /* GET /             */
int page_login(struct cs_req *req);      /* GET /login        */
int page_signup(struct cs_req *req);     /* GET /signup       */
int page_account(struct cs_req *req);    /* GET /account      */
/* page_jobs.c */
int page_upload(struct cs_req *req);     /* GET /upload       */
int page_jobs(struct cs_req *req);       /* GET /jobs         */
/* page_stacks.c */
int page_stacks(struct cs_req *req);     /* GET /stacks       */
int page_stack(struct cs_req *req);      /* GET /stack?id=N   */
int page_stack_publish(struct cs_req *req); /* POST /stack/publish id=N public=0|1 */
int page_stack_fits(struct cs_req *req); /* GET /stack/fits?id=N  (attachment) */
int page_stack_png(struct cs_req *req);  /* GET /stack/png?id=N   (attachment) */
int page_stack_thumb(struct cs_req *req);/* GET /stack/thumb?id=N (inline) */
int page_stacks_json(struct cs_req *req);/* GET /api/stacks: the user's stacks for the sky map */
/* page_archive.c */
int page_stacks_archive(struct cs_req *req); /* GET /stacks/archive.tar?ids=1,2,3 */
/* page_skymap.c */
int page_skymap(struct cs_req *req);     /* GET /skymap       */

#endif

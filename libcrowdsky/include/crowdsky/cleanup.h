/* cleanup.h - housekeeping of the raw buffer and the job queue (SPEC section 7),
 * run by `crowdsky-fcgi cleanup` (the systemd timer), and the buffer usage
 * that the quota counts.
 *
 * One run, in this order:
 *   1. jobs whose lease expired (their worker died) go back to pending, or to
 *      failed when they used max_attempts (cs_jobs_expire);
 *   2. upload sessions still open after cfg.upload_session_ttl_seconds of
 *      inactivity (updated_at) are deleted with their raw rows and files,
 *      unless a job refers to them or a file is being uploaded into them now;
 *   3. raws of completed or failed jobs whose stack (the user's stack of that
 *      chunk key) is confirmed are removed (rows, then files);
 *   4. raws of failed jobs without a stack are removed once the job has been
 *      failed for upload_session_ttl_seconds (the user could see the error);
 *   5. raw rows of finalized sessions that belong to no job (their job was
 *      deleted) are removed;
 *   6. the buffer folder is walked: in the session folders (sess_<token>) any
 *      file or folder no raw_files row knows, older than min_file_age_seconds
 *      (by mtime: an upload in flight keeps writing), is an orphan and
 *      removed; empty session folders of unknown or finished sessions are
 *      removed; a row whose file is missing is reported. Entries of
 *      buffer_dir with names CrowdSky never writes are reported as foreign
 *      and left alone, so a buffer_dir pointed at the wrong folder loses
 *      nothing;
 *   7. expired log-in sessions are purged, and failed log-ins (the shared
 *      throttle's table) older than CS_CLEANUP_ATTEMPTS_KEEP.
 * A raw file of a pending or processing job is never removed by any step:
 * every removal is of a row of a finished/abandoned owner (checked inside the
 * deleting transaction) or of a file that no row knows.
 *
 * Time: "now" is the system clock plus cfg.clock_offset_seconds (the test
 * hook: tests move the clock by config instead of sleeping); it is passed to
 * SQL as FROM_UNIXTIME(?) and compared with file mtimes.
 *
 * Thread-safety: none needed (a command-line run with its own struct cs_db). */
#ifndef CROWDSKY_CLEANUP_H
#define CROWDSKY_CLEANUP_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct cs_db;

#define CS_CLEANUP_MIN_FILE_AGE 600 /* seconds: younger files may be uploads in flight */
#define CS_CLEANUP_ATTEMPTS_KEEP 86400 /* seconds of failed log-ins kept (the throttle needs 900) */

/* Answers whether the stack stored at webdav_path (relative to the store) is
 * really there: CS_OK yes, CS_ENOTFOUND no, any other status = cannot tell
 * (then its raws are kept this time). */
typedef int (*cs_cleanup_confirm_fn)(void *ud, const char *webdav_path, struct cs_err *err);

/* Called for each thing removed (or, in a dry run, that would be removed) and
 * each thing reported: what = "session", "raw", "orphan", "orphan-dir",
 * "missing", "young"; path may be NULL; bytes 0 when not a file. */
typedef void (*cs_cleanup_note_fn)(void *ud, const char *what, const char *path, int64_t bytes,
                                   const char *why);

struct cs_cleanup_opts {
        bool dry_run;                  /* count and report, change nothing */
        int min_file_age_seconds;      /* 0 = CS_CLEANUP_MIN_FILE_AGE */
        cs_cleanup_confirm_fn confirm; /* NULL: a stacked_frames row is confirmation enough */
        cs_cleanup_note_fn note;       /* may be NULL */
        void *ud;
};

struct cs_cleanup_stats {
        int sessions_removed;      /* abandoned upload sessions deleted */
        int64_t files_removed;     /* every file unlinked (raws and orphans) */
        int64_t bytes_freed;       /* their sizes */
        int raws_removed;          /* raw rows deleted (sessions, finished jobs, leftovers) */
        int orphans;               /* files and folders that no row knew (removed) */
        int young_kept;            /* unknown files kept because they are younger than the minimum age */
        int foreign;               /* entries of buffer_dir not named as CrowdSky names them (kept) */
        int missing;               /* raw rows of live jobs/sessions whose file is missing */
        int unconfirmed;           /* finished jobs whose raws were kept: stack not confirmed */
        int jobs_returned;         /* lease expired -> pending */
        int jobs_failed;           /* lease expired on the last attempt -> failed */
        int logins_purged;         /* expired log-in sessions */
        int attempts_purged;       /* failed log-ins older than CS_CLEANUP_ATTEMPTS_KEEP */
        double seconds;            /* run time */
};

/* Runs the steps above with cfg (buffer_dir, upload_session_ttl_seconds,
 * clock_offset_seconds, lease policy). Problems with single files are
 * reported through note/log and counted, never fatal; database failures stop
 * the run with CS_EDB (what was done so far stays done and is in *ret).
 * ret is written in every case (zeroed first). */
int cs_cleanup_run(struct cs_db *db, const struct cs_config *cfg, const struct cs_cleanup_opts *opts,
                   struct cs_cleanup_stats *ret, struct cs_err *err);

/* What the quota counts: raw files of jobs not completed and of sessions not
 * yet finalized (their rows), and the number of such files. */
struct cs_buffer_usage {
        int64_t used_bytes;
        int64_t files;
        int64_t open_sessions;
};
int cs_buffer_usage(struct cs_db *db, struct cs_buffer_usage *ret, struct cs_err *err);

#endif

-- 001_initial.sql - the CrowdSky schema.
--
-- Conventions (every later migration follows them):
-- * Times are DATETIME(6) in UTC. cs_db_open sets the session time zone to
--   '+00:00', so NOW(6), FROM_UNIXTIME(?) and UNIX_TIMESTAMP(col) are UTC.
--   Code that moves the clock (clock_offset_seconds) passes its "now" as a
--   parameter, FROM_UNIXTIME(?), instead of calling NOW().
-- * InnoDB, utf8mb4 (utf8mb4_unicode_ci: user names compare case-insensitively).
--   Secrets are stored only as hex SHA-256/HMAC digests in ASCII binary columns.
-- * Ids are BIGINT UNSIGNED AUTO_INCREMENT.
-- * The migration runner splits statements on ';' at the end of a line and
--   drops whole-line "--" comments: no procedures, no ';' ending a comment line.

CREATE TABLE users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  username VARCHAR(64) NOT NULL,
  email VARCHAR(254) NOT NULL,
  password_hash VARCHAR(255) NOT NULL COMMENT 'argon2id encoded string',
  is_admin TINYINT(1) NOT NULL DEFAULT 0,
  scrub_location TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'default for uploads: drop SITELAT/SITELONG',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  last_login_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_username (username),
  KEY ix_users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE worker_tokens (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  revoked_at DATETIME(6) NULL,
  last_seen_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_worker_tokens_name (name),
  UNIQUE KEY uq_worker_tokens_hash (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Browser log-in sessions. The cookie holds a random 256-bit id; only its
-- keyed hash is stored, so a database leak gives no usable session.
CREATE TABLE login_sessions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  session_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  csrf_token CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  last_seen_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at DATETIME(6) NOT NULL,
  ip VARCHAR(45) NULL,
  user_agent VARCHAR(255) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_login_sessions_hash (session_hash),
  KEY ix_login_sessions_user (user_id),
  KEY ix_login_sessions_expires (expires_at),
  CONSTRAINT fk_login_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Log-in throttle: one row per attempt; failures are counted per account and
-- per address over a window (rows older than the window are purged by cleanup).
CREATE TABLE login_attempts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  username VARCHAR(64) NULL,
  ip VARCHAR(45) NULL,
  success TINYINT(1) NOT NULL DEFAULT 0,
  attempted_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY ix_login_attempts_user (username, attempted_at),
  KEY ix_login_attempts_ip (ip, attempted_at),
  KEY ix_login_attempts_time (attempted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Personal API tokens for the script/telescope API (HTTP Basic user + token).
CREATE TABLE api_tokens (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(100) NOT NULL,
  token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  last_used_at DATETIME(6) NULL,
  revoked_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_api_tokens_hash (token_hash),
  KEY ix_api_tokens_user (user_id),
  CONSTRAINT fk_api_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE upload_sessions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  token CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  state ENUM('open', 'finalized', 'abandoned') NOT NULL DEFAULT 'open',
  n_files INT UNSIGNED NOT NULL DEFAULT 0,
  bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  finalized_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_upload_sessions_token (token),
  KEY ix_upload_sessions_user (user_id, created_at),
  KEY ix_upload_sessions_state (state, updated_at),
  CONSTRAINT fk_upload_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Stacking jobs. The claim query of GET /api/next_job is
--   SELECT ... WHERE state = 'pending' AND not_before <= ? ORDER BY id
--   LIMIT 1 FOR UPDATE SKIP LOCKED            (ix_jobs_claim)
-- and lease expiry is found with state = 'processing' AND lease_expires_at < ?
-- (ix_jobs_lease). lease_id is the opaque id of the current claim; a request
-- carrying an older one changes nothing.
CREATE TABLE stacking_jobs (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id BIGINT UNSIGNED NOT NULL,
  kind ENUM('stack', 'upload_stack') NOT NULL DEFAULT 'stack',
  session_id BIGINT UNSIGNED NULL,
  chunk_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  object_name VARCHAR(255) NULL,
  frame_count INT UNSIGNED NOT NULL DEFAULT 0,
  scrub_location TINYINT(1) NOT NULL DEFAULT 1,
  overwrite TINYINT(1) NOT NULL DEFAULT 0,
  params LONGTEXT NULL COMMENT 'JSON: kind-specific inputs (e.g. upload_stack form fields)',
  state ENUM('pending', 'processing', 'completed', 'failed') NOT NULL DEFAULT 'pending',
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  max_attempts INT UNSIGNED NOT NULL DEFAULT 3,
  holder VARCHAR(100) NULL COMMENT 'worker token name of the current claim',
  holder_token_id BIGINT UNSIGNED NULL,
  lease_id CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  lease_expires_at DATETIME(6) NULL,
  not_before DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'retry backoff',
  progress_stage VARCHAR(32) NULL,
  progress_done INT UNSIGNED NULL,
  progress_total INT UNSIGNED NULL,
  last_error VARCHAR(1000) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  started_at DATETIME(6) NULL,
  finished_at DATETIME(6) NULL,
  PRIMARY KEY (id),
  KEY ix_jobs_claim (state, not_before, id),
  KEY ix_jobs_lease (state, lease_expires_at),
  KEY ix_jobs_user (user_id, created_at),
  KEY ix_jobs_chunk (user_id, chunk_key),
  KEY ix_jobs_session (session_id),
  KEY ix_jobs_holder (holder_token_id),
  CONSTRAINT fk_jobs_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_jobs_session FOREIGN KEY (session_id) REFERENCES upload_sessions (id) ON DELETE SET NULL,
  CONSTRAINT fk_jobs_holder FOREIGN KEY (holder_token_id) REFERENCES worker_tokens (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Raw frames in the local buffer. On disk a file is named by its id only
-- (never by the user's file name). A job's raws are deleted by the app, after
-- the stack is confirmed on WebDAV; the foreign key to the job only unlinks.
CREATE TABLE raw_files (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  session_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  job_id BIGINT UNSIGNED NULL,
  original_filename VARCHAR(255) NOT NULL,
  size_bytes BIGINT UNSIGNED NOT NULL,
  sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  date_obs DATETIME(6) NOT NULL,
  obs_time DOUBLE NOT NULL COMMENT 'DATE-OBS as Unix seconds (sub-second)',
  ra_deg DOUBLE NOT NULL,
  dec_deg DOUBLE NOT NULL,
  exptime DOUBLE NULL,
  object_name VARCHAR(255) NULL,
  width INT UNSIGNED NOT NULL,
  height INT UNSIGNED NOT NULL,
  bayer VARCHAR(8) CHARACTER SET ascii NULL,
  chunk_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  site_lat DOUBLE NULL COMMENT 'SITELAT; NULL when scrubbed',
  site_long DOUBLE NULL COMMENT 'SITELONG; NULL when scrubbed',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_raw_files_session_name (session_id, original_filename),
  KEY ix_raw_files_job (job_id),
  KEY ix_raw_files_user (user_id, created_at),
  KEY ix_raw_files_chunk (session_id, chunk_key),
  CONSTRAINT fk_raw_files_session FOREIGN KEY (session_id) REFERENCES upload_sessions (id) ON DELETE CASCADE,
  CONSTRAINT fk_raw_files_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_raw_files_job FOREIGN KEY (job_id) REFERENCES stacking_jobs (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Finished stacks. One per (user, chunk key): a re-upload with overwrite=1
-- replaces the row (and its files on WebDAV). webdav_path is relative to
-- webdav_url: stacks/<user>/<chunk_key>/<job_id>/stacked.fits.
CREATE TABLE stacked_frames (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  job_id BIGINT UNSIGNED NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  chunk_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  object_name VARCHAR(255) NULL,
  n_frames_input INT UNSIGNED NOT NULL DEFAULT 0,
  n_frames_aligned INT UNSIGNED NOT NULL DEFAULT 0,
  total_exptime DOUBLE NOT NULL DEFAULT 0,
  date_obs_start DATETIME(6) NULL,
  date_obs_end DATETIME(6) NULL,
  ra_deg DOUBLE NULL,
  dec_deg DOUBLE NULL,
  fwhm DOUBLE NULL,
  file_size_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
  webdav_path VARCHAR(512) NOT NULL,
  thumbnail_path VARCHAR(512) NULL,
  report LONGTEXT NULL COMMENT 'JSON stacking report: frames used/rejected, timings',
  is_public TINYINT(1) NOT NULL DEFAULT 0,
  site_lat DOUBLE NULL COMMENT 'never shown to other users',
  site_long DOUBLE NULL COMMENT 'never shown to other users',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_stacked_user_chunk (user_id, chunk_key),
  KEY ix_stacked_user_created (user_id, created_at),
  KEY ix_stacked_user_object (user_id, object_name),
  KEY ix_stacked_job (job_id),
  KEY ix_stacked_public (is_public, created_at),
  CONSTRAINT fk_stacked_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_stacked_job FOREIGN KEY (job_id) REFERENCES stacking_jobs (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

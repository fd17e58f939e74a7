-- 002_claim_procedure.sql - the job claim as one round trip.
--
-- GET /api/next_job (cs_jobs_claim in libcrowdsky/src/jobs/jobs.c) used to
-- send five or six statements per claim (isolation, START TRANSACTION, the
-- locking SELECTs, UPDATE, COMMIT); on a small server each round trip costs
-- more than the statement itself. The same transaction now runs inside the
-- server: `CALL cs_claim_job(...)`, whose one result set is the claimed row
-- (or no row). The concurrency design is unchanged and is explained at the
-- top of jobs.c: READ COMMITTED, one `FOR UPDATE SKIP LOCKED` row, the
-- index orders, the "hint" (where the last claim of the calling process was),
-- and the expired-lease probe (first when the caller asks, else only when
-- nothing is pending).
--
-- The migration runner (libcrowdsky/src/db/migrate.c) understands DELIMITER
-- lines as the mariadb client does, so this file also runs there unchanged.
-- The database user needs CREATE ROUTINE (to migrate) and EXECUTE (to run);
-- ALL PRIVILEGES on the database gives both.

DROP PROCEDURE IF EXISTS cs_claim_job;
DROP PROCEDURE IF EXISTS cs_claim_take_expired;

DELIMITER //

-- Locks the processing job whose lease expired first (SKIP LOCKED) and sets
-- p_id to it, or to NULL if there is none. Jobs that used max_attempts are
-- failed on the way (at most 16 per call). Runs inside the caller's
-- transaction.
CREATE PROCEDURE cs_claim_take_expired(IN p_now DATETIME(6), OUT p_id BIGINT UNSIGNED)
MODIFIES SQL DATA
BEGIN
  DECLARE v_id BIGINT UNSIGNED;
  DECLARE v_att INT UNSIGNED;
  DECLARE v_max INT UNSIGNED;
  DECLARE v_holder VARCHAR(100);
  DECLARE v_tries INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;

  SET p_id = NULL;
  scan: WHILE v_tries < 16 DO
    SET v_tries = v_tries + 1, v_id = NULL;
    SELECT id, attempts, max_attempts, holder INTO v_id, v_att, v_max, v_holder
      FROM stacking_jobs FORCE INDEX (ix_jobs_lease)
      WHERE state = 'processing' AND lease_expires_at < p_now
      ORDER BY lease_expires_at LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF v_id IS NULL THEN
      LEAVE scan;
    END IF;
    IF v_att < v_max THEN
      SET p_id = v_id;
      LEAVE scan;
    END IF;
    UPDATE stacking_jobs SET state = 'failed', progress_stage = 'failed', finished_at = p_now,
           lease_id = NULL, lease_expires_at = NULL,
           last_error = LEFT(CONCAT('worker ''', IFNULL(v_holder, '?'),
                                    ''' stopped responding (lease expired) on attempt ', v_att,
                                    ' of ', v_max), 1000)
     WHERE id = v_id;
  END WHILE;
END //

-- Claims one job for a worker, in one READ COMMITTED transaction:
--   p_now          the caller's clock, Unix seconds with microseconds
--   p_holder       worker token name; p_token_id its id (NULL for none)
--   p_lease        the new lease id (32 hex digits, made by the caller)
--   p_lease_seconds
--   p_expired_first  probe expired leases before the pending queue
--   p_hint_nb, p_hint_id  scan the pending queue after (not_before, id)
--                  first (NULL: from the head); the head is scanned next if
--                  nothing lies after it
-- Result: one row (id, kind, chunk_key, object_name, frame_count, attempts
-- (after this claim), max_attempts, user_id, scrub_location, params,
-- not_before, from_queue (1 if found after the hint, 2 if from the head of
-- the pending queue, 0 if its lease had expired)) or no row when there is
-- nothing to claim. Errors
-- (deadlock, lock wait timeout) roll back and are passed on unchanged.
CREATE PROCEDURE cs_claim_job(IN p_now DECIMAL(20, 6), IN p_holder VARCHAR(100),
                              IN p_token_id BIGINT UNSIGNED, IN p_lease CHAR(32) CHARACTER SET ascii,
                              IN p_lease_seconds INT, IN p_expired_first TINYINT,
                              IN p_hint_nb DATETIME(6), IN p_hint_id BIGINT UNSIGNED)
MODIFIES SQL DATA
BEGIN
  DECLARE v_now DATETIME(6) DEFAULT FROM_UNIXTIME(p_now);
  DECLARE v_id BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_from_queue TINYINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    ROLLBACK;
    RESIGNAL;
  END;

  SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  START TRANSACTION;
  IF p_expired_first THEN
    CALL cs_claim_take_expired(v_now, v_id);
  END IF;
  IF v_id IS NULL AND p_hint_nb IS NOT NULL THEN
    SELECT id INTO v_id FROM stacking_jobs FORCE INDEX (ix_jobs_claim)
     WHERE state = 'pending' AND not_before <= v_now
       AND (not_before > p_hint_nb OR (not_before = p_hint_nb AND id > p_hint_id))
     ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED;
    SET v_from_queue = IF(v_id IS NULL, 0, 1);
  END IF;
  IF v_id IS NULL THEN
    SELECT id INTO v_id FROM stacking_jobs FORCE INDEX (ix_jobs_claim)
     WHERE state = 'pending' AND not_before <= v_now
     ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED;
    SET v_from_queue = IF(v_id IS NULL, 0, 2);
  END IF;
  IF v_id IS NULL AND NOT p_expired_first THEN
    CALL cs_claim_take_expired(v_now, v_id);
  END IF;
  IF v_id IS NOT NULL THEN
    UPDATE stacking_jobs SET state = 'processing', holder = p_holder, holder_token_id = p_token_id,
           lease_id = p_lease, lease_expires_at = FROM_UNIXTIME(p_now + p_lease_seconds),
           attempts = attempts + 1, started_at = v_now, progress_stage = 'claimed',
           progress_done = NULL, progress_total = NULL
     WHERE id = v_id;
  END IF;
  COMMIT;
  -- after COMMIT: nobody else knows the lease yet, so the row is as we left it
  SELECT id, kind, chunk_key, object_name, frame_count, attempts, max_attempts, user_id,
         scrub_location, params, not_before, v_from_queue AS from_queue
    FROM stacking_jobs WHERE id = v_id AND lease_id = p_lease;
END //

DELIMITER ;

-- sessions rate limiting on MySQL/MariaDB: schema v1, created on first use by sessions/ratelimit/_sql.py.
-- Statements are separated by lines of ';;'. @T@ is the table, @F@ the function name prefix; @VARS@,
-- @LOAD@ (read the key's row — first without a lock — read the clock, empty an expired state), @SAVE@ (which
-- first comes back to read again under the lock), @REFUSE@ and @END@ are expanded from _sql.py. Each
-- function mirrors sessions/ratelimit/lua/<algorithm>.lua in integer microsecond ticks and returns 'allowed remaining retry_after reset_after delay' (-1 = never).
-- A function, not a procedure: SELECT f(...) is one round trip with one small result. No helper functions:
-- a stored-function call costs MariaDB about as much as a round trip's server side, so the arithmetic is
-- written out in each function (compare the plpgsql twin, whose helpers the planner inlines).
--
-- Arguments: p_ns namespace, p_k '<algorithm>:<key>', p_now ticks or NULL for the server's clock, p_op
-- 'd' decide / 'p' pause, p_arg cost or pause ticks, p_max_wait ticks (-1 = peek), then the parameters.
CREATE TABLE IF NOT EXISTS @T@ (
  ns VARBINARY(190) NOT NULL,
  k VARBINARY(512) NOT NULL,
  paused BIGINT NOT NULL DEFAULT 0,   -- paused_until (every algorithm)
  lvl DOUBLE NOT NULL DEFAULT 0,      -- bucket level / fixed-window count
  t BIGINT NOT NULL DEFAULT 0,        -- bucket last / fixed-window start / GCRA tat
  log LONGBLOB NULL,                  -- sliding-window admissions: 20-digit zero-padded ticks, ascending
  clock BIGINT NOT NULL DEFAULT 0,    -- the latest time a decision on this row used (never goes back)
  expires BIGINT NOT NULL DEFAULT 0,  -- the state is empty from this tick on
  PRIMARY KEY (ns, k),
  KEY (expires)
) ENGINE = InnoDB
;;
CREATE FUNCTION @F@_bucket(p_ns VARBINARY(190), p_k VARBINARY(512), p_now BIGINT, p_op CHAR(1),
  p_arg DOUBLE, p_max_wait BIGINT, cap DOUBLE, rate DOUBLE) RETURNS VARCHAR(120)
NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
  @VARS@
  DECLARE v_slot BIGINT;
  DECLARE v_lvl DOUBLE;
  DECLARE v_excess DOUBLE;
  DECLARE v_step BIGINT;
  DECLARE v_wait BIGINT;
  DECLARE v_rem BIGINT;
  DECLARE v_reset BIGINT;
  @LOAD@
  -- reset: until the level has drained and any pause is over
  SET v_reset = GREATEST(IF(r_lvl > 0, r_t + CAST(CEIL(r_lvl / rate) AS SIGNED), 0), r_paused) - v_now;
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + CAST(p_arg AS SIGNED));
    SET v_ttl = GREATEST(IF(r_lvl > 0, r_t + CAST(CEIL(r_lvl / rate) AS SIGNED), 0), r_paused) - v_now;
    @SAVE@
    RETURN '1';
  END IF;
  SET v_rem = IF(r_paused > v_now OR r_t > v_now, 0,
    CAST(GREATEST(0, FLOOR(cap - GREATEST(0e0, r_lvl - (v_now - r_t) * rate) + 1e-9)) AS SIGNED));
  IF p_arg > cap THEN
    RETURN CONCAT('0 ', v_rem, ' -1 ', v_reset, ' 0');
  END IF;
  SET v_slot = GREATEST(v_now, r_paused, r_t);
  SET v_lvl = r_lvl - (v_slot - r_t) * rate;
  IF v_lvl < 0 THEN
    SET v_lvl = 0;
  END IF;
  SET v_excess = v_lvl + p_arg - cap;
  IF v_excess > 0 THEN
    SET v_step = CAST(CEIL(v_excess / rate) AS SIGNED);
    SET v_slot = v_slot + v_step;
    SET v_lvl = GREATEST(0e0, v_lvl - v_step * rate);
  END IF;
  SET v_wait = v_slot - v_now;
  IF v_wait > p_max_wait THEN
    @REFUSE@
  END IF;
  SET r_lvl = v_lvl + p_arg, r_t = v_slot;
  SET v_ttl = GREATEST(r_t + CAST(CEIL(r_lvl / rate) AS SIGNED), r_paused) - v_now;
  @SAVE@
  SET v_rem = IF(r_paused > v_now OR r_t > v_now, 0,
    CAST(GREATEST(0, FLOOR(cap - GREATEST(0e0, r_lvl - (v_now - r_t) * rate) + 1e-9)) AS SIGNED));
  RETURN CONCAT('1 ', v_rem, ' 0 ', v_ttl, ' ', v_wait);
  @END@
END
;;
CREATE FUNCTION @F@_fixed(p_ns VARBINARY(190), p_k VARBINARY(512), p_now BIGINT, p_op CHAR(1),
  p_arg DOUBLE, p_max_wait BIGINT, lim BIGINT, win BIGINT) RETURNS VARCHAR(120)
NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
  @VARS@
  DECLARE v_cnt BIGINT;
  DECLARE v_cost BIGINT DEFAULT CAST(p_arg AS SIGNED);
  DECLARE v_first BIGINT;
  DECLARE v_current BIGINT;
  DECLARE v_slot BIGINT;
  DECLARE v_start BIGINT;
  DECLARE v_new BIGINT;
  DECLARE v_wait BIGINT;
  DECLARE v_rem BIGINT;
  DECLARE v_reset BIGINT;
  @LOAD@
  SET v_cnt = CAST(r_lvl AS SIGNED);
  SET v_reset = GREATEST(IF(v_cnt <> 0, r_t + win, 0), r_paused) - v_now;
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + v_cost);
    SET v_ttl = GREATEST(IF(v_cnt <> 0, r_t + win, 0), r_paused) - v_now;
    @SAVE@
    RETURN '1';
  END IF;
  SET v_current = v_now - MOD(v_now, win);
  SET v_rem = CASE WHEN r_paused > v_now THEN 0
                   WHEN r_t > v_current AND v_cnt <> 0 THEN 0
                   WHEN r_t = v_current THEN lim - v_cnt
                   ELSE lim END;
  IF v_cost > lim THEN
    RETURN CONCAT('0 ', v_rem, ' -1 ', v_reset, ' 0');
  END IF;
  SET v_first = GREATEST(v_now, r_paused);
  SET v_current = v_first - MOD(v_first, win);
  IF v_cnt <> 0 AND r_t >= v_current THEN
    IF v_cnt + v_cost <= lim THEN
      SET v_slot = GREATEST(v_first, r_t), v_start = r_t, v_new = v_cnt + v_cost;
    ELSE
      SET v_slot = r_t + win, v_start = r_t + win, v_new = v_cost;
    END IF;
  ELSE
    SET v_slot = v_first, v_start = v_current, v_new = v_cost;
  END IF;
  SET v_wait = v_slot - v_now;
  IF v_wait > p_max_wait THEN
    @REFUSE@
  END IF;
  SET r_t = v_start, r_lvl = v_new;
  SET v_ttl = GREATEST(v_start + win, r_paused) - v_now;
  @SAVE@
  SET v_current = v_now - MOD(v_now, win);
  SET v_rem = CASE WHEN r_paused > v_now THEN 0
                   WHEN v_start > v_current THEN 0
                   WHEN v_start = v_current THEN lim - v_new
                   ELSE lim END;
  RETURN CONCAT('1 ', v_rem, ' 0 ', v_ttl, ' ', v_wait);
  @END@
END
;;
CREATE FUNCTION @F@_gcra(p_ns VARBINARY(190), p_k VARBINARY(512), p_now BIGINT, p_op CHAR(1),
  p_arg DOUBLE, p_max_wait BIGINT, intv BIGINT, burst BIGINT) RETURNS VARCHAR(120)
NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
  @VARS@
  DECLARE v_tol BIGINT DEFAULT burst * intv;
  DECLARE v_inc BIGINT;
  DECLARE v_slot BIGINT;
  DECLARE v_wait BIGINT;
  DECLARE v_rem BIGINT;
  DECLARE v_reset BIGINT;
  @LOAD@
  SET v_reset = GREATEST(r_t, r_paused) - v_now;
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + CAST(p_arg AS SIGNED));
    SET v_ttl = GREATEST(r_t, r_paused) - v_now;
    @SAVE@
    RETURN '1';
  END IF;
  SET v_rem = IF(r_paused > v_now, 0, GREATEST(0, (v_tol - GREATEST(0, r_t - v_now)) DIV intv));
  IF p_arg > burst THEN
    RETURN CONCAT('0 ', v_rem, ' -1 ', v_reset, ' 0');
  END IF;
  SET v_inc = CAST(CEIL(p_arg * intv) AS SIGNED);
  SET v_slot = GREATEST(v_now, r_paused, r_t + v_inc - v_tol);
  SET v_wait = v_slot - v_now;
  IF v_wait > p_max_wait THEN
    @REFUSE@
  END IF;
  SET r_t = GREATEST(r_t, v_slot) + v_inc;
  SET v_ttl = GREATEST(r_t, r_paused) - v_now;
  @SAVE@
  SET v_rem = IF(r_paused > v_now, 0, GREATEST(0, (v_tol - GREATEST(0, r_t - v_now)) DIV intv));
  RETURN CONCAT('1 ', v_rem, ' 0 ', v_ttl, ' ', v_wait);
  @END@
END
;;
CREATE FUNCTION @F@_sliding(p_ns VARBINARY(190), p_k VARBINARY(512), p_now BIGINT, p_op CHAR(1),
  p_arg DOUBLE, p_max_wait BIGINT, lim BIGINT, win BIGINT) RETURNS VARCHAR(120)
NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
  @VARS@
  DECLARE v_n INT;
  DECLARE v_e INT DEFAULT 0;  -- 0-based index of the first entry > now - win (bisect_right)
  DECLARE v_lo INT;
  DECLARE v_hi INT;
  DECLARE v_mid INT;
  DECLARE v_k INT;
  DECLARE v_last BIGINT DEFAULT NULL;
  DECLARE v_cost INT DEFAULT CAST(p_arg AS SIGNED);
  DECLARE v_slot BIGINT;
  DECLARE v_j INT;
  DECLARE v_wait BIGINT;
  DECLARE v_drop INT;
  DECLARE v_rem BIGINT;
  DECLARE v_reset BIGINT;
  @LOAD@
  SET v_n = LENGTH(r_log) DIV 20, v_e = 0, v_last = NULL;
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + CAST(p_arg AS SIGNED));
    IF v_n > 0 THEN
      SET v_last = CAST(SUBSTRING(r_log, (v_n - 1) * 20 + 1, 20) AS SIGNED);
    END IF;
    SET v_ttl = GREATEST(IFNULL(v_last + win, 0), r_paused) - v_now;
    @SAVE@
    RETURN '1';
  END IF;
  IF v_n > 0 AND CAST(SUBSTRING(r_log, 1, 20) AS SIGNED) <= v_now - win THEN
    SET v_lo = 1, v_hi = v_n;
    WHILE v_lo < v_hi DO
      SET v_mid = (v_lo + v_hi) DIV 2;
      IF CAST(SUBSTRING(r_log, v_mid * 20 + 1, 20) AS SIGNED) <= v_now - win THEN
        SET v_lo = v_mid + 1;
      ELSE
        SET v_hi = v_mid;
      END IF;
    END WHILE;
    SET v_e = v_lo;
  END IF;
  SET v_k = v_n - v_e;
  IF v_k > 0 THEN
    SET v_last = CAST(SUBSTRING(r_log, (v_n - 1) * 20 + 1, 20) AS SIGNED);
  END IF;
  SET v_reset = GREATEST(IFNULL(v_last + win, 0), r_paused) - v_now;
  SET v_rem = IF(r_paused > v_now OR (v_k > 0 AND v_last > v_now), 0, lim - v_k);
  IF v_cost > lim THEN
    RETURN CONCAT('0 ', v_rem, ' -1 ', v_reset, ' 0');
  END IF;
  SET v_slot = GREATEST(v_now, r_paused);
  IF v_k > 0 THEN
    SET v_slot = GREATEST(v_slot, v_last);
    SET v_j = v_k - lim + v_cost;
    IF v_j > 0 THEN
      SET v_slot = GREATEST(v_slot, CAST(SUBSTRING(r_log, (v_e + v_j - 1) * 20 + 1, 20) AS SIGNED) + win);
    END IF;
  END IF;
  SET v_wait = v_slot - v_now;
  IF v_wait > p_max_wait THEN
    @REFUSE@
  END IF;
  SET v_drop = GREATEST(0, v_k + v_cost - lim);
  SET r_log = CONCAT(SUBSTRING(r_log, (v_e + v_drop) * 20 + 1), REPEAT(LPAD(v_slot, 20, '0'), v_cost));
  SET v_ttl = GREATEST(v_slot + win, r_paused) - v_now;
  @SAVE@
  SET v_rem = IF(r_paused > v_now OR v_slot > v_now, 0, lim - (v_k + v_cost - v_drop));
  RETURN CONCAT('1 ', v_rem, ' 0 ', v_ttl, ' ', v_wait);
  @END@
END

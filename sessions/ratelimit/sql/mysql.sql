-- sessions rate limiting on MySQL/MariaDB: schema v1, created on first use by sessions/ratelimit/_sql.py.
-- Statements are separated by lines of ';;'. @T@ is the table, @F@ the function name prefix; @VARS@ and
-- @LOAD@ (lock the key's row, creating it empty, read the clock after the lock and empty an expired state)
-- and @SAVE@ are expanded from _sql.py. Each function mirrors sessions/ratelimit/lua/<algorithm>.lua in
-- integer microsecond ticks and returns 'allowed remaining retry_after reset_after delay' (-1 = never).
-- A function, not a procedure: SELECT f(...) is one round trip with one small result.
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
CREATE FUNCTION @F@_reply(a INT, rem BIGINT, retry BIGINT, rst BIGINT, delay BIGINT) RETURNS VARCHAR(120)
DETERMINISTIC NO SQL
RETURN CONCAT(a, ' ', rem, ' ', retry, ' ', rst, ' ', delay)
;;
CREATE FUNCTION @F@_refuse(wait BIGINT, max_wait BIGINT, rem BIGINT, rst BIGINT) RETURNS VARCHAR(120)
DETERMINISTIC NO SQL
RETURN IF(max_wait < 0 AND wait = 0, @F@_reply(1, rem, 0, rst, 0), @F@_reply(0, rem, wait, rst, 0))
;;
CREATE FUNCTION @F@_bucket_remaining(paused BIGINT, level DOUBLE, last BIGINT, now_ BIGINT, cap DOUBLE,
  rate DOUBLE) RETURNS BIGINT
DETERMINISTIC NO SQL
RETURN IF(paused > now_ OR last > now_, 0,
  CAST(GREATEST(0, FLOOR(cap - GREATEST(0e0, level - (now_ - last) * rate) + 1e-9)) AS SIGNED))
;;
CREATE FUNCTION @F@_bucket_reset(paused BIGINT, level DOUBLE, last BIGINT, now_ BIGINT, rate DOUBLE)
RETURNS BIGINT
DETERMINISTIC NO SQL
RETURN GREATEST(IF(level > 0, last + CAST(CEIL(level / rate) AS SIGNED), 0), paused) - now_
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
  @LOAD@
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + CAST(p_arg AS SIGNED));
    SET v_ttl = @F@_bucket_reset(r_paused, r_lvl, r_t, v_now, rate);
    @SAVE@
    RETURN '1';
  END IF;
  IF p_arg > cap THEN
    RETURN @F@_reply(0, @F@_bucket_remaining(r_paused, r_lvl, r_t, v_now, cap, rate), -1,
                     @F@_bucket_reset(r_paused, r_lvl, r_t, v_now, rate), 0);
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
    RETURN @F@_refuse(v_wait, p_max_wait, @F@_bucket_remaining(r_paused, r_lvl, r_t, v_now, cap, rate),
                      @F@_bucket_reset(r_paused, r_lvl, r_t, v_now, rate));
  END IF;
  SET r_lvl = v_lvl + p_arg;
  SET r_t = v_slot;
  SET v_ttl = @F@_bucket_reset(r_paused, r_lvl, r_t, v_now, rate);
  @SAVE@
  RETURN @F@_reply(1, @F@_bucket_remaining(r_paused, r_lvl, r_t, v_now, cap, rate), 0, v_ttl, v_wait);
END
;;
CREATE FUNCTION @F@_fixed_remaining(paused BIGINT, start BIGINT, cnt BIGINT, now_ BIGINT, lim BIGINT,
  win BIGINT) RETURNS BIGINT
DETERMINISTIC NO SQL
RETURN CASE WHEN paused > now_ THEN 0
            WHEN start > now_ - MOD(now_, win) AND cnt <> 0 THEN 0
            WHEN start = now_ - MOD(now_, win) THEN lim - cnt
            ELSE lim END
;;
CREATE FUNCTION @F@_fixed_reset(paused BIGINT, start BIGINT, cnt BIGINT, now_ BIGINT, win BIGINT)
RETURNS BIGINT
DETERMINISTIC NO SQL
RETURN GREATEST(IF(cnt <> 0, start + win, 0), paused) - now_
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
  @LOAD@
  SET v_cnt = CAST(r_lvl AS SIGNED);
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + v_cost);
    SET v_ttl = @F@_fixed_reset(r_paused, r_t, v_cnt, v_now, win);
    @SAVE@
    RETURN '1';
  END IF;
  IF v_cost > lim THEN
    RETURN @F@_reply(0, @F@_fixed_remaining(r_paused, r_t, v_cnt, v_now, lim, win), -1,
                     @F@_fixed_reset(r_paused, r_t, v_cnt, v_now, win), 0);
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
    RETURN @F@_refuse(v_wait, p_max_wait, @F@_fixed_remaining(r_paused, r_t, v_cnt, v_now, lim, win),
                      @F@_fixed_reset(r_paused, r_t, v_cnt, v_now, win));
  END IF;
  SET r_t = v_start, r_lvl = v_new;
  SET v_ttl = @F@_fixed_reset(r_paused, v_start, v_new, v_now, win);
  @SAVE@
  RETURN @F@_reply(1, @F@_fixed_remaining(r_paused, v_start, v_new, v_now, lim, win), 0, v_ttl, v_wait);
END
;;
CREATE FUNCTION @F@_gcra_remaining(paused BIGINT, tat BIGINT, now_ BIGINT, tol BIGINT, intv BIGINT)
RETURNS BIGINT
DETERMINISTIC NO SQL
RETURN IF(paused > now_, 0, GREATEST(0, (tol - GREATEST(0, tat - now_)) DIV intv))
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
  @LOAD@
  IF p_op = 'p' THEN
    SET r_paused = GREATEST(r_paused, v_now + CAST(p_arg AS SIGNED));
    SET v_ttl = GREATEST(r_t, r_paused) - v_now;
    @SAVE@
    RETURN '1';
  END IF;
  IF p_arg > burst THEN
    RETURN @F@_reply(0, @F@_gcra_remaining(r_paused, r_t, v_now, v_tol, intv), -1,
                     GREATEST(r_t, r_paused) - v_now, 0);
  END IF;
  SET v_inc = CAST(CEIL(p_arg * intv) AS SIGNED);
  SET v_slot = GREATEST(v_now, r_paused, r_t + v_inc - v_tol);
  SET v_wait = v_slot - v_now;
  IF v_wait > p_max_wait THEN
    RETURN @F@_refuse(v_wait, p_max_wait, @F@_gcra_remaining(r_paused, r_t, v_now, v_tol, intv),
                      GREATEST(r_t, r_paused) - v_now);
  END IF;
  SET r_t = GREATEST(r_t, v_slot) + v_inc;
  SET v_ttl = GREATEST(r_t, r_paused) - v_now;
  @SAVE@
  RETURN @F@_reply(1, @F@_gcra_remaining(r_paused, r_t, v_now, v_tol, intv), 0, v_ttl, v_wait);
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
  SET v_n = LENGTH(r_log) DIV 20;
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
    RETURN @F@_reply(0, v_rem, -1, v_reset, 0);
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
    RETURN @F@_refuse(v_wait, p_max_wait, v_rem, v_reset);
  END IF;
  SET v_drop = GREATEST(0, v_k + v_cost - lim);
  SET r_log = CONCAT(SUBSTRING(r_log, (v_e + v_drop) * 20 + 1), REPEAT(LPAD(v_slot, 20, '0'), v_cost));
  SET v_ttl = GREATEST(v_slot + win, r_paused) - v_now;
  @SAVE@
  SET v_rem = IF(r_paused > v_now OR v_slot > v_now, 0, lim - (v_k + v_cost - v_drop));
  RETURN @F@_reply(1, v_rem, 0, v_ttl, v_wait);
END

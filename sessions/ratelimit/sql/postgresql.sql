-- sessions rate limiting on PostgreSQL: schema v1, created on first use by sessions/ratelimit/_sql.py.
-- Statements are separated by lines of ';;'. @T@ is the (schema-qualified) table, @F@ the function name
-- prefix, @I@ the bare index name. Each function mirrors sessions/ratelimit/lua/<algorithm>.lua (and so
-- sessions/ratelimit/_algorithms.py) in integer microsecond ticks and returns the same reply string
-- 'allowed remaining retry_after reset_after delay' (retry_after -1 = never).
--
-- Arguments: p_ns namespace (the limiter's key prefix), p_k '<algorithm>:<key>', p_now ticks or NULL for
-- the server's clock, p_op 'd' decide / 'p' pause, p_arg cost (decide) or pause ticks, p_max_wait ticks
-- (-1 = peek), then the algorithm's compiled parameters.
CREATE TABLE IF NOT EXISTS @T@ (
  ns text NOT NULL,
  k text NOT NULL,
  paused bigint NOT NULL DEFAULT 0,      -- paused_until (every algorithm)
  lvl double precision NOT NULL DEFAULT 0, -- bucket level / fixed-window count
  t bigint NOT NULL DEFAULT 0,           -- bucket last / fixed-window start / GCRA tat
  log bigint[] NOT NULL DEFAULT '{}',    -- sliding-window admissions, ascending
  clock bigint NOT NULL DEFAULT 0,       -- the latest time a decision on this row used (never goes back)
  expires bigint NOT NULL DEFAULT 0,     -- the state is empty from this tick on
  PRIMARY KEY (ns, k)
)
;;
CREATE INDEX IF NOT EXISTS @I@_expires ON @T@ (expires)
;;
-- Read the key's row and return it with clock = the decision's now and the state emptied if it has
-- expired. p_lock: lock it first (creating it empty). Every decision first reads without the lock: a
-- decision that commits nothing (a denial, a peek) is then exact as of that read and takes no lock and
-- writes nothing; one that commits reads again under the lock and decides again.
CREATE OR REPLACE FUNCTION @F@_load(p_ns text, p_k text, p_now bigint, p_lock boolean) RETURNS @T@
LANGUAGE plpgsql AS $$
DECLARE
  r @T@;
  v_now bigint;
BEGIN
  IF p_lock THEN
    -- rate-limit state is not worth an fsync per decision: a server crash may lose the last moments of
    -- decisions (WAL still keeps it consistent); this transaction only
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO r FROM @T@ WHERE ns = p_ns AND k = p_k FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO @T@ (ns, k) VALUES (p_ns, p_k) ON CONFLICT DO NOTHING;
      SELECT * INTO r FROM @T@ WHERE ns = p_ns AND k = p_k FOR UPDATE;
    END IF;
  ELSE
    SELECT * INTO r FROM @T@ WHERE ns = p_ns AND k = p_k;
    IF NOT FOUND THEN
      r.ns := p_ns; r.k := p_k; r.paused := 0; r.lvl := 0; r.t := 0; r.log := '{}'; r.clock := 0;
      r.expires := 0;
    END IF;
  END IF;
  -- read after the lock: decisions on a key see time in the order they commit
  v_now := coalesce(p_now, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 1700000000000000);
  IF r.clock < v_now THEN
    r.clock := v_now;
  END IF;
  IF r.expires <= r.clock THEN
    r.paused := 0; r.lvl := 0; r.t := 0; r.log := '{}';
  END IF;
  RETURN r;
END $$
;;
-- plpgsql, not SQL: a plpgsql function keeps its statements' plans for the session, while an SQL function
-- that cannot be inlined is planned again in every transaction (that is, every decision).
CREATE OR REPLACE FUNCTION @F@_save(r @T@, p_ttl bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE @T@ SET paused = r.paused, lvl = r.lvl, t = r.t, log = r.log, clock = r.clock,
    expires = r.clock + p_ttl
  WHERE ns = r.ns AND k = r.k;
END $$
;;
-- The small SQL helpers are IMMUTABLE and use only immutable operators, so the planner inlines them into
-- the calling expression (an int || text concatenation is only STABLE: it would block that).
CREATE OR REPLACE FUNCTION @F@_reply(a int, rem bigint, retry bigint, reset bigint, delay bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT a::text || ' ' || rem::text || ' ' || retry::text || ' ' || reset::text || ' ' || delay::text
$$
;;
-- The reply for a request that was not committed (try denied, peek, or reserve beyond max_wait).
CREATE OR REPLACE FUNCTION @F@_refuse(wait bigint, max_wait bigint, rem bigint, reset bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN max_wait < 0 AND wait = 0 THEN @F@_reply(1, rem, 0, reset, 0)
              ELSE @F@_reply(0, rem, wait, reset, 0) END
$$
;;
-- Token bucket and leaky bucket (meter): lvl is the level draining at rate per tick, t the last slot.
CREATE OR REPLACE FUNCTION @F@_bucket_remaining(paused bigint, level float8, last bigint, now_ bigint,
  cap float8, rate float8) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN paused > now_ OR last > now_ THEN 0::bigint
    ELSE greatest(0::float8, floor(cap - greatest(0::float8, level - (now_ - last) * rate) + 1e-9::float8))::bigint
  END
$$
;;
CREATE OR REPLACE FUNCTION @F@_bucket_reset(paused bigint, level float8, last bigint, now_ bigint, rate float8)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT greatest(CASE WHEN level > 0 THEN last + ceil(level / rate)::bigint ELSE 0 END, paused) - now_
$$
;;
CREATE OR REPLACE FUNCTION @F@_bucket(p_ns text, p_k text, p_now bigint, p_op text, p_arg float8,
  p_max_wait bigint, cap float8, rate float8) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r @T@;
  v_lock boolean := p_op = 'p';  -- pauses always write
  v_now bigint;
  v_slot bigint;
  v_lvl float8;
  v_excess float8;
  v_step bigint;
  v_wait bigint;
  v_ttl bigint;
BEGIN
  LOOP
    r := @F@_load(p_ns, p_k, p_now, v_lock);
    v_now := r.clock;
    IF p_op = 'p' THEN
      r.paused := greatest(r.paused, v_now + p_arg::bigint);
      IF NOT v_lock THEN
        v_lock := true;
        CONTINUE;
      END IF;
      PERFORM @F@_save(r, @F@_bucket_reset(r.paused, r.lvl, r.t, v_now, rate));
      RETURN '1';
    END IF;
    IF p_arg > cap THEN
      RETURN @F@_reply(0, @F@_bucket_remaining(r.paused, r.lvl, r.t, v_now, cap, rate), -1,
                       @F@_bucket_reset(r.paused, r.lvl, r.t, v_now, rate), 0);
    END IF;
    v_slot := greatest(v_now, r.paused, r.t);
    v_lvl := r.lvl - (v_slot - r.t) * rate;
    IF v_lvl < 0 THEN
      v_lvl := 0;
    END IF;
    v_excess := v_lvl + p_arg - cap;
    IF v_excess > 0 THEN
      v_step := ceil(v_excess / rate)::bigint;
      v_slot := v_slot + v_step;
      v_lvl := greatest(0::float8, v_lvl - v_step * rate);
    END IF;
    v_wait := v_slot - v_now;
    IF v_wait > p_max_wait THEN
      RETURN @F@_refuse(v_wait, p_max_wait, @F@_bucket_remaining(r.paused, r.lvl, r.t, v_now, cap, rate),
                        @F@_bucket_reset(r.paused, r.lvl, r.t, v_now, rate));
    END IF;
    r.lvl := v_lvl + p_arg;
    r.t := v_slot;
    v_ttl := @F@_bucket_reset(r.paused, r.lvl, r.t, v_now, rate);
    IF NOT v_lock THEN
      v_lock := true;
      CONTINUE;
    END IF;
    PERFORM @F@_save(r, v_ttl);
    RETURN @F@_reply(1, @F@_bucket_remaining(r.paused, r.lvl, r.t, v_now, cap, rate), 0, v_ttl, v_wait);
  END LOOP;
END $$
;;
-- Fixed window: t is the window start (aligned to multiples of win), lvl the count in it.
CREATE OR REPLACE FUNCTION @F@_fixed_remaining(paused bigint, start bigint, cnt bigint, now_ bigint,
  lim bigint, win bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN paused > now_ THEN 0
              WHEN start > now_ - mod(now_, win) AND cnt <> 0 THEN 0
              WHEN start = now_ - mod(now_, win) THEN lim - cnt
              ELSE lim END
$$
;;
CREATE OR REPLACE FUNCTION @F@_fixed_reset(paused bigint, start bigint, cnt bigint, now_ bigint, win bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT greatest(CASE WHEN cnt <> 0 THEN start + win ELSE 0 END, paused) - now_
$$
;;
CREATE OR REPLACE FUNCTION @F@_fixed(p_ns text, p_k text, p_now bigint, p_op text, p_arg float8,
  p_max_wait bigint, lim bigint, win bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r @T@;
  v_lock boolean := p_op = 'p';  -- pauses always write
  v_now bigint;
  v_cnt bigint;
  v_cost bigint := p_arg::bigint;
  v_first bigint;
  v_current bigint;
  v_slot bigint;
  v_start bigint;
  v_new bigint;
  v_wait bigint;
  v_ttl bigint;
BEGIN
  LOOP
    r := @F@_load(p_ns, p_k, p_now, v_lock);
    v_now := r.clock;
    v_cnt := r.lvl::bigint;
    IF p_op = 'p' THEN
      r.paused := greatest(r.paused, v_now + v_cost);
      IF NOT v_lock THEN
        v_lock := true;
        CONTINUE;
      END IF;
      PERFORM @F@_save(r, @F@_fixed_reset(r.paused, r.t, v_cnt, v_now, win));
      RETURN '1';
    END IF;
    IF v_cost > lim THEN
      RETURN @F@_reply(0, @F@_fixed_remaining(r.paused, r.t, v_cnt, v_now, lim, win), -1,
                       @F@_fixed_reset(r.paused, r.t, v_cnt, v_now, win), 0);
    END IF;
    v_first := greatest(v_now, r.paused);
    v_current := v_first - mod(v_first, win);
    IF v_cnt <> 0 AND r.t >= v_current THEN
      IF v_cnt + v_cost <= lim THEN
        v_slot := greatest(v_first, r.t); v_start := r.t; v_new := v_cnt + v_cost;
      ELSE
        v_slot := r.t + win; v_start := r.t + win; v_new := v_cost;
      END IF;
    ELSE
      v_slot := v_first; v_start := v_current; v_new := v_cost;
    END IF;
    v_wait := v_slot - v_now;
    IF v_wait > p_max_wait THEN
      RETURN @F@_refuse(v_wait, p_max_wait, @F@_fixed_remaining(r.paused, r.t, v_cnt, v_now, lim, win),
                        @F@_fixed_reset(r.paused, r.t, v_cnt, v_now, win));
    END IF;
    r.t := v_start;
    r.lvl := v_new;
    v_ttl := @F@_fixed_reset(r.paused, v_start, v_new, v_now, win);
    IF NOT v_lock THEN
      v_lock := true;
      CONTINUE;
    END IF;
    PERFORM @F@_save(r, v_ttl);
    RETURN @F@_reply(1, @F@_fixed_remaining(r.paused, v_start, v_new, v_now, lim, win), 0, v_ttl, v_wait);
  END LOOP;
END $$
;;
-- GCRA: t is the theoretical arrival time; interval T, burst b, tolerance b*T.
CREATE OR REPLACE FUNCTION @F@_gcra_remaining(paused bigint, tat bigint, now_ bigint, tol bigint, intv bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN paused > now_ THEN 0 ELSE greatest(0, (tol - greatest(0, tat - now_)) / intv) END
$$
;;
CREATE OR REPLACE FUNCTION @F@_gcra(p_ns text, p_k text, p_now bigint, p_op text, p_arg float8,
  p_max_wait bigint, intv bigint, burst bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r @T@;
  v_lock boolean := p_op = 'p';  -- pauses always write
  v_now bigint;
  v_tol bigint := burst * intv;
  v_inc bigint;
  v_slot bigint;
  v_wait bigint;
  v_ttl bigint;
BEGIN
  LOOP
    r := @F@_load(p_ns, p_k, p_now, v_lock);
    v_now := r.clock;
    IF p_op = 'p' THEN
      r.paused := greatest(r.paused, v_now + p_arg::bigint);
      IF NOT v_lock THEN
        v_lock := true;
        CONTINUE;
      END IF;
      PERFORM @F@_save(r, greatest(r.t, r.paused) - v_now);
      RETURN '1';
    END IF;
    IF p_arg > burst THEN
      RETURN @F@_reply(0, @F@_gcra_remaining(r.paused, r.t, v_now, v_tol, intv), -1,
                       greatest(r.t, r.paused) - v_now, 0);
    END IF;
    v_inc := ceil(p_arg * intv)::bigint;
    v_slot := greatest(v_now, r.paused, r.t + v_inc - v_tol);
    v_wait := v_slot - v_now;
    IF v_wait > p_max_wait THEN
      RETURN @F@_refuse(v_wait, p_max_wait, @F@_gcra_remaining(r.paused, r.t, v_now, v_tol, intv),
                        greatest(r.t, r.paused) - v_now);
    END IF;
    r.t := greatest(r.t, v_slot) + v_inc;
    v_ttl := greatest(r.t, r.paused) - v_now;
    IF NOT v_lock THEN
      v_lock := true;
      CONTINUE;
    END IF;
    PERFORM @F@_save(r, v_ttl);
    RETURN @F@_reply(1, @F@_gcra_remaining(r.paused, r.t, v_now, v_tol, intv), 0, v_ttl, v_wait);
  END LOOP;
END $$
;;
-- Sliding window log: log holds one admission tick per cost unit (at most lim), ascending; reservations
-- may lie in the future.
CREATE OR REPLACE FUNCTION @F@_sliding(p_ns text, p_k text, p_now bigint, p_op text, p_arg float8,
  p_max_wait bigint, lim bigint, win bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r @T@;
  v_lock boolean := p_op = 'p';  -- pauses always write
  v_now bigint;
  v_n int;
  v_e int;      -- 0-based index of the first entry > now - win (bisect_right)
  v_lo int;
  v_hi int;
  v_mid int;
  v_k int;
  v_last bigint;     -- NULL when no live entry
  v_cost int := p_arg::int;
  v_slot bigint;
  v_j int;
  v_wait bigint;
  v_drop int;
  v_ttl bigint;
  v_rem bigint;
  v_reset bigint;
BEGIN
  LOOP
    r := @F@_load(p_ns, p_k, p_now, v_lock);
    v_now := r.clock;
    v_n := coalesce(cardinality(r.log), 0);
    v_e := 0;
    v_last := NULL;
    IF p_op = 'p' THEN
      r.paused := greatest(r.paused, v_now + p_arg::bigint);
      IF v_n > 0 THEN
        v_last := r.log[v_n];
      END IF;
      IF NOT v_lock THEN
        v_lock := true;
        CONTINUE;
      END IF;
      PERFORM @F@_save(r, greatest(coalesce(v_last + win, 0), r.paused) - v_now);
      RETURN '1';
    END IF;
    IF v_n > 0 AND r.log[1] <= v_now - win THEN
      v_lo := 1; v_hi := v_n;
      WHILE v_lo < v_hi LOOP
        v_mid := (v_lo + v_hi) / 2;
        IF r.log[v_mid + 1] <= v_now - win THEN
          v_lo := v_mid + 1;
        ELSE
          v_hi := v_mid;
        END IF;
      END LOOP;
      v_e := v_lo;
    END IF;
    v_k := v_n - v_e;
    IF v_k > 0 THEN
      v_last := r.log[v_n];
    END IF;
    v_reset := greatest(coalesce(v_last + win, 0), r.paused) - v_now;
    IF r.paused > v_now OR (v_k > 0 AND v_last > v_now) THEN
      v_rem := 0;
    ELSE
      v_rem := lim - v_k;
    END IF;
    IF v_cost > lim THEN
      RETURN @F@_reply(0, v_rem, -1, v_reset, 0);
    END IF;
    v_slot := greatest(v_now, r.paused);
    IF v_k > 0 THEN
      v_slot := greatest(v_slot, v_last);
      v_j := v_k - lim + v_cost;
      IF v_j > 0 THEN
        v_slot := greatest(v_slot, r.log[v_e + v_j] + win);
      END IF;
    END IF;
    v_wait := v_slot - v_now;
    IF v_wait > p_max_wait THEN
      RETURN @F@_refuse(v_wait, p_max_wait, v_rem, v_reset);
    END IF;
    v_drop := greatest(0, v_k + v_cost - lim);
    r.log := r.log[v_e + v_drop + 1 : v_n] || array_fill(v_slot, ARRAY[v_cost]);
    v_ttl := greatest(v_slot + win, r.paused) - v_now;
    IF NOT v_lock THEN
      v_lock := true;
      CONTINUE;
    END IF;
    PERFORM @F@_save(r, v_ttl);
    IF r.paused > v_now OR v_slot > v_now THEN
      v_rem := 0;
    ELSE
      v_rem := lim - (v_k + v_cost - v_drop);
    END IF;
    RETURN @F@_reply(1, v_rem, 0, v_ttl, v_wait);
  END LOOP;
END $$

-- stackwatch history schema, version 9: `size_state.unsized_reason`, why
-- the last attempt to measure an object found no size (a bind path whose
-- walk failed). Passes until the next attempt record the unknown size with
-- that reason, as they carry a measured size with its time.

ALTER TABLE size_state ADD COLUMN unsized_reason TEXT;

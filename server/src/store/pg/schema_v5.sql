-- Health Synx schema v5: the waitlist and its offers. An offer's hold is
-- an appointment with status 'held', so the exclusion constraints keep it
-- from being booked twice; it grants no care.

CREATE TABLE waitlist (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    ended_at timestamptz,
    doc jsonb NOT NULL
);
CREATE INDEX waitlist_by_created ON waitlist (created_at, id);

CREATE TABLE offers (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    ended_at timestamptz,
    doc jsonb NOT NULL
);
CREATE INDEX offers_by_created ON offers (created_at, id);

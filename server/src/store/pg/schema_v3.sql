-- Health Synx schema v3: calendar feeds. The token is only in its URL;
-- the row keeps its SHA-256.

CREATE TABLE calendar_feeds (
    user_id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

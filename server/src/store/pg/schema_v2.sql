-- Health Synx schema v2: sessions users can see, break-glass grants,
-- second factors. Rows are JSON documents, with the columns queries need.

ALTER TABLE refresh_families ADD COLUMN user_id uuid;
UPDATE refresh_families SET user_id = (doc->>'user_id')::uuid;
ALTER TABLE refresh_families ALTER COLUMN user_id SET NOT NULL;
CREATE INDEX refresh_families_by_user ON refresh_families (user_id);

CREATE TABLE break_glass_grants (
    id uuid PRIMARY KEY,
    actor_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    reviewed boolean NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX grants_by_actor ON break_glass_grants (actor_id, patient_id, id);
CREATE INDEX grants_unreviewed ON break_glass_grants (id) WHERE NOT reviewed;

CREATE TABLE mfa_factors (
    user_id uuid PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE mfa_challenges (
    hash text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);

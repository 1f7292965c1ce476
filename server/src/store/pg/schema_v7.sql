-- Health Synx schema v7: webhooks, the outbox of their deliveries, and the
-- reminders sent. Workers in every process take due deliveries with
-- FOR UPDATE SKIP LOCKED, so no two attempt the same one at once.

CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE deliveries (
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    status text NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE reminders_sent (
    appointment_id uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    offset_secs bigint NOT NULL,
    PRIMARY KEY (appointment_id, starts_at, offset_secs)
);

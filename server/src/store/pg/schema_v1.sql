-- Health Synx schema, version 1. Rows that nothing queries inside are kept
-- as JSON documents (`doc`) beside the columns that are indexed or
-- constrained; sealed fields stay sealed inside them.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email_lower text NOT NULL UNIQUE,
    username text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

CREATE TABLE departments (
    code text PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE patients (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL UNIQUE REFERENCES users (id),
    doc jsonb NOT NULL
);

-- Care granted without an appointment (tests and imports).
CREATE TABLE care_links (
    link_id uuid PRIMARY KEY,
    doctor_id uuid NOT NULL,
    department text NOT NULL,
    patient_id uuid NOT NULL
);
CREATE INDEX care_links_by_doctor ON care_links (doctor_id, patient_id);
CREATE INDEX care_links_by_department ON care_links (department, patient_id);

CREATE TABLE appointments (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    department text NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    status text NOT NULL,
    reason_sealed text NOT NULL,
    cancel_reason_sealed text,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_by uuid NOT NULL,
    CHECK (end_at > start_at),
    -- The database itself refuses two live appointments of one doctor or
    -- one patient that overlap, whatever the server processes do.
    CONSTRAINT appointments_doctor_no_overlap
        EXCLUDE USING gist (doctor_id WITH =, tstzrange(start_at, end_at) WITH &&) WHERE (status <> 'cancelled'),
    CONSTRAINT appointments_patient_no_overlap
        EXCLUDE USING gist (patient_id WITH =, tstzrange(start_at, end_at) WITH &&) WHERE (status <> 'cancelled')
);
CREATE INDEX appointments_by_doctor ON appointments (doctor_id, start_at, id);
CREATE INDEX appointments_by_patient ON appointments (patient_id, start_at, id);
CREATE INDEX appointments_by_department ON appointments (department, start_at, id);
CREATE INDEX appointments_by_start ON appointments (start_at, id);

CREATE TABLE availability (
    doctor_id uuid PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE records (
    id uuid PRIMARY KEY,
    appointment_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX records_by_patient ON records (patient_id, created_at, id);
CREATE INDEX records_by_appointment ON records (appointment_id, id);

CREATE TABLE record_versions (
    id uuid NOT NULL,
    version bigint NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE refresh_families (
    id uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);

CREATE TABLE reset_tokens (
    hash text PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);

CREATE TABLE idempotency (
    actor uuid NOT NULL,
    key text NOT NULL,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (actor, key)
);

-- Failed logins by account or client address, shared by every process.
CREATE TABLE login_failures (
    key text PRIMARY KEY,
    doc jsonb NOT NULL
);

-- The audit chain: entries are written with the change they describe into
-- audit_pending, and linked into `audit` in order by one linker at a time
-- (an advisory lock), whichever process wrote them.
CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    patient_id uuid,
    entry text NOT NULL
);
CREATE INDEX audit_by_patient ON audit (patient_id, seq) WHERE patient_id IS NOT NULL;

CREATE TABLE audit_pending (
    id bigserial PRIMARY KEY,
    entry jsonb NOT NULL
);

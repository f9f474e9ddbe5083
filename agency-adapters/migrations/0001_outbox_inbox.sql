-- Custos agency adapter, schema version 1: the outbox the agency system writes and the adapter
-- works off, the inbox the adapter writes and the agency system reads, and the adapter's
-- checkpoint. Applied by `custos-adapter migrate` (or at start), inside one transaction.

-- Documents the agency system wants sent. The system INSERTs rows with status 'pending'; the
-- adapter writes everything from `doc_hash` on. (source_id, version) is the idempotency key: a
-- corrected document is a new version.
CREATE TABLE custos_outbox (
    id              bigserial PRIMARY KEY,
    source_id       text        NOT NULL,
    version         bigint      NOT NULL DEFAULT 1,
    doc_type        text        NOT NULL,
    case_number     text        NOT NULL,
    recipients      text[]      NOT NULL DEFAULT '{}',
    copies          text[]      NOT NULL DEFAULT '{}',
    -- The document: a path the adapter can read, or the bytes (exactly one of the two).
    document_path   text,
    document        bytea,
    file_name       text,
    subject_kind    text,
    effective_date  date,
    received_date   date,
    period_start    date,
    period_end      date,
    eseal           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- pending → prepared (hash written ahead) → done | failed
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'prepared', 'done', 'failed')),
    doc_hash        bytea,
    salt            bytea,
    tx_id           bytea,
    height          bigint,
    anchored_at     timestamptz,
    error           text,
    attempts        integer     NOT NULL DEFAULT 0,
    updated_at      timestamptz,
    UNIQUE (source_id, version)
);
CREATE INDEX custos_outbox_open ON custos_outbox (id) WHERE status IN ('pending', 'prepared');
CREATE INDEX custos_outbox_created ON custos_outbox (created_at);

-- What the ledger addresses to the agency. `event_id` is unique: an event is written once.
CREATE TABLE custos_inbox (
    id              bigserial PRIMARY KEY,
    event_id        text        NOT NULL UNIQUE,
    kind            text        NOT NULL
                    CHECK (kind IN ('document', 'receipt', 'grant', 'grant_revoked', 'finding')),
    height          bigint,
    tx_id           bytea,
    block_time      timestamptz,
    doc_hash        bytea,
    doc_type        text,
    from_agency     text,
    case_ref        bytea,
    -- The case number when the agency's own outbox used it (looked up in custos_case_ref).
    case_number     text,
    document_path   text,
    document        bytea,
    size            bigint,
    detail          jsonb,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- For the agency system: set once it has taken the event over.
    processed_at    timestamptz
);
CREATE INDEX custos_inbox_unprocessed ON custos_inbox (id) WHERE processed_at IS NULL;

-- Case numbers the outbox used, by their keyed reference (never leaves this database).
CREATE TABLE custos_case_ref (
    case_ref        bytea PRIMARY KEY,
    case_number     text        NOT NULL
);

-- The inbound stage's checkpoint: the last height delivered.
CREATE TABLE custos_checkpoint (
    name            text PRIMARY KEY,
    height          bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

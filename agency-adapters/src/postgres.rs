//! The PostgreSQL adapter: the agency system inserts rows into `custos_outbox` and reads
//! `custos_inbox` (schema: `migrations/`, applied by [`PgStore::migrate`]).
//!
//! The store keeps the outbox's state (hash written ahead, transaction id, height, failure
//! reason) and the inbound checkpoint in the agency's own database, so they are as durable as
//! its data. Inbox events and the checkpoint are written in one transaction. A session advisory
//! lock keeps a second adapter off the same database.

use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_postgres::{Client, GenericClient, NoTls};
use tracing::{info, warn};

use custos_primitives::types::{DocHash, Salt, TxId};

use crate::error::{AdapterError, Result};
use crate::inbound::{Inbox, InboxEvent};
use crate::outbound::{Anchored, Outbox, Pending, RecordId};
use crate::reconcile::SourceEntry;
use crate::record::{DocumentSource, OutboundRecord, RecordDates, RecordKey};

/// The schema migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "outbox and inbox", include_str!("../migrations/0001_outbox_inbox.sql"))];

/// The advisory lock key of an adapter on its database ("custos-a" as a number).
const LOCK_KEY: i64 = 0x6375_7374_6f73_2d61;

/// Documents up to this size are also stored in the inbox row (`document`), larger ones only
/// as a file (`document_path`).
pub const DEFAULT_INLINE_MAX: u64 = 8 * 1024 * 1024;

/// Connections to the agency's database, re-opened when they break: one shared by the
/// outbound tasks for single statements (it holds the adapter lock), and one for
/// multi-statement transactions, used by one caller at a time.
#[derive(Clone)]
pub struct PgStore {
    config: Arc<tokio_postgres::Config>,
    client: Arc<Mutex<Option<Arc<Client>>>>,
    txn: Arc<Mutex<Option<Client>>>,
    inline_max: u64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("dbname", &self.config.get_dbname()).finish()
    }
}

fn config_err(reason: String) -> AdapterError {
    AdapterError::Config { path: "[postgres] url".into(), reason }
}

impl PgStore {
    /// Connects (`url`: `postgresql://…` or `host=… user=… dbname=…`), takes the adapter lock
    /// and applies missing migrations.
    pub async fn open(url: &str, inline_max: u64) -> Result<Self> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| config_err(e.to_string()))?;
        let store = PgStore { config: Arc::new(config), client: Arc::default(), txn: Arc::default(), inline_max };
        store.client().await?;
        let mut guard = store.txn.lock().await;
        migrate(store.txn_client(&mut guard).await?).await?;
        drop(guard);
        Ok(store)
    }

    async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                warn!(error = %e, "database connection closed");
            }
        });
        Ok(client)
    }

    /// The transaction connection (the caller holds its lock), re-opened if it was closed.
    async fn txn_client<'a>(&self, guard: &'a mut Option<Client>) -> Result<&'a mut Client> {
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = Some(self.connect().await?);
        }
        guard.as_mut().ok_or_else(|| AdapterError::Database("no connection".into()))
    }

    /// The shared connection, re-opened (and the lock re-taken) if it was closed.
    async fn client(&self) -> Result<Arc<Client>> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let client = self.connect().await?;
        let locked: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY]).await?.get(0);
        if !locked {
            return Err(AdapterError::Locked(format!("database {}", self.config.get_dbname().unwrap_or("?"))));
        }
        let client = Arc::new(client);
        *guard = Some(client.clone());
        Ok(client)
    }

    /// The outbox records created on or after `since` (`YYYY-MM-DD`, China Standard Time), for
    /// reconciliation.
    pub async fn entries(&self, since: &str) -> Result<Vec<SourceEntry>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "{SELECT_RECORD_FULL} WHERE created_at >= ($1::text::date::timestamp AT TIME ZONE 'Asia/Shanghai') \
                     ORDER BY id"
                ),
                &[&since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let p = pending_of(r);
                let key = match &p.record {
                    Ok(rec) => rec.key.clone(),
                    Err(_) => {
                        RecordKey { source_id: r.get(1), version: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0) }
                    }
                };
                SourceEntry {
                    id: p.id,
                    key,
                    status: r.get(17),
                    doc_hash: p.prepared,
                    tx_id: r.get::<_, Option<Vec<u8>>>(18).and_then(|b| hash32(&b)).map(TxId),
                    error: r.get(19),
                    record: p.record.ok(),
                }
            })
            .collect())
    }
}

fn hash32(b: &[u8]) -> Option<custos_primitives::crypto::Hash> {
    <[u8; 32]>::try_from(b).ok().map(custos_primitives::crypto::Hash)
}

/// Applies the migrations the database lacks, each in its own transaction, under an advisory
/// transaction lock so two adapters starting together do not race.
pub async fn migrate(client: &mut Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS custos_schema (version integer PRIMARY KEY, name text NOT NULL, \
             applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    for (version, name, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(LOCK_KEY + 1)]).await?;
        let applied = tx.query_opt("SELECT 1 FROM custos_schema WHERE version = $1", &[version]).await?;
        if applied.is_none() {
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO custos_schema (version, name) VALUES ($1, $2)", &[version, name]).await?;
            info!(version, name, "database migrated");
        }
        tx.commit().await?;
    }
    Ok(())
}

const SELECT_RECORD: &str = "SELECT id, source_id, version, doc_type, case_number, recipients, copies, \
     document_path, document, file_name, subject_kind, effective_date::text, received_date::text, \
     period_start::text, period_end::text, eseal, doc_hash FROM custos_outbox";
const SELECT_RECORD_FULL: &str = "SELECT id, source_id, version, doc_type, case_number, recipients, copies, \
     document_path, document, file_name, subject_kind, effective_date::text, received_date::text, \
     period_start::text, period_end::text, eseal, doc_hash, status, tx_id, error FROM custos_outbox";

fn pending_of(r: &tokio_postgres::Row) -> Pending {
    let id: i64 = r.get(0);
    let path: Option<String> = r.get(7);
    let bytes: Option<Vec<u8>> = r.get(8);
    let version: i64 = r.get(2);
    let document = match (path, bytes) {
        (Some(p), None) => Ok(DocumentSource::Path(p.into())),
        (None, Some(b)) => Ok(DocumentSource::Bytes(b)),
        (Some(_), Some(_)) => Err("both document_path and document are set: give one".to_string()),
        (None, None) => Err("no document: set document_path or document".to_string()),
    };
    let record = document.and_then(|document| {
        let version = u64::try_from(version).map_err(|_| format!("version {version} is negative"))?;
        Ok(OutboundRecord {
            key: RecordKey { source_id: r.get(1), version },
            document,
            file_name: r.get(9),
            doc_type: r.get(3),
            case_number: r.get(4),
            recipients: r.get(5),
            copies: r.get(6),
            dates: RecordDates {
                effective: r.get(11),
                received: r.get(12),
                period_start: r.get(13),
                period_end: r.get(14),
            },
            subject_kind: r.get(10),
            eseal: r.get(15),
        })
    });
    let prepared = r.get::<_, Option<Vec<u8>>>(16).and_then(|b| hash32(&b)).map(DocHash);
    Pending { id: id.to_string(), record, prepared }
}

fn row_id(id: &RecordId) -> Result<i64> {
    id.parse().map_err(|_| AdapterError::Database(format!("bad outbox id {id}")))
}

impl Outbox for PgStore {
    async fn pending(&self, max: usize) -> Result<Vec<Pending>> {
        let c = self.client().await?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = c
            .query(&format!("{SELECT_RECORD} WHERE status IN ('pending', 'prepared') ORDER BY id LIMIT $1"), &[&limit])
            .await?;
        Ok(rows.iter().map(pending_of).collect())
    }

    async fn prepared(&self, id: &RecordId, doc_hash: &DocHash, salt: &Salt) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE custos_outbox SET status = 'prepared', doc_hash = $2, salt = $3, attempts = attempts + 1, \
             updated_at = now() WHERE id = $1 AND status IN ('pending', 'prepared')",
            &[&row_id(id)?, &doc_hash.0.0.as_slice(), &salt.0.as_slice()],
        )
        .await?;
        Ok(())
    }

    async fn done(&self, id: &RecordId, a: &Anchored) -> Result<()> {
        let c = self.client().await?;
        let id = row_id(id)?;
        let height = i64::try_from(a.height).unwrap_or(i64::MAX);
        let secs = a.time_ms as f64 / 1000.0;
        // One statement, so one transaction: the shared connection interleaves callers.
        c.execute(
            "WITH u AS (UPDATE custos_outbox SET status = 'done', doc_hash = $2, salt = $3, tx_id = $4, \
             height = $5, anchored_at = to_timestamp($6), error = NULL, updated_at = now() WHERE id = $1 \
             RETURNING case_number) \
             INSERT INTO custos_case_ref (case_ref, case_number) SELECT $7, case_number FROM u \
             ON CONFLICT DO NOTHING",
            &[
                &id,
                &a.doc_hash.0.0.as_slice(),
                &a.salt.0.as_slice(),
                &a.tx_id.0.0.as_slice(),
                &height,
                &secs,
                &a.case_ref.0.0.as_slice(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn failed(&self, id: &RecordId, reason: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE custos_outbox SET status = 'failed', error = $2, updated_at = now() \
             WHERE id = $1 AND status <> 'done'",
            &[&row_id(id)?, &reason],
        )
        .await?;
        Ok(())
    }
}

impl PgStore {
    async fn insert_event(&self, c: &impl GenericClient, ev: &InboxEvent) -> Result<u64> {
        let content = match (&ev.document, ev.size) {
            (Some(p), Some(size)) if size <= self.inline_max => {
                Some(std::fs::read(p).map_err(AdapterError::io("read", p))?)
            }
            _ => None,
        };
        let height = ev.height.and_then(|h| i64::try_from(h).ok());
        let time = ev.time_ms.map(|t| t as f64 / 1000.0);
        let size = ev.size.and_then(|s| i64::try_from(s).ok());
        let n = c
            .execute(
                "INSERT INTO custos_inbox (event_id, kind, height, tx_id, block_time, doc_hash, doc_type, \
                 from_agency, case_ref, case_number, document_path, document, size, detail) \
                 VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8, $9, \
                 (SELECT case_number FROM custos_case_ref WHERE case_ref = $9), $10, $11, $12, $13) \
                 ON CONFLICT (event_id) DO UPDATE SET case_number = EXCLUDED.case_number \
                 WHERE custos_inbox.case_number IS NULL AND EXCLUDED.case_number IS NOT NULL",
                &[
                    &ev.event_id,
                    &ev.kind.as_str(),
                    &height,
                    &ev.tx_id.map(|t| t.0.0.to_vec()),
                    &time,
                    &ev.doc_hash.map(|d| d.0.0.to_vec()),
                    &ev.doc_type,
                    &ev.from.as_ref().map(|a| a.to_string()),
                    &ev.case_ref.map(|r| r.0.0.to_vec()),
                    &ev.document.as_ref().map(|p| p.display().to_string()),
                    &content,
                    &size,
                    &ev.detail,
                ],
            )
            .await?;
        Ok(n)
    }
}

impl Inbox for PgStore {
    async fn checkpoint(&self) -> Result<Option<u64>> {
        let c = self.client().await?;
        let row = c.query_opt("SELECT height FROM custos_checkpoint WHERE name = 'inbound'", &[]).await?;
        Ok(row.and_then(|r| u64::try_from(r.get::<_, i64>(0)).ok()))
    }

    async fn deliver(&self, height: u64, events: &[InboxEvent]) -> Result<()> {
        let h = i64::try_from(height).unwrap_or(i64::MAX);
        let mut guard = self.txn.lock().await;
        let client = self.txn_client(&mut guard).await?;
        let tx = client.transaction().await?;
        for ev in events {
            self.insert_event(&tx, ev).await?;
        }
        tx.execute(
            "INSERT INTO custos_checkpoint (name, height) VALUES ('inbound', $1) \
             ON CONFLICT (name) DO UPDATE SET height = EXCLUDED.height, updated_at = now()",
            &[&h],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deliver_findings(&self, events: &[InboxEvent]) -> Result<usize> {
        let c = self.client().await?;
        let mut new = 0;
        for ev in events {
            new += self.insert_event(c.as_ref(), ev).await? as usize;
        }
        Ok(new)
    }
}

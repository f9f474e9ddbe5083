//! The console's audit log: one JSON line per sign-in attempt and per signed-in request, naming
//! the person (member certificate), the page and the outcome. Appended and flushed per line; a
//! request whose line cannot be written is not served.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow};

/// The log file.
#[derive(Debug)]
pub struct AuditLog {
    file: Mutex<File>,
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl AuditLog {
    /// Opens (creates) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog { file: Mutex::new(file) })
    }

    /// Appends `fields` with the time.
    pub fn write(&self, mut fields: serde_json::Value) -> Result<()> {
        if let Some(o) = fields.as_object_mut() {
            o.insert("time_ms".into(), now_ms().into());
        }
        let mut line = serde_json::to_vec(&fields)?;
        line.push(b'\n');
        let mut f = self.file.lock().map_err(|_| anyhow!("the audit log lock is poisoned"))?;
        f.write_all(&line).and_then(|()| f.flush()).map_err(|e| anyhow!("cannot write the audit log: {e}"))
    }
}

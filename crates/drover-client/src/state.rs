//! Client state on disk: one JSON file per allocation under
//! `<data_dir>/client/state/`, written atomically (temp file + rename), holding
//! what a restarted client needs to re-attach to running tasks instead of
//! starting them twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use drover_types::{Allocation, TaskState};

use crate::driver::HandleState;
use crate::error::ClientError;

/// Everything kept about one allocation.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PersistedAlloc {
    /// The allocation as last received, with its job.
    pub alloc: Allocation,
    /// Client status last computed.
    pub client_status: String,
    /// Client description last computed.
    pub client_description: String,
    /// Per task.
    pub tasks: BTreeMap<String, PersistedTask>,
}

/// Everything kept about one task.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct PersistedTask {
    /// The task state as reported.
    pub state: TaskState,
    /// The driver handle of the running task, if one runs.
    pub handle: Option<HandleState>,
    /// Times (Unix ns) of restarts counted by the restart policy.
    pub restart_times: Vec<i64>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// Opens (creating) `<data_dir>/client/state`.
    pub fn open(data_dir: &Path) -> Result<StateStore, ClientError> {
        let dir = data_dir.join("client").join("state");
        std::fs::create_dir_all(&dir).map_err(|e| ClientError::io(&dir, e))?;
        Ok(StateStore { dir })
    }

    fn path(&self, alloc_id: &str) -> PathBuf {
        self.dir.join(format!("{alloc_id}.json"))
    }

    /// Saves one allocation's state.
    pub fn save(&self, persisted: &PersistedAlloc) -> Result<(), ClientError> {
        let path = self.path(&persisted.alloc.id);
        let bytes = serde_json::to_vec(persisted)
            .map_err(|e| ClientError::Decode { path: path.clone(), message: e.to_string() })?;
        write_atomic(&path, &bytes).map_err(|e| ClientError::io(&path, e))
    }

    /// Forgets one allocation.
    pub fn remove(&self, alloc_id: &str) {
        let _ = std::fs::remove_file(self.path(alloc_id));
    }

    /// Every saved allocation; undecodable files are logged and skipped.
    pub fn load_all(&self) -> Result<Vec<PersistedAlloc>, ClientError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| ClientError::io(&self.dir, e))?;
        let mut allocs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let decoded = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice::<PersistedAlloc>(&bytes).map_err(|e| e.to_string()));
            match decoded {
                Ok(persisted) if !persisted.alloc.id.is_empty() => allocs.push(persisted),
                Ok(_) => tracing::warn!(path = %path.display(), "ignoring alloc state without an ID"),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable alloc state"),
            }
        }
        Ok(allocs)
    }
}

/// Writes `bytes` to `path` so readers see the old or the new content, never
/// a part: a temp file in the same dir, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_allocs_load_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(tmp.path()).expect("open");
        let mut persisted = PersistedAlloc::default();
        persisted.alloc.id = "a1".to_string();
        persisted.tasks.insert("t".to_string(), PersistedTask { restart_times: vec![5], ..PersistedTask::default() });
        store.save(&persisted).expect("save");
        std::fs::write(tmp.path().join("client/state/bad.json"), b"{").expect("write");
        let loaded = store.load_all().expect("load");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].tasks["t"].restart_times, vec![5]);
        store.remove("a1");
        assert!(store.load_all().expect("load").is_empty());
    }
}

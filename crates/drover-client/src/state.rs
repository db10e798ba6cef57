//! Client state on disk: what a restarted client needs to re-attach to running
//! tasks instead of starting them twice, kept in one append-only journal,
//! `<data_dir>/client/state/allocs.jsonl`.
//!
//! Each save appends one JSON line holding the allocation's whole state, each
//! removal a tombstone line; the newest line of an allocation wins. Appending
//! costs one `write` and creates no file, where a file per allocation written
//! with temp file + rename created and freed an inode per save (the client's
//! biggest file-system cost when it runs many short tasks). The journal is
//! rewritten with only the live allocations when it opens and whenever it grows
//! well past them. A torn last line (the machine died mid-write) is ignored.
//! Nothing is fsynced: the journal outlives a client crash or kill through the
//! page cache, and a machine crash ends the tasks it describes anyway.
//!
//! Per-allocation `<alloc_id>.json` files of older clients are imported on
//! open and then deleted.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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

/// The journal's file name in the state dir.
const JOURNAL_FILE: &str = "allocs.jsonl";
/// The journal is not compacted below this size.
const COMPACT_MIN_BYTES: u64 = 4 << 20;
/// The journal is compacted once it is this many times the size of its live lines.
const COMPACT_RATIO: u64 = 4;

/// The client's allocation state: a handle on the journal, shared by every
/// alloc runner (saves from many runners append under one lock).
#[derive(Debug, Clone)]
pub struct StateStore {
    journal: Arc<Mutex<Journal>>,
}

/// One journal line, as written.
#[derive(Serialize)]
enum RecordRef<'a> {
    Put(&'a PersistedAlloc),
    Remove(&'a str),
}

/// One journal line, as read back (the same encoding as [`RecordRef`]).
#[derive(Deserialize)]
enum Record {
    Put(Box<PersistedAlloc>),
    Remove(String),
}

#[derive(Debug)]
struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes in the file.
    len: u64,
    /// Newest `Put` line (newline included) of each live allocation.
    live: HashMap<String, Vec<u8>>,
    /// Sum of the lengths of the `live` lines.
    live_bytes: u64,
    /// Compaction threshold (a field so tests can lower it).
    compact_min_bytes: u64,
}

impl StateStore {
    /// Opens (creating) `<data_dir>/client/state`: replays the journal,
    /// imports state files of older clients and compacts.
    pub fn open(data_dir: &Path) -> Result<StateStore, ClientError> {
        let dir = data_dir.join("client").join("state");
        std::fs::create_dir_all(&dir).map_err(|e| ClientError::io(&dir, e))?;
        let path = dir.join(JOURNAL_FILE);
        let mut live = match std::fs::read(&path) {
            Ok(bytes) => replay(&path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(ClientError::io(&path, e)),
        };
        let legacy_files = import_legacy_files(&dir, &mut live)?;
        let live_bytes = live.values().map(|line| line.len() as u64).sum();
        let (file, len) = rewrite(&path, &live)?;
        for legacy in legacy_files {
            let _ = std::fs::remove_file(legacy);
        }
        let journal = Journal { dir, path, file, len, live, live_bytes, compact_min_bytes: COMPACT_MIN_BYTES };
        Ok(StateStore { journal: Arc::new(Mutex::new(journal)) })
    }

    /// Saves one allocation's state.
    pub fn save(&self, persisted: &PersistedAlloc) -> Result<(), ClientError> {
        let mut line = serde_json::to_vec(&RecordRef::Put(persisted)).map_err(|e| ClientError::Decode {
            path: self.lock().path.clone(),
            message: format!("encoding the state of allocation {}: {e}", persisted.alloc.id),
        })?;
        line.push(b'\n');
        let mut journal = self.lock();
        journal.append(&line)?;
        journal.live_bytes += line.len() as u64;
        if let Some(old) = journal.live.insert(persisted.alloc.id.clone(), line) {
            journal.live_bytes -= old.len() as u64;
        }
        journal.compact_if_large();
        Ok(())
    }

    /// Forgets one allocation.
    pub fn remove(&self, alloc_id: &str) {
        let mut journal = self.lock();
        let Some(old) = journal.live.remove(alloc_id) else { return };
        journal.live_bytes -= old.len() as u64;
        let mut line = match serde_json::to_vec(&RecordRef::Remove(alloc_id)) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(alloc_id, error = %e, "error encoding an alloc state removal");
                return;
            }
        };
        line.push(b'\n');
        if let Err(e) = journal.append(&line) {
            tracing::warn!(alloc_id, error = %e, "error recording an alloc state removal");
        }
        journal.compact_if_large();
    }

    /// Every saved allocation.
    pub fn load_all(&self) -> Result<Vec<PersistedAlloc>, ClientError> {
        let journal = self.lock();
        let mut allocs = Vec::with_capacity(journal.live.len());
        for line in journal.live.values() {
            // Every live line decoded when it was replayed or was encoded by us.
            match serde_json::from_slice::<Record>(line) {
                Ok(Record::Put(persisted)) => allocs.push(*persisted),
                Ok(Record::Remove(_)) => {}
                Err(e) => {
                    return Err(ClientError::Decode { path: journal.path.clone(), message: e.to_string() });
                }
            }
        }
        Ok(allocs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        // A panic while holding the lock leaves at worst a torn last line,
        // which `append` truncates away before writing again.
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Journal {
    /// Appends one line; on failure cuts the file back so no torn line stays
    /// in front of the next one.
    fn append(&mut self, line: &[u8]) -> Result<(), ClientError> {
        match self.file.write_all(line) {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(ClientError::io(&self.path, e))
            }
        }
    }

    fn compact_if_large(&mut self) {
        if self.len < self.compact_min_bytes || self.len < self.live_bytes.saturating_mul(COMPACT_RATIO) {
            return;
        }
        match rewrite(&self.path, &self.live) {
            Ok((file, len)) => {
                self.file = file;
                self.len = len;
            }
            // Appending to the old journal stays correct; the next save retries.
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "error compacting the client state journal")
            }
        }
    }
}

/// The live lines of a journal's bytes: the newest `Put` per allocation
/// without a later `Remove`. Undecodable lines are logged and skipped; so is a
/// last line without its newline (a torn write).
fn replay(path: &Path, bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut live = HashMap::new();
    let mut lines = bytes.split_inclusive(|byte| *byte == b'\n').peekable();
    while let Some(line) = lines.next() {
        if lines.peek().is_none() && !line.ends_with(b"\n") {
            tracing::warn!(path = %path.display(), "ignoring a torn last line in the client state journal");
            break;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(Record::Put(persisted)) if !persisted.alloc.id.is_empty() => {
                live.insert(persisted.alloc.id.clone(), line.to_vec());
            }
            Ok(Record::Put(_)) => tracing::warn!(path = %path.display(), "ignoring alloc state without an ID"),
            Ok(Record::Remove(alloc_id)) => {
                live.remove(&alloc_id);
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable alloc state line"),
        }
    }
    live
}

/// Adds the `<alloc_id>.json` files of older clients to `live` (the journal
/// wins where both know an allocation) and returns every such file, to delete
/// once the journal holds them.
fn import_legacy_files(dir: &Path, live: &mut HashMap<String, Vec<u8>>) -> Result<Vec<PathBuf>, ClientError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ClientError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let decoded = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<PersistedAlloc>(&bytes).map_err(|e| e.to_string()));
        match decoded {
            Ok(persisted) if !persisted.alloc.id.is_empty() => {
                if !live.contains_key(&persisted.alloc.id) {
                    let mut line = serde_json::to_vec(&RecordRef::Put(&persisted))
                        .map_err(|e| ClientError::Decode { path: path.clone(), message: e.to_string() })?;
                    line.push(b'\n');
                    live.insert(persisted.alloc.id.clone(), line);
                }
                files.push(path);
            }
            Ok(_) => tracing::warn!(path = %path.display(), "ignoring alloc state without an ID"),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable alloc state"),
        }
    }
    Ok(files)
}

/// Replaces the journal at `path` by one holding only `live` (temp file, then
/// rename) and returns it open for appending, with its length.
fn rewrite(path: &Path, live: &HashMap<String, Vec<u8>>) -> Result<(File, u64), ClientError> {
    let bytes: Vec<u8> = live.values().flatten().copied().collect();
    write_atomic(path, &bytes).map_err(|e| ClientError::io(path, e))?;
    let file = OpenOptions::new().append(true).open(path).map_err(|e| ClientError::io(path, e))?;
    Ok((file, bytes.len() as u64))
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

    fn alloc(id: &str, restart_times: Vec<i64>) -> PersistedAlloc {
        let mut persisted = PersistedAlloc::default();
        persisted.alloc.id = id.to_string();
        persisted.tasks.insert("t".to_string(), PersistedTask { restart_times, ..PersistedTask::default() });
        persisted
    }

    /// `(alloc id, restart times of task t)` of every saved allocation, sorted.
    fn loaded(store: &StateStore) -> Vec<(String, Vec<i64>)> {
        let mut allocs: Vec<(String, Vec<i64>)> = store
            .load_all()
            .expect("load")
            .into_iter()
            .map(|p| (p.alloc.id.clone(), p.tasks.get("t").map(|t| t.restart_times.clone()).unwrap_or_default()))
            .collect();
        allocs.sort();
        allocs
    }

    fn journal_len(store: &StateStore) -> u64 {
        store.lock().len
    }

    #[test]
    fn saved_allocs_load_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(tmp.path()).expect("open");
        store.save(&alloc("a1", vec![5])).expect("save");
        assert_eq!(loaded(&store), vec![("a1".to_string(), vec![5])]);
        store.remove("a1");
        assert!(loaded(&store).is_empty());
    }

    #[test]
    fn reopening_replays_the_newest_state_of_each_alloc() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(tmp.path()).expect("open");
        store.save(&alloc("a1", vec![1])).expect("save");
        store.save(&alloc("a2", vec![2])).expect("save");
        store.save(&alloc("a1", vec![1, 3])).expect("save");
        store.save(&alloc("a3", vec![4])).expect("save");
        store.remove("a3");
        drop(store);
        let reopened = StateStore::open(tmp.path()).expect("reopen");
        assert_eq!(loaded(&reopened), vec![("a1".to_string(), vec![1, 3]), ("a2".to_string(), vec![2])]);
        // Opening compacted the journal to the two live lines.
        let text = std::fs::read_to_string(tmp.path().join("client/state").join(JOURNAL_FILE)).expect("journal");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn torn_and_garbled_lines_are_skipped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(tmp.path()).expect("open");
        store.save(&alloc("a1", vec![1])).expect("save");
        drop(store);
        let path = tmp.path().join("client/state").join(JOURNAL_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).expect("open journal");
        file.write_all(b"not json\n{\"Put\":{\"alloc\":{\"ID\":\"a2\"").expect("write garbage");
        drop(file);
        let reopened = StateStore::open(tmp.path()).expect("reopen");
        assert_eq!(loaded(&reopened), vec![("a1".to_string(), vec![1])]);
        // Appends after the torn line stay readable.
        reopened.save(&alloc("a2", vec![2])).expect("save");
        drop(reopened);
        let again = StateStore::open(tmp.path()).expect("reopen");
        assert_eq!(loaded(&again), vec![("a1".to_string(), vec![1]), ("a2".to_string(), vec![2])]);
    }

    #[test]
    fn the_journal_is_compacted_when_it_outgrows_the_live_allocs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StateStore::open(tmp.path()).expect("open");
        store.lock().compact_min_bytes = 1;
        store.save(&alloc("keep", vec![7])).expect("save");
        let one_line = journal_len(&store);
        for idx in 0..50 {
            let id = format!("gone-{idx}");
            store.save(&alloc(&id, vec![idx])).expect("save");
            store.remove(&id);
        }
        // 50 saves and removals went through, yet the file stays a few lines long.
        assert!(journal_len(&store) < one_line * 6, "{} vs {one_line}", journal_len(&store));
        drop(store);
        let reopened = StateStore::open(tmp.path()).expect("reopen");
        assert_eq!(loaded(&reopened), vec![("keep".to_string(), vec![7])]);
    }

    #[test]
    fn state_files_of_older_clients_are_imported() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("client/state");
        std::fs::create_dir_all(&dir).expect("dir");
        let old = serde_json::to_vec(&alloc("old", vec![9])).expect("encode");
        std::fs::write(dir.join("old.json"), old).expect("write");
        std::fs::write(dir.join("bad.json"), b"{").expect("write");
        let store = StateStore::open(tmp.path()).expect("open");
        assert_eq!(loaded(&store), vec![("old".to_string(), vec![9])]);
        assert!(!dir.join("old.json").exists(), "imported file is deleted");
        drop(store);
        let reopened = StateStore::open(tmp.path()).expect("reopen");
        assert_eq!(loaded(&reopened), vec![("old".to_string(), vec![9])]);
    }
}

//! Ready-made directory trees for new allocations and tasks.
//!
//! An allocation's directories (`alloc/{logs,data,tmp}` and, per task,
//! `{local,secrets,tmp}`) take about a dozen `mkdir`s. On ext4 each costs
//! ~40 µs, more under load, and they sit on the path from a placement to the
//! task's first instruction. [`DirPool`] keeps a few trees made ahead under
//! `<alloc_dir>/.spare/` and moves one into place with a single rename
//! (~8 µs); a background thread makes the next ones. When the pool is empty,
//! the destination exists (a restored allocation) or the rename fails, the
//! directories are made in place instead, so the result is always the same.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Where spare trees wait, under the client's alloc dir.
pub(crate) const SPARE_DIR: &str = ".spare";
/// Spare trees kept per layout.
const SPARES_PER_LAYOUT: usize = 8;
/// Pause after failing to make a spare tree (a full disk, say).
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// The directory trees the pool makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// An allocation's root: `alloc/{logs,data,tmp}`.
    Alloc,
    /// A task's dir: `{local,secrets,tmp}`.
    Task,
}

impl Layout {
    /// The subdirectories, parents first.
    fn subdirs(self) -> &'static [&'static str] {
        match self {
            Layout::Alloc => &["alloc", "alloc/logs", "alloc/data", "alloc/tmp"],
            Layout::Task => &["local", "secrets", "tmp"],
        }
    }

    fn index(self) -> usize {
        match self {
            Layout::Alloc => 0,
            Layout::Task => 1,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Layout::Alloc => "alloc",
            Layout::Task => "task",
        }
    }
}

/// Makes `layout`'s subdirectories under `dest` (and `dest` itself), keeping
/// any that exist. The error names the directory that could not be made.
pub(crate) fn make_in_place(layout: Layout, dest: &Path) -> io::Result<()> {
    let failed =
        |dir: &Path, e: io::Error| io::Error::new(e.kind(), format!("failed to create {}: {e}", dir.display()));
    std::fs::create_dir_all(dest).map_err(|e| failed(dest, e))?;
    for sub in layout.subdirs() {
        let dir = dest.join(sub);
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(failed(&dir, e)),
            _ => {}
        }
    }
    Ok(())
}

/// A pool of spare directory trees; see the module docs. Dropping it stops
/// the background thread (the spares left on disk are cleared at the next
/// start).
pub(crate) struct DirPool {
    shared: Arc<Shared>,
}

struct Shared {
    spare_dir: PathBuf,
    spares: Mutex<Spares>,
    changed: Condvar,
}

#[derive(Default)]
struct Spares {
    /// Ready trees per layout (see [`Layout::index`]).
    ready: [Vec<PathBuf>; 2],
    /// Names the next tree.
    next_name: u64,
    /// The pool was dropped.
    closed: bool,
}

impl DirPool {
    /// A pool keeping spares under `<alloc_dir>/.spare/` (cleared first: a
    /// tree left by an earlier process may be half made). If that dir cannot
    /// be made, the pool keeps no spares and [`DirPool::place`] makes every
    /// tree in place.
    pub fn start(alloc_dir: &Path) -> DirPool {
        let spare_dir = alloc_dir.join(SPARE_DIR);
        let shared =
            Arc::new(Shared { spare_dir: spare_dir.clone(), spares: Mutex::default(), changed: Condvar::new() });
        let _ = std::fs::remove_dir_all(&spare_dir);
        let usable = std::fs::create_dir_all(&spare_dir).is_ok();
        if usable {
            let filler = shared.clone();
            let spawned = std::thread::Builder::new().name("drover-dir-pool".to_string()).spawn(move || filler.fill());
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start the directory pool thread; directories are made on demand");
            }
        } else {
            tracing::warn!(dir = %spare_dir.display(), "could not make the spare directory; directories are made on demand");
        }
        DirPool { shared }
    }

    /// Puts a `layout` tree at `dest` (which must not exist yet to use a
    /// spare): a spare renamed into place, or one made in place (see
    /// [`make_in_place`] for the error).
    pub fn place(&self, layout: Layout, dest: &Path) -> io::Result<()> {
        if std::fs::symlink_metadata(dest).is_err()
            && let Some(spare) = self.shared.take(layout)
        {
            if std::fs::rename(&spare, dest).is_ok() {
                return Ok(());
            }
            // The spare is no use (or the destination appeared): make it in place.
            let _ = std::fs::remove_dir_all(&spare);
        }
        make_in_place(layout, dest)
    }
}

impl Drop for DirPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Spares> {
        self.spares.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, layout: Layout) -> Option<PathBuf> {
        let spare = self.lock().ready[layout.index()].pop();
        self.changed.notify_all();
        spare
    }

    /// The background thread: keeps every layout topped up until closed.
    fn fill(&self) {
        loop {
            let (layout, path) = {
                let mut spares = self.lock();
                loop {
                    if spares.closed {
                        return;
                    }
                    let short = [Layout::Alloc, Layout::Task]
                        .into_iter()
                        .find(|layout| spares.ready[layout.index()].len() < SPARES_PER_LAYOUT);
                    if let Some(layout) = short {
                        spares.next_name += 1;
                        let path = self.spare_dir.join(format!("{}-{}", layout.prefix(), spares.next_name));
                        break (layout, path);
                    }
                    spares = self.changed.wait(spares).unwrap_or_else(PoisonError::into_inner);
                }
            };
            match make_in_place(layout, &path) {
                Ok(()) => self.lock().ready[layout.index()].push(path),
                Err(e) => {
                    tracing::warn!(error = %e, "could not make a spare directory tree; retrying later");
                    let _ = std::fs::remove_dir_all(&path);
                    let spares = self.lock();
                    if !spares.closed {
                        let _ = self.changed.wait_timeout(spares, RETRY_PAUSE);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subdirs_of(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = walk(dir, dir);
        names.sort();
        names
    }

    fn walk(root: &Path, dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.push(path.strip_prefix(root).expect("under root").display().to_string());
                out.extend(walk(root, &path));
            }
        }
        out
    }

    fn wait_for_spares(dir: &Path, at_least: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir(dir.join(SPARE_DIR)).map(|entries| entries.count()).unwrap_or(0) < at_least {
            assert!(std::time::Instant::now() < deadline, "spares were not made");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The last one counted may still be being made.
        std::thread::sleep(Duration::from_millis(50));
    }

    #[test]
    fn a_placed_tree_has_the_layout_whether_spare_or_made_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = DirPool::start(dir.path());
        wait_for_spares(dir.path(), 2 * SPARES_PER_LAYOUT);
        let alloc = dir.path().join("a1");
        pool.place(Layout::Alloc, &alloc).expect("placed");
        assert_eq!(subdirs_of(&alloc), ["alloc", "alloc/data", "alloc/logs", "alloc/tmp"]);
        pool.place(Layout::Task, &alloc.join("web")).expect("placed");
        assert_eq!(subdirs_of(&alloc.join("web")), ["local", "secrets", "tmp"]);

        // Made in place when the destination exists (a restored allocation): nothing is lost.
        std::fs::write(alloc.join("alloc/data/kept"), b"x").expect("write");
        pool.place(Layout::Alloc, &alloc).expect("placed again");
        assert_eq!(std::fs::read(alloc.join("alloc/data/kept")).expect("kept"), b"x");

        // And when the pool has no spare dir at all.
        let no_spares = tempfile::tempdir().expect("tempdir");
        std::fs::write(no_spares.path().join(SPARE_DIR), b"a file where the spare dir goes").expect("write");
        let pool = DirPool::start(no_spares.path());
        let task = no_spares.path().join("a2").join("t");
        std::fs::create_dir_all(task.parent().expect("parent")).expect("mkdir");
        pool.place(Layout::Task, &task).expect("made in place");
        assert_eq!(subdirs_of(&task), ["local", "secrets", "tmp"]);

        // A tree that cannot be made says which directory, once.
        let blocked = no_spares.path().join("a3");
        std::fs::write(&blocked, b"a file where the alloc dir goes").expect("write");
        let err = pool.place(Layout::Alloc, &blocked).expect_err("a file is in the way").to_string();
        assert!(err.starts_with(&format!("failed to create {}", blocked.display())), "{err}");
        assert_eq!(err.matches("failed to create").count(), 1, "{err}");
    }

    #[test]
    fn the_pool_tops_itself_up_and_clears_leftovers_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(SPARE_DIR).join("alloc-999/half")).expect("leftover");
        let pool = DirPool::start(dir.path());
        wait_for_spares(dir.path(), 2 * SPARES_PER_LAYOUT);
        assert!(!dir.path().join(SPARE_DIR).join("alloc-999").exists(), "leftover cleared");
        for n in 0..3 {
            pool.place(Layout::Alloc, &dir.path().join(format!("a{n}"))).expect("placed");
        }
        wait_for_spares(dir.path(), 2 * SPARES_PER_LAYOUT);
        let count = std::fs::read_dir(dir.path().join(SPARE_DIR)).expect("spare dir").count();
        assert_eq!(count, 2 * SPARES_PER_LAYOUT, "topped up again, no more");
    }
}

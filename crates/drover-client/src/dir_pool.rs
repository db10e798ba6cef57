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
//!
//! The pool also collects the directories of finished allocations, as a
//! Nomad client does: [`DirPool::retire`] queues one, and the newest
//! `gc_max_allocs` are kept (for `drover alloc logs`); older ones are
//! emptied back to their bare layout and reused as spares while the pool is
//! short, or removed. Reusing a tree costs no inode or directory block, which
//! making and removing nine directories per allocation does (see
//! docs/BENCHMARKS.md, e2e_throughput). A tree the task changed in ways emptying
//! cannot undo (a layout directory replaced or its mode changed) is removed
//! instead.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::os::unix::fs::PermissionsExt;
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
    /// Finished allocations' trees kept before they are collected.
    keep_retired: usize,
    /// The mode new directories get (the spare dir's, made under the same
    /// umask): a reused layout directory must still have it.
    dir_mode: u32,
    spares: Mutex<Spares>,
    changed: Condvar,
}

#[derive(Default)]
struct Spares {
    /// Ready trees per layout (see [`Layout::index`]).
    ready: [Vec<PathBuf>; 2],
    /// Names the next tree.
    next_name: u64,
    /// Finished allocations' roots, oldest first.
    retired: VecDeque<PathBuf>,
    /// The pool was dropped.
    closed: bool,
}

impl DirPool {
    /// A pool keeping spares under `<alloc_dir>/.spare/` (cleared first: a
    /// tree left by an earlier process may be half made). If that dir cannot
    /// be made, the pool keeps no spares and [`DirPool::place`] makes every
    /// tree in place.
    /// It keeps the newest `keep_retired` finished allocations' trees.
    pub(crate) fn start(alloc_dir: &Path, keep_retired: usize) -> DirPool {
        let spare_dir = alloc_dir.join(SPARE_DIR);
        let _ = std::fs::remove_dir_all(&spare_dir);
        let usable = std::fs::create_dir_all(&spare_dir).is_ok();
        let dir_mode = std::fs::metadata(&spare_dir).map_or(0o755, |meta| meta.permissions().mode() & 0o7777);
        let shared = Arc::new(Shared {
            spare_dir: spare_dir.clone(),
            keep_retired,
            dir_mode,
            spares: Mutex::default(),
            changed: Condvar::new(),
        });
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
    pub(crate) fn place(&self, layout: Layout, dest: &Path) -> io::Result<()> {
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

    /// Queues a finished allocation's root for collection once it is no
    /// longer among the newest kept.
    pub(crate) fn retire(&self, alloc_root: PathBuf) {
        self.shared.lock().retired.push_back(alloc_root);
        self.shared.changed.notify_all();
    }

    /// Queues, oldest first, the allocation roots under the alloc dir that
    /// belong to none of `known` (left by allocations an earlier client
    /// process finished and forgot). Call before any new allocation is
    /// placed: every other root counts as an orphan.
    pub(crate) fn retire_orphans(&self, known: &HashSet<String>) {
        let Some(alloc_dir) = self.shared.spare_dir.parent() else { return };
        let Ok(entries) = std::fs::read_dir(alloc_dir) else { return };
        let mut orphans: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name != SPARE_DIR && !known.contains(name.as_ref())
            })
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .map(|entry| {
                let modified = entry.metadata().and_then(|meta| meta.modified()).unwrap_or(std::time::UNIX_EPOCH);
                (modified, entry.path())
            })
            .collect();
        orphans.sort();
        let mut spares = self.shared.lock();
        for (_, path) in orphans.into_iter().rev() {
            spares.retired.push_front(path);
        }
        drop(spares);
        self.shared.changed.notify_all();
    }
}

/// What the pool's thread does next.
enum Work {
    /// Make a spare tree of this layout at this path.
    Make(Layout, PathBuf),
    /// Collect a finished allocation's root: reuse its trees while spares
    /// are short, else remove it.
    Collect(PathBuf),
}

impl Drop for DirPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

impl Spares {
    /// Whether `layout`'s spares are short.
    fn short_of(&self, layout: Layout) -> bool {
        self.ready[layout.index()].len() < SPARES_PER_LAYOUT
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

    /// The background thread: collects retired trees beyond the kept ones
    /// and keeps every layout topped up until closed.
    fn fill(&self) {
        while let Some(work) = self.next_work() {
            match work {
                Work::Collect(root) => self.collect(&root),
                Work::Make(layout, path) => self.make_spare(layout, path),
            }
        }
    }

    /// Waits for the next piece of work; `None` once the pool is dropped.
    fn next_work(&self) -> Option<Work> {
        let mut spares = self.lock();
        loop {
            if spares.closed {
                return None;
            }
            if spares.retired.len() > self.keep_retired
                && let Some(root) = spares.retired.pop_front()
            {
                return Some(Work::Collect(root));
            }
            if let Some(layout) = [Layout::Alloc, Layout::Task].into_iter().find(|layout| spares.short_of(*layout)) {
                return Some(Work::Make(layout, self.next_spare_path(&mut spares, layout)));
            }
            spares = self.changed.wait(spares).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn make_spare(&self, layout: Layout, path: PathBuf) {
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

    fn next_spare_path(&self, spares: &mut Spares, layout: Layout) -> PathBuf {
        spares.next_name += 1;
        self.spare_dir.join(format!("{}-{}", layout.prefix(), spares.next_name))
    }

    /// Whether `layout`'s spares are short.
    fn short_of(&self, layout: Layout) -> bool {
        self.lock().short_of(layout)
    }

    /// Collects a finished allocation's root: its task trees, then the
    /// root itself, are emptied into spares while the pool is short of them;
    /// whatever is not reused is removed.
    fn collect(&self, root: &Path) {
        if let Ok(entries) = std::fs::read_dir(root) {
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_name() == "alloc" {
                    continue;
                }
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    if !(self.short_of(Layout::Task) && self.reuse(Layout::Task, &path)) {
                        let _ = std::fs::remove_dir_all(&path);
                    }
                } else {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if !(self.short_of(Layout::Alloc) && self.reuse(Layout::Alloc, root)) {
            let _ = std::fs::remove_dir_all(root);
        }
    }

    /// Empties the tree at `dir` back to `layout` and moves it into the
    /// spares; false (the tree left for removal) if it cannot be.
    fn reuse(&self, layout: Layout, dir: &Path) -> bool {
        let subdirs: HashSet<PathBuf> = layout.subdirs().iter().map(PathBuf::from).collect();
        let mut kept = 0;
        if !self.has_mode(dir) || !self.empty_to_layout(dir, Path::new(""), &subdirs, &mut kept) {
            return false;
        }
        // A layout directory the task removed is made again.
        if kept < subdirs.len() && make_in_place(layout, dir).is_err() {
            return false;
        }
        let path = self.next_spare_path(&mut self.lock(), layout);
        if std::fs::rename(dir, &path).is_err() {
            return false;
        }
        self.lock().ready[layout.index()].push(path);
        true
    }

    /// Whether `path` is a real directory with the mode new ones get.
    fn has_mode(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path)
            .is_ok_and(|meta| meta.is_dir() && meta.permissions().mode() & 0o7777 == self.dir_mode)
    }

    /// Removes everything under `dir` (at `relative` in the layout) but the
    /// layout's directories, themselves emptied and counted in `kept`; false
    /// if anything stays.
    fn empty_to_layout(&self, dir: &Path, relative: &Path, subdirs: &HashSet<PathBuf>, kept: &mut usize) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else { return false };
        let mut emptied = true;
        for entry in entries {
            let Ok(entry) = entry else { return false };
            let path = entry.path();
            let inner = relative.join(entry.file_name());
            let removed = if subdirs.contains(&inner) && self.has_mode(&path) {
                *kept += 1;
                self.empty_to_layout(&path, &inner, subdirs, kept)
            } else if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                std::fs::remove_dir_all(&path).is_ok()
            } else {
                std::fs::remove_file(&path).is_ok()
            };
            emptied &= removed;
        }
        emptied
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
        let pool = DirPool::start(dir.path(), 0);
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
        let pool = DirPool::start(no_spares.path(), 0);
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
        let pool = DirPool::start(dir.path(), 0);
        wait_for_spares(dir.path(), 2 * SPARES_PER_LAYOUT);
        assert!(!dir.path().join(SPARE_DIR).join("alloc-999").exists(), "leftover cleared");
        for n in 0..3 {
            pool.place(Layout::Alloc, &dir.path().join(format!("a{n}"))).expect("placed");
        }
        wait_for_spares(dir.path(), 2 * SPARES_PER_LAYOUT);
        let count = std::fs::read_dir(dir.path().join(SPARE_DIR)).expect("spare dir").count();
        assert_eq!(count, 2 * SPARES_PER_LAYOUT, "topped up again, no more");
    }

    /// A pool's shared part with no spares and no thread, for driving
    /// collection by hand.
    fn bare(alloc_dir: &Path) -> Shared {
        let spare_dir = alloc_dir.join(SPARE_DIR);
        std::fs::create_dir_all(&spare_dir).expect("spare dir");
        let dir_mode = std::fs::metadata(&spare_dir).expect("spare dir").permissions().mode() & 0o7777;
        Shared { spare_dir, keep_retired: 0, dir_mode, spares: Mutex::default(), changed: Condvar::new() }
    }

    fn inode(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::symlink_metadata(path).expect("exists"))
    }

    /// Every entry under `dir`, files included, sorted.
    fn everything_under(dir: &Path) -> Vec<String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
            let path = entry.path();
            names.push(path.strip_prefix(dir).expect("under dir").display().to_string());
            if entry.file_type().expect("type").is_dir() {
                names.extend(
                    everything_under(&path)
                        .into_iter()
                        .map(|inner| format!("{}/{inner}", entry.file_name().to_string_lossy())),
                );
            }
        }
        names.sort();
        names
    }

    #[test]
    fn a_collected_tree_is_emptied_into_the_spares_and_odd_ones_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = bare(dir.path());
        let root = dir.path().join("a1");
        make_in_place(Layout::Alloc, &root).expect("alloc tree");
        make_in_place(Layout::Task, &root.join("web")).expect("task tree");
        make_in_place(Layout::Task, &root.join("odd")).expect("task tree");
        // What a task leaves behind: files, deeper dirs, logs.
        std::fs::write(root.join("web/exit.json"), b"{}").expect("write");
        std::fs::create_dir_all(root.join("web/local/deep/er")).expect("mkdir");
        std::fs::write(root.join("web/local/deep/er/f"), b"x").expect("write");
        std::fs::write(root.join("alloc/logs/web.stdout.0"), b"out").expect("write");
        std::fs::write(root.join("stray"), b"x").expect("write");
        // A layout dir replaced by a symlink: removed, never followed.
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("keep"), b"x").expect("write");
        std::fs::remove_dir(root.join("web/secrets")).expect("rmdir");
        std::os::unix::fs::symlink(outside.path(), root.join("web/secrets")).expect("symlink");
        // A task dir whose own mode the task changed: not reused.
        std::fs::set_permissions(root.join("odd"), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let (root_inode, web_inode) = (inode(&root), inode(&root.join("web")));

        shared.collect(&root);

        assert!(!root.exists(), "the root moved into the spares");
        assert!(outside.path().join("keep").exists(), "the symlink was not followed");
        let spares = shared.lock();
        assert_eq!(spares.ready[Layout::Alloc.index()].len(), 1);
        assert_eq!(spares.ready[Layout::Task.index()].len(), 1, "the odd task dir was removed");
        let alloc_spare = &spares.ready[Layout::Alloc.index()][0];
        let task_spare = &spares.ready[Layout::Task.index()][0];
        assert_eq!((inode(alloc_spare), inode(task_spare)), (root_inode, web_inode), "the same directories, reused");
        assert_eq!(everything_under(alloc_spare), ["alloc", "alloc/data", "alloc/logs", "alloc/tmp"]);
        assert_eq!(everything_under(task_spare), ["local", "secrets", "tmp"]);
        assert!(!std::fs::symlink_metadata(task_spare.join("secrets")).expect("secrets").file_type().is_symlink());
    }

    #[test]
    fn the_newest_retired_trees_are_kept_and_older_ones_collected() {
        let dir = tempfile::tempdir().expect("tempdir");
        // An orphan from an earlier process, older than anything retired now.
        make_in_place(Layout::Alloc, &dir.path().join("orphan")).expect("orphan");
        make_in_place(Layout::Alloc, &dir.path().join("restored")).expect("restored");
        let pool = DirPool::start(dir.path(), 2);
        let known: HashSet<String> = ["restored".to_string()].into_iter().collect();
        pool.retire_orphans(&known);
        for n in 0..3 {
            let root = dir.path().join(format!("a{n}"));
            make_in_place(Layout::Alloc, &root).expect("alloc tree");
            std::fs::write(root.join("alloc/logs/t.stdout.0"), format!("run {n}")).expect("write");
            pool.retire(root);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while dir.path().join("orphan").exists() || dir.path().join("a0").exists() {
            assert!(std::time::Instant::now() < deadline, "older trees were not collected");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(std::fs::read_to_string(dir.path().join("a1/alloc/logs/t.stdout.0")).expect("kept"), "run 1");
        assert_eq!(std::fs::read_to_string(dir.path().join("a2/alloc/logs/t.stdout.0")).expect("kept"), "run 2");
        assert!(dir.path().join("restored").exists(), "a restored allocation's tree is not an orphan");
        drop(pool);
    }
}

//! Task log files: size-based rotation on the writing side (the executor and
//! the mock driver) and reading across rotated files on the reading side (the
//! `/v1/client/fs/logs` endpoint).
//!
//! A stream `<task>.stdout` is kept as `<task>.stdout.0`, `.1`, ... in the
//! alloc's `alloc/logs` dir; the highest index is the one being written and at
//! most `max_files` files are kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Appends to a log stream, starting a new file when the current one is full
/// and deleting the oldest beyond `max_files`. A stream's first file is created
/// on its first write, so a task that prints nothing costs no files (readers
/// wait for files that do not exist yet).
#[derive(Debug)]
pub struct LogRotator {
    dir: PathBuf,
    base: String,
    max_files: u32,
    max_bytes: u64,
    file_idx: u32,
    file_size: u64,
    /// The file being written, opened on the first write.
    file: Option<File>,
}

impl LogRotator {
    /// Opens the stream `base` (e.g. `web.stdout`) in `dir`, appending to its
    /// newest file if there is one. Fails if `dir` cannot be created or
    /// written to.
    pub fn open(dir: &Path, base: &str, max_files: u32, max_bytes: u64) -> io::Result<LogRotator> {
        std::fs::create_dir_all(dir)?;
        nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).map_err(io::Error::from)?;
        let (file_idx, file_size) = match list_log_files(dir, base)?.pop() {
            Some((idx, path)) => (idx, std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)),
            None => (0, 0),
        };
        Ok(LogRotator {
            dir: dir.to_path_buf(),
            base: base.to_string(),
            max_files: max_files.max(1),
            max_bytes: max_bytes.max(1),
            file_idx,
            file_size,
            file: None,
        })
    }

    /// Writes all of `data`, rotating as many times as needed.
    pub fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.file_size >= self.max_bytes {
                self.rotate()?;
            }
            let room = usize::try_from(self.max_bytes - self.file_size).unwrap_or(usize::MAX);
            let n_bytes = room.min(data.len());
            self.current_file()?.write_all(&data[..n_bytes])?;
            self.file_size += n_bytes as u64;
            data = &data[n_bytes..];
        }
        Ok(())
    }

    fn current_file(&mut self) -> io::Result<&mut File> {
        let file = match self.file.take() {
            Some(file) => file,
            None => {
                OpenOptions::new().create(true).append(true).open(log_path(&self.dir, &self.base, self.file_idx))?
            }
        };
        Ok(self.file.insert(file))
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file_idx += 1;
        self.file = Some(OpenOptions::new().create(true).write(true).truncate(true).open(log_path(
            &self.dir,
            &self.base,
            self.file_idx,
        ))?);
        self.file_size = 0;
        for (idx, path) in list_log_files(&self.dir, &self.base)? {
            if idx + self.max_files <= self.file_idx {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// The path of file `idx` of stream `base`.
pub fn log_path(dir: &Path, base: &str, idx: u32) -> PathBuf {
    dir.join(format!("{base}.{idx}"))
}

/// The files of stream `base` in `dir`, oldest first.
pub fn list_log_files(dir: &Path, base: &str) -> io::Result<Vec<(u32, PathBuf)>> {
    let prefix = format!("{base}.");
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let Ok(idx) = rest.parse::<u32>() else { continue };
        files.push((idx, entry.path()));
    }
    files.sort();
    Ok(files)
}

/// Where reading starts: `start` counts `offset` from the oldest kept byte,
/// `end` counts back from the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From the beginning of the oldest kept file.
    Start,
    /// From the end of the newest file.
    End,
}

/// A reading position: a file of the stream and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor {
    /// The file's index.
    pub file_idx: u32,
    /// Byte offset in that file.
    pub pos: u64,
}

/// One chunk read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The file's name (`web.stdout.0`).
    pub file_name: String,
    /// The offset in that file just after `data`.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The cursor for `offset` bytes from `origin` over the stream's current files.
pub fn initial_cursor(dir: &Path, base: &str, origin: Origin, offset: u64) -> io::Result<LogCursor> {
    let files = list_log_files(dir, base)?;
    let mut sizes = Vec::with_capacity(files.len());
    for (idx, path) in &files {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        sizes.push((*idx, len));
    }
    Ok(cursor_for(&sizes, origin, offset))
}

/// Pure part of [`initial_cursor`]: file sizes (oldest first) to a cursor.
pub fn cursor_for(sizes: &[(u32, u64)], origin: Origin, offset: u64) -> LogCursor {
    let Some(&(last_idx, last_len)) = sizes.last() else { return LogCursor { file_idx: 0, pos: 0 } };
    let mut left = offset;
    match origin {
        Origin::Start => {
            for &(idx, len) in sizes {
                if left < len {
                    return LogCursor { file_idx: idx, pos: left };
                }
                left -= len;
            }
            LogCursor { file_idx: last_idx, pos: last_len }
        }
        Origin::End => {
            for &(idx, len) in sizes.iter().rev() {
                if left <= len {
                    return LogCursor { file_idx: idx, pos: len - left };
                }
                left -= len;
            }
            LogCursor { file_idx: sizes[0].0, pos: 0 }
        }
    }
}

/// Reads the next chunk (at most `max` bytes) at `cursor`, moving to newer
/// files at end of file; `None` when there is nothing more yet.
pub fn read_chunk(dir: &Path, base: &str, cursor: &mut LogCursor, max: usize) -> io::Result<Option<LogChunk>> {
    loop {
        let files = list_log_files(dir, base)?;
        let Some((idx, path)) = files.iter().find(|(idx, _)| *idx >= cursor.file_idx).cloned() else {
            return Ok(None);
        };
        if idx != cursor.file_idx {
            // The file we were in was rotated away, or did not exist yet.
            *cursor = LogCursor { file_idx: idx, pos: 0 };
        }
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < cursor.pos {
            cursor.pos = 0; // truncated
        }
        if len > cursor.pos {
            file.seek(SeekFrom::Start(cursor.pos))?;
            let want = usize::try_from(len - cursor.pos).unwrap_or(usize::MAX).min(max);
            let mut data = vec![0u8; want];
            let n_read = read_full(&mut file, &mut data)?;
            data.truncate(n_read);
            if n_read > 0 {
                cursor.pos += n_read as u64;
                let file_name = format!("{base}.{idx}");
                return Ok(Some(LogChunk { file_name, offset: cursor.pos, data }));
            }
        }
        // End of this file: go on with the next one if it exists.
        match files.iter().find(|(next, _)| *next > idx) {
            Some((next, _)) => *cursor = LogCursor { file_idx: *next, pos: 0 },
            None => return Ok(None),
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n_total = 0;
    while n_total < buf.len() {
        match file.read(&mut buf[n_total..])? {
            0 => break,
            n => n_total += n,
        }
    }
    Ok(n_total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path, base: &str, mut cursor: LogCursor) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = read_chunk(dir, base, &mut cursor, 3).expect("read") {
            out.extend(chunk.data);
        }
        out
    }

    #[test]
    fn rotation_keeps_max_files_and_reads_in_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let mut rotator = LogRotator::open(dir, "t.stdout", 3, 4).expect("open");
        rotator.write_all(b"abcdefghij").expect("write");
        rotator.write_all(b"klmnop").expect("write");
        let files: Vec<u32> = list_log_files(dir, "t.stdout").expect("list").into_iter().map(|(i, _)| i).collect();
        // 16 bytes in files of 4: indexes 0..=3, the oldest (0) removed.
        assert_eq!(files, vec![1, 2, 3]);
        let start = initial_cursor(dir, "t.stdout", Origin::Start, 0).expect("cursor");
        assert_eq!(read_all(dir, "t.stdout", start), b"efghijklmnop");
        let from_two = initial_cursor(dir, "t.stdout", Origin::Start, 6).expect("cursor");
        assert_eq!(read_all(dir, "t.stdout", from_two), b"klmnop");
        let tail = initial_cursor(dir, "t.stdout", Origin::End, 5).expect("cursor");
        assert_eq!(read_all(dir, "t.stdout", tail), b"lmnop");
        let too_far = initial_cursor(dir, "t.stdout", Origin::End, 100).expect("cursor");
        assert_eq!(read_all(dir, "t.stdout", too_far), b"efghijklmnop");
        let past_end = initial_cursor(dir, "t.stdout", Origin::Start, 100).expect("cursor");
        assert_eq!(read_all(dir, "t.stdout", past_end), b"");
    }

    #[test]
    fn reopening_appends_to_the_newest_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        LogRotator::open(dir, "t.stderr", 5, 100).expect("open").write_all(b"one\n").expect("write");
        LogRotator::open(dir, "t.stderr", 5, 100).expect("open").write_all(b"two\n").expect("write");
        let start = initial_cursor(dir, "t.stderr", Origin::Start, 0).expect("cursor");
        assert_eq!(read_all(dir, "t.stderr", start), b"one\ntwo\n");
    }

    #[test]
    fn a_stream_gets_its_first_file_on_its_first_write() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut rotator = LogRotator::open(tmp.path(), "quiet.stdout", 2, 10).expect("open");
        assert!(list_log_files(tmp.path(), "quiet.stdout").expect("list").is_empty());
        rotator.write_all(b"x").expect("write");
        let files: Vec<u32> =
            list_log_files(tmp.path(), "quiet.stdout").expect("list").into_iter().map(|(i, _)| i).collect();
        assert_eq!(files, vec![0]);
    }

    #[test]
    fn cursor_table() {
        let sizes = [(2, 4), (3, 4), (4, 2)];
        let check = |origin, offset, want: (u32, u64)| {
            let got = cursor_for(&sizes, origin, offset);
            assert_eq!((got.file_idx, got.pos), want, "{origin:?} {offset}");
        };
        check(Origin::Start, 0, (2, 0));
        check(Origin::Start, 4, (3, 0));
        check(Origin::Start, 9, (4, 1));
        check(Origin::Start, 10, (4, 2));
        check(Origin::End, 0, (4, 2));
        check(Origin::End, 2, (4, 0));
        check(Origin::End, 3, (3, 3));
        check(Origin::End, 50, (2, 0));
        assert_eq!(cursor_for(&[], Origin::End, 5), LogCursor { file_idx: 0, pos: 0 });
    }

    #[test]
    fn reader_waits_for_files_not_created_yet() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cursor = initial_cursor(tmp.path(), "x.stdout", Origin::Start, 0).expect("cursor");
        assert_eq!(read_chunk(tmp.path(), "x.stdout", &mut cursor, 10).expect("read"), None);
        LogRotator::open(tmp.path(), "x.stdout", 2, 10).expect("open").write_all(b"late").expect("write");
        let chunk = read_chunk(tmp.path(), "x.stdout", &mut cursor, 10).expect("read");
        assert_eq!(chunk.map(|c| c.data), Some(b"late".to_vec()));
    }
}

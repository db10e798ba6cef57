//! Identifiers: UUIDs for server-made objects, short forms for display.

/// A fresh random UUID in its canonical hyphenated form.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The 8-character form of an ID shown in tables and monitors.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((idx, _)) => &id[..idx],
        None => id,
    }
}

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The region used when none is given.
pub const DEFAULT_REGION: &str = "global";

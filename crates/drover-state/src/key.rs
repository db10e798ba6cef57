//! [`Key`]: an ID or name as it sits inside the keys of the state's maps.
//!
//! Writing to an `imbl` map that a published snapshot still shares copies
//! each B-tree node on the path, keys and all. With `String` keys every copy
//! allocated and freed each string of the node (a third of the state
//! writer's time in the dispatch benchmark); a [`Key`] is a shared
//! `Arc<str>`, so copying it bumps a count. The namespace almost every object
//! lives in, `default`, is one shared string rather than one per key.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

/// A shared, immutable string ordered and compared as the `str` it holds.
/// Two keys sharing one string (the `default` namespace in every job key)
/// compare equal without reading it.
#[derive(Clone, Eq)]
pub(crate) struct Key(Arc<str>);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) { std::cmp::Ordering::Equal } else { self.0.cmp(&other.0) }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The one `default` namespace string every key of that namespace shares.
static DEFAULT_NAMESPACE: LazyLock<Key> = LazyLock::new(|| Key(Arc::from("default")));

/// The empty string, the lowest key (range bounds).
static EMPTY: LazyLock<Key> = LazyLock::new(|| Key(Arc::from("")));

impl Key {
    /// The key of a namespace: `default` is shared, any other is its own.
    pub(crate) fn namespace(namespace: &str) -> Key {
        if namespace == "default" { DEFAULT_NAMESPACE.clone() } else { Key::from(namespace) }
    }

    /// The empty key, which sorts before every other.
    pub(crate) fn empty() -> Key {
        EMPTY.clone()
    }

    /// The string, borrowed.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Key {
    fn from(value: &str) -> Key {
        Key(Arc::from(value))
    }
}

impl From<&String> for Key {
    fn from(value: &String) -> Key {
        Key(Arc::from(value.as_str()))
    }
}

impl From<String> for Key {
    fn from(value: String) -> Key {
        Key(Arc::from(value))
    }
}

impl Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Key {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Key;

    #[test]
    fn keys_order_and_compare_as_their_strings() {
        let mut keys = [Key::from("b"), Key::from("a"), Key::empty(), Key::from("ab")];
        keys.sort();
        let strings: Vec<&str> = keys.iter().map(Key::as_str).collect();
        assert_eq!(strings, ["", "a", "ab", "b"]);
        assert_eq!(Key::from("x"), "x");
        assert_eq!(Key::namespace("default"), Key::from("default".to_string()));
    }

    #[test]
    fn the_default_namespace_is_one_shared_string() {
        let (a, b) = (Key::namespace("default"), Key::namespace("default"));
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        let (c, d) = (Key::namespace("other"), Key::namespace("other"));
        assert_eq!(c, d);
        assert!(!std::ptr::eq(c.as_str(), d.as_str()));
    }
}

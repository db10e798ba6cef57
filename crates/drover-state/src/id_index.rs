//! [`IdIndex`]: a secondary index from a key (a job, a node, an evaluation)
//! to the IDs of the objects filed under it.
//!
//! It is one persistent ordered set of `(key, id)` pairs rather than a map of
//! small sets: an `imbl` set allocates a whole B-tree node even for one
//! element (~2.7 KB), and most keys here hold one or two IDs (a dispatched
//! child has one evaluation and one allocation), so a map of sets cost ~8 KB
//! per finished child. The pairs share nodes, so an entry costs its key and
//! ID plus a slot. Reads are range scans over the key's pairs.

use imbl::OrdSet;

use crate::key::Key;

/// IDs filed under keys; a key with no IDs is simply absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdIndex<K: Ord + Clone> {
    pairs: OrdSet<(K, Key)>,
}

impl<K: Ord + Clone> Default for IdIndex<K> {
    fn default() -> Self {
        IdIndex { pairs: OrdSet::new() }
    }
}

impl<K: Ord + Clone> IdIndex<K> {
    /// Files `id` under `key` (idempotent). Taking a [`Key`] lets the
    /// caller share one string between the maps that file the same ID.
    pub(crate) fn add(&mut self, key: K, id: Key) {
        self.pairs.insert((key, id));
    }

    /// Removes `id` from under `key`, if it is there.
    pub(crate) fn remove(&mut self, key: &K, id: &str) {
        self.pairs.remove(&(key.clone(), Key::from(id)));
    }

    /// The IDs filed under `key`, in ID order.
    pub(crate) fn ids<'a>(&'a self, key: &'a K) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .range((key.clone(), Key::empty())..)
            .take_while(move |(filed_under, _)| filed_under == key)
            .map(|(_, id)| id.as_str())
    }

    /// How many IDs are filed under `key`.
    #[cfg(test)]
    pub(crate) fn count(&self, key: &K) -> usize {
        self.ids(key).count()
    }

    /// How many `(key, id)` pairs are filed in all.
    #[cfg(test)]
    pub(crate) fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no ID is filed under any key.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether any ID is filed under `key`.
    #[cfg(test)]
    pub(crate) fn has_key(&self, key: &K) -> bool {
        self.ids(key).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::IdIndex;
    use crate::key::Key;

    #[test]
    fn ids_are_kept_per_key_in_order_and_removed_exactly() {
        let mut index: IdIndex<String> = IdIndex::default();
        index.add("b".to_string(), Key::from("2"));
        index.add("a".to_string(), Key::from("9"));
        index.add("b".to_string(), Key::from("1"));
        index.add("c".to_string(), Key::from("0"));
        index.add("b".to_string(), Key::from("1"));
        let b = "b".to_string();
        assert_eq!(index.ids(&b).collect::<Vec<_>>(), vec!["1", "2"]);
        assert_eq!(index.count(&b), 2);
        index.remove(&b, "1");
        index.remove(&b, "missing");
        assert_eq!(index.ids(&b).collect::<Vec<_>>(), vec!["2"]);
        assert_eq!(index.ids(&"a".to_string()).collect::<Vec<_>>(), vec!["9"]);
        index.remove(&b, "2");
        assert!(!index.has_key(&b));
        assert!(index.has_key(&"c".to_string()));
        assert_eq!(index.count(&"zz".to_string()), 0);
    }

    #[test]
    fn a_key_that_prefixes_another_does_not_see_its_ids() {
        let mut index: IdIndex<(String, String)> = IdIndex::default();
        index.add(("default".to_string(), "job".to_string()), Key::from("x"));
        index.add(("default".to_string(), "job-2".to_string()), Key::from("y"));
        index.add(("default".to_string(), "jo".to_string()), Key::from("z"));
        let key = ("default".to_string(), "job".to_string());
        assert_eq!(index.ids(&key).collect::<Vec<_>>(), vec!["x"]);
    }
}

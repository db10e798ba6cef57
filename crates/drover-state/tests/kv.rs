//! Key/value records (`Op::PutKv`): written with transactions, read from
//! snapshots by key and prefix, deleted, and kept across a restart.

use drover_state::{Op, StateStore, Txn};

fn put(table: &str, key: &str, value: Option<&str>) -> Op {
    Op::PutKv { table: table.to_string(), key: key.to_string(), value: value.map(str::to_string) }
}

#[tokio::test]
async fn kv_records_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    {
        let store = StateStore::open(&path).expect("open");
        let txn = Txn {
            preconditions: vec![],
            ops: vec![
                put("dispatch-token", "default\u{1f}video\u{1f}prod", Some("video/dispatch-1")),
                put("dispatch-token", "default\u{1f}video\u{1f}dev", Some("video/dispatch-2")),
                put("dispatch-token", "default\u{1f}other\u{1f}prod", Some("other/dispatch-3")),
                put("children-collected", "default\u{1f}video", Some("{\"Dead\":4}")),
            ],
        };
        store.apply(txn).await.expect("write");
        store
            .apply(Txn { preconditions: vec![], ops: vec![put("dispatch-token", "default\u{1f}video\u{1f}dev", None)] })
            .await
            .expect("delete");
        let snapshot = store.snapshot();
        assert_eq!(snapshot.kv("dispatch-token", "default\u{1f}video\u{1f}prod").as_deref(), Some("video/dispatch-1"));
        assert_eq!(snapshot.kv("dispatch-token", "default\u{1f}video\u{1f}dev"), None);
    }
    let store = StateStore::open(&path).expect("reopen");
    let snapshot = store.snapshot();
    let video: Vec<String> =
        snapshot.kv_prefix("dispatch-token", "default\u{1f}video\u{1f}").into_iter().map(|(k, _)| k).collect();
    assert_eq!(video, vec!["default\u{1f}video\u{1f}prod".to_string()]);
    assert_eq!(snapshot.kv("children-collected", "default\u{1f}video").as_deref(), Some("{\"Dead\":4}"));
    assert_eq!(snapshot.kv_prefix("nothing-here", "").len(), 0);
}

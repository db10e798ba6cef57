//! The node's identity: an ID and a secret generated once and kept in
//! `<data_dir>/client/node.json`, so a restarted client is the same node and
//! two clients with different data dirs are two nodes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ClientError;
use crate::state::write_atomic;

/// The node's ID and secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The node ID (UUID v4).
    pub node_id: String,
    /// The secret the node proves itself with (UUID v4).
    pub secret_id: String,
}

/// Loads the identity from `<data_dir>/client/node.json`, creating it on first use.
pub fn load_or_create(data_dir: &Path) -> Result<NodeIdentity, ClientError> {
    let dir = data_dir.join("client");
    std::fs::create_dir_all(&dir).map_err(|e| ClientError::io(&dir, e))?;
    let path = dir.join("node.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let identity: NodeIdentity = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Decode { path: path.clone(), message: e.to_string() })?;
            if identity.node_id.is_empty() || identity.secret_id.is_empty() {
                return Err(ClientError::Decode { path, message: "empty node ID or secret".to_string() });
            }
            Ok(identity)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity =
                NodeIdentity { node_id: uuid::Uuid::new_v4().to_string(), secret_id: uuid::Uuid::new_v4().to_string() };
            let bytes = serde_json::to_vec_pretty(&identity)
                .map_err(|e| ClientError::Decode { path: path.clone(), message: e.to_string() })?;
            write_atomic(&path, &bytes).map_err(|e| ClientError::io(&path, e))?;
            Ok(identity)
        }
        Err(e) => Err(ClientError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_per_data_dir() {
        let one = tempfile::tempdir().expect("tempdir");
        let two = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(one.path()).expect("create");
        assert_eq!(load_or_create(one.path()).expect("load"), first);
        assert_ne!(load_or_create(two.path()).expect("create").node_id, first.node_id);
    }
}

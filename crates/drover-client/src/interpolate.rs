//! `${...}` interpolation in task env values and driver config, as Nomad does
//! it: `${NOMAD_*}` / `${DROVER_*}` (and any other task env name),
//! `${env.X}`, `${node.unique.id}`, `${node.unique.name}`, `${node.datacenter}`,
//! `${node.class}`, `${node.pool}`, `${attr.X}` and `${meta.X}` (node meta).
//! Anything unknown is left as written.

use std::collections::BTreeMap;

/// The node facts interpolation can refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeVars {
    /// Node ID.
    pub id: String,
    /// Node name.
    pub name: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node class.
    pub class: String,
    /// Node pool.
    pub pool: String,
    /// Fingerprinted attributes.
    pub attributes: BTreeMap<String, String>,
    /// Node meta.
    pub meta: BTreeMap<String, String>,
}

/// Resolves `${...}` against a task environment and a node.
#[derive(Debug, Clone, Copy)]
pub struct Interpolator<'a> {
    /// The task environment.
    pub env: &'a BTreeMap<String, String>,
    /// The node.
    pub node: &'a NodeVars,
}

impl Interpolator<'_> {
    /// `text` with every known `${...}` replaced.
    pub fn string(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let key = &after[..end];
            match self.lookup(key.trim()) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push_str("${");
                    out.push_str(key);
                    out.push('}');
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `value` with every string inside it (nested lists and maps too) interpolated.
    pub fn value(&self, value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::String(text) => serde_json::Value::String(self.string(text)),
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(|v| self.value(v)).collect()),
            serde_json::Value::Object(map) => {
                serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), self.value(v))).collect())
            }
            other => other.clone(),
        }
    }

    fn lookup(&self, key: &str) -> Option<String> {
        let node = self.node;
        let found = match key {
            "node.unique.id" => Some(&node.id),
            "node.unique.name" => Some(&node.name),
            "node.datacenter" => Some(&node.datacenter),
            "node.class" => Some(&node.class),
            "node.pool" => Some(&node.pool),
            _ => None,
        };
        if let Some(found) = found {
            return Some(found.clone());
        }
        if let Some(name) = key.strip_prefix("attr.") {
            return node.attributes.get(name).cloned();
        }
        if let Some(name) = key.strip_prefix("meta.") {
            return node.meta.get(name).cloned();
        }
        if let Some(name) = key.strip_prefix("env.") {
            return self.env.get(name).cloned();
        }
        self.env.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let env: BTreeMap<String, String> =
            [("NOMAD_ALLOC_ID", "a-1"), ("DROVER_ALLOC_ID", "a-1"), ("NOMAD_META_key", "v"), ("HOME", "/home/x")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let node = NodeVars {
            id: "n-1".to_string(),
            name: "box".to_string(),
            datacenter: "dc1".to_string(),
            class: "big".to_string(),
            pool: "default".to_string(),
            attributes: [("kernel.name".to_string(), "linux".to_string())].into_iter().collect(),
            meta: [("rack".to_string(), "r1".to_string())].into_iter().collect(),
        };
        let got = Interpolator { env: &env, node: &node }.string(input);
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn interpolation_table() {
        check("plain", "plain");
        check("${NOMAD_ALLOC_ID}", "a-1");
        check("id=${DROVER_ALLOC_ID}!", "id=a-1!");
        check("${NOMAD_META_key}", "v");
        check("${env.HOME}/bin", "/home/x/bin");
        check("${node.unique.id} ${node.unique.name}", "n-1 box");
        check("${node.datacenter}/${node.class}/${node.pool}", "dc1/big/default");
        check("${attr.kernel.name}", "linux");
        check("${meta.rack}", "r1");
        check("${meta.missing}", "${meta.missing}");
        check("${UNKNOWN}", "${UNKNOWN}");
        check("${ NOMAD_ALLOC_ID }", "a-1");
        check("open ${NOMAD_ALLOC_ID", "open ${NOMAD_ALLOC_ID");
        check("$NOMAD_ALLOC_ID", "$NOMAD_ALLOC_ID");
        check("${}", "${}");
        check("é${NOMAD_ALLOC_ID}é", "éa-1é");
    }

    #[test]
    fn nested_config_values() {
        let env: BTreeMap<String, String> = [("NOMAD_TASK_NAME".to_string(), "t".to_string())].into_iter().collect();
        let node = NodeVars::default();
        let value = serde_json::json!({"command": "${NOMAD_TASK_NAME}", "args": ["a", "${NOMAD_TASK_NAME}", 3], "m": {"k": ["${NOMAD_TASK_NAME}"]}});
        let got = Interpolator { env: &env, node: &node }.value(&value);
        assert_eq!(got, serde_json::json!({"command": "t", "args": ["a", "t", 3], "m": {"k": ["t"]}}));
    }
}

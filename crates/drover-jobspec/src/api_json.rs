//! Nomad API JSON checked key by key before serde reads it, so nothing a
//! user wrote is dropped without a word: jobspec files, and the register and
//! plan bodies of the HTTP API.
//!
//! [`check`] walks the JSON with the tables of [`crate::fields`]: `null`s
//! of known keys are removed (Go's nil: unset, so serde's defaults apply), unset Nomad
//! fields Drover does not implement are dropped, set ones are refused or
//! warned about, unknown keys are refused with the valid names. It also does
//! what Nomad's own canonicalization does before the job is read: the job's
//! `Reschedule` is merged into every group's `ReschedulePolicy`, and a
//! partial restart or reschedule policy is completed with the job type's
//! defaults (not the service defaults serde would give). [`read`] then
//! deserializes, and a type error is traced to the key at fault
//! (`Job.TaskGroups[0].Count: invalid type: string "x", expected u32`).
//!
//! Decision: the JSON is walked as a [`serde_json::Value`] rather than with
//! `deny_unknown_fields` on the types, because those types are also the
//! storage encoding and the client protocol, where unknown fields must stay
//! harmless, and because Nomad's unset fields must be told from set ones.

use drover_types::{JobType, ReschedulePolicy, RestartPolicy};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::fields::{Level, Nested, Treatment};

/// Why a Nomad API JSON job or request was refused: the JSON path at fault
/// (`Job.TaskGroups[0].Tasks[1].Templates`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if path.is_empty() { message.clone() } else { format!("{path}: {message}") })]
pub struct JsonFieldError {
    /// Dotted path of the offending key or object; empty for the whole body.
    pub path: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl JsonFieldError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> JsonFieldError {
        JsonFieldError { path: path.to_string(), message: message.into() }
    }
}

/// `Job` + `TaskGroups` → `Job.TaskGroups`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Checks `value` as a `level` object at `path` and rewrites it for serde
/// (see the module docs); returns the warnings, each starting with its path.
pub(crate) fn check(value: &mut Value, level: Level, path: &str) -> Result<Vec<String>, JsonFieldError> {
    let mut walker = Walker { warnings: Vec::new(), job_type: JobType::default() };
    walker.object(level, value, path)?;
    Ok(walker.warnings)
}

/// Deserializes a [`check`]ed value; a type error names the key at fault.
pub(crate) fn read<T: DeserializeOwned>(value: &Value, level: Level, path: &str) -> Result<T, JsonFieldError> {
    T::deserialize(value).map_err(|_| locate(level, value, path))
}

struct Walker {
    warnings: Vec<String>,
    /// The job's type, for the policies' defaults.
    job_type: JobType,
}

impl Walker {
    fn object(&mut self, level: Level, value: &mut Value, path: &str) -> Result<(), JsonFieldError> {
        // Anything but an object is serde's to refuse, with its type error.
        let Value::Object(map) = value else { return Ok(()) };
        if level == Level::Job {
            self.job_type = map.get("Type").and_then(Value::as_str).and_then(JobType::parse).unwrap_or_default();
            if let Some(mut reschedule) = map.remove("Reschedule").filter(|item| !item.is_null()) {
                self.object(Level::Reschedule, &mut reschedule, &join(path, "Reschedule"))?;
                merge_reschedule(map, &reschedule, path)?;
            }
        }
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let key_path = join(path, &key);
            if level.modeled().contains(&key) {
                if map.get(&key).is_some_and(Value::is_null) {
                    map.remove(&key);
                    continue;
                }
                let nested = level.nested().iter().find(|(name, _)| *name == key).map(|(_, nested)| *nested);
                match (nested, map.get_mut(&key)) {
                    (Some(Nested::One(child)), Some(item)) => self.object(child, item, &key_path)?,
                    (Some(Nested::List(child)), Some(Value::Array(items))) => {
                        for (idx, item) in items.iter_mut().enumerate() {
                            self.object(child, item, &format!("{key_path}[{idx}]"))?;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let Some(field) = level.nomad().iter().find(|field| !field.json.is_empty() && field.json == key) else {
                return Err(unknown(level, path, &key));
            };
            let Some(item) = map.remove(&key) else { continue };
            if !field.is_set(&item) {
                continue;
            }
            match field.treatment {
                Treatment::Refuse => return Err(JsonFieldError::new(&key_path, field.refusal())),
                Treatment::Warn => self.warnings.push(format!("{key_path}: {}", field.warning())),
                // `Merge` fields were taken out above.
                Treatment::Drop | Treatment::Merge => {}
            }
        }
        if level == Level::Group {
            complete(map, "RestartPolicy", RestartPolicy::for_job_type(self.job_type));
            complete(map, "ReschedulePolicy", ReschedulePolicy::for_job_type(self.job_type));
        }
        Ok(())
    }
}

/// Nomad's job-level `Reschedule` under every group's own policy (the
/// group's keys win), as Nomad's canonicalization does.
fn merge_reschedule(job: &mut Map<String, Value>, reschedule: &Value, path: &str) -> Result<(), JsonFieldError> {
    let Value::Object(defaults) = reschedule else {
        return Err(JsonFieldError::new(
            &join(path, "Reschedule"),
            format!("expected an object, got {}", crate::json::json_kind(reschedule)),
        ));
    };
    let Some(Value::Array(groups)) = job.get_mut("TaskGroups") else { return Ok(()) };
    for group in groups.iter_mut().filter_map(Value::as_object_mut) {
        let mut merged = defaults.clone();
        match group.get("ReschedulePolicy") {
            Some(Value::Object(own)) => merged
                .extend(own.iter().filter(|(_, item)| !item.is_null()).map(|(key, item)| (key.clone(), item.clone()))),
            // Not an object: serde refuses it with its path.
            Some(other) if !other.is_null() => continue,
            _ => {}
        }
        group.insert("ReschedulePolicy".to_string(), Value::Object(merged));
    }
    Ok(())
}

/// Fills the keys a policy object leaves out with `defaults`' values.
fn complete(map: &mut Map<String, Value>, key: &str, defaults: impl Serialize) {
    if let Some(Value::Object(given)) = map.get_mut(key)
        && let Ok(Value::Object(defaults)) = serde_json::to_value(defaults)
    {
        for (name, item) in defaults {
            given.entry(name).or_insert(item);
        }
    }
}

/// `unknown field "Bogus" (expected one of ...)`, at the object holding it.
fn unknown(level: Level, path: &str, key: &str) -> JsonFieldError {
    let modeled = level.modeled();
    let mut message = format!("unknown field {key:?} (expected one of {})", modeled.join(", "));
    if let Some(near) = modeled.iter().find(|name| name.eq_ignore_ascii_case(key)) {
        message.push_str(&format!("; did you mean {near:?}? (names are case-sensitive)"));
    }
    JsonFieldError::new(path, message)
}

/// The deepest object and key serde refuses in `value`, read as `level`.
fn locate(level: Level, value: &Value, path: &str) -> JsonFieldError {
    if let Value::Object(map) = value {
        for (key, nested) in level.nested() {
            let key_path = join(path, key);
            match (nested, map.get(*key)) {
                (Nested::One(child), Some(item @ Value::Object(_))) if child.reads(item).is_err() => {
                    return locate(*child, item, &key_path);
                }
                (Nested::List(child), Some(Value::Array(items))) => {
                    let bad = items.iter().enumerate().find(|(_, item)| item.is_object() && child.reads(item).is_err());
                    if let Some((idx, item)) = bad {
                        return locate(*child, item, &format!("{key_path}[{idx}]"));
                    }
                }
                _ => {}
            }
        }
        for (key, item) in map {
            let single = Value::Object(Map::from_iter([(key.clone(), item.clone())]));
            if let Err(message) = level.reads(&single) {
                return JsonFieldError::new(&join(path, key), message);
            }
        }
    }
    let message = match level.reads(value) {
        Err(message) => message,
        Ok(()) => "could not be read".to_string(),
    };
    JsonFieldError::new(path, message)
}

#[cfg(test)]
mod tests {
    use drover_types::api::JobRegisterRequest;
    use serde_json::json;

    use super::*;

    /// Checks and reads a register body.
    fn register(body: Value) -> Result<(JobRegisterRequest, Vec<String>), JsonFieldError> {
        let mut body = body;
        let warnings = check(&mut body, Level::RegisterRequest, "")?;
        Ok((read(&body, Level::RegisterRequest, "")?, warnings))
    }

    fn refused(body: Value) -> String {
        match register(body) {
            Ok((request, _)) => panic!("expected an error, got {request:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn task_job(task: Value) -> Value {
        let mut base = json!({"Name": "t", "Driver": "raw_exec"});
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), task) {
            base.extend(extra);
        }
        json!({"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "other"}, base]}]}})
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path_and_the_valid_names() {
        let message = refused(task_job(json!({"Bogus": 1})));
        assert!(
            message.starts_with("Job.TaskGroups[0].Tasks[1]: unknown field \"Bogus\" (expected one of "),
            "{message}"
        );
        assert!(message.contains("Driver") && message.contains("Resources"), "{message}");
        let message = refused(json!({"Job": {"ID": "x"}, "Frobnicate": true}));
        assert!(message.starts_with("unknown field \"Frobnicate\" (expected one of "), "{message}");
        let message = refused(json!({"Job": {"ID": "x", "Datacenter": null}}));
        assert!(message.starts_with("Job: unknown field \"Datacenter\""), "{message}");
        let message = refused(json!({"Job": {"id": "x"}}));
        assert!(message.ends_with("; did you mean \"ID\"? (names are case-sensitive)"), "{message}");
    }

    #[test]
    fn unset_nomad_fields_are_accepted_as_the_go_sdk_sends_them() {
        let task = json!({
            "Name": "t", "Driver": "raw_exec", "Templates": null, "Artifacts": [], "Vault": null,
            "Lifecycle": null, "ShutdownDelay": 0, "Kind": "", "Identities": null, "KillTimeout": null,
            "Resources": {"CPU": 100, "Cores": 0, "MemoryMaxMB": null, "Networks": null, "IOPS": 0},
            "LogConfig": {"MaxFiles": 3, "Disabled": false, "Enabled": null}
        });
        let group = json!({
            "Name": "g", "Count": null, "Networks": [], "Services": null, "Volumes": {}, "ShutdownDelay": null,
            "PreventRescheduleOnLost": false, "Scaling": null, "Consul": null, "Tasks": [task]
        });
        let job = json!({
            "ID": "x", "Region": null, "Priority": null, "Affinities": null, "Spreads": [], "Multiregion": null,
            "Update": null, "Migrate": null, "ConsulToken": "", "VaultToken": "", "NomadTokenID": "", "Stop": null,
            "Dispatched": false, "Payload": null, "Meta": null, "VersionTag": null, "Reschedule": null,
            "TaskGroups": [group]
        });
        let body = json!({"Job": job, "Submission": null, "PolicyOverride": false, "EnforceIndex": false});
        let (request, warnings) = register(body).unwrap_or_else(|err| panic!("{err}"));
        assert!(warnings.is_empty(), "{warnings:?}");
        let job = request.job.unwrap_or_else(|| panic!("no job"));
        assert_eq!((job.priority, job.task_groups[0].count), (0, 1));
        assert_eq!(job.task_groups[0].tasks[0].log_config.map(|logs| logs.max_files), Some(3));
    }

    #[test]
    fn set_blocks_drover_does_not_run_are_refused_by_name() {
        assert_eq!(
            refused(task_job(json!({"Templates": [{"EmbeddedTmpl": "x", "DestPath": "local/x"}]}))),
            "Job.TaskGroups[0].Tasks[1].Templates: the \"template\" block is not supported yet"
        );
        assert_eq!(
            refused(task_job(json!({"Vault": {"Role": "x"}}))),
            "Job.TaskGroups[0].Tasks[1].Vault: the \"vault\" block is not supported yet"
        );
        assert_eq!(
            refused(json!({"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "ShutdownDelay": 5_000_000_000_u64}]}})),
            "Job.TaskGroups[0].ShutdownDelay: the \"shutdown_delay\" attribute is not supported yet"
        );
        assert_eq!(
            refused(json!({"Job": {"ID": "x"}, "PreserveResources": true})),
            "PreserveResources: the \"PreserveResources\" field is not supported yet"
        );
    }

    #[test]
    fn soft_preferences_are_accepted_with_a_warning() {
        let body = json!({"Job": {"ID": "x", "Affinities": [{"LTarget": "${node.datacenter}", "RTarget": "dc1", "Operand": "=", "Weight": 50}],
            "TaskGroups": [{"Name": "g", "Spreads": [{"Attribute": "${node.datacenter}"}]}]}});
        let (request, warnings) = register(body).unwrap_or_else(|err| panic!("{err}"));
        assert!(request.job.is_some());
        assert_eq!(
            warnings,
            [
                "Job.Affinities: the \"affinity\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it",
                "Job.TaskGroups[0].Spreads: the \"spread\" block is not supported yet and is ignored; it is a placement preference, and the job is placed without it",
            ]
        );
    }

    #[test]
    fn policies_get_the_job_type_defaults_and_the_job_reschedule() {
        let body = json!({"Job": {"ID": "x", "Type": "batch", "Reschedule": {"Attempts": 4, "Delay": 1},
        "TaskGroups": [
            {"Name": "a", "RestartPolicy": {"Attempts": 9}},
            {"Name": "b", "ReschedulePolicy": {"Delay": 2, "Interval": null}},
        ]}});
        let (request, _) = register(body).unwrap_or_else(|err| panic!("{err}"));
        let job = request.job.unwrap_or_else(|| panic!("no job"));
        let batch = ReschedulePolicy::for_job_type(JobType::Batch);
        let restart = job.task_groups[0].restart_policy.clone().unwrap_or_else(|| panic!("no restart policy"));
        assert_eq!(restart, RestartPolicy { attempts: 9, ..RestartPolicy::for_job_type(JobType::Batch) });
        assert_eq!(
            job.task_groups[0].reschedule_policy,
            Some(ReschedulePolicy { attempts: 4, delay: 1, ..batch.clone() })
        );
        assert_eq!(job.task_groups[1].reschedule_policy, Some(ReschedulePolicy { attempts: 4, delay: 2, ..batch }));
    }

    #[test]
    fn type_errors_name_the_key() {
        assert_eq!(
            refused(
                json!({"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Resources": {"CPU": "lots"}}]}]}})
            ),
            "Job.TaskGroups[0].Tasks[0].Resources.CPU: invalid type: string \"lots\", expected u64"
        );
        assert_eq!(refused(json!({"Job": {"ID": 7}})), "Job.ID: invalid type: integer `7`, expected a string");
        assert_eq!(
            refused(json!({"EnforceIndex": "yes"})),
            "EnforceIndex: invalid type: string \"yes\", expected a boolean"
        );
    }
}

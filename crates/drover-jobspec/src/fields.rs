//! Which job fields Drover reads, level by level, and what it does with the
//! Nomad fields it does not implement yet: the one table both parsers (HCL
//! and Nomad API JSON) consult, so a block is refused, warned about or
//! dropped the same way whichever way it is written.
//!
//! A level is one object kind of a job (`Job`, `TaskGroup`, `Task`,
//! `Resources`, ...) or a request body that carries a job. Its fields fall in
//! three groups:
//!
//! - **modeled**: what serde of the `drover_types` struct reads, taken from
//!   the struct itself ([`Level::modeled`]), so a field added there is read
//!   at once;
//! - **Nomad's, not implemented** ([`NomadField`], from Nomad's `api`
//!   package: `api/jobs.go`, `api/tasks.go`, `api/resources.go`): unset
//!   values (what Nomad's Go SDK sends for fields a jobspec leaves out:
//!   `null`, `[]`, `0`, `""`, `false`) are accepted; a set one is refused
//!   with `the "template" block is not supported yet`, or, for Nomad's soft
//!   preferences (`affinity`, `spread`), accepted with a warning; a few that
//!   change nothing (Nomad ignores them itself, or they are credentials for
//!   integrations whose blocks are refused) are dropped;
//! - anything else: an error naming the key and listing the valid names.
//!
//! When a block gets implemented, its field joins the `drover_types` struct
//! and the HCL spec, and its row here goes (a test fails until it does).

use std::sync::LazyLock;

use drover_types::api::{JobPlanRequest, JobRegisterRequest};
use drover_types::{
    Constraint, DispatchPayloadConfig, EphemeralDisk, Job, JobSchedule, LogConfig, ParameterizedJobConfig,
    PeriodicConfig, ReschedulePolicy, Resources, RestartPolicy, RunPolicy, Task, TaskGroup,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happens to a Nomad field Drover does not implement when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Refused: the job would not do what it says.
    Refuse,
    /// Accepted with a warning: a soft preference, which Nomad itself may
    /// not meet; the job runs as written without it.
    Warn,
    /// Accepted and dropped: it changes nothing Drover does (Nomad ignores
    /// it too, or it is a credential for an integration whose blocks are refused).
    Drop,
    /// Read by the JSON reader itself: the job's `Reschedule`, merged into
    /// every group's `ReschedulePolicy` as Nomad does.
    Merge,
}

/// How a field is written, for the "set" test and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One block (`vault { ... }`, a JSON object): set unless `null`.
    Block,
    /// Repeatable blocks (`template { ... }` ..., a JSON array or map): set
    /// unless `null` or empty.
    Blocks,
    /// An attribute (`shutdown_delay = "5s"`): set unless `null`, `false`,
    /// `0`, `""` or empty.
    Attribute,
}

/// A field of Nomad's job API that Drover does not implement (yet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NomadField {
    /// Its name in Nomad's API JSON (`Templates`); empty when HCL only.
    pub(crate) json: &'static str,
    /// Its name in HCL (`template`); empty when the API alone has it.
    pub(crate) hcl: &'static str,
    /// Block, blocks or attribute.
    pub(crate) shape: Shape,
    /// What a set value does.
    pub(crate) treatment: Treatment,
    /// Appended to the message after `; `, or empty.
    pub(crate) hint: &'static str,
}

impl NomadField {
    /// `the "template" block` / `the "shutdown_delay" attribute` / `the "Identity" field`.
    fn what(&self) -> String {
        match (self.hcl.is_empty(), self.shape) {
            (true, _) => format!("the {:?} field", self.json),
            (false, Shape::Attribute) => format!("the {:?} attribute", self.hcl),
            (false, Shape::Block | Shape::Blocks) => format!("the {:?} block", self.hcl),
        }
    }

    /// The error for a set [`Treatment::Refuse`] field.
    pub(crate) fn refusal(&self) -> String {
        let mut res = format!("{} is not supported yet", self.what());
        if !self.hint.is_empty() {
            res.push_str("; ");
            res.push_str(self.hint);
        }
        res
    }

    /// The warning for a set [`Treatment::Warn`] field.
    pub(crate) fn warning(&self) -> String {
        let mut res = format!("{} is not supported yet and is ignored", self.what());
        if !self.hint.is_empty() {
            res.push_str("; ");
            res.push_str(self.hint);
        }
        res
    }

    /// Whether `value` (this field's JSON value) asks for anything.
    pub(crate) fn is_set(&self, value: &Value) -> bool {
        match self.shape {
            Shape::Block => !value.is_null(),
            Shape::Blocks => match value {
                Value::Null => false,
                Value::Array(items) => !items.is_empty(),
                Value::Object(map) => !map.is_empty(),
                _ => true,
            },
            Shape::Attribute => !attribute_unset(value),
        }
    }
}

/// Whether an attribute's value asks for nothing: `null`, `false`, `0`,
/// `""`, or an empty list or map (what Go's SDK sends for a field left out).
pub(crate) fn attribute_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(flag) => !flag,
        Value::Number(number) => number.as_f64() == Some(0.0),
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}

/// The Nomad field of `fields` written as HCL `name` in the given shape
/// (attributes are looked up among attributes, blocks among blocks).
pub(crate) fn hcl_field(fields: &'static [NomadField], name: &str, block: bool) -> Option<&'static NomadField> {
    fields.iter().find(|field| !field.hcl.is_empty() && field.hcl == name && (field.shape != Shape::Attribute) == block)
}

const fn field(json: &'static str, hcl: &'static str, shape: Shape, treatment: Treatment) -> NomadField {
    NomadField { json, hcl, shape, treatment, hint: "" }
}

const fn hinted(
    json: &'static str,
    hcl: &'static str,
    shape: Shape,
    treatment: Treatment,
    hint: &'static str,
) -> NomadField {
    NomadField { json, hcl, shape, treatment, hint }
}

use Shape::{Attribute, Block, Blocks};
use Treatment::{Drop, Merge, Refuse, Warn};

/// Why an ignored preference is harmless.
const PREFERENCE: &str = "it is a placement preference, and the job is placed without it";

/// Nomad's `Job` fields Drover does not implement.
pub(crate) const JOB: &[NomadField] = &[
    hinted("Affinities", "affinity", Blocks, Warn, PREFERENCE),
    hinted("Spreads", "spread", Blocks, Warn, PREFERENCE),
    field("Multiregion", "multiregion", Block, Refuse),
    field("Reschedule", "reschedule", Block, Merge),
    field("Migrate", "migrate", Block, Refuse),
    field("UI", "ui", Block, Refuse),
    field("", "vault", Block, Refuse),
    field("", "consul", Block, Refuse),
    // Credentials and namespaces for Consul and Vault (Nomad's CLI fills the
    // tokens in from CONSUL_HTTP_TOKEN and VAULT_TOKEN): they configure
    // nothing by themselves, and the blocks that would use them are refused.
    field("ConsulToken", "consul_token", Attribute, Drop),
    field("VaultToken", "vault_token", Attribute, Drop),
    field("ConsulNamespace", "consul_namespace", Attribute, Drop),
    field("VaultNamespace", "vault_namespace", Attribute, Drop),
    // Set by Nomad's servers; they describe nothing the job does.
    field("NomadTokenID", "", Attribute, Drop),
    field("VersionTag", "", Block, Drop),
];

/// Nomad's `TaskGroup` fields Drover does not implement.
pub(crate) const GROUP: &[NomadField] = &[
    hinted("Affinities", "affinity", Blocks, Warn, PREFERENCE),
    hinted("Spreads", "spread", Blocks, Warn, PREFERENCE),
    field("Volumes", "volume", Blocks, Refuse),
    field("Disconnect", "disconnect", Block, Refuse),
    field("Update", "update", Block, Refuse),
    field("Migrate", "migrate", Block, Refuse),
    field("Networks", "network", Blocks, Refuse),
    field("Services", "service", Blocks, Refuse),
    field("ShutdownDelay", "shutdown_delay", Attribute, Refuse),
    field("MaxRunDuration", "max_run_duration", Attribute, Refuse),
    field("StopAfterClientDisconnect", "stop_after_client_disconnect", Attribute, Refuse),
    field("MaxClientDisconnect", "max_client_disconnect", Attribute, Refuse),
    field("PreventRescheduleOnLost", "prevent_reschedule_on_lost", Attribute, Refuse),
    field("Scaling", "scaling", Block, Refuse),
    field("Consul", "consul", Block, Refuse),
    field("", "vault", Block, Refuse),
];

/// Nomad's `Task` fields Drover does not implement.
pub(crate) const TASK: &[NomadField] = &[
    field("Lifecycle", "lifecycle", Block, Refuse),
    hinted("Affinities", "affinity", Blocks, Warn, PREFERENCE),
    field("Services", "service", Blocks, Refuse),
    hinted(
        "RestartPolicy",
        "restart",
        Block,
        Refuse,
        "in a task, write restart in the group (it applies to every task)",
    ),
    field("Artifacts", "artifact", Blocks, Refuse),
    field("Vault", "vault", Block, Refuse),
    field("Consul", "consul", Block, Refuse),
    field("Templates", "template", Blocks, Refuse),
    field("VolumeMounts", "volume_mount", Blocks, Refuse),
    field("CSIPluginConfig", "csi_plugin", Block, Refuse),
    field("ShutdownDelay", "shutdown_delay", Attribute, Refuse),
    field("Kind", "kind", Attribute, Refuse),
    field("ScalingPolicies", "scaling", Blocks, Refuse),
    field("Secrets", "secret", Blocks, Refuse),
    field("Identity", "", Block, Refuse),
    field("Identities", "identity", Blocks, Refuse),
    field("Actions", "action", Blocks, Refuse),
    field("Schedule", "schedule", Block, Refuse),
];

/// Nomad's `Resources` fields Drover does not implement.
pub(crate) const RESOURCES: &[NomadField] = &[
    field("Cores", "cores", Attribute, Refuse),
    field("MemoryMaxMB", "memory_max", Attribute, Refuse),
    field("SecretsMB", "secrets", Attribute, Refuse),
    field("Networks", "network", Blocks, Refuse),
    field("Devices", "device", Blocks, Refuse),
    field("NUMA", "numa", Block, Refuse),
    // Deprecated since Nomad 0.9 and ignored by Nomad itself.
    field("IOPS", "iops", Attribute, Drop),
];

/// Nomad's `RestartPolicy` fields Drover does not implement.
pub(crate) const RESTART: &[NomadField] = &[
    // Only about templates, which are refused.
    field("RenderTemplates", "render_templates", Attribute, Drop),
];

/// Nomad's `LogConfig` fields Drover does not implement.
pub(crate) const LOG_CONFIG: &[NomadField] = &[
    field("Disabled", "disabled", Attribute, Refuse),
    // Nomad's pre-1.5.4 spelling, kept by Nomad for compatibility and ignored.
    field("Enabled", "enabled", Attribute, Drop),
];

/// Nomad's `JobRegisterRequest` fields Drover does not implement.
pub(crate) const REGISTER_REQUEST: &[NomadField] = &[
    // The submitted source: Drover keeps the job, not its source.
    field("Submission", "", Block, Drop),
    // Sentinel policies (Nomad Enterprise): Drover has none to override.
    field("PolicyOverride", "", Attribute, Drop),
    field("PreserveResources", "", Attribute, Refuse),
    // Nomad's WriteRequest: the query string and headers say these.
    field("Region", "", Attribute, Drop),
    field("Namespace", "", Attribute, Drop),
    field("SecretID", "", Attribute, Drop),
];

/// Nomad's `JobPlanRequest` fields Drover does not implement.
pub(crate) const PLAN_REQUEST: &[NomadField] = &[
    field("PolicyOverride", "", Attribute, Drop),
    field("Region", "", Attribute, Drop),
    field("Namespace", "", Attribute, Drop),
    field("SecretID", "", Attribute, Drop),
];

/// One object kind of a job, or a request body carrying one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Level {
    /// `PUT /v1/jobs`, `POST /v1/job/:id`.
    RegisterRequest,
    /// `POST /v1/job/:id/plan`.
    PlanRequest,
    /// The job.
    Job,
    /// A task group.
    Group,
    /// A task.
    Task,
    /// A task's resources.
    Resources,
    /// A constraint (job, group or task).
    Constraint,
    /// A group's restart policy.
    Restart,
    /// A group's (or Nomad's job-level) reschedule policy.
    Reschedule,
    /// A group's ephemeral disk.
    EphemeralDisk,
    /// A task's log rotation.
    LogConfig,
    /// A task's dispatch payload file.
    DispatchPayload,
    /// The job's `parameterized` block.
    Parameterized,
    /// The job's `periodic` block.
    Periodic,
    /// One of the job's schedules (Drover).
    Schedule,
    /// The job's run policy (Drover).
    RunPolicy,
}

/// How a modeled key holds a nested level.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Nested {
    /// One object.
    One(Level),
    /// A list of objects.
    List(Level),
}

/// Every level, for tests and the modeled-keys table.
pub(crate) const LEVELS: &[Level] = &[
    Level::RegisterRequest,
    Level::PlanRequest,
    Level::Job,
    Level::Group,
    Level::Task,
    Level::Resources,
    Level::Constraint,
    Level::Restart,
    Level::Reschedule,
    Level::EphemeralDisk,
    Level::LogConfig,
    Level::DispatchPayload,
    Level::Parameterized,
    Level::Periodic,
    Level::Schedule,
    Level::RunPolicy,
];

/// The JSON keys of `T`'s serialization (all of them: the job types skip none).
fn keys_of<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Deserializes `value` as `T`, for locating a type error.
fn reads_as<'a, T: Deserialize<'a>>(value: &'a Value) -> Result<(), String> {
    T::deserialize(value).map(|_| ()).map_err(|err| err.to_string())
}

static MODELED: LazyLock<Vec<(Level, Vec<String>)>> = LazyLock::new(|| {
    LEVELS
        .iter()
        .map(|level| {
            let keys = match level {
                Level::RegisterRequest => keys_of::<JobRegisterRequest>(),
                Level::PlanRequest => keys_of::<JobPlanRequest>(),
                Level::Job => keys_of::<Job>(),
                Level::Group => keys_of::<TaskGroup>(),
                Level::Task => keys_of::<Task>(),
                Level::Resources => keys_of::<Resources>(),
                Level::Constraint => keys_of::<Constraint>(),
                Level::Restart => keys_of::<RestartPolicy>(),
                Level::Reschedule => keys_of::<ReschedulePolicy>(),
                Level::EphemeralDisk => keys_of::<EphemeralDisk>(),
                Level::LogConfig => keys_of::<LogConfig>(),
                Level::DispatchPayload => keys_of::<DispatchPayloadConfig>(),
                Level::Parameterized => keys_of::<ParameterizedJobConfig>(),
                Level::Periodic => keys_of::<PeriodicConfig>(),
                Level::Schedule => keys_of::<JobSchedule>(),
                Level::RunPolicy => keys_of::<RunPolicy>(),
            };
            (*level, keys)
        })
        .collect()
});

impl Level {
    /// The keys serde reads at this level.
    pub(crate) fn modeled(self) -> &'static [String] {
        MODELED.iter().find(|(level, _)| *level == self).map_or(&[], |(_, keys)| keys.as_slice())
    }

    /// Nomad's fields at this level that Drover does not implement.
    pub(crate) fn nomad(self) -> &'static [NomadField] {
        match self {
            Level::RegisterRequest => REGISTER_REQUEST,
            Level::PlanRequest => PLAN_REQUEST,
            Level::Job => JOB,
            Level::Group => GROUP,
            Level::Task => TASK,
            Level::Resources => RESOURCES,
            Level::Restart => RESTART,
            Level::LogConfig => LOG_CONFIG,
            Level::Constraint
            | Level::Reschedule
            | Level::EphemeralDisk
            | Level::DispatchPayload
            | Level::Parameterized
            | Level::Periodic
            | Level::Schedule
            | Level::RunPolicy => &[],
        }
    }

    /// The modeled keys that hold nested levels (the others are scalars or
    /// free-form maps such as `Meta`, `Env`, `Config` and `Update`).
    pub(crate) fn nested(self) -> &'static [(&'static str, Nested)] {
        match self {
            Level::RegisterRequest | Level::PlanRequest => &[("Job", Nested::One(Level::Job))],
            Level::Job => &[
                ("TaskGroups", Nested::List(Level::Group)),
                ("Constraints", Nested::List(Level::Constraint)),
                ("Periodic", Nested::One(Level::Periodic)),
                ("ParameterizedJob", Nested::One(Level::Parameterized)),
                ("Schedules", Nested::List(Level::Schedule)),
                ("RunPolicy", Nested::One(Level::RunPolicy)),
            ],
            Level::Group => &[
                ("Constraints", Nested::List(Level::Constraint)),
                ("Tasks", Nested::List(Level::Task)),
                ("RestartPolicy", Nested::One(Level::Restart)),
                ("ReschedulePolicy", Nested::One(Level::Reschedule)),
                ("EphemeralDisk", Nested::One(Level::EphemeralDisk)),
            ],
            Level::Task => &[
                ("Resources", Nested::One(Level::Resources)),
                ("Constraints", Nested::List(Level::Constraint)),
                ("DispatchPayload", Nested::One(Level::DispatchPayload)),
                ("LogConfig", Nested::One(Level::LogConfig)),
            ],
            _ => &[],
        }
    }

    /// Whether `value` deserializes as this level's type; the serde message if not.
    pub(crate) fn reads(self, value: &Value) -> Result<(), String> {
        match self {
            Level::RegisterRequest => reads_as::<JobRegisterRequest>(value),
            Level::PlanRequest => reads_as::<JobPlanRequest>(value),
            Level::Job => reads_as::<Job>(value),
            Level::Group => reads_as::<TaskGroup>(value),
            Level::Task => reads_as::<Task>(value),
            Level::Resources => reads_as::<Resources>(value),
            Level::Constraint => reads_as::<Constraint>(value),
            Level::Restart => reads_as::<RestartPolicy>(value),
            Level::Reschedule => reads_as::<ReschedulePolicy>(value),
            Level::EphemeralDisk => reads_as::<EphemeralDisk>(value),
            Level::LogConfig => reads_as::<LogConfig>(value),
            Level::DispatchPayload => reads_as::<DispatchPayloadConfig>(value),
            Level::Parameterized => reads_as::<ParameterizedJobConfig>(value),
            Level::Periodic => reads_as::<PeriodicConfig>(value),
            Level::Schedule => reads_as::<JobSchedule>(value),
            Level::RunPolicy => reads_as::<RunPolicy>(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_modeled_keys_and_no_key_is_both_modeled_and_unimplemented() {
        for level in LEVELS {
            let modeled = level.modeled();
            assert!(!modeled.is_empty(), "{level:?}: no keys from serde");
            for field in level.nomad() {
                assert!(
                    field.json.is_empty() || !modeled.iter().any(|key| key == field.json),
                    "{level:?}.{}: Drover reads it now; remove its row from fields.rs",
                    field.json
                );
            }
            for (key, _) in level.nested() {
                assert!(modeled.iter().any(|modeled_key| modeled_key == key), "{level:?}.{key}: not a modeled key");
            }
        }
    }

    #[test]
    fn set_means_what_nomad_would_act_on() {
        let block = field("Vault", "vault", Block, Refuse);
        assert!(!block.is_set(&Value::Null));
        assert!(block.is_set(&serde_json::json!({})));
        let blocks = field("Templates", "template", Blocks, Refuse);
        assert!(!blocks.is_set(&serde_json::json!([])));
        assert!(!blocks.is_set(&serde_json::json!({})));
        assert!(blocks.is_set(&serde_json::json!([{"DestPath": "local/x"}])));
        let attribute = field("ShutdownDelay", "shutdown_delay", Attribute, Refuse);
        for unset in [serde_json::json!(0), serde_json::json!(false), serde_json::json!(""), Value::Null] {
            assert!(!attribute.is_set(&unset), "{unset}");
        }
        assert!(attribute.is_set(&serde_json::json!(5_000_000_000_u64)));
        assert_eq!(block.refusal(), "the \"vault\" block is not supported yet");
        assert_eq!(field("Identity", "", Block, Refuse).refusal(), "the \"Identity\" field is not supported yet");
        assert_eq!(
            hcl_field(TASK, "restart", true).map(NomadField::refusal).as_deref(),
            Some(
                "the \"restart\" block is not supported yet; in a task, write restart in the group (it applies to every task)"
            )
        );
        assert!(hcl_field(TASK, "restart", false).is_none(), "restart is a block, not an attribute");
    }
}

//! The general options every server-facing command takes, and the argv
//! normalisation that lets Nomad-style single-dash long flags through clap.
//!
//! Parsing stays free of I/O: [`GeneralOptions`] is what the user typed;
//! [`GeneralOptions::resolve`] then reads the environment (`DROVER_*`, with the
//! `NOMAD_*` spellings as fallbacks) and builds the client configuration.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::ui::Ui;

/// The address used when neither `-address` nor `DROVER_ADDR` is set.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4747";

/// General options (seed 000 "General Options"), flattened into every command
/// that talks to a server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GeneralOptions {
    /// The address of the Drover server [env: DROVER_ADDR] [default: http://127.0.0.1:4747]
    #[arg(long, value_name = "addr")]
    pub address: Option<String>,
    /// The region of the server to forward commands to [env: DROVER_REGION]
    #[arg(long, value_name = "region")]
    pub region: Option<String>,
    /// The target namespace [env: DROVER_NAMESPACE] [default: default]
    #[arg(long, value_name = "namespace")]
    pub namespace: Option<String>,
    /// The SecretID of an ACL token [env: DROVER_TOKEN]
    #[arg(long, value_name = "token")]
    pub token: Option<String>,
    /// Disables colored output [env: DROVER_CLI_NO_COLOR]
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Forces colored output [env: DROVER_CLI_FORCE_COLOR]
    #[arg(long = "force-color")]
    pub force_color: bool,
    /// PEM CA cert file to verify the server [env: DROVER_CACERT]
    #[arg(long = "ca-cert", value_name = "path")]
    pub ca_cert: Option<PathBuf>,
    /// Directory of PEM CA cert files [env: DROVER_CAPATH]
    #[arg(long = "ca-path", value_name = "path")]
    pub ca_path: Option<PathBuf>,
    /// PEM client certificate [env: DROVER_CLIENT_CERT]
    #[arg(long = "client-cert", value_name = "path")]
    pub client_cert: Option<PathBuf>,
    /// Unencrypted PEM key of the client certificate [env: DROVER_CLIENT_KEY]
    #[arg(long = "client-key", value_name = "path")]
    pub client_key: Option<PathBuf>,
    /// Server name for SNI and certificate checks [env: DROVER_TLS_SERVER_NAME]
    #[arg(long = "tls-server-name", value_name = "value")]
    pub tls_server_name: Option<String>,
    /// Do not verify the server certificate [env: DROVER_SKIP_VERIFY]
    #[arg(long = "tls-skip-verify")]
    pub tls_skip_verify: bool,
}

/// Where environment values come from; a function so tests need no real environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring empty values.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `DROVER_<suffix>`, else `NOMAD_<suffix>`.
fn env_either(env: EnvLookup<'_>, suffix: &str) -> Option<String> {
    env(&format!("DROVER_{suffix}")).or_else(|| env(&format!("NOMAD_{suffix}")))
}

fn env_bool(env: EnvLookup<'_>, suffix: &str) -> bool {
    env_either(env, suffix).is_some_and(|value| !matches!(value.to_ascii_lowercase().as_str(), "0" | "false" | "no"))
}

impl GeneralOptions {
    /// The client configuration: flags first, then `DROVER_*`, then `NOMAD_*`, then defaults.
    pub fn client_config(&self, env: EnvLookup<'_>) -> drover_api::ClientConfig {
        let pick = |flag: &Option<String>, suffix: &str| flag.clone().or_else(|| env_either(env, suffix));
        let pick_path =
            |flag: &Option<PathBuf>, suffix: &str| flag.clone().or_else(|| env_either(env, suffix).map(PathBuf::from));
        drover_api::ClientConfig {
            address: pick(&self.address, "ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_string()),
            region: pick(&self.region, "REGION").unwrap_or_default(),
            namespace: pick(&self.namespace, "NAMESPACE")
                .unwrap_or_else(|| drover_types::DEFAULT_NAMESPACE.to_string()),
            token: pick(&self.token, "TOKEN").unwrap_or_default(),
            ca_cert: pick_path(&self.ca_cert, "CACERT"),
            ca_path: pick_path(&self.ca_path, "CAPATH"),
            client_cert: pick_path(&self.client_cert, "CLIENT_CERT"),
            client_key: pick_path(&self.client_key, "CLIENT_KEY"),
            tls_server_name: pick(&self.tls_server_name, "TLS_SERVER_NAME"),
            tls_skip_verify: self.tls_skip_verify || env_bool(env, "SKIP_VERIFY"),
            ..drover_api::ClientConfig::default()
        }
    }

    /// Whether output is coloured: never with `-no-color`, always with
    /// `-force-color`, else when stdout is a terminal.
    pub fn color(&self, env: EnvLookup<'_>, stdout_is_terminal: bool) -> bool {
        if self.no_color || env_bool(env, "CLI_NO_COLOR") {
            return false;
        }
        if self.force_color || env_bool(env, "CLI_FORCE_COLOR") {
            return true;
        }
        stdout_is_terminal
    }

    /// Resolves the options against the process environment: a client and
    /// the output settings.
    pub fn resolve(&self) -> anyhow::Result<(drover_api::Client, Ui)> {
        let config = self.client_config(&process_env);
        let client = drover_api::Client::new(config).context("Error initializing client")?;
        let ui = Ui::new(self.color(&process_env, std::io::stdout().is_terminal()));
        Ok((client, ui))
    }
}

/// Rewrites Nomad-style single-dash long flags (`-detach`, `-check-index=7`)
/// to clap's double-dash form. `-` (stdin), single-letter flags (`-n`, `-f`),
/// negative numbers, double-dash flags and everything after `--` are kept.
/// The first element (the program name) is never touched.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (idx, arg) in args.into_iter().enumerate() {
        if idx == 0 || passthrough {
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        if needs_second_dash(text) {
            out.push(OsString::from(format!("-{text}")));
        } else {
            out.push(arg);
        }
    }
    out
}

fn needs_second_dash(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('-') else { return false };
    if rest.starts_with('-') {
        return false;
    }
    let name = rest.split('=').next().unwrap_or(rest);
    if name.chars().count() < 2 {
        return false;
    }
    let is_number = rest.parse::<f64>().is_ok();
    !is_number
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], expect: &[&str]) {
        let mut args = vec![OsString::from("drover")];
        args.extend(input.iter().map(OsString::from));
        let got = normalize_args(args);
        let got: Vec<String> = got[1..].iter().map(|arg| arg.to_string_lossy().into_owned()).collect();
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn normalize_args_table() {
        check(&["job", "run", "-detach", "x.hcl"], &["job", "run", "--detach", "x.hcl"]);
        check(&["-address=http://x", "status"], &["--address=http://x", "status"]);
        check(&["-address", "http://x"], &["--address", "http://x"]);
        check(&["-check-index=7", "-check-index", "7"], &["--check-index=7", "--check-index", "7"]);
        check(&["-meta", "k=v"], &["--meta", "k=v"]);
        check(&["--detach", "--verbose"], &["--detach", "--verbose"]);
        check(&["job", "run", "-"], &["job", "run", "-"]);
        check(&["-n", "5", "-f", "-c", "100"], &["-n", "5", "-f", "-c", "100"]);
        check(&["-5", "-1.5", "-10"], &["-5", "-1.5", "-10"]);
        check(&["-x=1"], &["-x=1"]);
        check(&["-tail", "--", "-detach", "-verbose"], &["--tail", "--", "-detach", "-verbose"]);
        check(&["agent", "-dev"], &["agent", "--dev"]);
        check(&["-diff=false"], &["--diff=false"]);
    }

    #[test]
    fn program_name_is_kept() {
        let got = normalize_args(vec![OsString::from("-weird"), OsString::from("-verbose")]);
        assert_eq!(got, vec![OsString::from("-weird"), OsString::from("--verbose")]);
    }

    #[test]
    fn config_prefers_flags_then_drover_then_nomad_env() {
        let env = |name: &str| match name {
            "DROVER_ADDR" => Some("http://drover:1".to_string()),
            "NOMAD_ADDR" => Some("http://nomad:2".to_string()),
            "NOMAD_TOKEN" => Some("secret".to_string()),
            "NOMAD_SKIP_VERIFY" => Some("1".to_string()),
            _ => None,
        };
        let config = GeneralOptions::default().client_config(&env);
        assert_eq!(config.address, "http://drover:1");
        assert_eq!(config.token, "secret");
        assert_eq!(config.namespace, "default");
        assert!(config.tls_skip_verify);
        let flags = GeneralOptions { address: Some("http://flag:3".to_string()), ..GeneralOptions::default() };
        assert_eq!(flags.client_config(&env).address, "http://flag:3");
        let none = |_: &str| None;
        assert_eq!(GeneralOptions::default().client_config(&none).address, DEFAULT_ADDRESS);
    }

    #[test]
    fn color_rules() {
        let none = |_: &str| None;
        let no_color_env = |name: &str| (name == "NOMAD_CLI_NO_COLOR").then(|| "1".to_string());
        assert!(!GeneralOptions::default().color(&none, false));
        assert!(GeneralOptions::default().color(&none, true));
        assert!(!GeneralOptions { no_color: true, ..GeneralOptions::default() }.color(&none, true));
        assert!(GeneralOptions { force_color: true, ..GeneralOptions::default() }.color(&none, false));
        assert!(
            !GeneralOptions { force_color: true, ..GeneralOptions::default() }.color(&no_color_env, true),
            "-no-color (env) beats -force-color"
        );
    }
}

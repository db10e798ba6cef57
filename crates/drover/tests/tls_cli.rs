//! The CLI against an HTTPS server: `-ca-cert` verifies it, `-tls-server-name`
//! checks the certificate under another name than the address, and
//! `-tls-skip-verify` skips checking; without trust the CLI refuses with one line.
//! Certificates are made with the `openssl` command for each run.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Agent, free_port, run_cli};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).status().expect("run openssl (is it installed?)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A CA and a server certificate valid only for the DNS name `drover.test`.
fn make_certs(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=drover-test-ca"]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=drover.test"]);
    openssl(dir, &csr);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:drover.test\n").expect("write ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
}

#[test]
fn cli_talks_to_an_https_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    make_certs(&certs);
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).expect("data dir");
    let config = data.join("tls.hcl");
    std::fs::write(
        &config,
        format!(
            "tls {{\n  http = true\n  cert_file = \"{}\"\n  key_file = \"{}\"\n}}\n",
            certs.join("server.pem").display(),
            certs.join("server.key").display()
        ),
    )
    .expect("write config");
    let port = free_port();
    let address = format!("https://127.0.0.1:{port}");
    let mut agent = Agent::start_with(
        vec![
            "agent".into(),
            "-server".into(),
            format!("-http-port={port}"),
            format!("-data-dir={}", data.display()),
            format!("-config={}", config.display()),
        ],
        address.clone(),
        &data,
        false,
    );
    let ca = certs.join("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");
    let work = dir.path();

    // Verified against the CA under the certificate's name.
    let verified = common::wait_for("HTTPS API up", std::time::Duration::from_secs(30), || {
        let out = run_cli(work, &address, &["job", "status", "-ca-cert", ca, "-tls-server-name", "drover.test"], None);
        (out.code == 0).then_some(out)
    });
    verified.expect_stdout("No running jobs");

    // The same through the environment variables.
    let mut command = Command::new(common::drover_bin());
    let out = command
        .args(["node", "status"])
        .env("DROVER_ADDR", &address)
        .env("DROVER_CACERT", ca)
        .env("DROVER_TLS_SERVER_NAME", "drover.test")
        .output()
        .expect("run drover");
    assert!(out.status.success(), "env TLS settings: {}", String::from_utf8_lossy(&out.stderr));

    // The address's own name (127.0.0.1) is not in the certificate: refused.
    let wrong_name = run_cli(work, &address, &["job", "status", "-ca-cert", ca], None);
    wrong_name.expect_code(1);
    assert!(!wrong_name.stderr.contains("panicked"), "{}", wrong_name.stderr);

    // No trust at all: refused; skip-verify: accepted.
    run_cli(work, &address, &["job", "status"], None).expect_code(1);
    run_cli(work, &address, &["job", "status", "-tls-skip-verify"], None).expect_code(0);

    // Plain HTTP to the HTTPS port is refused too.
    run_cli(work, &format!("http://127.0.0.1:{port}"), &["job", "status"], None).expect_code(1);
    agent.stop();
}

#[test]
fn tls_needs_a_certificate_and_a_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("tls.hcl");
    std::fs::write(&config, "tls {\n  http = true\n  cert_file = \"/nonexistent/cert.pem\"\n}\n").expect("config");
    let out = Command::new(common::drover_bin())
        .args(["agent", "-server", "-data-dir"])
        .arg(dir.path())
        .arg(format!("-config={}", config.display()))
        .arg(format!("-http-port={}", free_port()))
        .output()
        .expect("run drover");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs both cert_file and key_file"), "{:?}", out);
}

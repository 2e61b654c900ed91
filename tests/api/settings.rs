//! Bad settings stop the start with one line naming key, value and origin; exit
//! code 2.

use std::process::Output;

use super::helpers::*;

async fn run(args: &[&str], env: &[(&str, &str)], toml: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = server_command(dir.path(), args);
    if let Some(text) = toml {
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        command.args(["--config", "bad.toml"]);
    }
    command.envs(env.iter().copied());
    let output = tokio::time::timeout(WAIT, command.output()).await;
    output.expect("exits in time").expect("runs")
}

fn one_error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "exit code 2");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn an_unknown_key_in_the_file_is_named_with_value_and_file() {
    let output = run(
        &["--check-config"],
        &[],
        Some("[server]\nbindd = \"0.0.0.0:1\"\n"),
    )
    .await;
    let line = one_error_line(&output);
    assert!(
        line.contains("`server.bindd`") && line.contains("\"0.0.0.0:1\""),
        "{line}"
    );
    assert!(line.contains("bad.toml"), "{line}");
}

#[tokio::test]
async fn a_bad_value_from_the_environment_names_its_origin() {
    let env = [("ARANET__SERVER__BROADCAST_BUFFER", "0")];
    let line = one_error_line(&run(&[], &env, None).await);
    assert!(line.contains("`server.broadcast_buffer` = \"0\""), "{line}");
    assert!(line.contains("environment"), "{line}");
}

#[tokio::test]
async fn a_wrongly_typed_value_in_the_file_is_rejected() {
    let toml = "[simulator]\ninterval_ms = \"fast\"\n";
    let line = one_error_line(&run(&[], &[], Some(toml)).await);
    assert!(
        line.contains("simulator.interval_ms") && line.contains("fast"),
        "{line}"
    );
    assert!(line.contains("bad.toml"), "{line}");
}

#[tokio::test]
async fn a_bad_bind_flag_is_rejected() {
    let line = one_error_line(&run(&["--bind", "nowhere:port"], &[], None).await);
    assert!(
        line.contains("`server.bind` = \"nowhere:port\" in command line"),
        "{line}"
    );
}

#[tokio::test]
async fn a_missing_config_file_is_an_error() {
    let output = run(&["--config", "missing.toml"], &[], None).await;
    let line = one_error_line(&output);
    assert!(line.contains("missing.toml"), "{line}");
}

#[tokio::test]
async fn check_config_accepts_the_committed_server_toml() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/server.toml");
    let output = run(&["--check-config", "--config", path], &[], None).await;
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("settings ok"));
}

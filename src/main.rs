//! The `aranet-service` binary: parses the CLI, loads settings, starts logging,
//! runs.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;
use std::process::ExitCode;

use aranet_service::settings::{Overrides, Settings};
use aranet_service::startup::Application;
use clap::Parser;

/// Exit code for settings that cannot be used.
const EXIT_BAD_SETTINGS: u8 = 2;

/// Stores Aranet sensor readings and streams them live over WebSocket.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Settings file [default: config/server.toml when present]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to listen on, like 127.0.0.1:8080 (overrides `server.bind`)
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// SQLite database file (overrides `database.path`)
    #[arg(long, value_name = "PATH")]
    database: Option<PathBuf>,
    /// Use simulated sensors instead of a Bluetooth adapter
    #[arg(long)]
    simulate: bool,
    /// Validate the settings and exit
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // bluez-async logs routine steps ("Services already resolved") at info.
    let default_filter = "info,bluez_async=warn";
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .init();
    let overrides = Overrides {
        config_file: cli.config,
        bind: cli.bind,
        database: cli.database,
        simulate: cli.simulate,
    };
    let settings = match Settings::load(&overrides) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("aranet-service: {err}");
            return ExitCode::from(EXIT_BAD_SETTINGS);
        }
    };
    if cli.check_config {
        let file = settings
            .file
            .as_ref()
            .map_or("no file".into(), |f| f.display().to_string());
        println!("settings ok ({file})");
        return ExitCode::SUCCESS;
    }
    match actix_rt::System::new().block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::error!("service failed error={err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

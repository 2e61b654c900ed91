//! The Rust client from `../shared/spec/websocket-api.txt`, unchanged but for
//! restored indentation and the lint allowance below (it never reads some
//! fields it declares). `.ci/real-clients` runs it against the release binary
//! on localhost:8080.
#![allow(dead_code)]

use futures_util::StreamExt;
use serde::Deserialize;
use tokio_tungstenite::connect_async;

#[derive(Debug, Deserialize)]
struct ReadingEvent {
    device_id: String,
    reading: Reading,
}

#[derive(Debug, Deserialize)]
struct Reading {
    co2: u16,
    temperature: f32,
    humidity: u8,
    pressure: f32,
    battery: u8,
    status: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = "ws://localhost:8080/api/ws";
    let (ws_stream, _) = connect_async(url).await?;
    println!("Connected to Aranet WebSocket");
    let (_, mut read) = ws_stream.split();
    while let Some(msg) = read.next().await {
        if let Ok(msg) = msg {
            if let Ok(text) = msg.into_text() {
                let event: ReadingEvent = serde_json::from_str(&text)?;
                println!("Device: {}", event.device_id);
                println!(" CO2: {} ppm", event.reading.co2);
                println!(" Temp: {}°C", event.reading.temperature);
            }
        }
    }
    Ok(())
}

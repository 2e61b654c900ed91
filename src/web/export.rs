//! CSV export of a device's readings, streamed a page at a time so that
//! years of readings never sit in memory at once.

use std::fmt::Write as _;

use actix::Addr;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};

use crate::actors::archive::{Archive, FetchReadings};
use crate::db::{models::Reading, Position, ReadingsQuery};
use crate::error::Error;

/// Rows fetched from the database per chunk of the response.
const PAGE_ROWS: u64 = 1000;
/// The columns, in the order of the WebSocket payload's `reading`.
const HEADER: &str = "id,device_id,co2,temperature,humidity,pressure,battery,status,\
                      captured_at,radon,radiation_rate,radiation_total\n";

/// The rows of `query`, newest first, at most `limit` of them. The first
/// page is read before the status line goes out, so a database that cannot
/// be read gets the usual JSON error rather than an empty 200.
pub async fn csv_response(
    archive: Addr<Archive>,
    query: ReadingsQuery,
    limit: Option<u64>,
) -> Result<HttpResponse, Error> {
    let filename = format!("{}.csv", file_safe(&query.device_id));
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(filename)],
    };
    let mut export = Export {
        archive,
        query,
        remaining: limit.unwrap_or(u64::MAX),
        header_sent: false,
    };
    let first = export.next_chunk().await?;
    let body = stream::iter(first.map(Ok)).chain(csv_stream(export));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(disposition)
        .streaming(body))
}

/// Where an export is: the next page starts after `query.after`.
struct Export {
    archive: Addr<Archive>,
    query: ReadingsQuery,
    remaining: u64,
    header_sent: bool,
}

/// The chunks after those `export` has given already.
fn csv_stream(export: Export) -> impl Stream<Item = Result<Bytes, Error>> {
    stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(export))),
            Ok(None) => None,
            Err(err) => {
                // The status line is long gone: ending the stream with an
                // error cuts the response short, so the client sees a
                // truncated transfer instead of a complete-looking file.
                log::warn!(
                    "csv export failed device={} error={err}",
                    export.query.device_id
                );
                Some((Err(err), None))
            }
        }
    })
}

impl Export {
    /// The next page as CSV (the header first); `None` when done.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let mut text = String::new();
        if !std::mem::replace(&mut self.header_sent, true) {
            text.push_str(HEADER);
        }
        let rows = self.next_page().await?;
        for row in &rows {
            write_row(&mut text, row);
        }
        Ok((!text.is_empty()).then(|| Bytes::from(text)))
    }

    async fn next_page(&mut self) -> Result<Vec<Reading>, Error> {
        let page = self.remaining.min(PAGE_ROWS);
        if page == 0 {
            return Ok(Vec::new());
        }
        let mut query = self.query.clone();
        query.limit = page as i64;
        let rows = self.archive.send(FetchReadings(query)).await??;
        // A short page is the last one.
        self.remaining = match rows.len() as u64 {
            n if n < page => 0,
            n => self.remaining - n,
        };
        if let Some(last) = rows.last() {
            self.query.after = Some(Position {
                captured_at: last.captured_at.clone(),
                id: last.id,
            });
        }
        Ok(rows)
    }
}

fn write_row(out: &mut String, r: &Reading) {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let integer = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_default();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{}",
        r.id,
        quoted(&r.device_id),
        integer(r.co2),
        number(r.temperature),
        number(r.humidity),
        number(r.pressure),
        integer(r.battery),
        r.status.as_deref().map(quoted).unwrap_or_default(),
        r.captured_at,
        integer(r.radon),
        number(r.radiation_rate),
        number(r.radiation_total),
    );
}

/// A field quoted as RFC 4180 asks when it holds a comma, quote or line
/// break.
fn quoted(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A device id as a file name: letters, digits, `-` and `_` kept, the rest `_`.
fn file_safe(device_id: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    device_id
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Reading {
        Reading {
            id: 7,
            device_id: "Kitchen, \"north\"".into(),
            co2: Some(812),
            temperature: Some(21.05),
            humidity: Some(45.0),
            pressure: Some(1013.2),
            battery: Some(90),
            status: Some("Green".into()),
            captured_at: "2024-01-15T10:30:00Z".into(),
            radon: None,
            radiation_rate: None,
            radiation_total: None,
        }
    }

    #[test]
    fn a_row_has_every_column_and_quotes_what_needs_it() {
        let mut out = String::new();
        write_row(&mut out, &reading());
        assert_eq!(
            out,
            "7,\"Kitchen, \"\"north\"\"\",812,21.05,45,1013.2,90,Green,\
             2024-01-15T10:30:00Z,,,\n"
        );
        // One comma is inside the quoted device id.
        assert_eq!(out.matches(',').count() - 1, HEADER.matches(',').count());
    }

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_safe("Aranet☢ 27DB3/../x"), "Aranet__27DB3____x");
    }
}

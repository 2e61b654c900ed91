//! The dashboard at `/`: one HTML page with its script, style and icon,
//! compiled into the binary so that it works on a machine without internet.
//! The page holds no data; it fetches it with the API key the user gives.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};

/// Path, content type and content of every file the page uses.
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
    (
        "/assets/icon.svg",
        "image/svg+xml",
        include_str!("dashboard/icon.svg"),
    ),
];

/// Registers a GET route per asset.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, content_type, body) in ASSETS {
        let serve = move || async move { asset(content_type, body) };
        cfg.route(path, web::get().to(serve));
    }
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Revalidate each time, so an upgraded binary's page is used at once.
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

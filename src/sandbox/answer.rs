//! Answers in Plivo's shape: an error status with Plivo's error body and a fresh `api_id`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An error answer: a status and Plivo's error body with a fresh `api_id`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "api_id": api_id(), "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

pub fn fail(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        message: message.to_owned(),
    }
}

/// Plivo's error body with a fresh `api_id`, as a response.
pub fn error(status: StatusCode, message: &str) -> Response {
    fail(status, message).into_response()
}

pub fn api_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

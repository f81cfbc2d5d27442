//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, generated from the route table
//! ([`ROUTES`]) the router itself is built from, so a route cannot be served
//! without being documented. It describes paths, methods, path parameters, authentication
//! and the shared error shape. Request bodies carry their Rust type's name and an example that
//! a test parses with the handler's own parser, so an example cannot drift from its type; full
//! JSON Schemas per type would need `utoipa` derives (not added: the shared vocabulary and
//! store rows it would have to annotate belong to other modules).

use axum::Json;
use serde_json::{json, Map, Value};

use super::{RouteDoc, ROUTES};

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build(ROUTES))
}

/// The document for `routes`.
pub fn build(routes: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(item) = item else { continue };
        item.insert(route.method.to_owned(), operation(route));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "OneStatus side API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The web client's API: presence, forwarding, voicemail, phonebook. \
                JSON in and out; times are RFC 3339 with offset; errors are \
                {\"error\": {\"code\", \"message\", \"field\"}}."
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": { "type": "string" },
                                "message": { "type": "string" },
                                "field": { "type": ["string", "null"] }
                            }
                        }
                    }
                }
            },
            "responses": {
                "Error": {
                    "description": "An error in the API's shape",
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            }
        }
    })
}

/// `{name}` segments of a path template.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn operation(route: &RouteDoc) -> Value {
    let parameters: Vec<Value> = path_parameters(route.path)
        .into_iter()
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true,
                    "schema": { "type": "integer", "format": "int64" } })
        })
        .collect();
    let operation_id = format!(
        "{}{}",
        route.method,
        route
            .path
            .trim_start_matches("/api/v1")
            .replace(['/', '-', '.'], "_")
            .replace(['{', '}'], "")
    );
    let mut op = json!({
        "summary": route.summary,
        "operationId": operation_id,
        "parameters": parameters,
        "responses": {
            "2XX": { "description": "Success" },
            "4XX": { "$ref": "#/components/responses/Error" },
            "5XX": { "$ref": "#/components/responses/Error" }
        }
    });
    if let Some(body) = &route.body {
        let example: Value = serde_json::from_str(body.example).unwrap_or(Value::Null);
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": {
                "schema": { "type": "object", "title": body.type_name },
                "example": example
            } }
        });
    }
    if let Some(media_types) = route.upload {
        // OpenAPI 3.1 §4.8.14.3: binary content is described by its media type alone.
        let content: Map<String, Value> = media_types
            .iter()
            .map(|t| ((*t).to_owned(), json!({})))
            .collect();
        op["requestBody"] = json!({ "required": true, "content": content });
    }
    if route.authenticated {
        op["security"] = json!([{ "bearer": [] }, { "cookie": [] }]);
    } else {
        op["security"] = json!([]);
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_once() {
        let doc = build(ROUTES);
        for r in ROUTES {
            assert!(
                doc["paths"][r.path][r.method].is_object(),
                "{} {} missing",
                r.method,
                r.path
            );
        }
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "duplicate {} {}",
                r.method,
                r.path
            );
        }
        for r in ROUTES {
            if let Some(body) = &r.body {
                if let Err(e) = (body.parse)(body.example.as_bytes()) {
                    panic!("example of {} {} is refused: {e}", r.method, r.path);
                }
                assert!(doc["paths"][r.path][r.method]["requestBody"]["content"]
                    ["application/json"]["example"]
                    .is_object());
            }
        }
        let upload = &doc["paths"]["/api/v1/me/voicemail/greeting"]["put"]["requestBody"];
        assert!(upload["content"]["audio/mpeg"].is_object(), "{upload}");
        let with_body = ROUTES.iter().filter(|r| r.body.is_some()).count();
        assert!(with_body >= 24, "{with_body}");
        assert_eq!(
            path_parameters("/api/v1/users/{id}/absences/{absence_id}"),
            ["id", "absence_id"]
        );
    }
}

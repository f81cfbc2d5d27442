//! JSON log lines (`onestatus --log-format json`, or `ONESTATUS_LOG_FORMAT=json`): one object
//! per line for a log shipper (Loki, Elasticsearch, journald's JSON export), so an operator of
//! several nodes can search by field (a call's `call_id`, a user) instead of by text.
//!
//! Written as a `tracing-subscriber` event formatter over `serde_json` (already a dependency)
//! rather than by turning on the subscriber's `json` feature, which would pull another crate
//! for one formatter. Each line:
//! `{"timestamp","level","target","message", "fields":{…}, "spans":[{"name","fields"}…]}`,
//! spans from the root down to the event's own, with their fields as the text formatter
//! renders them.

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::clock::{Clock, SystemClock};

/// The JSON event formatter.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFormat;

/// Collects an event's fields as JSON values.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or(Value::from(""));
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(
                SystemClock
                    .now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
        );
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        line.insert("message".into(), message);
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let mut entry = Map::new();
                    entry.insert("name".into(), Value::from(span.name()));
                    if let Some(text) = span.extensions().get::<FormattedFields<N>>() {
                        if !text.is_empty() {
                            entry.insert("fields".into(), Value::from(text.as_str()));
                        }
                    }
                    Value::Object(entry)
                })
                .collect();
            if !spans.is_empty() {
                line.insert("spans".into(), Value::Array(spans));
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_json_object_per_event_with_fields_and_spans() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonFormat)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("call", call_id = "abc@host");
            let _entered = span.enter();
            tracing::warn!(calls = 2, user = "hans", "drain time over");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "drain time over");
        assert_eq!(line["fields"]["calls"], 2);
        assert_eq!(line["fields"]["user"], "hans");
        assert_eq!(line["spans"][0]["name"], "call");
        assert!(line["spans"][0]["fields"]
            .as_str()
            .unwrap()
            .contains("abc@host"));
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

//! `metav1.Status` errors with apimachinery's texts (`k8s.io/apimachinery/pkg/api/errors`) and
//! field errors (`k8s.io/apimachinery/pkg/util/validation/field`).

use libcni::json::go_quote;
use serde_json::{json, Map, Value};

use super::util::{go_float, go_sharp_v};

/// An API error: the HTTP code, the Status body and extra response headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub status: Value,
    pub headers: Vec<(String, String)>,
}

/// `schema.GroupResource.String()`: `pods`, `ipamblocks.crd.projectcalico.org`.
pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    /// A Failure Status; `reason` `""` is left out (StatusReasonUnknown), as are empty details.
    pub fn new(
        code: u16,
        reason: &str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> ApiError {
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(message.into()));
        if !reason.is_empty() {
            s.insert("reason".into(), json!(reason));
        }
        if let Some(d) = details {
            s.insert("details".into(), d);
        }
        s.insert("code".into(), json!(code));
        ApiError {
            code,
            status: Value::Object(s),
            headers: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn message(&self) -> &str {
        self.status["message"].as_str().unwrap_or("")
    }

    fn details(name: &str, group: &str, kind: &str) -> Value {
        let mut d = Map::new();
        if !name.is_empty() {
            d.insert("name".into(), json!(name));
        }
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        if !kind.is_empty() {
            d.insert("kind".into(), json!(kind));
        }
        Value::Object(d)
    }

    /// `NewNotFound`: `pods "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!(
                "{} {} not found",
                group_resource(group, resource),
                go_quote(name)
            ),
            Some(Self::details(name, group, resource)),
        )
    }

    /// `NewAlreadyExists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!(
                "{} {} already exists",
                group_resource(group, resource),
                go_quote(name)
            ),
            Some(Self::details(name, group, resource)),
        )
    }

    /// `NewConflict`: `Operation cannot be fulfilled on <gr> "<name>": <err>`.
    pub fn conflict(group: &str, resource: &str, name: &str, err: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: {err}",
                group_resource(group, resource),
                go_quote(name)
            ),
            Some(Self::details(name, group, resource)),
        )
    }

    /// `NewInvalid(qualifiedKind, name, errs)`: 422 with one cause per field error.
    pub fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> ApiError {
        let qualified = group_resource(group, kind);
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"reason": e.kind.reason(), "message": e.body(), "field": e.field}))
            .collect();
        let mut d = Self::details(name, group, kind);
        d["causes"] = Value::Array(causes);
        ApiError::new(
            422,
            "Invalid",
            format!(
                "{qualified} {} is invalid: {}",
                go_quote(name),
                aggregate(errs)
            ),
            Some(d),
        )
    }

    /// `NewBadRequest`.
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", msg, None)
    }

    /// `NewForbidden`.
    pub fn forbidden(group: &str, resource: &str, name: &str, err: &str) -> ApiError {
        let message = if resource.is_empty() && group.is_empty() {
            format!("forbidden: {err}")
        } else if name.is_empty() {
            format!("{} is forbidden: {err}", group_resource(group, resource))
        } else {
            format!(
                "{} {} is forbidden: {err}",
                group_resource(group, resource),
                go_quote(name)
            )
        };
        ApiError::new(
            403,
            "Forbidden",
            message,
            Some(Self::details(name, group, resource)),
        )
    }

    /// What the authentication filter answers for a missing or bad credential.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized", None)
    }

    /// `NewUnsupportedMediaType`-style 415 of the patch handler.
    pub fn unsupported_media_type(msg: impl Into<String>) -> ApiError {
        ApiError::new(415, "UnsupportedMediaType", msg, None)
    }

    /// A plain error that storage returned without an API status (reason Unknown, left out).
    pub fn unknown(code: u16, msg: impl Into<String>) -> ApiError {
        ApiError::new(code, "", msg, None)
    }

    /// The go-restful 404 for a path no API serves.
    pub fn route_not_found() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        )
    }

    /// The go-restful 405 for a method the route does not take.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )
    }

    /// `NewGenericServerResponse(422, ...)` with the server message as the only cause.
    pub fn unprocessable(server_message: &str) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            Some(
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": server_message}]}),
            ),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> ApiError {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// `utilerrors.NewAggregate(errs).Error()` after `ToAggregate`'s de-duplication: one message
/// plain, several in brackets.
fn aggregate(errs: &[FieldError]) -> String {
    let mut msgs: Vec<String> = Vec::new();
    for e in errs {
        let m = e.to_string();
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    if msgs.len() == 1 {
        msgs.pop().unwrap_or_default()
    } else {
        format!("[{}]", msgs.join(", "))
    }
}

/// `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    TypeInvalid,
}

impl ErrorType {
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    fn text(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
        }
    }
}

/// A bad value as `field.Error.ErrorBody` prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum BadValue {
    /// Not printed (`omitValue`).
    Omit,
    /// Printed with `%q`.
    Str(String),
    /// int64/int32/float/bool: printed with `%v`.
    Plain(String),
    /// Anything else: printed as given (Go's `%#v`).
    Raw(String),
}

impl BadValue {
    /// How a decoded JSON value prints (`int64` and `float64` with `%v`, maps/slices `%#v`).
    pub fn of(v: &Value) -> BadValue {
        match v {
            Value::Null => BadValue::Str("null".into()),
            Value::String(s) => BadValue::Str(s.clone()),
            Value::Bool(b) => BadValue::Plain(b.to_string()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => BadValue::Plain(i.to_string()),
                None => match n.as_u64() {
                    Some(u) => BadValue::Raw(format!("0x{u:x}")),
                    None => BadValue::Plain(go_float(n.as_f64().unwrap_or(0.0))),
                },
            },
            other => BadValue::Raw(go_sharp_v(other)),
        }
    }
}

/// `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    pub field: String,
    pub value: BadValue,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: &str, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::Required,
            field: field.into(),
            value: BadValue::Str(String::new()),
            detail: detail.into(),
        }
    }

    pub fn invalid(field: &str, value: BadValue, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::Invalid,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    pub fn type_invalid(field: &str, value: BadValue, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::TypeInvalid,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    pub fn forbidden(field: &str, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::Forbidden,
            field: field.into(),
            value: BadValue::Str(String::new()),
            detail: detail.into(),
        }
    }

    /// `field.NotSupported`: `supported values: "a", "b"`.
    pub fn not_supported(field: &str, value: BadValue, valid: &[String]) -> FieldError {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            format!(
                "supported values: {}",
                valid
                    .iter()
                    .map(|v| go_quote(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        FieldError {
            kind: ErrorType::NotSupported,
            field: field.into(),
            value,
            detail,
        }
    }

    /// `field.TooLongMaxLength`.
    pub fn too_long(field: &str, value: BadValue, max: i64) -> FieldError {
        let detail = if max >= 0 {
            format!("may not be longer than {max}")
        } else {
            "value is too long".into()
        };
        FieldError {
            kind: ErrorType::TooLong,
            field: field.into(),
            value,
            detail,
        }
    }

    /// `field.TooMany`.
    pub fn too_many(field: &str, actual: i64, max: i64) -> FieldError {
        let detail = if max >= 0 {
            format!("must have at most {max} items")
        } else {
            "has too many items".into()
        };
        FieldError {
            kind: ErrorType::TooMany,
            field: field.into(),
            value: if actual >= 0 {
                BadValue::Plain(actual.to_string())
            } else {
                BadValue::Omit
            },
            detail,
        }
    }

    /// `ErrorBody()`: the message without the field.
    pub fn body(&self) -> String {
        let mut s = match (self.kind, &self.value) {
            (ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong, _)
            | (_, BadValue::Omit) => self.kind.text().to_string(),
            (_, BadValue::Str(v)) => format!("{}: {}", self.kind.text(), go_quote(v)),
            (_, BadValue::Plain(v) | BadValue::Raw(v)) => format!("{}: {v}", self.kind.text()),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_and_causes() {
        let e = ApiError::invalid(
            "crd.projectcalico.org",
            "IPAMBlock",
            "10-0-0-0-26",
            &[FieldError::type_invalid(
                "spec.deleted",
                BadValue::Str("boolean".into()),
                "spec.deleted in body must be of type string: \"boolean\"",
            )],
        );
        assert_eq!(
            e.message(),
            "IPAMBlock.crd.projectcalico.org \"10-0-0-0-26\" is invalid: spec.deleted: Invalid value: \
             \"boolean\": spec.deleted in body must be of type string: \"boolean\""
        );
        assert_eq!(
            e.status["details"]["causes"][0]["reason"],
            "FieldValueTypeInvalid"
        );
        assert_eq!(e.status["details"]["kind"], "IPAMBlock");
    }

    #[test]
    fn several_errors_are_bracketed() {
        let errs = [
            FieldError::required("spec.a", ""),
            FieldError::required("spec.b", ""),
        ];
        let e = ApiError::invalid("", "Pod", "p", &errs);
        assert_eq!(
            e.message(),
            "Pod \"p\" is invalid: [spec.a: Required value, spec.b: Required value]"
        );
    }
}

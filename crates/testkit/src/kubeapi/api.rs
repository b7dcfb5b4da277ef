//! Request handling: authentication, request info and RBAC, faults, routing, and the verbs
//! with the generic registry's order of checks (`apiserver/pkg/registry/generic/registry/store.go`,
//! `endpoints/handlers/{create,update,patch,delete,get}.go`).

use std::sync::{Mutex, MutexGuard};

use base64::Engine;
use libcni::json::go_quote;
use serde_json::{json, Map, Value};

use super::core;
use super::discovery;
use super::faults::{Action, Faults};
use super::http::{Outcome, Request, Response};
use super::meta::{self, NameRule};
use super::openapi;
use super::patch::{self, PatchType};
use super::rbac::{Attributes, Auth, Identity};
use super::resources::{Registry, ResourceDef};
use super::schema;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, BadValue, FieldError};
use super::store::Store;
use super::table;
use super::util::{self, parse_query};
use super::wire::{self, Style};
use super::RequestRecord;

/// `OptimisticLockErrorMsg`.
pub const OPTIMISTIC_LOCK: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Everything a server shares between connections.
pub struct State {
    pub registry: Registry,
    pub store: Mutex<Store>,
    pub auth: Mutex<Auth>,
    pub faults: Mutex<Faults>,
    pub records: Mutex<Vec<RequestRecord>>,
    /// `host:port` for `serverAddressByClientCIDRs`.
    pub address: String,
}

/// Locks ignoring poisoning (a panicking test thread must not wedge the server).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Options of a write.
#[derive(Debug, Clone, Copy)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub validation: FieldValidation,
}

impl WriteOpts {
    pub fn direct() -> WriteOpts {
        WriteOpts {
            dry_run: false,
            validation: FieldValidation::Ignore,
        }
    }
}

/// The parsed request path (`RequestInfoFactory.NewRequestInfo`).
#[derive(Debug, Clone, Default)]
pub struct ReqInfo {
    pub resource_request: bool,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub name: String,
    pub subresource: Option<String>,
    /// Path segments beyond resource/name/subresource (served by nothing here).
    pub extra: bool,
    /// The RBAC verb: a Kubernetes verb for resources, the lower-case method otherwise.
    pub verb: String,
    /// Whether the request went through `/namespaces/<ns>/`.
    pub namespaced_path: bool,
}

pub fn request_info(method: &str, path: &str, query: &[(String, String)]) -> ReqInfo {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let non_resource = || ReqInfo {
        verb: method.to_ascii_lowercase(),
        ..ReqInfo::default()
    };
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return non_resource(),
    };
    let mut info = ReqInfo {
        resource_request: true,
        group: group.into(),
        version: version.into(),
        ..ReqInfo::default()
    };
    let mut cur: &[&str] = rest;
    if cur[0] == "namespaces" && cur.len() > 1 {
        info.namespace = cur[1].into();
        if cur.len() > 2 && !matches!(cur[2], "status" | "finalize") {
            cur = &cur[2..];
            info.namespaced_path = true;
        }
    }
    info.resource = cur[0].into();
    if cur.len() >= 2 {
        info.name = cur[1].into();
    }
    if cur.len() >= 3 {
        info.subresource = Some(cur[2].into());
    }
    info.extra = cur.len() > 3;
    let watch = query
        .iter()
        .any(|(k, v)| k == "watch" && matches!(v.as_str(), "1" | "true" | "True"));
    info.verb = match method {
        "GET" | "HEAD" if watch => "watch",
        "GET" | "HEAD" if info.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if info.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => {
            return ReqInfo {
                verb: other.to_ascii_lowercase(),
                ..info
            }
        }
    }
    .into();
    info
}

thread_local! {
    static AUDIT: std::cell::RefCell<util::Rng> = std::cell::RefCell::new(util::Rng::from_entropy());
}

fn json_response(code: u16, body: &Value, style: Style) -> Response {
    Response {
        code,
        headers: vec![
            ("Audit-Id".into(), AUDIT.with(|r| r.borrow_mut().uuid4())),
            ("Cache-Control".into(), "no-cache, private".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: wire::encode(body, style),
    }
}

pub fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.status, Style::Typed);
    r.headers.extend(e.headers.iter().cloned());
    r
}

fn text_response(code: u16, text: &str) -> Response {
    Response {
        code,
        headers: vec![
            ("Cache-Control".into(), "no-cache, private".into()),
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("X-Content-Type-Options".into(), "nosniff".into()),
        ],
        body: text.as_bytes().to_vec(),
    }
}

/// Serves one request and records it (`/standin/...` requests are not recorded).
pub fn handle(st: &State, req: &Request) -> Outcome {
    if req.path == "/standin" || req.path.starts_with("/standin/") {
        return Outcome::Respond(standin(st, req));
    }
    let mut rec = RequestRecord {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        content_type: req.header("Content-Type").map(String::from),
        user: String::new(),
        client_cert: req.client_cert.is_some(),
        token: req
            .header("Authorization")
            .and_then(bearer_token)
            .map(String::from),
        status: 0,
        body: req.body.clone(),
    };
    let outcome = serve(st, req, &mut rec);
    if let Outcome::Respond(r) = &outcome {
        rec.status = r.code;
    }
    lock(&st.records).push(rec);
    outcome
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(h: &str) -> Option<&str> {
    h.strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The apiserver's union authenticator (`pkg/kubeapiserver/authenticator/config.go`): the
/// first that succeeds wins, x509 client certificates before bearer tokens, so a verified
/// client certificate authenticates the request whatever token comes with it. A certificate
/// with an empty CN authenticates nobody and the token is tried. Neither → anonymous; a
/// token that is not valid → 401.
fn authenticate(st: &State, req: &Request) -> Result<Identity, ApiError> {
    if let Some(id) = req.client_cert.as_deref().and_then(|c| x509_identity(c)) {
        return Ok(id);
    }
    match req.header("Authorization") {
        None => Ok(Identity::anonymous()),
        Some(h) => {
            let token = bearer_token(h).ok_or_else(ApiError::unauthorized)?;
            lock(&st.auth)
                .authenticate(token)
                .ok_or_else(ApiError::unauthorized)
        }
    }
}

/// `x509.CommonNameUserConversion` then `group.AuthenticatedGroupAdder`: user CN, groups O
/// plus `system:authenticated` (unless O already has it or `system:unauthenticated`).
fn x509_identity(der: &[u8]) -> Option<Identity> {
    let subject = super::x509::subject(der)?;
    if subject.common_name.is_empty() {
        return None;
    }
    let mut groups = subject.organization;
    if !groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
    {
        groups.push("system:authenticated".into());
    }
    Some(Identity {
        user: subject.common_name,
        groups,
        rules: Vec::new(),
    })
}

fn serve(st: &State, req: &Request, rec: &mut RequestRecord) -> Outcome {
    let respond = |e: ApiError| Outcome::Respond(error_response(&e));
    let id = match authenticate(st, req) {
        Ok(id) => id,
        Err(e) => return respond(e),
    };
    rec.user = id.user.clone();
    let query = parse_query(&req.query);
    let info = request_info(&req.method, &req.path, &query);
    let authz = if info.resource_request {
        let attrs = Attributes {
            verb: info.verb.clone(),
            group: info.group.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
        };
        lock(&st.auth).authorize(&id, &attrs)
    } else {
        lock(&st.auth).authorize_path(&id, &info.verb, &req.path)
    };
    if let Err(e) = authz {
        return respond(e);
    }
    let action = lock(&st.faults).take(&req.method, &req.target);
    match action {
        None => {}
        Some(Action::Delay(d)) => std::thread::sleep(d),
        Some(Action::Hang) => return Outcome::Hang,
        Some(Action::Drop) => return Outcome::Drop,
        Some(Action::Conflict) => {
            let (g, r) = st
                .registry
                .find(&info.group, &info.version, &info.resource)
                .map(|d| (d.group.to_string(), d.plural.to_string()))
                .unwrap_or((info.group.clone(), info.resource.clone()));
            return respond(ApiError::conflict(&g, &r, &info.name, OPTIMISTIC_LOCK));
        }
        Some(Action::Status(code, reason, message)) => {
            let mut e = ApiError::new(code, &reason, message, None);
            if code == 429 {
                e.status["details"] = json!({"retryAfterSeconds": 1});
                e = e.with_header("Retry-After", "1");
            }
            return respond(e);
        }
        Some(Action::StatusRetryAfter(code, reason, message, secs)) => {
            let mut e = ApiError::new(code, &reason, message, None);
            e.status["details"] = json!({"retryAfterSeconds": secs});
            return respond(e.with_header("Retry-After", &secs.to_string()));
        }
    }
    Outcome::Respond(if info.resource_request {
        match resource(st, &id, &info, req, &query) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    } else {
        non_resource(st, req)
    })
}

fn non_resource(st: &State, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return error_response(&ApiError::method_not_allowed());
    }
    match req.path.trim_end_matches('/') {
        "/healthz" | "/livez" | "/readyz" => text_response(200, "ok"),
        "/version" => json_response(200, &discovery::version(), Style::Typed),
        p @ ("/api" | "/apis")
            if discovery::wants_aggregated(req.header("Accept").unwrap_or("")) =>
        {
            let mut r = json_response(
                200,
                &discovery::aggregated(&st.registry, p == "/api"),
                Style::Typed,
            );
            r.headers.retain(|(k, _)| k != "Content-Type");
            r.headers
                .push(("Content-Type".into(), discovery::AGGREGATED.into()));
            r.headers.push(("Vary".into(), "Accept".into()));
            r
        }
        "/api" => json_response(200, &discovery::api_versions(&st.address), Style::Typed),
        "/apis" => json_response(200, &discovery::group_list(&st.registry), Style::Typed),
        p => {
            let parts: Vec<&str> = p.trim_matches('/').split('/').collect();
            let doc = match parts.as_slice() {
                ["api", "v1"] => Some(discovery::resource_list(&st.registry, "", "v1")),
                ["apis", g] => discovery::group(&st.registry, g),
                ["apis", g, v] if st.registry.serves(g, v) => {
                    Some(discovery::resource_list(&st.registry, g, v))
                }
                ["openapi", "v3"] => Some(openapi::root(&st.registry)),
                ["openapi", "v3", rest @ ..] => {
                    openapi::group_version(&st.registry, &rest.join("/"))
                }
                _ => None,
            };
            match doc {
                Some(d) => json_response(200, &d, Style::Typed),
                None => error_response(&ApiError::route_not_found()),
            }
        }
    }
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

fn write_opts(q: &[(String, String)]) -> Result<WriteOpts, ApiError> {
    let validation = match param(q, "fieldValidation") {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Supported values: Ignore, Warn, Strict"
            )))
        }
    };
    Ok(WriteOpts {
        dry_run: q.iter().any(|(k, v)| k == "dryRun" && v == "All"),
        validation,
    })
}

/// The request body as JSON. Its media type must be JSON (or unset): YAML and protobuf, which
/// a real server also takes, are not implemented here.
fn parse_body(req: &Request) -> Result<Value, ApiError> {
    let ct = req.header("Content-Type").unwrap_or("");
    let base = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(base.is_empty() || base == "application/json" || base == "*/*") {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json (this stand-in does not take {base})"
        )));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

/// Output form of a stored object: custom resources as stored (sorted keys), core objects typed.
fn reply(rd: &ResourceDef, code: u16, body: &Value, warnings: &[String]) -> Response {
    let style = if rd.is_custom() {
        Style::Sorted
    } else {
        Style::Typed
    };
    let mut r = json_response(code, body, style);
    for w in warnings {
        r.headers
            .push(("Warning".into(), format!("299 - {}", go_quote(w))));
    }
    r
}

/// A GET answer: the object or list, or a Table of it when the client asks for one.
fn get_reply(rd: &ResourceDef, req: &Request, body: &Value) -> Response {
    if table::wanted(req.header("Accept").unwrap_or("")) {
        let mut r = json_response(200, &table::of(rd, body), Style::Typed);
        r.headers.retain(|(k, _)| k != "Content-Type");
        r.headers
            .push(("Content-Type".into(), table::CONTENT_TYPE.into()));
        return r;
    }
    reply(rd, 200, body, &[])
}

fn resource(
    st: &State,
    id: &Identity,
    info: &ReqInfo,
    req: &Request,
    q: &[(String, String)],
) -> Result<Response, ApiError> {
    let rd = st
        .registry
        .find(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::route_not_found)?;
    // Scope: a namespaced resource by name needs its namespace, a cluster-scoped one has none.
    let ns: Option<String> = if rd.plural == "namespaces" {
        None
    } else if rd.namespaced {
        if info.namespace.is_empty() && !info.name.is_empty() {
            return Err(ApiError::route_not_found());
        }
        (!info.namespace.is_empty()).then(|| info.namespace.clone())
    } else {
        if info.namespaced_path {
            return Err(ApiError::route_not_found());
        }
        None
    };
    if info.extra {
        return Err(ApiError::route_not_found());
    }
    if let Some(sub) = &info.subresource {
        if !rd.subresources.contains(&sub.as_str()) {
            return Err(ApiError::route_not_found());
        }
    }
    let ns = ns.as_deref();
    let name = info.name.as_str();
    let sub = info.subresource.as_deref();
    match (req.method.as_str(), name.is_empty(), sub) {
        ("GET" | "HEAD", false, None | Some("status")) => {
            let obj = get(st, &rd, ns, name)?;
            Ok(get_reply(&rd, req, &obj))
        }
        ("GET" | "HEAD", true, None) => {
            if info.verb == "watch" {
                return Err(ApiError::method_not_allowed());
            }
            let list = list(st, &rd, ns, q)?;
            Ok(get_reply(&rd, req, &list))
        }
        ("POST", true, None) => {
            let opts = write_opts(q)?;
            let body = parse_body(req)?;
            let (obj, warnings) = create(st, &rd, ns, body, opts, id)?;
            Ok(reply(&rd, 201, &obj, &warnings))
        }
        ("POST", false, Some("token")) => {
            let body = parse_body(req)?;
            let tr = token_request(st, ns.unwrap_or(""), name, body)?;
            Ok(json_response(201, &tr, Style::Typed))
        }
        ("PUT", false, None | Some("status")) => {
            let opts = write_opts(q)?;
            let body = parse_body(req)?;
            let (obj, warnings) = update(st, &rd, ns, name, sub, body, opts)?;
            Ok(reply(&rd, 200, &obj, &warnings))
        }
        ("PATCH", false, None | Some("status")) => {
            let opts = write_opts(q)?;
            let ct = req.header("Content-Type").unwrap_or("");
            let (obj, warnings) = patch(st, &rd, ns, name, sub, ct, &req.body, opts)?;
            Ok(reply(&rd, 200, &obj, &warnings))
        }
        ("DELETE", false, None) => {
            let opts = write_opts(q)?;
            let body = if req.body.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                parse_body(req)?
            };
            let out = delete(st, &rd, ns, name, &body, q, opts.dry_run)?;
            let style = if out.get("kind") == Some(&json!("Status")) || !rd.is_custom() {
                Style::Typed
            } else {
                Style::Sorted
            };
            Ok(json_response(200, &out, style))
        }
        ("DELETE", true, None) => {
            let opts = write_opts(q)?;
            let out = delete_collection(st, &rd, ns, q, opts.dry_run)?;
            Ok(reply(&rd, 200, &out, &[]))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

// ---------------------------------------------------------------------------------------------
// Verbs. Each takes the store lock for its whole read-check-write.

fn meta_str<'a>(obj: &'a Value, k: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn ensure_meta(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// GET one object.
pub fn get(st: &State, rd: &ResourceDef, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
    lock(&st.store)
        .get(rd, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rd.group, rd.plural, name))
}

/// A list continue token (`storage.EncodeContinue`): base64 of `{"v":"meta.k8s.io/v1",
/// "rv":N,"start":"<key>\u0000"}`.
fn encode_continue(rv: u64, key: &str) -> String {
    let j = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&j).unwrap_or_default())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = |m: &str| ApiError::bad_request(format!("continue key is not valid: {m}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| bad(&e.to_string()))?;
    let j: Value = serde_json::from_slice(&raw).map_err(|e| bad(&e.to_string()))?;
    if j["v"] != "meta.k8s.io/v1" {
        return Err(bad("server does not recognize this encoded key"));
    }
    let start = j["start"]
        .as_str()
        .unwrap_or("")
        .trim_end_matches('\u{0}')
        .to_string();
    Ok((j["rv"].as_u64().unwrap_or(0), start))
}

/// LIST with label and field selectors and `limit`/`continue` paging.
pub fn list(
    st: &State,
    rd: &ResourceDef,
    ns: Option<&str>,
    q: &[(String, String)],
) -> Result<Value, ApiError> {
    let labels = LabelSelector::parse(param(q, "labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(param(q, "fieldSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let probe = json!({});
    for (f, _, _) in &fields.terms {
        if core::field_value(rd.plural, rd.is_custom(), &probe, f).is_none() {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {f}"
            )));
        }
    }
    let limit = match param(q, "limit") {
        None | Some("") => None,
        Some(l) => {
            let n: i64 = l.parse().map_err(|e| {
                ApiError::bad_request(format!("strconv.ParseInt: parsing {}: {e}", go_quote(l)))
            })?;
            (n > 0).then_some(n as usize)
        }
    };
    let (cont_rv, after) = match param(q, "continue").filter(|c| !c.is_empty()) {
        Some(c) => {
            let (rv, start) = decode_continue(c)?;
            (Some(rv), Some(start))
        }
        None => (None, None),
    };
    let store = lock(&st.store);
    let matches = |obj: &Value| {
        labels.matches(obj.pointer("/metadata/labels").unwrap_or(&Value::Null))
            && fields.matches(&|f| core::field_value(rd.plural, rd.is_custom(), obj, f))
    };
    let mut items = Vec::new();
    let mut last_key: Option<String> = None;
    let mut more = false;
    let mut remaining = 0usize;
    for (k, obj) in store.scan(rd, ns, after.as_deref()) {
        if limit.is_some_and(|l| items.len() >= l) {
            more = true;
            remaining += 1;
            continue;
        }
        if !matches(obj) {
            continue;
        }
        let mut item = obj.clone();
        if !rd.is_custom() {
            if let Some(o) = item.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
        }
        items.push(item);
        last_key = Some(k.clone());
    }
    let rv = cont_rv.unwrap_or(store.rv);
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if more {
        if let Some(k) = &last_key {
            metadata["continue"] = json!(encode_continue(rv, k));
            if labels.is_empty() && fields.is_empty() {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
    }
    Ok(
        json!({"kind": rd.list_kind(), "apiVersion": rd.api_version(), "metadata": metadata, "items": items}),
    )
}

/// The decoder's checks of a request body: an object, of this resource's group/version (400),
/// with a kind (custom resources; a wrong kind is a 422 at validation, a core type 400).
fn decode(rd: &ResourceDef, mut obj: Value) -> Result<Value, ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }} ({})",
            rd.kind,
            libcni::gojson::kind_name(&obj),
            summarize(&obj)
        )));
    }
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if rd.is_custom() && kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            serde_json::to_string(&obj).unwrap_or_default()
        )));
    }
    if !api_version.is_empty() && api_version != rd.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rd.api_version()
        )));
    }
    if !rd.is_custom() && !kind.is_empty() && kind != rd.kind {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {}: converting (v1.{kind}) to (core.{}): unknown conversion",
            rd.version, rd.kind, rd.kind
        )));
    }
    if let Some(m) = obj.get("metadata") {
        let bad_map = |k: &str| {
            m.get(k).is_some_and(|v| {
                !v.is_null()
                    && !v
                        .as_object()
                        .is_some_and(|o| o.values().all(Value::is_string))
            })
        };
        if !m.is_object() && !m.is_null() || bad_map("labels") || bad_map("annotations") {
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: json: cannot unmarshal metadata into Go struct field {}.metadata of type v1.ObjectMeta",
                if kind.is_empty() { rd.kind } else { &kind },
                rd.version,
                rd.kind,
                rd.kind
            )));
        }
    }
    obj["apiVersion"] = json!(rd.api_version());
    if kind.is_empty() {
        obj["kind"] = json!(rd.kind);
    }
    // ObjectMeta has no nulls: `"creationTimestamp": null` and friends decode to nothing.
    ensure_meta(&mut obj).retain(|_, v| !v.is_null());
    Ok(obj)
}

/// `summarizeData(body, 30)`.
fn summarize(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.len() > 30 {
        format!("{} ... {}", &s[..15], &s[s.len() - 15..])
    } else {
        s
    }
}

/// A custom resource's decode: structural pruning (reported per `fieldValidation`), nulls of
/// non-nullable fields dropped, defaults applied. Returns the warnings.
fn normalize(
    rd: &ResourceDef,
    obj: &mut Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let Some(s) = rd.schema.as_deref() else {
        return Ok(Vec::new());
    };
    let pruned = schema::prune(obj, s);
    let msgs: Vec<String> = pruned
        .iter()
        .map(|p| format!("unknown field {}", go_quote(p)))
        .collect();
    let warnings = match validation {
        FieldValidation::Strict if !msgs.is_empty() => {
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                msgs.join(", ")
            )))
        }
        FieldValidation::Warn => msgs,
        _ => Vec::new(),
    };
    schema::prune_nulls(obj, s);
    schema::apply_defaults(obj, s);
    Ok(warnings)
}

/// `EnsureObjectNamespaceMatchesRequestNamespace`.
fn ensure_namespace(
    rd: &ResourceDef,
    url_ns: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let m = ensure_meta(obj);
    let obj_ns = m
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let req_ns = if rd.namespaced {
        url_ns.unwrap_or("")
    } else {
        ""
    };
    if obj_ns == req_ns {
        return Ok(());
    }
    if obj_ns.is_empty() {
        m.insert("namespace".into(), json!(req_ns));
        Ok(())
    } else if req_ns.is_empty() {
        m.remove("namespace");
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ))
    }
}

fn name_rule(rd: &ResourceDef) -> NameRule {
    if rd.is_custom() {
        NameRule::Subdomain
    } else {
        core::name_rule(rd.plural)
    }
}

/// The custom resource validator's kind and apiVersion checks.
fn type_errors(rd: &ResourceDef, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !rd.is_custom() {
        return errs;
    }
    let kind = obj["kind"].as_str().unwrap_or("");
    if kind != rd.kind {
        errs.push(FieldError::invalid(
            "kind",
            BadValue::Str(kind.into()),
            &format!("must be {}", rd.kind),
        ));
    }
    let av = obj["apiVersion"].as_str().unwrap_or("");
    if av != rd.api_version() {
        errs.push(FieldError::invalid(
            "apiVersion",
            BadValue::Str(av.into()),
            &format!("must be {}", rd.api_version()),
        ));
    }
    errs
}

fn invalid(rd: &ResourceDef, obj: &Value, errs: &[FieldError]) -> ApiError {
    let kind = obj["kind"].as_str().unwrap_or(rd.kind);
    ApiError::invalid(rd.group, kind, meta_str(obj, "name"), errs)
}

/// The namespace lifecycle admission check for a new namespaced object.
fn namespace_admission(
    st: &State,
    store: &Store,
    rd: &ResourceDef,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    let Some(nsd) = st.registry.find("", "v1", "namespaces") else {
        return Ok(());
    };
    match store.get(&nsd, None, ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if n.pointer("/status/phase") == Some(&json!("Terminating")) => {
            Err(ApiError::forbidden(
                rd.group,
                rd.plural,
                name,
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ))
        }
        Some(_) => Ok(()),
    }
}

/// POST: create.
pub fn create(
    st: &State,
    rd: &ResourceDef,
    url_ns: Option<&str>,
    body: Value,
    opts: WriteOpts,
    _id: &Identity,
) -> Result<(Value, Vec<String>), ApiError> {
    let mut obj = decode(rd, body)?;
    let warnings = normalize(rd, &mut obj, opts.validation)?;
    ensure_namespace(rd, url_ns, &mut obj)?;
    let mut store = lock(&st.store);
    let ns = meta_str(&obj, "namespace").to_string();
    let ns_opt = (!ns.is_empty()).then_some(ns.as_str());
    // BeforeCreate: generated name, system fields.
    let generate = meta_str(&obj, "generateName").to_string();
    if meta_str(&obj, "name").is_empty() && !generate.is_empty() {
        let mut name = format!("{generate}{}", util::name_suffix(&mut store.rng));
        for _ in 0..8 {
            if store.get(rd, ns_opt, &name).is_none() {
                break;
            }
            name = format!("{generate}{}", util::name_suffix(&mut store.rng));
        }
        ensure_meta(&mut obj).insert("name".into(), json!(name));
    }
    let uid = store.rng.uuid4();
    {
        let m = ensure_meta(&mut obj);
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(util::now()));
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            m.remove(k);
        }
        if rd.is_custom() {
            m.insert("generation".into(), json!(1));
        }
    }
    let name = meta_str(&obj, "name").to_string();
    if !rd.is_custom() {
        core::prepare_create(rd.plural, &mut obj);
    }
    // Mutating admission: namespace lifecycle, then service accounts.
    if rd.namespaced && !ns.is_empty() {
        namespace_admission(st, &store, rd, &ns, &name)?;
    }
    if rd.plural == "pods" {
        let sa = obj
            .pointer("/spec/serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default");
        if let Some(sad) = st.registry.find("", "v1", "serviceaccounts") {
            if store.get(&sad, Some(&ns), sa).is_none() {
                return Err(ApiError::forbidden(
                    "",
                    "pods",
                    &name,
                    &format!(
                        "error looking up service account {ns}/{sa}: serviceaccount {} not found",
                        go_quote(sa)
                    ),
                ));
            }
        }
    }
    // Validation.
    let mut errs = type_errors(rd, &obj);
    errs.extend(meta::validate_create(
        &obj["metadata"],
        rd.namespaced,
        name_rule(rd),
    ));
    match rd.schema.as_deref() {
        Some(s) => errs.extend(schema::validate(&obj, s)),
        None => errs.extend(core::validate_create(rd.plural, &obj)),
    }
    if !errs.is_empty() {
        return Err(invalid(rd, &obj, &errs));
    }
    // Storage.
    if !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::unknown(
            500,
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if store.get(rd, ns_opt, &name).is_some() {
        return Err(ApiError::already_exists(rd.group, rd.plural, &name));
    }
    if opts.dry_run {
        return Ok((obj, warnings));
    }
    let stored = store.put(rd, ns_opt, &name, obj);
    if rd.plural == "namespaces" {
        // The service account controller's default account.
        if let Some(sad) = st.registry.find("", "v1", "serviceaccounts") {
            if store.get(&sad, Some(&name), "default").is_none() {
                let sa = new_service_account(&mut store, &name, "default");
                store.put(&sad, Some(&name), "default", sa);
            }
        }
    }
    Ok((stored, warnings))
}

/// A ServiceAccount as the controller makes it.
pub fn new_service_account(store: &mut Store, ns: &str, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "apiVersion": "v1",
           "metadata": {"name": name, "namespace": ns, "uid": store.rng.uuid4(),
                        "creationTimestamp": util::now()}})
}

/// PUT: update (or the status subresource).
pub fn update(
    st: &State,
    rd: &ResourceDef,
    url_ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: Value,
    opts: WriteOpts,
) -> Result<(Value, Vec<String>), ApiError> {
    let mut obj = decode(rd, body)?;
    let obj_name = meta_str(&obj, "name").to_string();
    if obj_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        )));
    }
    let obj_ns = meta_str(&obj, "namespace").to_string();
    if let Some(u) = url_ns.filter(|u| !u.is_empty()) {
        if !obj_ns.is_empty() && obj_ns != u {
            return Err(ApiError::bad_request(format!(
                "the namespace of the object ({obj_ns}) does not match the namespace on the request ({u})"
            )));
        }
    }
    let warnings = normalize(rd, &mut obj, opts.validation)?;
    ensure_namespace(rd, url_ns, &mut obj)?;
    let uid = meta_str(&obj, "uid").to_string();
    let mut store = lock(&st.store);
    let out = update_stored(
        &mut store,
        rd,
        url_ns,
        name,
        sub,
        obj,
        (!uid.is_empty()).then_some(uid),
        opts,
    )?;
    Ok((out, warnings))
}

/// The storage part of an update (`Store.Update` inside `GuaranteedUpdate`): existence, the UID
/// precondition, the resourceVersion check, `BeforeUpdate` and validation, then the write
/// (none for a no-op).
#[allow(clippy::too_many_arguments)]
fn update_stored(
    store: &mut Store,
    rd: &ResourceDef,
    url_ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    mut obj: Value,
    uid_precondition: Option<String>,
    opts: WriteOpts,
) -> Result<Value, ApiError> {
    let ns = if rd.namespaced { url_ns } else { None };
    let old = store
        .get(rd, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rd.group, rd.plural, name))?;
    let old_uid = meta_str(&old, "uid").to_string();
    if let Some(u) = uid_precondition {
        if u != old_uid {
            let key = format!(
                "/registry/{}/{}",
                rd.etcd_prefix(),
                super::store::key(ns, name)
            );
            return Err(ApiError::conflict(
                rd.group,
                rd.plural,
                name,
                &format!(
                    "StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {u}, UID in object meta: {old_uid}"
                ),
            ));
        }
    }
    let old_rv = meta_str(&old, "resourceVersion").to_string();
    let new_rv = meta_str(&obj, "resourceVersion").to_string();
    if new_rv.is_empty() {
        if rd.is_custom() {
            return Err(ApiError::invalid(
                rd.group,
                rd.plural,
                name,
                &[FieldError::invalid(
                    "metadata.resourceVersion",
                    BadValue::Raw("0x0".into()),
                    "must be specified for an update",
                )],
            ));
        }
        ensure_meta(&mut obj).insert("resourceVersion".into(), json!(old_rv));
    } else if new_rv != old_rv {
        return Err(ApiError::conflict(
            rd.group,
            rd.plural,
            name,
            OPTIMISTIC_LOCK,
        ));
    }
    // BeforeUpdate.
    {
        let om = &old["metadata"];
        let m = ensure_meta(&mut obj);
        match om.get("generation") {
            Some(g) => m.insert("generation".into(), g.clone()),
            None => m.remove("generation"),
        };
        if m.get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            m.insert("uid".into(), json!(old_uid));
        }
        for k in [
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match om.get(k) {
                Some(v) => m.insert(k.into(), v.clone()),
                None => m.remove(k),
            };
        }
        m.remove("managedFields");
        m.remove("selfLink");
    }
    if !rd.is_custom() {
        core::prepare_update(rd.plural, sub, &mut obj, &old);
    }
    let mut errs = type_errors(rd, &obj);
    errs.extend(meta::validate_update(&obj["metadata"], &old["metadata"]));
    match rd.schema.as_deref() {
        Some(s) => errs.extend(schema::validate(&obj, s)),
        None => errs.extend(core::validate_update(rd.plural, sub, &obj, &old)),
    }
    if !errs.is_empty() {
        return Err(invalid(rd, &obj, &errs));
    }
    if rd.is_custom() {
        let content = |v: &Value| {
            let mut c = v.clone();
            if let Some(o) = c.as_object_mut() {
                o.remove("metadata");
                if rd.status_subresource {
                    o.remove("status");
                }
            }
            c
        };
        if content(&obj) != content(&old) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            ensure_meta(&mut obj).insert("generation".into(), json!(g + 1));
        }
    }
    if obj == old || opts.dry_run {
        return Ok(obj);
    }
    // The last finalizer of an object being deleted removed: the deletion completes.
    if obj.pointer("/metadata/deletionTimestamp").is_some() && !has_finalizers(&obj) {
        store.remove(rd, ns, name);
        return Ok(obj);
    }
    Ok(store.put(rd, ns, name, obj))
}

fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// The 415 of PATCH for a media type this resource does not take.
fn unsupported_patch(rd: &ResourceDef) -> ApiError {
    let types = if rd.is_custom() {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    } else {
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    };
    ApiError::unsupported_media_type(format!(
        "the body of the request was in an unknown format - accepted media types include: {types}"
    ))
}

/// PATCH (or the status subresource).
#[allow(clippy::too_many_arguments)]
pub fn patch(
    st: &State,
    rd: &ResourceDef,
    url_ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    content_type: &str,
    body: &[u8],
    opts: WriteOpts,
) -> Result<(Value, Vec<String>), ApiError> {
    let pt = match PatchType::from_content_type(content_type) {
        Some(PatchType::Strategic) if rd.is_custom() => return Err(unsupported_patch(rd)),
        Some(PatchType::Apply) => return Err(ApiError::unsupported_media_type(
            "server-side apply (application/apply-patch+yaml) is not implemented by this stand-in",
        )),
        Some(pt) => pt,
        None => return Err(unsupported_patch(rd)),
    };
    let mut store = lock(&st.store);
    let ns = if rd.namespaced { url_ns } else { None };
    let old = store
        .get(rd, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rd.group, rd.plural, name))?;
    let patched = match pt {
        PatchType::Json => patch::json_patch(&old, body)?,
        PatchType::Merge => patch::merge_patch(&old, body)?,
        _ => patch::strategic_merge_patch(&old, body)?,
    };
    let mut obj = decode(rd, patched)?;
    let obj_name = meta_str(&obj, "name").to_string();
    if obj_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        )));
    }
    let warnings = normalize(rd, &mut obj, opts.validation)?;
    ensure_namespace(rd, url_ns, &mut obj)?;
    let out = update_stored(&mut store, rd, url_ns, name, sub, obj, None, opts)?;
    Ok((out, warnings))
}

/// DELETE with `DeleteOptions` (preconditions).
pub fn delete(
    st: &State,
    rd: &ResourceDef,
    url_ns: Option<&str>,
    name: &str,
    options: &Value,
    q: &[(String, String)],
    dry_run: bool,
) -> Result<Value, ApiError> {
    if !options.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized (must be of type DeleteOptions)",
        ));
    }
    let mut store = lock(&st.store);
    let ns = if rd.namespaced { url_ns } else { None };
    let old = store
        .get(rd, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rd.group, rd.plural, name))?;
    // rest.BeforeDelete: the preconditions, against GroupResource{group, Kind}.
    for (field, label, why) in [
        ("uid", "UID", "deleted and then recreated"),
        ("resourceVersion", "ResourceVersion", "modified"),
    ] {
        let Some(want) = options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let actual = meta_str(&old, field);
        if want != actual {
            return Err(ApiError::conflict(
                rd.group,
                rd.kind,
                name,
                &format!("the {label} in the precondition ({want}) does not match the {label} in record ({actual}). The object might have been {why}"),
            ));
        }
    }
    if dry_run {
        return Ok(old);
    }
    if rd.plural != "namespaces" && has_finalizers(&old) {
        // Finalizers hold the object: it is only marked (once) until they are all removed.
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = old.clone();
        let m = ensure_meta(&mut marked);
        m.insert("deletionTimestamp".into(), json!(util::now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        return Ok(store.put(rd, ns, name, marked));
    }
    match rd.plural {
        "namespaces" => {
            // Marked Terminating, then the namespace controller empties and removes it.
            let mut term = old.clone();
            ensure_meta(&mut term).insert("deletionTimestamp".into(), json!(util::now()));
            term["status"] = json!({"phase": "Terminating"});
            let term = store.put(rd, None, name, term);
            for d in st.registry.defs.iter().filter(|d| d.namespaced) {
                let keys: Vec<String> = store
                    .scan(d, Some(name), None)
                    .map(|(_, v)| meta_str(v, "name").to_string())
                    .collect();
                for k in keys {
                    store.remove(d, Some(name), &k);
                }
            }
            store.remove(rd, None, name);
            Ok(term)
        }
        "pods" => {
            // Graceful deletion of a scheduled pod, confirmed at once (no kubelet here).
            let grace = param(q, "gracePeriodSeconds")
                .and_then(|g| g.parse::<i64>().ok())
                .or_else(|| options.get("gracePeriodSeconds").and_then(Value::as_i64))
                .or_else(|| {
                    old.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30);
            let scheduled = !old
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty();
            let mut out = old.clone();
            if scheduled && grace > 0 {
                let m = ensure_meta(&mut out);
                m.insert("deletionTimestamp".into(), json!(util::now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                out = store.put(rd, ns, name, out);
            }
            store.remove(rd, ns, name);
            Ok(out)
        }
        "nodes" => {
            store.remove(rd, ns, name);
            Ok(
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": name, "kind": "nodes", "uid": meta_str(&old, "uid")}}),
            )
        }
        _ => {
            store.remove(rd, ns, name);
            Ok(old)
        }
    }
}

/// DELETE on a collection: deletes what the selectors match, returns them as a list.
fn delete_collection(
    st: &State,
    rd: &ResourceDef,
    ns: Option<&str>,
    q: &[(String, String)],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let q: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| k != "limit" && k != "continue")
        .cloned()
        .collect();
    let listed = list(st, rd, ns, &q)?;
    let mut items = Vec::new();
    for it in listed["items"].as_array().cloned().unwrap_or_default() {
        let name = meta_str(&it, "name").to_string();
        let ins = meta_str(&it, "namespace").to_string();
        let ins = (!ins.is_empty()).then_some(ins.as_str());
        if let Ok(v) = delete(st, rd, ins, &name, &json!({}), &[], dry_run) {
            items.push(v);
        }
    }
    Ok(
        json!({"kind": rd.list_kind(), "apiVersion": rd.api_version(),
              "metadata": {"resourceVersion": lock(&st.store).rv.to_string()}, "items": items}),
    )
}

/// POST `serviceaccounts/<name>/token`: a TokenRequest whose token authenticates as the
/// service account.
fn token_request(st: &State, ns: &str, name: &str, body: Value) -> Result<Value, ApiError> {
    let sad = st
        .registry
        .find("", "v1", "serviceaccounts")
        .ok_or_else(ApiError::route_not_found)?;
    if lock(&st.store).get(&sad, Some(ns), name).is_none() {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    let exp = body
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let audiences = body
        .pointer("/spec/audiences")
        .cloned()
        .unwrap_or(json!([]));
    let now = std::time::SystemTime::now();
    let expires = util::rfc3339(now + std::time::Duration::from_secs(exp.max(600) as u64));
    let token = {
        let mut store = lock(&st.store);
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(v).unwrap_or_default())
        };
        let sig: String = (0..4)
            .map(|_| format!("{:016x}", store.rng.next_u64()))
            .collect();
        format!(
            "{}.{}.{}",
            b64(&json!({"alg": "RS256", "kid": "kube-standin"})),
            b64(
                &json!({"aud": audiences, "sub": format!("system:serviceaccount:{ns}:{name}"), "exp": expires})
            ),
            sig
        )
    };
    lock(&st.auth)
        .tokens
        .insert(token.clone(), Identity::service_account(ns, name));
    Ok(
        json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
              "metadata": {"name": name, "namespace": ns, "creationTimestamp": util::now()},
              "spec": {"audiences": audiences, "expirationSeconds": exp, "boundObjectRef": null},
              "status": {"token": token, "expirationTimestamp": expires}}),
    )
}

// ---------------------------------------------------------------------------------------------
// The stand-in's own admin endpoints.

fn standin(st: &State, req: &Request) -> Response {
    let id = match authenticate(st, req) {
        Ok(id) => id,
        Err(e) => return error_response(&e),
    };
    let verb = req.method.to_ascii_lowercase();
    if let Err(e) = lock(&st.auth).authorize_path(&id, &verb, &req.path) {
        return error_response(&e);
    }
    match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("GET", "/standin/requests") => {
            let recs: Vec<Value> = lock(&st.records)
                .iter()
                .map(RequestRecord::to_json)
                .collect();
            json_response(200, &Value::Array(recs), Style::Sorted)
        }
        // One line per request, `METHOD path[?query] user status`: for scripts without a
        // JSON tool (the demo, the bench).
        ("GET", "/standin/requests.txt") => {
            let text: String = lock(&st.records)
                .iter()
                .map(|r| format!("{} {} {}\n", r.line(), r.user, r.status))
                .collect();
            text_response(200, &text)
        }
        ("DELETE", "/standin/requests") => {
            lock(&st.records).clear();
            json_response(200, &json!({}), Style::Sorted)
        }
        ("GET", "/standin/faults") => {
            let f: Vec<Value> = lock(&st.faults).list.iter().map(|f| f.to_json()).collect();
            json_response(200, &Value::Array(f), Style::Sorted)
        }
        ("POST", "/standin/faults") => {
            let parsed = serde_json::from_slice::<Value>(&req.body)
                .map_err(|e| e.to_string())
                .and_then(|v| super::faults::Fault::from_json(&v));
            match parsed {
                Ok(f) => {
                    lock(&st.faults).list.push(f);
                    json_response(201, &json!({}), Style::Sorted)
                }
                Err(e) => error_response(&ApiError::bad_request(e)),
            }
        }
        ("DELETE", "/standin/faults") => {
            lock(&st.faults).list.clear();
            json_response(200, &json!({}), Style::Sorted)
        }
        _ => error_response(&ApiError::route_not_found()),
    }
}

/// A whole-object write for the direct API: the same bookkeeping, metadata and schema
/// validation, without the spec/status split of the endpoints or pod update restrictions.
pub fn update_raw(
    st: &State,
    rd: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    body: Value,
) -> Result<Value, ApiError> {
    let mut obj = decode(rd, body)?;
    normalize(rd, &mut obj, FieldValidation::Ignore)?;
    ensure_namespace(rd, ns, &mut obj)?;
    let mut store = lock(&st.store);
    update_stored(
        &mut store,
        rd,
        ns,
        name,
        Some("raw"),
        obj,
        None,
        WriteOpts::direct(),
    )
}

//! Injected faults: matched in order against each API request after authentication and
//! authorization, before it is served.

use std::time::Duration;

use serde_json::{json, Value};

use super::util::Rng;

/// An HTTP method a fault can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }
}

/// What a matching fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// 409 Conflict as a stale write gets (`the object has been modified; ...`), nothing applied.
    Conflict,
    /// A Failure Status with this code, reason and message (e.g. 500 `InternalError`, 503
    /// `ServiceUnavailable`, 429 `TooManyRequests`; a 429 carries `Retry-After: 1`).
    Status(u16, String, String),
    /// Like `Status`, with a `Retry-After: <secs>` header (client-go retries 429 and 5xx with it).
    StatusRetryAfter(u16, String, String, u32),
    /// Wait, then serve the request normally.
    Delay(Duration),
    /// Never answer; the connection is closed when the server stops (or after 10 minutes).
    Hang,
    /// Close the connection without a response.
    Drop,
}

/// A fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Only requests with this method (any if `None`).
    pub method: Option<Method>,
    /// Only requests whose path (and `?query`) contains this string.
    pub path_contains: String,
    pub action: Action,
    /// How many more requests it applies to (`None`: every one).
    pub times: Option<u32>,
    /// The chance it applies to a matching request, rolled with the server's seeded RNG.
    pub probability: Option<f64>,
}

impl Fault {
    /// A fault for every request whose path contains `path_contains`.
    pub fn new(path_contains: &str, action: Action) -> Fault {
        Fault {
            method: None,
            path_contains: path_contains.into(),
            action,
            times: None,
            probability: None,
        }
    }

    pub fn method(mut self, m: Method) -> Fault {
        self.method = Some(m);
        self
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    pub fn probability(mut self, p: f64) -> Fault {
        self.probability = Some(p);
        self
    }

    /// From the JSON of `POST /standin/faults`: `{"method": "PUT", "pathContains": "/ipamblocks/",
    /// "action": "conflict" | "hang" | "drop" | {"delayMs": 500} |
    /// {"status": 500, "reason": "InternalError", "message": "...", "retryAfter": 1},
    /// "times": 3, "probability": 0.5}`.
    pub fn from_json(v: &Value) -> Result<Fault, String> {
        let method = match v.get("method").and_then(Value::as_str) {
            None => None,
            Some(m) => Some(Method::parse(m).ok_or_else(|| format!("unknown method {m}"))?),
        };
        let path_contains = v
            .get("pathContains")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let a = v.get("action").ok_or("action is required")?;
        let action = match a {
            Value::String(s) => match s.as_str() {
                "conflict" => Action::Conflict,
                "hang" => Action::Hang,
                "drop" => Action::Drop,
                other => return Err(format!("unknown action {other}")),
            },
            Value::Object(o) => {
                if let Some(ms) = o.get("delayMs").and_then(Value::as_u64) {
                    Action::Delay(Duration::from_millis(ms))
                } else if let Some(code) = o.get("status").and_then(Value::as_u64) {
                    let reason = o
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let message = o
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    match o.get("retryAfter").and_then(Value::as_u64) {
                        Some(s) => Action::StatusRetryAfter(code as u16, reason, message, s as u32),
                        None => Action::Status(code as u16, reason, message),
                    }
                } else {
                    return Err("action needs delayMs or status".into());
                }
            }
            _ => return Err("action must be a string or an object".into()),
        };
        Ok(Fault {
            method,
            path_contains,
            action,
            times: v.get("times").and_then(Value::as_u64).map(|t| t as u32),
            probability: v.get("probability").and_then(Value::as_f64),
        })
    }

    pub fn to_json(&self) -> Value {
        let action = match &self.action {
            Action::Conflict => json!("conflict"),
            Action::Hang => json!("hang"),
            Action::Drop => json!("drop"),
            Action::Delay(d) => json!({"delayMs": d.as_millis() as u64}),
            Action::Status(c, r, m) => json!({"status": c, "reason": r, "message": m}),
            Action::StatusRetryAfter(c, r, m, s) => {
                json!({"status": c, "reason": r, "message": m, "retryAfter": s})
            }
        };
        json!({"method": self.method.map(Method::as_str), "pathContains": self.path_contains,
               "action": action, "times": self.times, "probability": self.probability})
    }
}

/// The installed faults and the dice.
#[derive(Debug)]
pub struct Faults {
    pub list: Vec<Fault>,
    pub rng: Rng,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            list: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// The action of the first fault that matches and wins its roll; counts it down.
    pub fn take(&mut self, method: &str, target: &str) -> Option<Action> {
        let mut hit = None;
        for (i, f) in self.list.iter().enumerate() {
            if f.method.is_some_and(|m| m.as_str() != method) || !target.contains(&f.path_contains)
            {
                continue;
            }
            if let Some(p) = f.probability {
                if self.rng.next_f64() >= p {
                    continue;
                }
            }
            hit = Some(i);
            break;
        }
        let i = hit?;
        let action = self.list[i].action.clone();
        if let Some(t) = self.list[i].times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                self.list.remove(i);
            }
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_count_down_and_order_matters() {
        let mut f = Faults::new(1);
        f.list.push(
            Fault::new("/ipamblocks/", Action::Conflict)
                .method(Method::Put)
                .times(2),
        );
        f.list.push(Fault::new("/ipamblocks", Action::Hang));
        assert_eq!(
            f.take("PUT", "/apis/crd.projectcalico.org/v1/ipamblocks/a"),
            Some(Action::Conflict)
        );
        assert_eq!(
            f.take("GET", "/apis/crd.projectcalico.org/v1/ipamblocks/a"),
            Some(Action::Hang)
        );
        assert_eq!(
            f.take("PUT", "/apis/crd.projectcalico.org/v1/ipamblocks/a"),
            Some(Action::Conflict)
        );
        assert_eq!(
            f.take("PUT", "/apis/crd.projectcalico.org/v1/ipamblocks/a"),
            Some(Action::Hang)
        );
        assert_eq!(f.take("PUT", "/api/v1/pods"), None);
    }

    #[test]
    fn json_round_trip() {
        let f = Fault::new(
            "/x",
            Action::StatusRetryAfter(429, "TooManyRequests".into(), "slow down".into(), 1),
        )
        .times(3)
        .probability(0.5);
        assert_eq!(Fault::from_json(&f.to_json()).unwrap(), f);
    }
}

//! The YAML a kubeconfig uses, and no more: block mappings and sequences by indentation,
//! `- ` items (scalars or mappings), plain/single/double-quoted scalars, comments, and flow
//! JSON (a JSON kubeconfig is valid YAML). Everything becomes a `serde_json::Value` of strings,
//! maps and lists — a kubeconfig needs no numbers or booleans beyond what strings carry.
//! Anchors, multi-line scalars and tags are not supported (kubeconfigs do not use them).

use serde_json::{Map, Value};

pub fn parse(text: &str) -> Result<Value, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).map_err(|e| e.to_string());
    }
    let lines: Vec<(usize, String)> = text
        .lines()
        .filter_map(|l| {
            let l = strip_comment(l);
            let t = l.trim_end();
            if t.trim().is_empty() || t.trim() == "---" {
                return None;
            }
            let indent = t.len() - t.trim_start().len();
            Some((indent, t.trim_start().to_string()))
        })
        .collect();
    let mut pos = 0;
    if lines.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let indent = lines[0].0;
    block(&lines, &mut pos, indent)
}

fn strip_comment(line: &str) -> String {
    let (mut sq, mut dq) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            '#' if !sq && !dq && (prev == ' ' || i == 0) => return line[..i].to_string(),
            _ => {}
        }
        prev = c;
    }
    line.to_string()
}

fn block(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Result<Value, String> {
    if lines[*pos].1.starts_with("- ") || lines[*pos].1 == "-" {
        sequence(lines, pos, indent)
    } else {
        mapping(lines, pos, indent)
    }
}

fn sequence(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut items = Vec::new();
    while *pos < lines.len() && lines[*pos].0 == indent && lines[*pos].1.starts_with('-') {
        let rest = lines[*pos].1[1..].trim_start().to_string();
        if rest.is_empty() {
            *pos += 1;
            if *pos < lines.len() && lines[*pos].0 > indent {
                let child = lines[*pos].0;
                items.push(block(lines, pos, child)?);
            } else {
                items.push(Value::Null);
            }
            continue;
        }
        if split_key(&rest).is_some() {
            // A mapping whose first key sits after the dash: re-read it at the dash's column
            // plus the dash and spaces.
            let item_indent = indent + (lines[*pos].1.len() - rest.len());
            let mut sub: Vec<(usize, String)> = vec![(item_indent, rest)];
            let mut j = *pos + 1;
            while j < lines.len() && lines[j].0 > indent {
                sub.push(lines[j].clone());
                j += 1;
            }
            let mut p = 0;
            items.push(mapping(&sub, &mut p, item_indent)?);
            *pos = j;
        } else {
            items.push(scalar(&rest)?);
            *pos += 1;
        }
    }
    Ok(Value::Array(items))
}

fn mapping(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Result<Value, String> {
    let mut map = Map::new();
    while *pos < lines.len() && lines[*pos].0 == indent {
        let line = &lines[*pos].1;
        let (key, rest) =
            split_key(line).ok_or_else(|| format!("cannot parse YAML line {line:?}"))?;
        *pos += 1;
        let value = if rest.is_empty() {
            if *pos < lines.len()
                && (lines[*pos].0 > indent
                    || (lines[*pos].0 == indent && lines[*pos].1.starts_with('-')))
            {
                let child = lines[*pos].0;
                block(lines, pos, child)?
            } else {
                Value::Null
            }
        } else {
            scalar(&rest)?
        };
        map.insert(key, value);
    }
    Ok(Value::Object(map))
}

/// `key: rest` (the key possibly quoted); None when the line is not a mapping entry.
fn split_key(line: &str) -> Option<(String, String)> {
    if line.starts_with('"') || line.starts_with('\'') {
        let q = line.chars().next()?;
        let end = line[1..].find(q)? + 1;
        let key = line[1..end].to_string();
        let rest = line[end + 1..].strip_prefix(':')?;
        return Some((key, rest.trim().to_string()));
    }
    if line.starts_with('{') || line.starts_with('[') {
        return None;
    }
    let i = line
        .find(": ")
        .or_else(|| line.ends_with(':').then(|| line.len() - 1))?;
    Some((
        line[..i].trim().to_string(),
        line[i + 1..].trim().to_string(),
    ))
}

fn scalar(s: &str) -> Result<Value, String> {
    let s = s.trim();
    if s.starts_with('"') {
        return serde_json::from_str::<String>(s)
            .map(Value::String)
            .map_err(|e| format!("bad quoted string {s:?}: {e}"));
    }
    if let Some(inner) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Ok(Value::String(inner.replace("''", "'")));
    }
    if s.starts_with('[') || s.starts_with('{') {
        return serde_json::from_str(s).map_err(|e| format!("bad flow value {s:?}: {e}"));
    }
    if s == "null" || s == "~" {
        return Ok(Value::Null);
    }
    Ok(Value::String(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calico_kubeconfig() {
        let text = r#"
# Kubeconfig file for Calico CNI plugin.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://10.96.0.1:443
    certificate-authority-data: "LS0t"
users:
- name: calico
  user:
    token: abc.def   # a comment
contexts:
- name: calico-context
  context:
    cluster: local
    user: calico
current-context: calico-context
"#;
        assert_eq!(
            parse(text).unwrap(),
            json!({ "apiVersion": "v1", "kind": "Config",
                "clusters": [{ "name": "local", "cluster": {
                    "server": "https://10.96.0.1:443", "certificate-authority-data": "LS0t" } }],
                "users": [{ "name": "calico", "user": { "token": "abc.def" } }],
                "contexts": [{ "name": "calico-context",
                               "context": { "cluster": "local", "user": "calico" } }],
                "current-context": "calico-context" })
        );
    }

    #[test]
    fn indented_lists_and_json() {
        let text = "a:\n  - x\n  - 'y'\nb: {\"c\": 1}\n";
        assert_eq!(
            parse(text).unwrap(),
            json!({ "a": ["x", "y"], "b": { "c": 1 } })
        );
        assert_eq!(parse("{\"k\":\"v\"}").unwrap(), json!({ "k": "v" }));
    }
}

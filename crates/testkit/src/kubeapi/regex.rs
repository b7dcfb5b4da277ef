//! A small backtracking regular-expression matcher for CRD `pattern`s (Go's `regexp`
//! `MatchString`: unanchored search). Supports literals, `.`, `^`, `$`, classes with ranges and
//! negation, `\d \w \s` (and upper-case negations), escaped punctuation, groups `(…)`/`(?:…)`,
//! alternation and greedy quantifiers `* + ? {n} {n,} {n,m}`.

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Alt(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, Option<usize>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    alts: Vec<Vec<Node>>,
}

impl Regex {
    /// Compiles `pattern`; `None` for syntax this matcher does not know.
    pub fn new(pattern: &str) -> Option<Regex> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pos = 0;
        let alts = parse_alt(&chars, &mut pos)?;
        (pos == chars.len()).then_some(Regex { alts })
    }

    /// Whether the pattern matches anywhere in `s`.
    pub fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        let top = Node::Alt(self.alts.clone());
        (0..=chars.len()).any(|start| m(&top, &chars, start, &mut |_| true))
    }
}

fn parse_alt(c: &[char], pos: &mut usize) -> Option<Vec<Vec<Node>>> {
    let mut alts = vec![parse_seq(c, pos)?];
    while *pos < c.len() && c[*pos] == '|' {
        *pos += 1;
        alts.push(parse_seq(c, pos)?);
    }
    Some(alts)
}

fn parse_seq(c: &[char], pos: &mut usize) -> Option<Vec<Node>> {
    let mut seq = Vec::new();
    while *pos < c.len() && c[*pos] != '|' && c[*pos] != ')' {
        let atom = match c[*pos] {
            '(' => {
                *pos += 1;
                if c.get(*pos) == Some(&'?') {
                    if c.get(*pos + 1) != Some(&':') {
                        return None;
                    }
                    *pos += 2;
                }
                let alts = parse_alt(c, pos)?;
                if c.get(*pos) != Some(&')') {
                    return None;
                }
                *pos += 1;
                Node::Alt(alts)
            }
            '[' => {
                *pos += 1;
                parse_class(c, pos)?
            }
            '.' => {
                *pos += 1;
                Node::Any
            }
            '^' => {
                *pos += 1;
                Node::Start
            }
            '$' => {
                *pos += 1;
                Node::End
            }
            '\\' => {
                *pos += 1;
                let e = *c.get(*pos)?;
                *pos += 1;
                escape(e)?
            }
            '*' | '+' | '?' | '{' => return None,
            ch => {
                *pos += 1;
                Node::Char(ch)
            }
        };
        let atom = parse_quantifier(c, pos, atom)?;
        seq.push(atom);
    }
    Some(seq)
}

fn parse_quantifier(c: &[char], pos: &mut usize, atom: Node) -> Option<Node> {
    let (min, max) = match c.get(*pos) {
        Some('*') => (0, None),
        Some('+') => (1, None),
        Some('?') => (0, Some(1)),
        Some('{') => {
            let close = c[*pos..].iter().position(|&x| x == '}')? + *pos;
            let body: String = c[*pos + 1..close].iter().collect();
            let (a, b) = match body.split_once(',') {
                Some((a, "")) => (a.parse().ok()?, None),
                Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
                None => {
                    let n = body.parse().ok()?;
                    (n, Some(n))
                }
            };
            *pos = close;
            (a, b)
        }
        _ => return Some(atom),
    };
    *pos += 1;
    if c.get(*pos) == Some(&'?') {
        *pos += 1; // lazy: same set of matches for a boolean answer
    }
    Some(Node::Repeat(Box::new(atom), min, max))
}

fn class_ranges(e: char) -> Option<(Vec<(char, char)>, bool)> {
    let digits = vec![('0', '9')];
    let word = vec![('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')];
    let space = vec![('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];
    Some(match e {
        'd' => (digits, false),
        'D' => (digits, true),
        'w' => (word, false),
        'W' => (word, true),
        's' => (space, false),
        'S' => (space, true),
        _ => return None,
    })
}

fn escape(e: char) -> Option<Node> {
    if let Some((r, neg)) = class_ranges(e) {
        return Some(Node::Class(r, neg));
    }
    Some(Node::Char(match e {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'f' => '\x0c',
        'v' => '\x0b',
        c if c.is_ascii_punctuation() => c,
        _ => return None,
    }))
}

fn parse_class(c: &[char], pos: &mut usize) -> Option<Node> {
    let mut neg = false;
    if c.get(*pos) == Some(&'^') {
        neg = true;
        *pos += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let ch = *c.get(*pos)?;
        if ch == ']' && !first {
            *pos += 1;
            break;
        }
        first = false;
        *pos += 1;
        let lo = if ch == '\\' {
            let e = *c.get(*pos)?;
            *pos += 1;
            if let Some((r, false)) = class_ranges(e) {
                ranges.extend(r);
                continue;
            }
            match escape(e)? {
                Node::Char(x) => x,
                _ => return None,
            }
        } else {
            ch
        };
        if c.get(*pos) == Some(&'-') && c.get(*pos + 1).is_some_and(|&x| x != ']') {
            *pos += 1;
            let mut hi = c[*pos];
            *pos += 1;
            if hi == '\\' {
                hi = match escape(*c.get(*pos)?)? {
                    Node::Char(x) => x,
                    _ => return None,
                };
                *pos += 1;
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
    Some(Node::Class(ranges, neg))
}

fn m(node: &Node, s: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match node {
        Node::Char(c) => pos < s.len() && s[pos] == *c && k(pos + 1),
        Node::Any => pos < s.len() && s[pos] != '\n' && k(pos + 1),
        Node::Class(r, neg) => {
            pos < s.len()
                && r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&s[pos])) != *neg
                && k(pos + 1)
        }
        Node::Start => pos == 0 && k(pos),
        Node::End => pos == s.len() && k(pos),
        Node::Alt(alts) => alts.iter().any(|seq| m_seq(seq, s, pos, k)),
        Node::Repeat(n, min, max) => rep(n, *min, *max, 0, s, pos, k),
    }
}

fn m_seq(nodes: &[Node], s: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match nodes.split_first() {
        None => k(pos),
        Some((first, rest)) => m(first, s, pos, &mut |p| m_seq(rest, s, p, k)),
    }
}

fn rep(
    n: &Node,
    min: usize,
    max: Option<usize>,
    count: usize,
    s: &[char],
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if max.is_none_or(|mx| count < mx)
        && m(n, s, pos, &mut |p| {
            p != pos && rep(n, min, max, count + 1, s, p, k)
        })
    {
        return true;
    }
    count >= min && k(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_affinity_pattern() {
        let r = Regex::new(r"^(host|virtual):[a-zA-Z0-9\.\-_]+$").unwrap();
        assert!(r.is_match("host:node-1.example"));
        assert!(r.is_match("virtual:x_y"));
        assert!(!r.is_match("host:"));
        assert!(!r.is_match("hostx:node"));
        assert!(!r.is_match("host:no de"));
    }

    #[test]
    fn unanchored_search_and_counts() {
        assert!(Regex::new("b+").unwrap().is_match("abbc"));
        assert!(Regex::new("^a{2,3}$").unwrap().is_match("aaa"));
        assert!(!Regex::new("^a{2,3}$").unwrap().is_match("aaaa"));
        assert!(Regex::new("^.*").unwrap().is_match(""));
        assert!(Regex::new(r"^[^/]+\d?$").unwrap().is_match("abc"));
    }
}

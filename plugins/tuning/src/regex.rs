//! The RE2 syntax Go's `regexp.MatchString` accepts, for the allowlist: an unanchored "does
//! the pattern match anywhere in the text" test.
//!
//! Why not a crate: even `regex-lite` cost this plugin a quarter of its peak RSS (a plugin's
//! RSS follows its binary size, and the allowlist is the only regex user). Allowlist patterns
//! and sysctl keys are a few dozen characters, so a small parser and a Thompson-NFA
//! simulation (linear in the text, no backtracking blow-ups) are all that is needed.
//!
//! Supported: literals and escaped punctuation, `.`, `[...]` with ranges, negation, Perl
//! (`\d \s \w` and their negations) and POSIX (`[:alpha:]`) classes, `^ $ \A \z \b \B`,
//! groups (`(...)`, `(?:...)`, `(?P<n>...)`, `(?<n>...)`), flags `i m s U` (as `(?i)` or
//! `(?i:...)`), `|`, `* + ? {n} {n,} {n,m}` and their lazy forms, `\a \f \t \n \r \v`, octal,
//! `\x7F`, `\x{10FFFF}` and `\Q...\E`. Not supported: Unicode classes (`\pL`), reported as a
//! bad pattern; `(?i)` folds ASCII letters only. Errors read like Go's: `missing closing ): `(``.

const MAX_REPEAT: u32 = 1000;
const MAX_DEPTH: usize = 1000;
const MAX_PROGRAM: usize = 50_000;

/// A compiled pattern.
#[derive(Debug)]
pub struct Regex {
    prog: Vec<Inst>,
}

impl Regex {
    /// Parses `pattern`; the error is Go's text after `error parsing regexp: `.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            s: &chars,
            i: 0,
            flags: Flags::default(),
            depth: 0,
        };
        let node = p.alternation()?;
        if p.i < chars.len() {
            // Only an unmatched `)` stops the top level early.
            return Err(format!("unexpected ): `{pattern}`"));
        }
        let mut prog = Vec::new();
        compile(&node, &mut prog)?;
        prog.push(Inst::Match);
        Ok(Regex { prog })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let n = self.prog.len();
        let mut current = Threads::new(n);
        let mut next = Threads::new(n);
        for pos in 0..=chars.len() {
            // Unanchored: a new thread starts at every position.
            self.add(&mut current, 0, &chars, pos);
            if current
                .list
                .iter()
                .any(|&pc| matches!(self.prog[pc], Inst::Match))
            {
                return true;
            }
            let Some(&c) = chars.get(pos) else { break };
            next.clear();
            for &pc in &current.list {
                let step = match &self.prog[pc] {
                    Inst::Class(class) => class.matches(c),
                    Inst::Any { newline } => c != '\n' || *newline,
                    _ => false,
                };
                if step {
                    self.add(&mut next, pc + 1, &chars, pos + 1);
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        false
    }

    /// Adds `pc` and everything reachable from it without consuming a character.
    fn add(&self, threads: &mut Threads, pc: usize, text: &[char], pos: usize) {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if threads.seen[pc] {
                continue;
            }
            threads.seen[pc] = true;
            match &self.prog[pc] {
                Inst::Jump(to) => stack.push(*to),
                Inst::Split(a, b) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Inst::Assert(look) => {
                    if look.holds(text, pos) {
                        stack.push(pc + 1);
                    }
                }
                _ => threads.list.push(pc),
            }
        }
    }
}

struct Threads {
    list: Vec<usize>,
    seen: Vec<bool>,
}

impl Threads {
    fn new(n: usize) -> Self {
        Threads {
            list: Vec::new(),
            seen: vec![false; n],
        }
    }

    fn clear(&mut self) {
        self.list.clear();
        self.seen.iter_mut().for_each(|s| *s = false);
    }
}

#[derive(Debug)]
enum Inst {
    Class(Class),
    Any { newline: bool },
    Split(usize, usize),
    Jump(usize),
    Assert(Look),
    Match,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    BeginText,
    EndText,
    BeginLine,
    EndLine,
    WordBoundary,
    NotWordBoundary,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Look {
    fn holds(self, text: &[char], pos: usize) -> bool {
        let before = pos.checked_sub(1).map(|i| text[i]);
        let after = text.get(pos).copied();
        match self {
            Look::BeginText => pos == 0,
            Look::EndText => pos == text.len(),
            Look::BeginLine => before.is_none_or(|c| c == '\n'),
            Look::EndLine => after.is_none_or(|c| c == '\n'),
            Look::WordBoundary | Look::NotWordBoundary => {
                let boundary = before.is_some_and(is_word) != after.is_some_and(is_word);
                boundary == (self == Look::WordBoundary)
            }
        }
    }
}

/// A set of characters: ranges, maybe negated, maybe case-folded.
#[derive(Debug, Clone, Default)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
    fold: bool,
}

impl Class {
    fn single(c: char, fold: bool) -> Self {
        Class {
            ranges: vec![(c, c)],
            negated: false,
            fold,
        }
    }

    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }

    fn matches(&self, c: char) -> bool {
        let mut hit = self.contains(c);
        if self.fold && !hit {
            // ASCII folding only: Unicode's case tables would double this module's size, and
            // sysctl keys are ASCII.
            hit = self.contains(c.to_ascii_lowercase()) || self.contains(c.to_ascii_uppercase());
        }
        hit != self.negated
    }

    /// Adds another class's characters (a negated one as its complement).
    fn add(&mut self, other: &Class) {
        if other.negated {
            let mut sorted = other.ranges.clone();
            sorted.sort();
            let mut lo = '\0';
            for (a, b) in sorted {
                if a > lo {
                    self.ranges.push((lo, prev_char(a)));
                }
                lo = lo.max(next_char(b));
            }
            if lo != char::MAX || !other.contains(char::MAX) {
                self.ranges.push((lo, char::MAX));
            }
        } else {
            self.ranges.extend_from_slice(&other.ranges);
        }
    }
}

fn prev_char(c: char) -> char {
    match c {
        '\u{E000}' => '\u{D7FF}',
        c => char::from_u32(c as u32 - 1).unwrap_or(c),
    }
}

fn next_char(c: char) -> char {
    match c {
        '\u{D7FF}' => '\u{E000}',
        char::MAX => char::MAX,
        c => char::from_u32(c as u32 + 1).unwrap_or(c),
    }
}

fn ranges(spec: &[(char, char)], negated: bool) -> Class {
    Class {
        ranges: spec.to_vec(),
        negated,
        fold: false,
    }
}

/// `\d \s \w` (RE2's ASCII definitions).
fn perl_class(c: char) -> Option<Class> {
    let (spec, negated): (&[(char, char)], bool) = match c {
        'd' | 'D' => (&[('0', '9')], c == 'D'),
        's' | 'S' => (&[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')], c == 'S'),
        'w' | 'W' => (&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')], c == 'W'),
        _ => return None,
    };
    Some(ranges(spec, negated))
}

fn posix_class(name: &str) -> Option<&'static [(char, char)]> {
    Some(match name {
        "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
        "alpha" => &[('A', 'Z'), ('a', 'z')],
        "ascii" => &[('\0', '\x7f')],
        "blank" => &[('\t', '\t'), (' ', ' ')],
        "cntrl" => &[('\0', '\x1f'), ('\x7f', '\x7f')],
        "digit" => &[('0', '9')],
        "graph" => &[('!', '~')],
        "lower" => &[('a', 'z')],
        "print" => &[(' ', '~')],
        "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
        "space" => &[('\t', '\r'), (' ', ' ')],
        "upper" => &[('A', 'Z')],
        "word" => &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
        "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
        _ => return None,
    })
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Class(Class),
    Any {
        newline: bool,
    },
    Look(Look),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    fold: bool,
    multiline: bool,
    dot_newline: bool,
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
    flags: Flags,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.s[from..to.min(self.s.len())].iter().collect()
    }

    fn whole(&self) -> String {
        self.s.iter().collect()
    }

    fn alternation(&mut self) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("expression nests too deeply: `{}`", self.whole()));
        }
        let mut branches = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.i += 1;
            branches.push(self.concat()?);
        }
        self.depth -= 1;
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '*' | '+' | '?' => {
                    let start = self.i;
                    self.i += 1;
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.repeat(&mut items, start, min, max)?;
                }
                '{' => match self.repeat_braces()? {
                    Some((start, min, max)) => self.repeat(&mut items, start, min, max)?,
                    None => {
                        self.i += 1;
                        items.push(Node::Class(Class::single('{', self.flags.fold)));
                    }
                },
                _ => {
                    if let Some(item) = self.atom()? {
                        items.push(item);
                    }
                }
            }
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// Applies a repetition operator (already consumed from `start`) to the last item.
    fn repeat(
        &mut self,
        items: &mut Vec<Node>,
        start: usize,
        min: u32,
        max: Option<u32>,
    ) -> Result<(), String> {
        if self.peek() == Some('?') {
            self.i += 1; // lazy: the same set of matches
        }
        let op = self.text(start, self.i);
        let Some(last) = items.pop() else {
            return Err(format!("missing argument to repetition operator: `{op}`"));
        };
        // Go refuses `a**`, `a+?+`, `a{2}*`: a repetition of a bare repetition.
        if let Some(next) = self.peek() {
            let nested = matches!(next, '*' | '+' | '?')
                || (next == '{' && self.clone_repeat_braces().is_some());
            if nested {
                let mut end = self.i + 1;
                if next == '{' {
                    end = self.clone_repeat_braces().map_or(end, |e| e);
                }
                return Err(format!(
                    "invalid nested repetition operator: `{}`",
                    self.text(start, end)
                ));
            }
        }
        items.push(Node::Repeat {
            node: Box::new(last),
            min,
            max,
        });
        Ok(())
    }

    /// The end of a `{n}`, `{n,}` or `{n,m}` at the cursor, without consuming it.
    fn clone_repeat_braces(&self) -> Option<usize> {
        let mut probe = Parser {
            s: self.s,
            i: self.i,
            flags: self.flags,
            depth: self.depth,
        };
        match probe.repeat_braces() {
            Ok(Some(_)) | Err(_) => Some(probe.i),
            Ok(None) => None,
        }
    }

    /// `{n}`, `{n,}`, `{n,m}`: Some((start, min, max)) consumed; None (nothing consumed) when
    /// the brace is a literal.
    fn repeat_braces(&mut self) -> Result<Option<(usize, u32, Option<u32>)>, String> {
        let start = self.i;
        let mut j = start + 1;
        let number = |j: &mut usize| -> Option<u32> {
            let from = *j;
            while self.s.get(*j).is_some_and(|c| c.is_ascii_digit()) {
                *j += 1;
            }
            (*j > from).then(|| self.text(from, *j).parse::<u32>().unwrap_or(u32::MAX))
        };
        let Some(min) = number(&mut j) else {
            return Ok(None);
        };
        let max = match self.s.get(j) {
            Some('}') => Some(min),
            Some(',') => {
                j += 1;
                match self.s.get(j) {
                    Some('}') => None,
                    _ => match number(&mut j) {
                        Some(max) if self.s.get(j) == Some(&'}') => Some(max),
                        _ => return Ok(None),
                    },
                }
            }
            _ => return Ok(None),
        };
        j += 1; // the closing brace
        self.i = j;
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
            return Err(format!("invalid repeat count: `{}`", self.text(start, j)));
        }
        Ok(Some((start, min, max)))
    }

    fn atom(&mut self) -> Result<Option<Node>, String> {
        let start = self.i;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        self.i += 1;
        let fold = self.flags.fold;
        Ok(Some(match c {
            '(' => return self.group(start),
            '[' => Node::Class(self.bracket(start)?),
            '.' => Node::Any {
                newline: self.flags.dot_newline,
            },
            '^' => Node::Look(if self.flags.multiline {
                Look::BeginLine
            } else {
                Look::BeginText
            }),
            '$' => Node::Look(if self.flags.multiline {
                Look::EndLine
            } else {
                Look::EndText
            }),
            '\\' => return self.escape(start),
            c => Node::Class(Class::single(c, fold)),
        }))
    }

    /// After `(`: a group, a flag group, or flags for the rest of the enclosing group.
    fn group(&mut self, start: usize) -> Result<Option<Node>, String> {
        let saved = self.flags;
        if self.peek() == Some('?') {
            self.i += 1;
            match self.peek() {
                Some('P') if self.s.get(self.i + 1) == Some(&'<') => {
                    self.i += 2;
                    self.capture_name(start)?;
                }
                Some('<') => {
                    self.i += 1;
                    self.capture_name(start)?;
                }
                _ => {
                    if !self.flag_group(start)? {
                        // `(?i)`: the flags stay set for the rest of the enclosing group.
                        return Ok(None);
                    }
                }
            }
        }
        let inner = self.alternation()?;
        if self.peek() != Some(')') {
            return Err(format!("missing closing ): `{}`", self.whole()));
        }
        self.i += 1;
        self.flags = saved;
        Ok(Some(inner))
    }

    fn capture_name(&mut self, start: usize) -> Result<(), String> {
        let from = self.i;
        while self.peek().is_some_and(is_word) {
            self.i += 1;
        }
        if self.i == from || self.peek() != Some('>') {
            let end = self.s[self.i..]
                .iter()
                .position(|&c| c == '>')
                .map_or(self.s.len(), |p| self.i + p + 1);
            return Err(format!(
                "invalid named capture: `{}`",
                self.text(start, end)
            ));
        }
        self.i += 1;
        Ok(())
    }

    /// `(?flags)` or `(?flags:`; true when a group body follows.
    fn flag_group(&mut self, start: usize) -> Result<bool, String> {
        let mut negate = false;
        let mut any = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(format!("missing closing ): `{}`", self.whole()));
            };
            self.i += 1;
            match c {
                'i' | 'm' | 's' | 'U' => {
                    any = true;
                    let on = !negate;
                    match c {
                        'i' => self.flags.fold = on,
                        'm' => self.flags.multiline = on,
                        's' => self.flags.dot_newline = on,
                        _ => {} // ungreedy: the same set of matches
                    }
                }
                '-' if !negate => {
                    negate = true;
                    any = false;
                }
                ':' | ')' if !negate || any => return Ok(c == ':'),
                _ => break,
            }
        }
        Err(format!(
            "invalid or unsupported Perl syntax: `{}`",
            self.text(start, self.i)
        ))
    }

    /// After `\` outside brackets.
    fn escape(&mut self, start: usize) -> Result<Option<Node>, String> {
        let Some(c) = self.peek() else {
            return Err("trailing backslash at end of expression: ``".into());
        };
        let look = match c {
            'A' => Some(Look::BeginText),
            'z' => Some(Look::EndText),
            'b' => Some(Look::WordBoundary),
            'B' => Some(Look::NotWordBoundary),
            _ => None,
        };
        if let Some(look) = look {
            self.i += 1;
            return Ok(Some(Node::Look(look)));
        }
        if c == 'Q' {
            self.i += 1;
            let fold = self.flags.fold;
            let mut lits = Vec::new();
            while self.i < self.s.len() {
                if self.s[self.i] == '\\' && self.s.get(self.i + 1) == Some(&'E') {
                    self.i += 2;
                    break;
                }
                lits.push(Node::Class(Class::single(self.s[self.i], fold)));
                self.i += 1;
            }
            return Ok(Some(Node::Concat(lits)));
        }
        let class = self.escape_class(start)?;
        Ok(Some(Node::Class(class)))
    }

    /// An escape that stands for characters (inside or outside brackets), cursor after `\`.
    fn escape_class(&mut self, start: usize) -> Result<Class, String> {
        let fold = self.flags.fold;
        let Some(c) = self.peek() else {
            return Err("trailing backslash at end of expression: ``".into());
        };
        self.i += 1;
        if let Some(class) = perl_class(c) {
            return Ok(class);
        }
        let bad = |p: &Parser| Err(format!("invalid escape sequence: `{}`", p.text(start, p.i)));
        let lit = match c {
            'a' => '\x07',
            'f' => '\x0c',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\x0b',
            '0'..='7' => {
                // `\1`..`\7` alone would be a backreference, which RE2 refuses.
                if c != '0' && !self.peek().is_some_and(|d| ('0'..='7').contains(&d)) {
                    return bad(self);
                }
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.i += 1;
                        }
                        None => break,
                    }
                }
                char::from_u32(value).unwrap_or('\0')
            }
            'x' => {
                let digits: String = if self.peek() == Some('{') {
                    let Some(len) = self.s[self.i..].iter().position(|&d| d == '}') else {
                        self.i = self.s.len();
                        return bad(self);
                    };
                    let hex = self.text(self.i + 1, self.i + len);
                    self.i += len + 1;
                    hex
                } else {
                    let hex = self.text(self.i, self.i + 2);
                    self.i += 2.min(self.s.len() - self.i);
                    if hex.chars().count() < 2 {
                        return bad(self);
                    }
                    hex
                };
                match u32::from_str_radix(&digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(ch) if !digits.is_empty() => ch,
                    _ => return bad(self),
                }
            }
            'p' | 'P' => {
                if self.peek() == Some('{') {
                    if let Some(len) = self.s[self.i..].iter().position(|&d| d == '}') {
                        self.i += len + 1;
                    }
                } else if self.i < self.s.len() {
                    self.i += 1;
                }
                return Err(format!(
                    "unsupported Unicode class: `{}`",
                    self.text(start, self.i)
                ));
            }
            // Go: any ASCII character that is not a letter or digit escapes to itself.
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => c,
            _ => return bad(self),
        };
        Ok(Class::single(lit, fold))
    }

    /// After `[`: a bracketed class up to its `]`.
    fn bracket(&mut self, start: usize) -> Result<Class, String> {
        let missing =
            |p: &Parser| Err(format!("missing closing ]: `{}`", p.text(start, p.s.len())));
        let mut class = Class {
            fold: self.flags.fold,
            ..Default::default()
        };
        if self.peek() == Some('^') {
            class.negated = true;
            self.i += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return missing(self);
            };
            // A `]` right after `[` or `[^` is a literal.
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            let item_start = self.i;
            if c == '[' && self.s.get(self.i + 1) == Some(&':') {
                let rest = &self.s[self.i + 2..];
                if let Some(len) = rest.windows(2).position(|w| w == [':', ']']) {
                    let name: String = rest[..len].iter().collect();
                    let (negated, bare) = match name.strip_prefix('^') {
                        Some(bare) => (true, bare.to_string()),
                        None => (false, name.clone()),
                    };
                    let Some(spec) = posix_class(&bare) else {
                        return Err(format!("invalid character class range: `[:{name}:]`"));
                    };
                    self.i += len + 4;
                    class.add(&ranges(spec, negated));
                    continue;
                }
            }
            let lo = match self.class_char()? {
                Item::Char(lo) => lo,
                Item::Set(set) => {
                    class.add(&set);
                    continue;
                }
                Item::End => return missing(self),
            };
            // A range, unless the `-` is the last thing before `]`.
            if self.peek() == Some('-') && self.s.get(self.i + 1).is_some_and(|&c| c != ']') {
                self.i += 1;
                let hi = match self.class_char()? {
                    Item::Char(hi) => hi,
                    Item::End => return missing(self),
                    Item::Set(_) => {
                        return Err(format!(
                            "invalid character class range: `{}`",
                            self.text(item_start, self.i)
                        ))
                    }
                };
                if hi < lo {
                    return Err(format!(
                        "invalid character class range: `{}`",
                        self.text(item_start, self.i)
                    ));
                }
                class.ranges.push((lo, hi));
            } else {
                class.ranges.push((lo, lo));
            }
        }
        Ok(class)
    }

    /// One character (or escaped set) inside brackets.
    fn class_char(&mut self) -> Result<Item, String> {
        let start = self.i;
        let Some(c) = self.peek() else {
            return Ok(Item::End);
        };
        self.i += 1;
        if c != '\\' {
            return Ok(Item::Char(c));
        }
        if self.peek().is_none() {
            return Ok(Item::End);
        }
        let class = self.escape_class(start)?;
        match class.ranges.as_slice() {
            [(lo, hi)] if lo == hi && !class.negated => Ok(Item::Char(*lo)),
            _ => Ok(Item::Set(class)),
        }
    }
}

enum Item {
    Char(char),
    Set(Class),
    End,
}

/// Thompson construction; each node appends its instructions to `prog`.
fn compile(node: &Node, prog: &mut Vec<Inst>) -> Result<(), String> {
    if prog.len() > MAX_PROGRAM {
        return Err("expression too large: ``".into());
    }
    match node {
        Node::Empty => {}
        Node::Class(class) => prog.push(Inst::Class(class.clone())),
        Node::Any { newline } => prog.push(Inst::Any { newline: *newline }),
        Node::Look(look) => prog.push(Inst::Assert(*look)),
        Node::Concat(items) => {
            for item in items {
                compile(item, prog)?;
            }
        }
        Node::Alt(branches) => {
            // split L1, next; L1: branch; jump end; next: split ... ; last branch
            let mut jumps = Vec::new();
            for (k, branch) in branches.iter().enumerate() {
                if k + 1 < branches.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    compile(branch, prog)?;
                    jumps.push(prog.len());
                    prog.push(Inst::Jump(0));
                    let next = prog.len();
                    prog[split] = Inst::Split(split + 1, next);
                } else {
                    compile(branch, prog)?;
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jump(end);
            }
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                compile(node, prog)?;
            }
            match max {
                None => {
                    // L: split body, end; body; jump L
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    compile(node, prog)?;
                    prog.push(Inst::Jump(split));
                    let end = prog.len();
                    prog[split] = Inst::Split(split + 1, end);
                }
                Some(max) => {
                    // Optional copies: split body, end; body; ... all skipping to the end.
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(0, 0));
                        compile(node, prog)?;
                    }
                    let end = prog.len();
                    for s in splits {
                        prog[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Regex::new(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
    }

    fn err(pattern: &str) -> String {
        Regex::new(pattern).unwrap_err()
    }

    #[test]
    fn allowlist_style_patterns() {
        let p = r"^net\.ipv4\.conf\.all\.[a-z_]*$";
        assert!(m(p, "net.ipv4.conf.all.log_martians"));
        assert!(!m(p, "net.ipv4.conf.other.log_martians"));
        assert!(!m(p, "xnet.ipv4.conf.all.log_martians"));
        assert!(!m(p, "net.ipv4.conf.all.log_martians2"));
        assert!(m("somaxconn", "net.core.somaxconn"), "unanchored");
        assert!(m(r"conf\.IFNAME\.", "net.ipv4.conf.IFNAME.arp_filter"));
        assert!(m("", "anything"));
        assert!(m("^$", ""));
        assert!(!m("^$", "x"));
    }

    #[test]
    fn operators() {
        assert!(m("^a*$", "") && m("^a*$", "aaa") && !m("^a*$", "ab"));
        assert!(m("^a+$", "a") && !m("^a+$", ""));
        assert!(m("^ab?c$", "ac") && m("^ab?c$", "abc") && !m("^ab?c$", "abbc"));
        assert!(m("^a{2}$", "aa") && !m("^a{2}$", "aaa"));
        assert!(m("^a{2,}$", "aaaa") && !m("^a{2,}$", "a"));
        assert!(m("^a{1,3}$", "aaa") && !m("^a{1,3}$", "aaaa"));
        assert!(m("^a*?b+?$", "aabb"));
        assert!(m("^(ab|cd)+$", "abcdab") && !m("^(ab|cd)+$", "abc"));
        assert!(m("^(?:x|)$", "") && m("^(x|)$", "x"));
        assert!(m("^a{,3}$", "a{,3}"), "not a repeat: literal braces");
        assert!(m("^x{$", "x{"));
        assert!(m("^.$", "é") && !m("^.$", "\n") && m("(?s)^.$", "\n"));
        assert!(m(r"^[^a-c]$", "d") && !m(r"^[^a-c]$", "b"));
        assert!(m(r"^[]a]+$", "]a]") && m(r"^[a-]+$", "-a"));
        assert!(m(r"^[\d.]+$", "1.2") && !m(r"^[\d.]+$", "1a"));
        assert!(m(r"^[^\d]$", "x") && !m(r"^[^\d]$", "5"));
        assert!(m(r"^[[:alpha:]_]+$", "ab_C") && !m(r"^[[:^alpha:]]$", "a"));
        assert!(m(r"^\w+\s\W$", "ab_1 !"));
        assert!(m(r"\bconf\b", "ipv4.conf.all") && !m(r"\bconf\b", "config"));
        assert!(m(r"\Bonf", "conf") && !m(r"\Bcon", "conf"));
        assert!(m(r"\Aa\z", "a"));
        assert!(m(r"^\x41\x{42}\101\0$", "ABA\0"));
        assert!(m(r"^\Q.*\E$", ".*") && !m(r"^\Q.*\E$", "ab"));
        assert!(m("(?i)^NET$", "net") && m("^(?i:N)et$", "net") && !m("^(?i:N)et$", "nET"));
        assert!(m("(?i)[a-c]", "B") && !m("(?i)^[^a]$", "A"));
        assert!(m("(?m)^b$", "a\nb\nc") && !m("^b$", "a\nb\nc"));
        assert!(m(r"^(?P<x>a)(?<y>b)$", "ab"));
        assert!(m(r"^[\]\-\\]+$", r"]-\"));
        assert!(m(r"^a\ b$", "a b") && m(r"^\_$", "_"));
        assert!(m("(?i)x(?-i)y", "Xy") && !m("(?i)x(?-i)y", "XY"));
        assert!(Regex::new("(?i-)").is_err() && Regex::new("(?)").is_ok());
    }

    #[test]
    fn no_exponential_blowup() {
        let text = "a".repeat(200);
        assert!(!m("^(a*)*b$", &text));
        assert!(!m("^(a|aa)*c", &text));
        assert!(m("(x+x+)+y|a", &text));
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(err("("), "missing closing ): `(`");
        assert_eq!(err("a(b"), "missing closing ): `a(b`");
        assert_eq!(err("a)"), "unexpected ): `a)`");
        assert_eq!(err("[a"), "missing closing ]: `[a`");
        assert_eq!(err("x[]"), "missing closing ]: `[]`");
        assert_eq!(err("*"), "missing argument to repetition operator: `*`");
        assert_eq!(err("a|*"), "missing argument to repetition operator: `*`");
        assert_eq!(err("{2}"), "missing argument to repetition operator: `{2}`");
        assert_eq!(err("a**"), "invalid nested repetition operator: `**`");
        assert_eq!(err("a+?*"), "invalid nested repetition operator: `+?*`");
        assert_eq!(
            err("a{2}{3}"),
            "invalid nested repetition operator: `{2}{3}`"
        );
        assert_eq!(err(r"\q"), r"invalid escape sequence: `\q`");
        assert_eq!(err(r"\1"), r"invalid escape sequence: `\1`");
        assert_eq!(err("[z-a]"), "invalid character class range: `z-a`");
        assert_eq!(err("a\\"), "trailing backslash at end of expression: ``");
        assert_eq!(err("a{1001}"), "invalid repeat count: `{1001}`");
        assert_eq!(err("a{3,2}"), "invalid repeat count: `{3,2}`");
        assert_eq!(err("(?x)"), "invalid or unsupported Perl syntax: `(?x`");
        assert_eq!(err("(?P<>a)"), "invalid named capture: `(?P<>`");
        assert_eq!(
            err("[[:nope:]]"),
            "invalid character class range: `[:nope:]`"
        );
        assert_eq!(err(r"\pL"), r"unsupported Unicode class: `\pL`");
    }

    #[test]
    fn nesting_is_bounded() {
        // Deep recursion: give the parser the main thread's stack size.
        let deep = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                (
                    err(&"(".repeat(1001)),
                    m(&format!("{}a{}", "(".repeat(999), ")".repeat(999)), "a"),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            deep.0.split(':').next(),
            Some("expression nests too deeply")
        );
        assert!(deep.1);
    }
}

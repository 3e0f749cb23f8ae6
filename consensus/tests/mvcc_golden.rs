//! Golden scripts for the MVCC store: `tests/golden/mvcc/*.txt`.
//!
//! A script is a series of blocks separated by blank lines. A block is a
//! command (one line, or several for `txn`/`batch` ... `end`), a `----` line,
//! and the output the command produced. Lines starting with `#` are comments.
//! The runner replays every script on a fresh RocksDB, checking the store's
//! invariants after each command (see `mvcc_support`), and compares the
//! output; `UPDATE_GOLDENFILES=1 cargo test -p consensus --test mvcc_golden`
//! rewrites the files instead. Review the diff: these files are the spec.
//!
//! Commands (KEY/VALUE are bare words or "quoted" with \xNN escapes):
//!
//! ```text
//! put KEY [VALUE] [lease=ID] [prev_kv] [ignore_value] [ignore_lease]
//! delete KEY [END] [prefix] [from_key] [prev_kv]
//! range KEY [END] [prefix] [from_key] [limit=N] [rev=N] [sort=none|asc|desc]
//!       [by=key|version|create|mod|value] [keys_only] [count_only]
//!       [min_mod=N] [max_mod=N] [min_create=N] [max_create=N]
//! compact REV
//! lease_grant ID [ttl=N]
//! lease_revoke ID
//! leases                      all leases and their keys
//! events FROM [KEY [END]] [prefix] [from_key]   (default: all keys)
//! status                      revision and compact revision
//! dump                        raw mvcc_keyrev and mvcc_events keys
//! reopen                      close the DB and open it again from disk
//! txn_puts N                  a Txn of N puts (for the op limit); prints a summary
//! txn                         a Txn: compares, then ops per branch
//!   if KEY version|create|mod|lease|value =|!=|>|< VALUE [end=END] [prefix] [from_key]
//!   then
//!   put ... | delete ... | range ... | txn ... end
//!   else
//!   ...
//! end
//! batch                       several commands in one RocksDB transaction
//!   put ... | delete ... | txn ... end | compact | lease_grant | lease_revoke
//! end
//! ```

mod mvcc_support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use consensus::kv::{
    Applied, Command, CommandResult, Compare, CompareResult, CompareTarget, DeleteRangeRequest,
    Event, EventKind, KeyRange, KeyValue, PutRequest, RangeRequest, RangeResponse, RequestOp,
    ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse,
};
use mvcc_support::{all_keys, Harness};

// ------------------------------------------------------------------ scripts

/// One block of a script file.
struct Block {
    /// Comment and blank lines before the command, verbatim.
    leading: Vec<String>,
    command: Vec<String>,
}

fn parse_script(text: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut leading = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            leading.push(line.to_string());
            continue;
        }
        let mut command = vec![line.to_string()];
        // The command runs to `----` (then the old output, skipped) or to a
        // blank line; blank lines always belong to the next block.
        while let Some(&next) = lines.peek() {
            if next.trim().is_empty() {
                break;
            }
            lines.next();
            if next == "----" {
                while lines.peek().is_some_and(|l| !l.trim().is_empty()) {
                    lines.next();
                }
                break;
            }
            command.push(next.to_string());
        }
        blocks.push(Block {
            leading: std::mem::take(&mut leading),
            command,
        });
    }
    (blocks, leading)
}

fn run_script(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let (blocks, trailing) = parse_script(&text);
    let mut h = Harness::new();
    let mut out = String::new();
    for b in blocks {
        for l in &b.leading {
            writeln!(out, "{l}").unwrap();
        }
        for l in &b.command {
            writeln!(out, "{l}").unwrap();
        }
        writeln!(out, "----").unwrap();
        let result = run_command(&mut h, &b.command)
            .unwrap_or_else(|e| panic!("{}: {:?}: {e}", path.display(), b.command));
        out.push_str(&result);
    }
    for l in &trailing {
        writeln!(out, "{l}").unwrap();
    }
    out
}

#[test]
fn golden() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mvcc");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let update = std::env::var_os("UPDATE_GOLDENFILES").is_some_and(|v| v == "1");
    let mut failed = Vec::new();
    for f in files {
        let got = run_script(&f);
        let want = std::fs::read_to_string(&f).unwrap();
        if got == want {
            continue;
        }
        if update {
            std::fs::write(&f, &got).unwrap();
            eprintln!("updated {}", f.display());
            continue;
        }
        let (g, w): (Vec<_>, Vec<_>) = (got.lines().collect(), want.lines().collect());
        let i = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        eprintln!(
            "{}: differs at line {}\n  want: {:?}\n  got:  {:?}",
            f.display(),
            i + 1,
            w.get(i),
            g.get(i)
        );
        failed.push(f);
    }
    assert!(
        failed.is_empty(),
        "golden mismatch (UPDATE_GOLDENFILES=1 to rewrite): {failed:?}"
    );
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone)]
struct Tok {
    bytes: Vec<u8>,
    quoted: bool,
}

impl Tok {
    fn word(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or("")
    }
    /// `name=value` for an unquoted option token.
    fn option(&self) -> Option<(&str, &str)> {
        if self.quoted {
            return None;
        }
        self.word()
            .split_once('=')
            .filter(|(name, _)| OPTIONS.contains(name))
    }
}

fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let quoted = c == '"';
        if quoted {
            chars.next();
        }
        let mut bytes = Vec::new();
        loop {
            match chars.next() {
                None if quoted => return Err(format!("unterminated quote in {line:?}")),
                None => break,
                Some('"') if quoted => break,
                Some(c) if c.is_whitespace() && !quoted => break,
                Some('\\') => match chars.next() {
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        bytes
                            .push(u8::from_str_radix(&hex, 16).map_err(|e| format!("{hex}: {e}"))?);
                    }
                    Some('n') => bytes.push(b'\n'),
                    Some(c @ ('\\' | '"')) => bytes.push(c as u8),
                    other => return Err(format!("bad escape {other:?} in {line:?}")),
                },
                Some(c) => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        toks.push(Tok { bytes, quoted });
    }
    Ok(toks)
}

/// Positional arguments, flags and `name=value` options of one line.
struct Args {
    pos: Vec<Vec<u8>>,
    flags: Vec<String>,
    opts: Vec<(String, String)>,
}

impl Args {
    fn parse(toks: &[Tok]) -> Self {
        let mut a = Args {
            pos: vec![],
            flags: vec![],
            opts: vec![],
        };
        for t in toks {
            if let Some((k, v)) = t.option() {
                a.opts.push((k.to_string(), v.to_string()));
            } else if !t.quoted && FLAGS.contains(&t.word()) {
                a.flags.push(t.word().to_string());
            } else {
                a.pos.push(t.bytes.clone());
            }
        }
        a
    }
    fn flag(&mut self, name: &str) -> bool {
        let had = self.flags.iter().any(|f| f == name);
        self.flags.retain(|f| f != name);
        had
    }
    fn opt<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        let Some(i) = self.opts.iter().position(|(k, _)| k == name) else {
            return Ok(None);
        };
        let (_, v) = self.opts.remove(i);
        v.parse()
            .map(Some)
            .map_err(|_| format!("bad value for {name}: {v}"))
    }
    fn int(&mut self, i: usize) -> Result<i64, String> {
        let p = self.pos.get(i).ok_or("missing argument")?;
        std::str::from_utf8(p)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(format!("not a number: {p:?}"))
    }
    /// A key range from positionals `i`, `i + 1` and the prefix/from_key flags.
    fn range(&mut self, i: usize) -> Result<KeyRange, String> {
        let key = self.pos.get(i).cloned().ok_or("missing key")?;
        let range_end = self.pos.get(i + 1).cloned();
        Ok(if self.flag("prefix") {
            KeyRange::prefix(key)
        } else if self.flag("from_key") {
            KeyRange {
                key,
                range_end: vec![0],
            }
        } else {
            KeyRange {
                key,
                range_end: range_end.unwrap_or_default(),
            }
        })
    }
    fn done(self, max_pos: usize) -> Result<(), String> {
        if self.pos.len() > max_pos || !self.flags.is_empty() || !self.opts.is_empty() {
            return Err(format!(
                "unused arguments: {:?} {:?} {:?}",
                &self.pos[max_pos.min(self.pos.len())..],
                self.flags,
                self.opts
            ));
        }
        Ok(())
    }
}

const OPTIONS: &[&str] = &[
    "lease",
    "limit",
    "rev",
    "sort",
    "by",
    "min_mod",
    "max_mod",
    "min_create",
    "max_create",
    "ttl",
    "end",
];
const FLAGS: &[&str] = &[
    "prev_kv",
    "ignore_value",
    "ignore_lease",
    "prefix",
    "from_key",
    "keys_only",
    "count_only",
];

// ----------------------------------------------------------------- commands

fn run_command(h: &mut Harness, lines: &[String]) -> Result<String, String> {
    let toks = tokenize(&lines[0])?;
    let name = toks.first().ok_or("empty command")?.word().to_string();
    let mut args = Args::parse(&toks[1..]);
    let mut out = String::new();
    match name.as_str() {
        "range" => {
            let req = parse_range(&mut args)?;
            args.done(2)?;
            match h.mvcc().range(&req) {
                Ok(resp) => fmt_range(&mut out, 0, "", &resp),
                Err(e) => writeln!(out, "err={e:?}").unwrap(),
            }
        }
        "events" => {
            let from = args.int(0)?;
            let range = if args.pos.len() > 1 {
                args.range(1)?
            } else {
                all_keys()
            };
            args.done(3)?;
            match h.mvcc().events_since(from, &range) {
                Ok(evs) if evs.is_empty() => writeln!(out, "(none)").unwrap(),
                Ok(evs) => evs.iter().for_each(|e| fmt_event(&mut out, e)),
                Err(e) => writeln!(out, "err={e:?}").unwrap(),
            }
        }
        "status" => {
            args.done(0)?;
            let m = h.mvcc();
            writeln!(
                out,
                "revision={} compact_revision={}",
                m.revision(),
                m.compact_revision()
            )
            .unwrap();
        }
        "leases" => {
            args.done(0)?;
            let leases = h.mvcc().leases().map_err(|e| e.to_string())?;
            if leases.is_empty() {
                writeln!(out, "(none)").unwrap();
            }
            for l in leases {
                let keys = h.mvcc().lease_keys(l.id).map_err(|e| e.to_string())?;
                let keys: Vec<String> = keys.iter().map(|k| fmt_bytes(k)).collect();
                writeln!(
                    out,
                    "lease {} ttl={} keys=[{}]",
                    l.id,
                    l.ttl,
                    keys.join(" ")
                )
                .unwrap();
            }
        }
        "dump" => {
            args.done(0)?;
            dump(h, &mut out);
        }
        "reopen" => {
            args.done(0)?;
            h.reopen();
            writeln!(out, "ok").unwrap();
        }
        "batch" => {
            let mut cmds = Vec::new();
            let mut rest = &lines[1..];
            while let Some(first) = rest.first() {
                if first.trim() == "end" {
                    break;
                }
                let n = command_len(rest)?;
                cmds.push(parse_command(first, &rest[1..n])?);
                rest = &rest[n..];
            }
            if rest.len() != 1 {
                return Err("batch must end with `end`".into());
            }
            for (i, applied) in h.apply_batch(&cmds).iter().enumerate() {
                writeln!(out, "[{i}]").unwrap();
                fmt_applied(&mut out, applied);
            }
        }
        "txn_puts" => {
            let cmd = parse_command(&lines[0], &lines[1..])?;
            let applied = h.apply(&cmd);
            match &applied.result {
                Ok(_) => writeln!(
                    out,
                    "rev={} ok events={}",
                    applied.revision,
                    applied.events.len()
                ),
                Err(e) => writeln!(out, "rev={} err={e:?}", applied.revision),
            }
            .unwrap();
        }
        _ => {
            let cmd = parse_command(&lines[0], &lines[1..])?;
            let applied = h.apply(&cmd);
            fmt_applied(&mut out, &applied);
        }
    }
    Ok(out)
}

/// How many lines the command starting at `lines[0]` spans.
fn command_len(lines: &[String]) -> Result<usize, String> {
    if lines[0].trim() != "txn" {
        return Ok(1);
    }
    let mut depth = 0;
    for (i, l) in lines.iter().enumerate() {
        match l.trim() {
            "txn" => depth += 1,
            "end" => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
    }
    Err("txn without `end`".into())
}

/// A mutating command: its first line, and the rest of a `txn` block.
fn parse_command(first: &str, rest: &[String]) -> Result<Command, String> {
    let toks = tokenize(first)?;
    let name = toks.first().ok_or("empty command")?.word().to_string();
    let mut args = Args::parse(&toks[1..]);
    Ok(match name.as_str() {
        "put" => {
            let p = parse_put(&mut args)?;
            args.done(2)?;
            Command::Put(p)
        }
        "delete" => {
            let d = parse_delete(&mut args)?;
            args.done(2)?;
            Command::DeleteRange(d)
        }
        "txn" => {
            args.done(0)?;
            let (t, used) = parse_txn(rest)?;
            if used != rest.len() {
                return Err(format!("trailing lines after txn: {:?}", &rest[used..]));
            }
            Command::Txn(t)
        }
        "txn_puts" => {
            let n = args.int(0)?;
            args.done(1)?;
            let success = (0..n)
                .map(|i| {
                    RequestOp::Put(PutRequest {
                        key: format!("many/{i:03}").into_bytes(),
                        value: b"x".to_vec(),
                        ..Default::default()
                    })
                })
                .collect();
            Command::Txn(TxnRequest {
                compare: vec![],
                success,
                failure: vec![],
            })
        }
        "compact" => {
            let revision = args.int(0)?;
            args.done(1)?;
            Command::Compact { revision }
        }
        "lease_grant" => {
            let id = args.int(0)?;
            let ttl = args.opt("ttl")?.unwrap_or(10);
            args.done(1)?;
            Command::LeaseGrant { id, ttl }
        }
        "lease_revoke" => {
            let id = args.int(0)?;
            args.done(1)?;
            Command::LeaseRevoke { id }
        }
        other => return Err(format!("unknown command {other:?}")),
    })
}

fn parse_put(args: &mut Args) -> Result<PutRequest, String> {
    Ok(PutRequest {
        key: args.pos.first().cloned().ok_or("missing key")?,
        value: args.pos.get(1).cloned().unwrap_or_default(),
        lease: args.opt("lease")?.unwrap_or(0),
        prev_kv: args.flag("prev_kv"),
        ignore_value: args.flag("ignore_value"),
        ignore_lease: args.flag("ignore_lease"),
    })
}

fn parse_delete(args: &mut Args) -> Result<DeleteRangeRequest, String> {
    Ok(DeleteRangeRequest {
        range: args.range(0)?,
        prev_kv: args.flag("prev_kv"),
    })
}

fn parse_range(args: &mut Args) -> Result<RangeRequest, String> {
    let range = args.range(0)?;
    let sort_order = match args.opt::<String>("sort")?.as_deref() {
        None | Some("none") => SortOrder::None,
        Some("asc") => SortOrder::Ascend,
        Some("desc") => SortOrder::Descend,
        Some(o) => return Err(format!("bad sort {o}")),
    };
    let sort_target = match args.opt::<String>("by")?.as_deref() {
        None | Some("key") => SortTarget::Key,
        Some("version") => SortTarget::Version,
        Some("create") => SortTarget::Create,
        Some("mod") => SortTarget::Mod,
        Some("value") => SortTarget::Value,
        Some(t) => return Err(format!("bad sort target {t}")),
    };
    Ok(RangeRequest {
        range,
        limit: args.opt("limit")?.unwrap_or(0),
        revision: args.opt("rev")?.unwrap_or(0),
        sort_order,
        sort_target,
        serializable: false,
        keys_only: args.flag("keys_only"),
        count_only: args.flag("count_only"),
        min_mod_revision: args.opt("min_mod")?.unwrap_or(0),
        max_mod_revision: args.opt("max_mod")?.unwrap_or(0),
        min_create_revision: args.opt("min_create")?.unwrap_or(0),
        max_create_revision: args.opt("max_create")?.unwrap_or(0),
    })
}

/// Parses the body of a `txn` block (after the `txn` line, through its
/// `end`); returns the request and the number of lines used.
fn parse_txn(lines: &[String]) -> Result<(TxnRequest, usize), String> {
    let mut t = TxnRequest::default();
    #[derive(PartialEq)]
    enum Part {
        Compare,
        Success,
        Failure,
    }
    let mut part = Part::Compare;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        match line {
            "then" => part = Part::Success,
            "else" => part = Part::Failure,
            "end" => return Ok((t, i)),
            _ => {
                let toks = tokenize(line)?;
                let name = toks[0].word().to_string();
                let mut args = Args::parse(&toks[1..]);
                if name == "if" {
                    if part != Part::Compare {
                        return Err("`if` after `then`".into());
                    }
                    t.compare.push(parse_compare(&mut args)?);
                    args.done(4)?;
                    continue;
                }
                let op = match name.as_str() {
                    "put" => RequestOp::Put(parse_put(&mut args)?),
                    "delete" => RequestOp::DeleteRange(parse_delete(&mut args)?),
                    "range" => RequestOp::Range(parse_range(&mut args)?),
                    "txn" => {
                        let (nested, used) = parse_txn(&lines[i..])?;
                        i += used;
                        RequestOp::Txn(nested)
                    }
                    other => return Err(format!("unknown txn op {other:?}")),
                };
                args.done(2)?;
                match part {
                    Part::Compare => return Err("op before `then`/`else`".into()),
                    Part::Success => t.success.push(op),
                    Part::Failure => t.failure.push(op),
                }
            }
        }
    }
    Err("txn without `end`".into())
}

fn parse_compare(args: &mut Args) -> Result<Compare, String> {
    if args.pos.len() != 4 {
        return Err("if KEY TARGET OP VALUE".into());
    }
    let key = args.pos[0].clone();
    let range = match args.opt::<String>("end")? {
        Some(end) => KeyRange {
            key,
            range_end: end.into_bytes(),
        },
        None if args.flag("prefix") => KeyRange::prefix(key),
        None if args.flag("from_key") => KeyRange {
            key,
            range_end: vec![0],
        },
        None => KeyRange::single(key),
    };
    let word = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let result = match word(&args.pos[2]).as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        o => return Err(format!("bad compare op {o}")),
    };
    let value = args.pos[3].clone();
    let int = || word(&value).parse::<i64>().map_err(|e| format!("{e}"));
    let target = match word(&args.pos[1]).as_str() {
        "version" => CompareTarget::Version(int()?),
        "create" => CompareTarget::Create(int()?),
        "mod" => CompareTarget::Mod(int()?),
        "lease" => CompareTarget::Lease(int()?),
        "value" => CompareTarget::Value(value.clone()),
        t => return Err(format!("bad compare target {t}")),
    };
    Ok(Compare {
        range,
        result,
        target,
    })
}

// ------------------------------------------------------------------- output

fn fmt_bytes(b: &[u8]) -> String {
    let bare = !b.is_empty()
        && b.iter()
            .all(|&c| (0x21..0x7f).contains(&c) && !b"\"\\=".contains(&c));
    if bare {
        return String::from_utf8(b.to_vec()).unwrap();
    }
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => write!(s, "\\x{c:02x}").unwrap(),
        }
    }
    s.push('"');
    s
}

fn fmt_kv(kv: &KeyValue) -> String {
    let mut s = format!(
        "{}={} create={} mod={} ver={}",
        fmt_bytes(&kv.key),
        fmt_bytes(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version
    );
    if kv.lease != 0 {
        write!(s, " lease={}", kv.lease).unwrap();
    }
    s
}

fn fmt_event(out: &mut String, ev: &Event) {
    let kind = match ev.kind {
        EventKind::Put => "put",
        EventKind::Delete => "delete",
    };
    writeln!(out, "event {kind} {}", fmt_kv(&ev.kv)).unwrap();
    if let Some(p) = &ev.prev_kv {
        writeln!(out, "  prev: {}", fmt_kv(p)).unwrap();
    }
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn fmt_range(out: &mut String, indent: usize, label: &str, r: &RangeResponse) {
    writeln!(
        out,
        "{}{label}count={} more={}",
        pad(indent),
        r.count,
        r.more
    )
    .unwrap();
    for kv in &r.kvs {
        writeln!(out, "{}  {}", pad(indent), fmt_kv(kv)).unwrap();
    }
}

fn fmt_txn(out: &mut String, indent: usize, t: &TxnResponse) {
    for r in &t.responses {
        let p = pad(indent);
        match r {
            ResponseOp::Range(r) => fmt_range(out, indent, "range ", r),
            ResponseOp::Put(r) => {
                writeln!(out, "{p}put").unwrap();
                if let Some(kv) = &r.prev_kv {
                    writeln!(out, "{p}  prev_kv: {}", fmt_kv(kv)).unwrap();
                }
            }
            ResponseOp::DeleteRange(r) => {
                writeln!(out, "{p}delete deleted={}", r.deleted).unwrap();
                for kv in &r.prev_kvs {
                    writeln!(out, "{p}  prev_kv: {}", fmt_kv(kv)).unwrap();
                }
            }
            ResponseOp::Txn(t) => {
                writeln!(out, "{p}txn succeeded={}", t.succeeded).unwrap();
                fmt_txn(out, indent + 2, t);
            }
        }
    }
}

fn fmt_applied(out: &mut String, a: &Applied) {
    write!(out, "rev={} ", a.revision).unwrap();
    match &a.result {
        Err(e) => writeln!(out, "err={e:?}").unwrap(),
        Ok(CommandResult::Put(r)) => {
            writeln!(out, "put").unwrap();
            if let Some(kv) = &r.prev_kv {
                writeln!(out, "  prev_kv: {}", fmt_kv(kv)).unwrap();
            }
        }
        Ok(CommandResult::DeleteRange(r)) => {
            writeln!(out, "delete deleted={}", r.deleted).unwrap();
            for kv in &r.prev_kvs {
                writeln!(out, "  prev_kv: {}", fmt_kv(kv)).unwrap();
            }
        }
        Ok(CommandResult::Txn(t)) => {
            writeln!(out, "txn succeeded={}", t.succeeded).unwrap();
            fmt_txn(out, 2, t);
        }
        Ok(CommandResult::Compact) => writeln!(out, "compact").unwrap(),
        Ok(CommandResult::LeaseGrant { id, ttl }) => {
            writeln!(out, "lease_grant id={id} ttl={ttl}").unwrap()
        }
        Ok(CommandResult::LeaseRevoke) => writeln!(out, "lease_revoke").unwrap(),
    }
    for ev in &a.events {
        fmt_event(out, ev);
    }
}

/// The raw keys of the history column families, decoded independently of
/// the store's own code (so this also pins the on-disk layout).
fn dump(h: &Harness, out: &mut String) {
    let db = h.db();
    let keyrev = db.cf_handle("mvcc_keyrev").unwrap();
    let mut versions = Vec::new();
    for item in db.iterator_cf(&keyrev, rocksdb::IteratorMode::Start) {
        let (k, v) = item.unwrap();
        let (esc, rev) = k.split_at(k.len() - 8);
        let rev = !u64::from_be_bytes(rev.try_into().unwrap());
        assert!(esc.ends_with(&[0, 0]));
        let mut key = Vec::new();
        let mut i = 0;
        while i < esc.len() - 2 {
            key.push(esc[i]);
            i += if esc[i] == 0 { 2 } else { 1 };
        }
        let what = if v.is_empty() { "tombstone" } else { "put" };
        versions.push(format!("{}@{rev}:{what}", fmt_bytes(&key)));
    }
    writeln!(out, "keyrev: {}", versions.join(" ")).unwrap();
    let events = db.cf_handle("mvcc_events").unwrap();
    let mut evs = Vec::new();
    for item in db.iterator_cf(&events, rocksdb::IteratorMode::Start) {
        let (k, _) = item.unwrap();
        let rev = u64::from_be_bytes(k[..8].try_into().unwrap());
        let sub = u32::from_be_bytes(k[8..12].try_into().unwrap());
        evs.push(format!("{rev}.{sub}"));
    }
    writeln!(out, "events: {}", evs.join(" ")).unwrap();
}

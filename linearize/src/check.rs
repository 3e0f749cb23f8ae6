//! Entry point: split the history into partitions, search each, and turn a
//! failure into a readable explanation.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use crate::budget::{Budget, Meter};
use crate::history::{History, OpId, Operation, Outcome};
use crate::model::Model;
use crate::search::{search, Deepest, SearchOp, Verdict};

/// The verdict on a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// Some order of the operations, consistent with real time, explains
    /// every output.
    Ok,
    /// No such order exists.
    Illegal(Box<Illegal>),
    /// The budget ran out before the search finished; nothing is known.
    Timeout { steps: u64 },
}

impl CheckResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    pub fn is_illegal(&self) -> bool {
        matches!(self, CheckResult::Illegal(_))
    }
}

/// Why a history is not linearizable: the longest prefix of a linearization
/// the search found for the failing partition, and the operation that could
/// not be placed after it. This is "minimal-ish": the failure is at or after
/// `stuck`, and the ops in `linearized` and `candidates` are the context to
/// read, but other orders of the prefix were tried too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Illegal {
    /// Index of the failing partition (in order of first appearance in the
    /// history) and the number of operations in it.
    pub partition: usize,
    pub partition_len: usize,
    /// The deepest partial linearization, in order.
    pub linearized: Vec<OpId>,
    /// The state after `linearized`, rendered by the model.
    pub state: String,
    /// The completed operation whose return time was reached without any
    /// way to linearize it.
    pub stuck: OpId,
    /// Operations called before `stuck` returned and not in `linearized`
    /// (they were tried in its place and led nowhere).
    pub candidates: Vec<OpId>,
    /// All of the above, rendered for a test failure message.
    pub report: String,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Ok => write!(f, "linearizable"),
            CheckResult::Illegal(illegal) => write!(f, "{}", illegal.report),
            CheckResult::Timeout { steps } => {
                write!(f, "unknown: check gave up after {steps} steps")
            }
        }
    }
}

/// How many operations of the prefix a report shows (the last ones: they
/// are the ones near the failure).
const REPORT_PREFIX: usize = 20;

/// Checks `history` against `model` within `budget`.
///
/// Failed operations are ignored; pending and unknown ones may take effect
/// at any time after their call, or never. Partitions are checked smallest
/// first and the check stops at the first illegal one.
pub fn check<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    budget: Budget,
) -> CheckResult {
    let mut meter = Meter::start(budget);
    let mut partitions = partition(model, history.ops());
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&p| partitions[p].len());
    for p in order {
        let mut members = std::mem::take(&mut partitions[p]);
        members.sort_by_key(|op| (op.call, op.id));
        let ops: Vec<SearchOp<'_, M::Input, M::Output>> = members
            .iter()
            .map(|op| SearchOp {
                input: &op.input,
                output: op.output(),
                call: op.call,
                ret: op.ret(),
            })
            .collect();
        match search(model, &ops, &mut meter) {
            Verdict::Linearizable => {}
            Verdict::OutOfBudget => {
                return CheckResult::Timeout {
                    steps: meter.steps(),
                }
            }
            Verdict::Illegal(deepest) => {
                return CheckResult::Illegal(Box::new(illegal(model, p, &members, deepest)))
            }
        }
    }
    CheckResult::Ok
}

/// Groups the operations that can matter by partition key, partitions
/// numbered in order of first appearance. Failed operations and reads with
/// unknown outcome cannot matter.
fn partition<'h, M: Model>(
    model: &M,
    ops: &'h [Operation<M::Input, M::Output>],
) -> Vec<Vec<&'h Operation<M::Input, M::Output>>> {
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut partitions: Vec<Vec<&Operation<_, _>>> = Vec::new();
    for op in ops {
        let unknown = matches!(op.outcome, Outcome::Pending | Outcome::Unknown);
        if matches!(op.outcome, Outcome::Failed) || unknown && model.is_read_only(&op.input) {
            continue;
        }
        let key = model.partition_key(&op.input);
        let p = *index.entry(key).or_insert_with(|| {
            partitions.push(Vec::new());
            partitions.len() - 1
        });
        partitions[p].push(op);
    }
    partitions
}

fn illegal<M: Model>(
    model: &M,
    partition: usize,
    members: &[&Operation<M::Input, M::Output>],
    deepest: Deepest<M::State>,
) -> Illegal {
    let linearized: Vec<OpId> = deepest.linearized.iter().map(|&i| members[i].id).collect();
    let candidates: Vec<OpId> = deepest.candidates.iter().map(|&i| members[i].id).collect();
    let stuck = members[deepest.stuck];
    let state = model.describe_state(&deepest.state);
    let line = |op: &Operation<M::Input, M::Output>| {
        let ret = op.ret().map_or("?".to_string(), |t| t.to_string());
        let what = model.describe_op(&op.input, op.output());
        format!(
            "  {} {} [{}, {}] {}\n",
            op.id, op.client, op.call, ret, what
        )
    };
    let mut report = String::new();
    let _ = writeln!(
        report,
        "not linearizable: partition {partition} ({}), no order places {} in time",
        count(members.len()),
        stuck.id
    );
    let shown = deepest.linearized.len().min(REPORT_PREFIX);
    let _ = writeln!(
        report,
        "longest linearized prefix: {}{}",
        count(deepest.linearized.len()),
        if shown < deepest.linearized.len() {
            ", last ones:"
        } else {
            ":"
        }
    );
    for &i in &deepest.linearized[deepest.linearized.len() - shown..] {
        report.push_str(&line(members[i]));
    }
    let _ = writeln!(report, "state after prefix: {state}");
    let _ = writeln!(
        report,
        "cannot place (it returned, so it must be linearized by now):"
    );
    report.push_str(&line(stuck));
    if !deepest.candidates.is_empty() {
        let _ = writeln!(report, "other pending ops, each tried in its place:");
        for &i in &deepest.candidates {
            report.push_str(&line(members[i]));
        }
    }
    Illegal {
        partition,
        partition_len: members.len(),
        linearized,
        state,
        stuck: stuck.id,
        candidates,
        report,
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 op".to_string()
    } else {
        format!("{n} ops")
    }
}

use super::*;
use Value::{Bytes, Decimal as Dec, Float, Int, Null, UInt};

fn b(s: &str) -> Value {
    Bytes(s.as_bytes().to_vec())
}

fn asc(column: usize) -> OrderKey {
    OrderKey {
        column,
        descending: false,
    }
}

fn desc(column: usize) -> OrderKey {
    OrderKey {
        column,
        descending: true,
    }
}

#[test]
fn merge_sorted_streams_with_nulls_first() {
    let s1 = vec![vec![Null], vec![Int(1)], vec![Int(5)]];
    let s2 = vec![vec![Null], vec![UInt(2)], vec![Dec("4.5".into())]];
    let s3 = vec![];
    let out = merge_sorted(vec![s1, s2, s3], &[asc(0)]);
    assert_eq!(
        out,
        vec![
            vec![Null],
            vec![Null],
            vec![Int(1)],
            vec![UInt(2)],
            vec![Dec("4.5".into())],
            vec![Int(5)]
        ]
    );
    // DESC puts NULLs last.
    let s1 = vec![vec![Int(5)], vec![Int(1)], vec![Null]];
    let s2 = vec![vec![Int(3)], vec![Null]];
    let out = merge_sorted(vec![s1, s2], &[desc(0)]);
    assert_eq!(
        out,
        vec![
            vec![Int(5)],
            vec![Int(3)],
            vec![Int(1)],
            vec![Null],
            vec![Null]
        ]
    );
}

#[test]
fn order_limit_offset_and_hidden_columns() {
    // SELECT name FROM users ORDER BY user_id LIMIT 2 OFFSET 1: shards
    // return (name, user_id) sorted by user_id, LIMIT 3 each.
    let spec = MergeSpec {
        order_by: vec![asc(1)],
        offset: 1,
        limit: Some(2),
        visible_columns: 1,
        ..Default::default()
    };
    let s1 = vec![
        vec![b("a"), Int(1)],
        vec![b("c"), Int(3)],
        vec![b("e"), Int(5)],
    ];
    let s2 = vec![vec![b("b"), Int(2)], vec![b("d"), Int(4)]];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    assert_eq!(out, vec![vec![b("b")], vec![b("c")]]);
    // Offset past the end.
    let spec = MergeSpec {
        offset: 10,
        ..Default::default()
    };
    assert!(apply(&spec, vec![vec![vec![Int(1)]]]).unwrap().is_empty());
}

#[test]
fn multi_key_order_with_ties_is_stable() {
    let spec = MergeSpec {
        order_by: vec![desc(0), asc(1)],
        ..Default::default()
    };
    let s1 = vec![vec![Int(2), b("a")], vec![Int(1), b("b")]];
    let s2 = vec![
        vec![Int(2), b("a")],
        vec![Int(2), b("c")],
        vec![Int(1), b("a")],
    ];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    let firsts: Vec<_> = out.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        firsts,
        vec![
            (Int(2), b("a")),
            (Int(2), b("a")),
            (Int(2), b("c")),
            (Int(1), b("a")),
            (Int(1), b("b"))
        ]
    );
}

fn agg(group_by: Vec<usize>, columns: Vec<ColumnMerge>) -> MergeSpec {
    MergeSpec {
        aggregate: Some(AggregateSpec {
            group_by,
            columns,
            having: None,
        }),
        ..Default::default()
    }
}

#[test]
fn count_sum_min_max_across_shards() {
    use ColumnMerge::*;
    let spec = agg(vec![], vec![Count, Sum, Min, Max, Sum]);
    let s1 = vec![vec![Int(2), Dec("10.50".into()), Int(3), Int(9), Null]];
    let s2 = vec![vec![Int(0), Null, Null, Null, Null]];
    let s3 = vec![vec![Int(3), Dec("1.5".into()), Int(-1), Int(4), Null]];
    let out = apply(&spec, vec![s1, s2, s3]).unwrap();
    assert_eq!(
        out,
        vec![vec![Int(5), Dec("12.00".into()), Int(-1), Int(9), Null]]
    );
    // Float sums stay floats, integer sums integers.
    let spec = agg(vec![], vec![Sum, Sum]);
    let out = apply(
        &spec,
        vec![
            vec![vec![Float(1.5), Int(i64::MAX)]],
            vec![vec![Float(2.0), Int(1)]],
        ],
    )
    .unwrap();
    assert_eq!(out, vec![vec![Float(3.5), UInt(i64::MAX as u64 + 1)]]);
}

#[test]
fn avg_is_sum_over_count() {
    use ColumnMerge::*;
    // SELECT AVG(amount): shards send (SUM(amount), COUNT(amount)).
    let mut spec = agg(vec![], vec![Avg { count_column: 1 }, Count]);
    spec.visible_columns = 1;
    let out = apply(
        &spec,
        vec![
            vec![vec![Dec("10".into()), Int(3)]],
            vec![vec![Dec("5".into()), Int(1)]],
        ],
    )
    .unwrap();
    assert_eq!(out, vec![vec![Dec("3.7500".into())]]);
    // No rows anywhere: NULL.
    let out = apply(
        &spec,
        vec![vec![vec![Null, Int(0)]], vec![vec![Null, Int(0)]]],
    )
    .unwrap();
    assert_eq!(out, vec![vec![Null]]);
    // Floats.
    let out = apply(
        &spec,
        vec![
            vec![vec![Float(1.0), Int(1)]],
            vec![vec![Float(2.0), Int(3)]],
        ],
    )
    .unwrap();
    assert_eq!(out, vec![vec![Float(0.75)]]);
    // Decimal scale + 4.
    let out = apply(&spec, vec![vec![vec![Dec("1.00".into()), Int(3)]]]).unwrap();
    assert_eq!(out, vec![vec![Dec("0.333333".into())]]);
}

#[test]
fn group_by_merges_groups_then_having_then_order() {
    use ColumnMerge::*;
    // SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1
    // ORDER BY COUNT(*) DESC, name
    let spec = MergeSpec {
        aggregate: Some(AggregateSpec {
            group_by: vec![0],
            columns: vec![First, Count],
            having: Some(Predicate::Compare {
                column: 1,
                op: CompareOp::Gt,
                value: Int(1),
            }),
        }),
        order_by: vec![desc(1), asc(0)],
        ..Default::default()
    };
    let s1 = vec![
        vec![b("ann"), Int(1)],
        vec![b("bob"), Int(2)],
        vec![Null, Int(1)],
    ];
    let s2 = vec![
        vec![b("ann"), Int(1)],
        vec![b("cid"), Int(1)],
        vec![b("bob"), Int(1)],
        vec![Null, Int(4)],
    ];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    assert_eq!(
        out,
        vec![
            vec![Null, Int(5)],
            vec![b("bob"), Int(3)],
            vec![b("ann"), Int(2)]
        ]
    );
}

#[test]
fn group_by_with_no_rows_is_empty_but_plain_aggregate_is_one_row() {
    use ColumnMerge::*;
    assert!(
        apply(&agg(vec![0], vec![First, Count]), vec![vec![], vec![]])
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        apply(&agg(vec![], vec![Count, Sum, Max]), vec![]).unwrap(),
        vec![vec![Int(0), Null, Null]]
    );
}

#[test]
fn having_is_three_valued() {
    use ColumnMerge::*;
    let having = Predicate::Or(
        Box::new(Predicate::Compare {
            column: 1,
            op: CompareOp::Lt,
            value: Int(0),
        }),
        Box::new(Predicate::Not(Box::new(Predicate::Compare {
            column: 1,
            op: CompareOp::Eq,
            value: Dec("2.0".into()),
        }))),
    );
    let spec = MergeSpec {
        aggregate: Some(AggregateSpec {
            group_by: vec![0],
            columns: vec![First, Sum],
            having: Some(having),
        }),
        ..Default::default()
    };
    let rows = vec![
        vec![Int(1), Int(2)],
        vec![Int(2), Null],
        vec![Int(3), Int(-1)],
        vec![Int(4), Int(7)],
    ];
    let out = apply(&spec, vec![rows]).unwrap();
    // 1: sum 2 → false; 2: NULL → unknown (dropped); 3: -1 < 0; 4: 7 != 2.
    assert_eq!(out, vec![vec![Int(3), Int(-1)], vec![Int(4), Int(7)]]);
}

#[test]
fn distinct_dedups_across_shards_on_visible_columns() {
    let spec = MergeSpec {
        distinct: true,
        order_by: vec![asc(0)],
        limit: Some(3),
        ..Default::default()
    };
    let s1 = vec![vec![Null], vec![b("a")], vec![b("b")]];
    let s2 = vec![vec![Null], vec![b("a")], vec![b("c")]];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    assert_eq!(out, vec![vec![Null], vec![b("a")], vec![b("b")]]);
    // Numbers equal by value are one row.
    let spec = MergeSpec {
        distinct: true,
        ..Default::default()
    };
    let out = apply(
        &spec,
        vec![vec![
            vec![Int(1)],
            vec![Dec("1.00".into())],
            vec![Float(1.0)],
            vec![UInt(2)],
        ]],
    )
    .unwrap();
    assert_eq!(out, vec![vec![Int(1)], vec![UInt(2)]]);
}

#[test]
fn short_rows_are_errors_not_panics() {
    use ColumnMerge::*;
    let spec = MergeSpec {
        order_by: vec![asc(3)],
        ..Default::default()
    };
    assert!(matches!(
        apply(&spec, vec![vec![vec![Int(1)]]]),
        Err(MergeError::ShortRow { .. })
    ));
    assert!(apply(&agg(vec![2], vec![First]), vec![vec![vec![Int(1)]]]).is_err());
    assert!(apply(
        &agg(vec![], vec![Avg { count_column: 5 }]),
        vec![vec![vec![Int(1)]]]
    )
    .is_err());
    assert!(apply(&agg(vec![], vec![Count]), vec![vec![vec![b("x")]]]).is_err());
}

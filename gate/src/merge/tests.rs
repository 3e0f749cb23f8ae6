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
                literal_weight: None,
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
            literal_weight: None,
        }),
        Box::new(Predicate::Not(Box::new(Predicate::Compare {
            column: 1,
            op: CompareOp::Eq,
            value: Dec("2.0".into()),
            literal_weight: None,
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

/// `(value, WEIGHT_STRING(value), pad)` as a utf8mb4_general_ci column sends
/// them (weights as measured on MariaDB 10.11: 2 bytes a character, case
/// and accents folded, trailing spaces kept; pad = the space's weight).
fn general_ci(s: &str) -> [Value; 3] {
    let mut w = Vec::new();
    for c in s.chars() {
        let folded = match c {
            'ä' | 'Ä' => 'A',
            'ß' => 'S',
            c => c.to_ascii_uppercase(),
        };
        w.extend((folded as u16).to_be_bytes());
    }
    [b(s), Bytes(w), Bytes(vec![0x00, 0x20])]
}

/// A row `[value, extra…, weight, pad]` for a text key in column 0 whose
/// weight and pad are the last two columns.
fn text_row(s: &str, extra: Vec<Value>) -> Row {
    let [v, w, p] = general_ci(s);
    let mut r = vec![v];
    r.extend(extra);
    r.push(w);
    r.push(p);
    r
}

fn key(column: usize, weight: usize) -> CollationKey {
    CollationKey {
        column,
        weight,
        pad: weight + 1,
    }
}

#[test]
fn order_by_text_merges_by_collation() {
    // SELECT name, id FROM t ORDER BY name: each shard sorted by its
    // collation ('apple\t' < 'Apple' = 'apple ' < 'banana').
    let spec = MergeSpec {
        order_by: vec![asc(0), asc(1)],
        visible_columns: 2,
        collation: vec![key(0, 2)],
        ..Default::default()
    };
    let s1 = vec![
        text_row("apple\t", vec![Int(4)]),
        text_row("Apple", vec![Int(1)]),
        text_row("banana", vec![Int(3)]),
    ];
    let s2 = vec![
        vec![Null, Int(9), Null, b("")],
        text_row("Äpfel", vec![Int(5)]),
        text_row("apple ", vec![Int(2)]),
        text_row("B", vec![Int(6)]),
    ];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    let names: Vec<Value> = out.iter().map(|r| r[0].clone()).collect();
    // Bytewise this would be Apple, B, apple\t, apple , banana, Äpfel.
    assert_eq!(
        names,
        vec![
            Null,
            b("Äpfel"),
            b("apple\t"),
            b("Apple"),
            b("apple "),
            b("B"),
            b("banana")
        ]
    );
    assert!(out.iter().all(|r| r.len() == 2));
    // DESC reverses, NULL last.
    let spec = MergeSpec {
        order_by: vec![desc(0)],
        visible_columns: 1,
        collation: vec![key(0, 1)],
        ..Default::default()
    };
    let s1 = vec![text_row("b", vec![]), text_row("APPLE", vec![])];
    let s2 = vec![
        text_row("Banana", vec![]),
        text_row("a", vec![]),
        vec![Null, Null, b("")],
    ];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    assert_eq!(
        out,
        vec![
            vec![b("Banana")],
            vec![b("b")],
            vec![b("APPLE")],
            vec![b("a")],
            vec![Null]
        ]
    );
}

#[test]
fn group_by_and_distinct_fold_collation_equal_text() {
    // SELECT name, COUNT(*) FROM t GROUP BY name ORDER BY name.
    let spec = MergeSpec {
        aggregate: Some(AggregateSpec {
            group_by: vec![0],
            columns: vec![
                ColumnMerge::First,
                ColumnMerge::Count,
                ColumnMerge::First,
                ColumnMerge::First,
            ],
            having: None,
        }),
        order_by: vec![asc(0)],
        visible_columns: 2,
        collation: vec![key(0, 2)],
        ..Default::default()
    };
    let s1 = vec![text_row("apple", vec![Int(2)]), text_row("b", vec![Int(1)])];
    let s2 = vec![
        text_row("APPLE ", vec![Int(3)]),
        text_row("apple\t", vec![Int(1)]),
        text_row("B", vec![Int(4)]),
    ];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    let counts: Vec<Value> = out.iter().map(|r| r[1].clone()).collect();
    assert_eq!(counts, vec![Int(1), Int(5), Int(5)]);
    assert_eq!(out[0][0], b("apple\t"));
    assert!(matches!(&out[1][0], Bytes(v) if v.eq_ignore_ascii_case(b"apple") || v == b"APPLE "));
    // SELECT DISTINCT name.
    let spec = MergeSpec {
        distinct: true,
        visible_columns: 1,
        collation: vec![key(0, 1)],
        ..Default::default()
    };
    let s1 = vec![text_row("Äpfel", vec![]), text_row("apfel ", vec![])];
    let s2 = vec![
        text_row("äpfel", vec![]),
        text_row("ss", vec![]),
        text_row("ß", vec![]),
    ];
    let out = apply(&spec, vec![s1, s2]).unwrap();
    assert_eq!(out, vec![vec![b("Äpfel")], vec![b("ss")], vec![b("ß")]]);
}

#[test]
fn min_max_of_text_by_collation_carry_their_weights() {
    // SELECT MIN(name), MAX(name) FROM t ORDER BY … : per shard partials,
    // weights in columns 2/3 (MIN) and 4/5 (MAX).
    let agg = AggregateSpec {
        group_by: vec![],
        columns: vec![
            ColumnMerge::Min,
            ColumnMerge::Max,
            ColumnMerge::First,
            ColumnMerge::First,
            ColumnMerge::First,
            ColumnMerge::First,
        ],
        having: None,
    };
    let spec = MergeSpec {
        aggregate: Some(agg),
        visible_columns: 2,
        collation: vec![key(0, 2), key(1, 4)],
        ..Default::default()
    };
    let row = |min: &str, max: &str| {
        let [a, aw, ap] = general_ci(min);
        let [z, zw, zp] = general_ci(max);
        vec![a, z, aw, ap, zw, zp]
    };
    // Bytewise the answer would be MIN 'Banana', MAX 'apple'.
    let out = apply(
        &spec,
        vec![
            vec![row("Banana", "c")],
            vec![row("apple", "C ")],
            vec![vec![Null, Null, Null, b(""), Null, b("")]],
        ],
    )
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][0], b("apple"));
    assert!(out[0][1] == b("c") || out[0][1] == b("C "));

    // The weight travels with the value: ORDER BY MAX(name) after GROUP BY.
    let spec = MergeSpec {
        aggregate: Some(AggregateSpec {
            group_by: vec![0],
            columns: vec![
                ColumnMerge::First,
                ColumnMerge::Max,
                ColumnMerge::First,
                ColumnMerge::First,
            ],
            having: None,
        }),
        order_by: vec![asc(1)],
        visible_columns: 2,
        collation: vec![key(1, 2)],
        ..Default::default()
    };
    let r = |g: i64, max: &str| {
        let [v, w, p] = general_ci(max);
        vec![Int(g), v, w, p]
    };
    let out = apply(
        &spec,
        vec![
            vec![r(1, "b"), r(2, "a")],
            vec![r(1, "Z"), r(2, "B"), r(3, "Y")],
        ],
    )
    .unwrap();
    let got: Vec<(Value, Value)> = out.iter().map(|x| (x[0].clone(), x[1].clone())).collect();
    assert_eq!(
        got,
        vec![(Int(2), b("B")), (Int(3), b("Y")), (Int(1), b("Z"))]
    );
}

#[test]
fn values_without_weights_compare_by_value() {
    // Numbers: WEIGHT_STRING is NULL, compare numerically ('10' > '9').
    let spec = MergeSpec {
        order_by: vec![asc(0)],
        visible_columns: 1,
        collation: vec![key(0, 1)],
        ..Default::default()
    };
    let n = |i: i64| vec![Int(i), Null, Bytes(vec![0, 0x20])];
    let out = apply(
        &spec,
        vec![vec![n(2), n(10)], vec![vec![Null, Null, b("")], n(9)]],
    )
    .unwrap();
    assert_eq!(
        out,
        vec![vec![Null], vec![Int(2)], vec![Int(9)], vec![Int(10)]]
    );
    // NO PAD / binary (empty pad): a prefix sorts first, 'a' != 'a '.
    let raw = |s: &str| vec![b(s), b(s), b("")];
    let spec = MergeSpec {
        distinct: true,
        order_by: vec![asc(0)],
        visible_columns: 1,
        collation: vec![key(0, 1)],
        ..Default::default()
    };
    let out = apply(
        &spec,
        vec![vec![raw("a "), raw("b")], vec![raw("a"), raw("a ")]],
    )
    .unwrap();
    assert_eq!(out, vec![vec![b("a")], vec![b("a ")], vec![b("b")]]);
}

#[test]
fn weights_the_merge_cannot_trust_are_refused() {
    let spec = MergeSpec {
        order_by: vec![asc(0)],
        visible_columns: 1,
        collation: vec![key(0, 1)],
        ..Default::default()
    };
    // Shards disagreeing on the collation (latin1 pad vs utf8mb4 pad).
    let s1 = vec![vec![b("a"), b("A"), b(" ")]];
    let s2 = vec![vec![b("b"), Bytes(vec![0, b'B']), Bytes(vec![0, 0x20])]];
    assert!(matches!(
        apply(&spec, vec![s1, s2]),
        Err(MergeError::Collation { column: 0, .. })
    ));
    // A text value without a weight next to one with.
    let s1 = vec![text_row("a", vec![])];
    let s2 = vec![vec![b("b"), Null, Bytes(vec![0, 0x20])]];
    assert!(matches!(
        apply(&spec, vec![s1, s2]),
        Err(MergeError::Collation { column: 0, .. })
    ));
    // A weight that is not whole pad units.
    let s1 = vec![vec![b("a"), Bytes(vec![0, b'A', 0]), Bytes(vec![0, 0x20])]];
    assert!(matches!(
        apply(&spec, vec![s1]),
        Err(MergeError::Collation { column: 0, .. })
    ));
    // Missing weight columns.
    assert!(matches!(
        apply(&spec, vec![vec![vec![b("a")]]]),
        Err(MergeError::ShortRow { .. })
    ));
}

#[test]
fn having_compares_text_with_a_literal_by_collation() {
    // SELECT name, COUNT(*) FROM t GROUP BY name HAVING name >= 'APPLE':
    // columns name, count, weight, pad, weight of 'APPLE' in name's
    // collation.
    let spec = MergeSpec {
        aggregate: Some(AggregateSpec {
            group_by: vec![0],
            columns: vec![
                ColumnMerge::First,
                ColumnMerge::Count,
                ColumnMerge::First,
                ColumnMerge::First,
                ColumnMerge::First,
            ],
            having: Some(Predicate::Compare {
                column: 0,
                op: CompareOp::GtEq,
                value: b("APPLE"),
                literal_weight: Some(4),
            }),
        }),
        order_by: vec![asc(0)],
        visible_columns: 2,
        collation: vec![key(0, 2)],
        ..Default::default()
    };
    let lit = general_ci("APPLE")[1].clone();
    let row = |s: &str, n: i64| {
        let [v, w, p] = general_ci(s);
        vec![v, Int(n), w, p, lit.clone()]
    };
    let null = vec![Null, Int(7), Null, b(""), lit.clone()];
    let out = apply(
        &spec,
        vec![
            vec![row("apple ", 1), row("Äpfel", 1), row("b", 2)],
            vec![null, row("apple\t", 1), row("Apple", 2)],
        ],
    )
    .unwrap();
    // Bytewise 'apple ' and 'b' would pass and 'Apple' fail on its own;
    // by collation 'apple ' = 'Apple' = 'APPLE', 'apple\t' < 'APPLE'.
    let got: Vec<Value> = out.iter().map(|r| r[1].clone()).collect();
    assert_eq!(got, vec![Int(3), Int(2)]);
    assert_eq!(out[1][0], b("b"));
}

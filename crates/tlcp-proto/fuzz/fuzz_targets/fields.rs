//! `Row::apply` never panics on any value list and is atomic: on error the row and the
//! changed fields are as before the call (unchanged row, empty set). What applies also
//! encodes back: the `Encoder` turns the previous values into the new ones.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlcp_proto::fields::{ChangedFields, Encoder, Row};

fuzz_target!(|input: (u8, Vec<String>, bool)| {
    let (fields, lists, allow_diff) = input;
    let n = 1 + usize::from(fields) % 80;
    let mut row = Row::new(n);
    let mut changed = ChangedFields::new();
    for list in &lists {
        let before = row.clone();
        match row.apply(list, &mut changed) {
            Err(e) => {
                let _ = e.to_string();
                assert_eq!(row, before, "{list:?} changed the row and failed");
                assert!(changed.is_empty());
            }
            Ok(()) => {
                assert!(row.is_set());
                for i in 0..n {
                    let differs = !before.is_set() || before.get(i) != row.get(i);
                    assert_eq!(changed.contains(i), differs, "field {i} of {list:?}");
                }
                let mut out = String::new();
                let prev = before.is_set().then_some(&before);
                Encoder::new()
                    .with_diff(allow_diff)
                    .encode(prev, &row, &mut out)
                    .expect("same number of fields");
                let mut again = before.clone();
                again
                    .apply(&out, &mut changed)
                    .expect("encoded list applies");
                assert_eq!(again, row, "{list:?} re-encoded as {out:?}");
            }
        }
    }
});

//! The mirror as the plan moves it into each group's intent.

use std::collections::BTreeSet;

use super::pipeline::delta_intent;
use crate::plan::Intent;
use proptest::prelude::*;

fn keys() -> impl Strategy<Value = BTreeSet<String>> {
    proptest::collection::btree_set("[a-f]", 0..6)
}

proptest! {
    /// Moving the mirror into the delta's intent gives exactly the intent computed by
    /// copying it.
    #[test]
    fn delta_intent_is_intent_new(mirror in keys(), add in keys(), remove in keys()) {
        let mut desired = mirror.clone();
        desired.extend(add.iter().cloned());
        for k in &remove {
            desired.remove(k);
        }
        let intent = Intent::new(&desired, Some(&mirror));
        prop_assert_eq!(&intent.desired(Some(&mirror)), &desired);
        prop_assert_eq!(delta_intent(mirror.clone(), add, remove), (desired, intent));
    }
}

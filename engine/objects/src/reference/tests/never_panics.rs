//! Arbitrary and mutated input never makes a reader panic; every form round-trips.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn text() -> impl Strategy<Value = String> {
    "(?s).{0,12}"
}

fn leaf() -> impl Strategy<Value = Reference> {
    let maps = || proptest::collection::btree_map("[a-z0-9_.-]{1,6}", text(), 0..3);
    (
        any::<u128>(),
        1..=u32::MAX,
        "[a-z0-9.-]{1,10}",
        "[a-z0-9.-]{1,6}",
        (maps(), maps()),
        proptest::option::of("(?s).{1,12}"),
        proptest::option::of("(?s).{1,12}"),
    )
        .prop_map(|(id, version, class, driver, (settings, parameters), name, description)| Reference {
            id: ObjectId(id),
            version,
            class,
            name,
            description,
            driver: DriverSpec { name: driver, settings },
            parameters,
            parts: BTreeMap::new(),
        })
}

fn reference() -> impl Strategy<Value = Reference> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        (leaf(), proptest::collection::btree_map("[a-z0-9_-]{1,6}", inner, 0..3)).prop_map(
            |(mut reference, parts)| {
                reference.parts = parts;
                reference
            },
        )
    })
}

/// One edit of a text: delete, insert, replace, or cut at a position.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, String),
    Replace(usize, char),
    Cut(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("%".to_owned()),
        Just("%zz".to_owned()),
        Just("%C3".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("#".to_owned()),
        Just("?".to_owned()),
        Just("\n".to_owned()),
        Just("\"".to_owned()),
        Just("[".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("\\u".to_owned()),
        Just("[parts.x]\n".to_owned()),
        Just("&driver.k=%FF".to_owned()),
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), token).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
        any::<usize>().prop_map(Edit::Cut),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len();
        match edit {
            Edit::Delete(at) if len > 0 => {
                chars.remove(at % len);
            }
            Edit::Insert(at, token) => {
                let at = at % (len + 1);
                chars.splice(at..at, token.chars());
            }
            Edit::Replace(at, c) if len > 0 => chars[at % len] = *c,
            Edit::Cut(at) => chars.truncate(at % (len + 1)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #[test]
    fn every_form_round_trips(reference in reference()) {
        let toml = reference.to_toml().unwrap();
        prop_assert_eq!(&Reference::parse(&toml).unwrap(), &reference, "{}", toml);
        let json = reference.to_json().unwrap();
        prop_assert_eq!(&Reference::parse(&json).unwrap(), &reference, "{}", json);
        if reference.parts.is_empty() {
            let uri = reference.to_uri().unwrap();
            prop_assert_eq!(&Reference::parse(&uri).unwrap(), &reference, "{}", uri);
        } else {
            prop_assert!(reference.to_uri().is_err());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,200}", prefix in prop_oneof![
        Just(""), Just("argent://"), Just("{"), Just("id = "), Just("[parts.a]\n"),
    ]) {
        let text = format!("{prefix}{text}");
        let _ = Reference::parse(&text);
        let _ = Reference::from_toml(&text);
        let _ = Reference::from_json(&text);
        let _ = Reference::from_uri(&text);
    }

    #[test]
    fn mutated_references_never_panic(
        reference in reference(),
        form in 0..3usize,
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let leaf = Reference { parts: BTreeMap::new(), ..reference.clone() };
        let text = match form {
            0 => reference.to_toml().unwrap(),
            1 => reference.to_json().unwrap(),
            _ => leaf.to_uri().unwrap(),
        };
        let mutated = apply(&text, &edits);
        if let Ok(parsed) = Reference::parse(&mutated) {
            // Whatever parses is valid and writes back.
            prop_assert!(parsed.validate().is_ok());
            prop_assert!(parsed.to_json().is_ok());
        }
    }
}

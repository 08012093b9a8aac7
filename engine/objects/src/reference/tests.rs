//! Tests of references: ids, every form's round trip, and (in the submodules) errors and
//! robustness against arbitrary input.

use serde::{Deserialize, Serialize};

use super::*;

mod document_errors;
mod never_panics;
mod uri_errors;

const ID: ObjectId = ObjectId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
const ID_HEX: &str = "0123456789abcdef0123456789abcdef";

fn chat() -> Reference {
    Reference::new(ObjectId(7), "chat", "qsm").with_setting("group", "g1").with_name("Lobby chat")
}

fn room() -> Reference {
    let positions = Reference::new(ObjectId(9), "replicated-map", "qsm")
        .with_parameter("key_type", "string")
        .with_parameter("value_type", "position");
    Reference::new(ID, "composite", "qsm")
        .with_version(3)
        .with_name("Lobby")
        .with_description("argent-dir://127.0.0.1:7500/rooms/lobby")
        .with_part("chat", chat())
        .with_part("positions", positions)
}

/// The message of parsing `text` in any form, which must fail.
fn error(text: &str) -> String {
    match Reference::parse(text) {
        Ok(r) => panic!("{text:?} parsed as {r:?}"),
        Err(e) => e.to_string(),
    }
}

fn uri_error(query: &str) -> String {
    error(&format!("argent://{ID_HEX}?{query}"))
}

// --- object ids ---

#[test]
fn object_ids_are_32_lowercase_hex_digits() {
    assert_eq!(ID.to_string(), ID_HEX);
    assert_eq!(ObjectId(1).to_string(), format!("{:0>32}", 1));
    assert_eq!(ObjectId::from_hex(ID_HEX), Ok(ID));
    assert_eq!(ObjectId::from_hex(&ID_HEX.to_uppercase()), Ok(ID));
    assert_eq!(ObjectId(u128::MAX).to_string().parse::<ObjectId>(), Ok(ObjectId(u128::MAX)));
    assert_eq!(format!("{ID:?}"), format!("ObjectId({ID_HEX})"));
}

#[test]
fn malformed_object_ids_are_rejected() {
    let plus = format!("+{}", &ID_HEX[1..]);
    for bad in ["12x", "", &ID_HEX[1..], &format!("{ID_HEX}0"), &plus, "g".repeat(32).as_str()] {
        let e = ObjectId::from_hex(bad).unwrap_err();
        assert_eq!(e.to_string(), format!("id: {bad:?} is not 32 hexadecimal digits"));
        assert_eq!(e.field(), "id");
    }
}

#[test]
fn object_ids_are_text_in_documents_and_u128_in_binary() {
    assert_eq!(serde_json::to_string(&ID).unwrap(), format!("\"{ID_HEX}\""));
    let bytes = postcard::to_allocvec(&ID).unwrap();
    assert!(bytes.len() <= 19, "{} bytes", bytes.len());
    assert_eq!(postcard::from_bytes::<ObjectId>(&bytes).unwrap(), ID);
    let bad = serde_json::from_str::<ObjectId>("\"12x\"").unwrap_err();
    assert!(bad.to_string().contains("is not 32 hexadecimal digits"), "{bad}");
}

// --- round trips ---

#[test]
fn documents_round_trip_exactly() {
    for reference in [chat(), room(), Reference::new(ObjectId(0), "event-stream", "qsm")] {
        let toml = reference.to_toml().unwrap();
        assert_eq!(Reference::from_toml(&toml).unwrap(), reference, "{toml}");
        assert_eq!(Reference::parse(&toml).unwrap(), reference, "{toml}");
        let json = reference.to_json().unwrap();
        assert_eq!(Reference::from_json(&json).unwrap(), reference, "{json}");
        assert_eq!(json.parse::<Reference>().unwrap(), reference, "{json}");
    }
}

#[test]
fn the_toml_form_reads_naturally() {
    let toml = room().to_toml().unwrap();
    let expected = format!(
        r#"id = "{ID_HEX}"
version = 3
class = "composite"
name = "Lobby"
description = "argent-dir://127.0.0.1:7500/rooms/lobby"

[driver]
name = "qsm"

[parts.chat]
id = "00000000000000000000000000000007"
version = 1
class = "chat"
name = "Lobby chat"

[parts.chat.driver]
name = "qsm"

[parts.chat.driver.settings]
group = "g1"

[parts.positions]
id = "00000000000000000000000000000009"
version = 1
class = "replicated-map"

[parts.positions.driver]
name = "qsm"

[parts.positions.parameters]
key_type = "string"
value_type = "position"
"#
    );
    assert_eq!(toml, expected);
}

#[test]
fn hand_written_documents_parse() {
    let toml = format!(
        "# the lobby\n\nid = \"{ID_HEX}\"\nversion = 3\nclass = \"composite\"\n\
         name = \"Lobby\"\ndescription = \"argent-dir://127.0.0.1:7500/rooms/lobby\"\n\
         driver = {{ name = \"qsm\" }}\n\
         parts.chat = {{ id = \"00000000000000000000000000000007\", version = 1, \
         class = \"chat\", name = \"Lobby chat\", \
         driver = {{ name = \"qsm\", settings = {{ group = \"g1\" }} }} }}\n\
         [parts.positions]\nid = \"00000000000000000000000000000009\"\nversion = 1\n\
         class = \"replicated-map\"\ndriver.name = \"qsm\"\n\
         parameters = {{ key_type = \"string\", value_type = \"position\" }}\n"
    );
    assert_eq!(Reference::parse(&toml).unwrap(), room());
    let json = format!(
        r#"  {{"id": "{ID_HEX}", "version": 1, "class": "chat", "name": null,
                 "driver": {{"name": "qsm", "settings": null}}, "parts": {{}}}}"#
    );
    assert_eq!(Reference::parse(&json).unwrap(), Reference::new(ID, "chat", "qsm"));
    let toml = room().to_toml().unwrap();
    assert_eq!(Reference::parse(&format!("\u{feff}{toml}")).unwrap(), room());
    assert_eq!(Reference::parse(&format!("\u{feff}{json}")).unwrap(), Reference::new(ID, "chat", "qsm"));
}

#[test]
fn references_embed_in_other_documents_through_serde() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Bookmark {
        title: String,
        target: Reference,
    }
    let bookmark = Bookmark { title: "lobby".into(), target: room() };
    let text = toml::to_string(&bookmark).unwrap();
    assert_eq!(toml::from_str::<Bookmark>(&text).unwrap(), bookmark);
    let bad = text.replace("version = 3", "version = 0");
    let e = toml::from_str::<Bookmark>(&bad).unwrap_err();
    assert!(e.message().contains("version: must be at least 1"), "{e}");
}

#[test]
fn the_uri_form_round_trips_exactly() {
    let uri = chat().to_uri().unwrap();
    assert_eq!(
        uri,
        "argent://00000000000000000000000000000007?v=1&class=chat&driver=qsm\
         &driver.group=g1&name=Lobby%20chat"
    );
    assert_eq!(Reference::from_uri(&uri).unwrap(), chat());
    assert_eq!(Reference::parse(&format!("\n  {uri}\n")).unwrap(), chat());

    let full = Reference::new(ID, "replicated-var", "qsm")
        .with_version(u32::MAX)
        .with_setting("group", "g 1&x=y")
        .with_setting("a.b", "")
        .with_parameter("value_type", "i64")
        .with_parameter("initial", "100% + ½ #€ ~-._")
        .with_name("Balance?")
        .with_description("argent-dir://127.0.0.1:7500/bank/balance");
    let uri = full.to_uri().unwrap();
    assert_eq!(
        uri,
        format!(
            "argent://{ID_HEX}?v=4294967295&class=replicated-var&driver=qsm\
             &driver.a.b=&driver.group=g%201%26x%3Dy\
             &param.initial=100%25%20%2B%20%C2%BD%20%23%E2%82%AC%20~-._\
             &param.value_type=i64&name=Balance%3F\
             &description=argent-dir%3A%2F%2F127.0.0.1%3A7500%2Fbank%2Fbalance"
        )
    );
    assert_eq!(Reference::parse(&uri).unwrap(), full);
}

#[test]
fn uri_readers_are_lenient_where_it_is_unambiguous() {
    // Keys in any order, lowercase escapes, raw non-ASCII, '+' and '=' inside values.
    let uri = format!("ARGENT://{}?name=caf%c3%a9 ü+1=2&driver=qsm&class=chat&v=2", ID_HEX.to_uppercase());
    let expected = Reference::new(ID, "chat", "qsm").with_version(2).with_name("café ü+1=2");
    assert_eq!(Reference::parse(&uri).unwrap(), expected);
}

#[test]
fn percent_encoding_passes_only_unreserved_characters() {
    let mut out = String::new();
    uri::encode_into(&mut out, "AZaz09-._~ /?#[]@!$&'()*+,;=%\u{0}é");
    assert_eq!(out, "AZaz09-._~%20%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%00%C3%A9");
    assert_eq!(uri::decode(&out).unwrap(), "AZaz09-._~ /?#[]@!$&'()*+,;=%\u{0}é");
    assert_eq!(uri::decode("%4a%4A+").unwrap(), "JJ+");
}

#[test]
fn parts_have_no_uri_form() {
    let e = room().to_uri().unwrap_err();
    assert_eq!(
        e.to_string(),
        "uri: a reference with parts (chat, positions) has no URI form; \
         write it as a TOML or JSON document"
    );
}

#[test]
fn a_description_may_name_a_directory_entry() {
    let dir = Reference::new(ObjectId(0xD1), "replicated-map", "qsm")
        .with_setting("group", "objects")
        .with_parameter("role", "directory");
    let stub = |d: &str| Reference::new(ObjectId(7), "replicated-var", "qsm").with_description(d);
    let uri = dir.to_uri().unwrap();
    let (found, name) = stub(&format!("{uri}#counter")).directory_entry().unwrap().unwrap();
    assert_eq!((found, name.as_str()), (dir, "counter"));
    assert!(stub("https://example.org/counter").directory_entry().is_none());
    assert!(stub(&uri).directory_entry().is_none(), "a URI without an entry name");
    let e = stub(&format!("{uri}#")).directory_entry().unwrap().unwrap_err();
    assert_eq!(e.field(), "description");
    let e = stub("argent://nothex?class=x&driver=qsm#n").directory_entry().unwrap().unwrap_err();
    assert!(e.field().starts_with("description."), "{e}");
}

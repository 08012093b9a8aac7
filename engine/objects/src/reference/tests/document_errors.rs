//! Errors in the document forms (TOML, JSON) and the limits name the field at fault.

use super::super::validate::KEY_CHARS;
use super::*;

fn toml_with(replace: &str, with: &str) -> String {
    let toml = room().to_toml().unwrap();
    assert!(toml.contains(replace), "{replace:?} not in {toml}");
    toml.replacen(replace, with, 1)
}

#[test]
fn document_value_errors_name_the_field() {
    let cases = [
        (
            format!("id = \"{ID_HEX}\""),
            "id = \"12x\"".to_owned(),
            r#"id: "12x" is not 32 hexadecimal digits"#,
        ),
        ("version = 3".into(), "version = 0".into(), "version: must be at least 1"),
        (
            "version = 3".into(),
            "version = -1".into(),
            "version: -1 is not a whole number from 1 to 4294967295",
        ),
        (
            "version = 3".into(),
            "version = 4294967296".into(),
            "version: 4294967296 is not a whole number from 1 to 4294967295",
        ),
        (
            "version = 3".into(),
            "version = 1.0".into(),
            "version: 1.0 is not a whole number from 1 to 4294967295",
        ),
        ("version = 3".into(), "version = \"3\"".into(), "version: expected an integer, found a string"),
        ("class = \"composite\"".into(), "class = \"\"".into(), "class: must not be empty"),
        (
            "class = \"composite\"".into(),
            "class = \"Chat room\"".into(),
            r#"class: "Chat room" must be one or more of a-z, 0-9, '-', '.'"#,
        ),
        ("class = \"composite\"".into(), "class = 5".into(), "class: expected a string, found a number"),
        ("name = \"Lobby\"".into(), "name = \"\"".into(), "name: must not be empty"),
        ("name = \"Lobby\"".into(), "name = true".into(), "name: expected a string, found a boolean"),
        (
            "description = \"argent-dir://127.0.0.1:7500/rooms/lobby\"".into(),
            "description = \"\"".into(),
            "description: must not be empty",
        ),
        (
            "description = \"argent-dir://127.0.0.1:7500/rooms/lobby\"".into(),
            "description = [\"x\"]".into(),
            "description: expected a string, found an array",
        ),
        (
            "name = \"qsm\"".into(),
            "name = \"QSM\"".into(),
            r#"driver.name: "QSM" must be one or more of a-z, 0-9, '-', '.'"#,
        ),
        (
            "[driver]\nname = \"qsm\"".into(),
            "[driver]\nnam = \"qsm\"".into(),
            r#"driver: unknown key "nam" (expected name, settings)"#,
        ),
        ("[driver]\nname = \"qsm\"".into(), "[driver]".into(), "driver.name: missing"),
        ("version = 3\n".into(), "".into(), "version: missing"),
        (
            "class = \"composite\"\n".into(),
            "clas = \"composite\"\n".into(),
            r#"reference: unknown key "clas" (expected id, version, class, driver, parameters, parts, description, name)"#,
        ),
        (
            "[parts.chat]\nid".into(),
            "[parts.chat]\nversion = 0\nid".into(),
            "toml: duplicate key `version` in table `parts.chat` at line 13, column 1",
        ),
        (
            "[parts.chat]\nid = \"00000000000000000000000000000007\"\nversion = 1".into(),
            "[parts.chat]\nid = \"00000000000000000000000000000007\"\nversion = 0".into(),
            "parts.chat.version: must be at least 1",
        ),
        (
            "[parts.chat]\nid = \"00000000000000000000000000000007\"".into(),
            "[parts.chat]\nid = \"7\"".into(),
            r#"parts.chat.id: "7" is not 32 hexadecimal digits"#,
        ),
        (
            "class = \"chat\"".into(),
            "clas = \"chat\"".into(),
            r#"parts.chat: unknown key "clas" (expected id, version, class, driver, parameters, parts, description, name)"#,
        ),
        ("[parts.chat.driver]\nname = \"qsm\"\n".into(), "".into(), "parts.chat.driver.name: missing"),
        (
            "group = \"g1\"".into(),
            "Group = \"g1\"".into(),
            r#"parts.chat.driver.settings: key "Group" must be one or more of a-z, 0-9, '_', '-', '.'"#,
        ),
        (
            "group = \"g1\"".into(),
            "group = 1".into(),
            "parts.chat.driver.settings.group: expected a string, found a number",
        ),
        (
            "value_type = \"position\"".into(),
            "value_type = { a = 1 }".into(),
            "parts.positions.parameters.value_type: expected a string, found a table",
        ),
        (
            "[parts.positions.parameters]\n".into(),
            "[parts.positions.parameters.\"bad key\"]\n".into(),
            "parts.positions.parameters.bad key: expected a string, found a table",
        ),
    ];
    for (replace, with, expected) in cases {
        let text = toml_with(&replace, &with);
        assert_eq!(error(&text), expected, "{text}");
    }
    let renamed = room().to_toml().unwrap().replace("parts.chat", "parts.Chat");
    assert_eq!(error(&renamed), r#"parts: key "Chat" must be one or more of a-z, 0-9, '_', '-'"#);
}

#[test]
fn document_structure_errors_name_the_field() {
    let base = format!("id = \"{ID_HEX}\"\nversion = 1\nclass = \"chat\"\n");
    let cases = [
        (format!("{base}driver = \"qsm\""), "driver: expected a table, found a string"),
        (
            format!("{base}driver.name = \"qsm\"\nparameters = 1"),
            "parameters: expected a table, found a number",
        ),
        (format!("{base}driver.name = \"qsm\"\nparts = []"), "parts: expected a table, found an array"),
        (
            format!("{base}driver.name = \"qsm\"\nparts.chat = \"x\""),
            "parts.chat: expected a table, found a string",
        ),
        (
            format!("{base}driver.name = \"qsm\"\ndriver.settings = \"x\""),
            "driver.settings: expected a table, found a string",
        ),
        (format!("{base}driver.name = \"\""), "driver.name: must not be empty"),
        ("version = 1\nclass = \"chat\"\ndriver.name = \"qsm\"".to_owned(), "id: missing"),
        (format!("id = \"{ID_HEX}\"\nversion = 1\ndriver.name = \"qsm\""), "class: missing"),
        (
            format!("{base}driver.name = \"qsm\"\nwhen = 1979-05-27"),
            r#"reference: unknown key "when" (expected id, version, class, driver, parameters, parts, description, name)"#,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(&text), expected, "{text}");
    }
    assert_eq!(error("[1, 2]"), "toml: invalid table header; expected `.`, `]` at line 1, column 3");
    assert_eq!(
        Reference::from_json("[1, 2]").unwrap_err().to_string(),
        "reference: expected a table, found an array"
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    assert_eq!(
        error("id = \"x\"\nversion = = 1\n"),
        "toml: invalid string; expected `\"`, `'` at line 2, column 11"
    );
    assert_eq!(error("id = \"x"), "toml: invalid basic string at line 1, column 8");
    assert_eq!(error("{\n  \"id\": \"x\",\n  \"version\" 1\n}"), "json: expected `:` at line 3, column 13");
    assert_eq!(error("{\"id\": "), "json: EOF while parsing a value at line 1, column 7");
    let deep = format!("{}{}", "{\"a\":".repeat(200), "}".repeat(200));
    assert!(error(&deep).starts_with("json: recursion limit exceeded"), "{}", error(&deep));
    let deep = format!("a = {}{}", "[".repeat(200), "]".repeat(200));
    assert!(error(&deep).starts_with("toml: "), "{}", error(&deep));
}

#[test]
fn limits_are_enforced() {
    let mut deep = Reference::new(ObjectId(0), "chat", "qsm");
    for level in 0..=MAX_DEPTH {
        deep = Reference::new(ObjectId(level as u128 + 1), "composite", "qsm").with_part("p", deep);
    }
    let path = ["parts.p"; MAX_DEPTH + 1].join(".");
    let expected = format!("{path}: parts are nested deeper than 8 levels");
    assert_eq!(deep.validate().unwrap_err().to_string(), expected);
    // The same document, written by hand, fails the same way when read.
    let json = serde_json::to_string(&deep).unwrap();
    assert_eq!(error(&json), expected);
    let ok = deep.parts["p"].clone();
    assert_eq!(Reference::parse(&ok.to_json().unwrap()).unwrap(), ok);

    let mut many = chat();
    for i in 0..=MAX_ENTRIES {
        many = many.with_parameter(format!("p{i}"), "x");
    }
    assert_eq!(many.validate().unwrap_err().to_string(), "parameters: has more than 64 entries");
    let mut many_parts = room();
    for i in 0..=MAX_ENTRIES {
        many_parts = many_parts.with_part(format!("p{i}"), chat());
    }
    assert_eq!(error(&serde_json::to_string(&many_parts).unwrap()), "parts: has more than 64 entries");
    let query: String = (0..=MAX_ENTRIES).map(|i| format!("&param.p{i}=x")).collect();
    assert_eq!(
        uri_error(&format!("v=1&class=chat&driver=qsm{query}")),
        "parameters: has more than 64 entries"
    );

    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    assert_eq!(
        chat().with_name(&long).to_toml().unwrap_err().to_string(),
        "name: is 4097 bytes long, more than the limit of 4096"
    );
    assert_eq!(
        chat().with_setting("group", &long).to_json().unwrap_err().to_string(),
        "driver.settings.group: is 4097 bytes long, more than the limit of 4096"
    );
    let long_class = "c".repeat(MAX_WORD_BYTES + 1);
    assert_eq!(
        Reference::new(ID, long_class, "qsm").validate().unwrap_err().to_string(),
        "class: is 129 bytes long, more than the limit of 128"
    );

    let huge = format!("# {}", " ".repeat(MAX_INPUT_BYTES));
    assert_eq!(
        error(&huge),
        format!("toml: the text is {} bytes long, more than the limit of 1048576", huge.len())
    );
}

#[test]
fn writers_refuse_invalid_references() {
    let zero = chat().with_version(0);
    for result in [zero.to_toml(), zero.to_json(), zero.to_uri()] {
        assert_eq!(result.unwrap_err().to_string(), "version: must be at least 1");
    }
    let bad_part = room().with_part("bad name", chat());
    assert_eq!(
        bad_part.to_toml().unwrap_err().to_string(),
        r#"parts: key "bad name" must be one or more of a-z, 0-9, '_', '-'"#
    );
    let bad_key = chat().with_parameter("", "x");
    assert_eq!(
        bad_key.validate().unwrap_err().problem(),
        &Problem::BadKey { key: String::new(), allowed: KEY_CHARS }
    );
}

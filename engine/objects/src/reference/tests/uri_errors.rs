//! Errors in the URI form name the field at fault.

use super::*;

#[test]
fn uri_errors_name_the_field() {
    let cases = [
        (
            "v=1&clas=chat&driver=qsm",
            r#"uri: unknown key "clas" (expected v, class, driver, driver.*, param.*, name, description)"#,
        ),
        ("v=1&class=chat", "driver.name: missing"),
        ("v=1&driver=qsm", "class: missing"),
        ("class=chat&driver=qsm", "version: missing"),
        ("v=0&class=chat&driver=qsm", "version: must be at least 1"),
        ("v=abc&class=chat&driver=qsm", r#"version: "abc" is not a whole number from 1 to 4294967295"#),
        ("v=%2B1&class=chat&driver=qsm", r#"version: "+1" is not a whole number from 1 to 4294967295"#),
        (
            "v=4294967296&class=chat&driver=qsm",
            r#"version: "4294967296" is not a whole number from 1 to 4294967295"#,
        ),
        ("v=&class=chat&driver=qsm", r#"version: "" is not a whole number from 1 to 4294967295"#),
        ("v=1&class=&driver=qsm", "class: must not be empty"),
        ("v=1&class=chat&driver=", "driver.name: must not be empty"),
        ("v=1&class=chat&driver=qsm&name=", "name: must not be empty"),
        ("v=1&class=chat&driver=qsm&description=", "description: must not be empty"),
        ("v=1&class=Chat&driver=qsm", r#"class: "Chat" must be one or more of a-z, 0-9, '-', '.'"#),
        (
            "v=1&class=chat&driver=qsm&param.Bad=1",
            r#"parameters: key "Bad" must be one or more of a-z, 0-9, '_', '-', '.'"#,
        ),
        (
            "v=1&class=chat&driver=qsm&driver.=1",
            r#"driver.settings: key "" must be one or more of a-z, 0-9, '_', '-', '.'"#,
        ),
        ("v=1&class=chat&class=chat&driver=qsm", r#"uri: duplicate key "class""#),
        ("v=1&class=chat&driver=qsm&param.a=1&param.a=2", r#"uri: duplicate key "param.a""#),
        (
            "v=1&&class=chat&driver=qsm",
            "uri: empty query parameter (two '&' in a row, or a '&' at either end)",
        ),
        (
            "v=1&class=chat&driver=qsm&",
            "uri: empty query parameter (two '&' in a row, or a '&' at either end)",
        ),
        ("v=1&class&driver=qsm", r#"uri: parameter "class" has no value (write class=VALUE)"#),
        (
            "v=1&class=chat&driver=qsm&name=100%",
            r#"uri: invalid percent-encoding in "100%" ('%' must be followed by two hexadecimal digits)"#,
        ),
        (
            "v=1&class=chat&driver=qsm&name=%zz",
            r#"uri: invalid percent-encoding in "%zz" ('%' must be followed by two hexadecimal digits)"#,
        ),
        ("v=1&class=chat&driver=qsm&name=%C3", r#"uri: "%C3" does not decode to UTF-8 text"#),
        (
            "v=1&class=chat&driver=qsm&parts.x=1",
            r#"uri: unknown key "parts.x" (expected v, class, driver, driver.*, param.*, name, description)"#,
        ),
        (
            "v=1&class=chat&driver=qsm#top",
            "uri: a reference URI has no fragment (a '#' in a value must be written %23)",
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(uri_error(query), expected, "{query}");
    }
}

#[test]
fn uri_shape_errors() {
    assert_eq!(error("argent://12x?v=1"), r#"id: "12x" is not 32 hexadecimal digits"#);
    assert_eq!(error(&format!("argent://{ID_HEX}")), "version: missing");
    assert_eq!(
        error(&format!("argent://{ID_HEX}?")),
        "uri: empty query parameter (two '&' in a row, or a '&' at either end)"
    );
    assert_eq!(
        error("argent://dir.local/markets/ACME"),
        r#"id: "dir.local/markets/ACME" is not 32 hexadecimal digits"#
    );
    assert_eq!(
        error("http://example.com/x"),
        r#"uri: "http://example.com/x" does not start with "argent://""#
    );
    assert_eq!(error("argent:x"), r#"uri: "argent:x" does not start with "argent://""#);
    assert_eq!(Reference::from_uri(&room().to_toml().unwrap()).unwrap_err().field(), "uri");
    let long = format!("argent://{}", "z".repeat(100));
    assert_eq!(error(&long), format!("id: \"{}…\" is not 32 hexadecimal digits", "z".repeat(64)));
}

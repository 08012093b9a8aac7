//! Tests of distributed types: built-in interfaces, driver properties, and the mismatch messages.

use super::*;
use crate::reference::{ObjectId, Reference};

const ID: ObjectId = ObjectId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

fn offered(class: &str) -> ObjectType {
    ObjectType::for_class(class, "qsm").unwrap().with_object(ID)
}

fn mismatch(required: &TypeRequirement, offered: &ObjectType) -> String {
    check(required, offered).unwrap_err().to_string()
}

#[test]
fn built_in_classes_have_their_interfaces() {
    let shown: Vec<String> = Category::ALL.iter().map(|c| format!("{c}: {}", c.interface())).collect();
    assert_eq!(
        shown,
        [
            "event-stream: endpoints events(event)",
            "replicated-var: endpoints updates(set)",
            "replicated-map: endpoints updates(put, remove)",
            "chat: endpoints messages(post)",
            "composite: no endpoints",
            "replicated-log: endpoints entries(append)",
            "counter: endpoints updates(increment, decrement-if-at-least)",
            "lock: endpoints requests(acquire, release)",
        ]
    );
    for category in Category::ALL {
        assert_eq!(Category::from_class(category.as_str()), Some(category));
        let json = serde_json::to_string(&category).unwrap();
        assert_eq!(json, format!("\"{category}\""));
    }
    assert_eq!(Category::from_class("Chat"), None);
}

#[test]
fn reliability_is_ordered_weakest_first() {
    use Reliability::*;
    assert!(BestEffort < ReliableFifo && ReliableFifo < TotalOrder);
    assert!(TotalOrder < VirtualSynchrony);
    assert_eq!(serde_json::to_string(&VirtualSynchrony).unwrap(), "\"virtual-synchrony\"");
    assert_eq!(serde_json::from_str::<Reliability>("\"total-order\"").unwrap(), TotalOrder);
}

#[test]
fn qsm_is_reliable_fifo_neither_authenticated_nor_encrypted() {
    let qsm = DriverInfo::qsm();
    assert_eq!(qsm.name, "qsm");
    assert_eq!(qsm.properties.reliability, Reliability::ReliableFifo);
    assert_eq!(qsm.properties.security, Security { authenticated: false, encrypted: false });
    assert_eq!(driver_properties("qsm"), Some(qsm.properties));
    assert_eq!(driver_properties("tcp"), None);
    assert_eq!(DriverInfo::lookup("qsm"), Some(qsm));
}

#[test]
fn compatible_opens_pass() {
    let var = offered("replicated-var");
    assert_eq!(check(&TypeRequirement::new(Category::ReplicatedVar), &var), Ok(()));
    assert_eq!(check(&TypeRequirement::whole(Category::ReplicatedVar), &var), Ok(()));
    let reader = TypeRequirement::new(Category::ReplicatedVar)
        .uses("updates", &["set"])
        .reliability(Reliability::ReliableFifo);
    assert_eq!(check(&reader, &var), Ok(()));
    // A subset of the interface, and an endpoint used without naming events.
    let map = offered("replicated-map");
    let remover = TypeRequirement::new(Category::ReplicatedMap).uses("updates", &["remove"]);
    assert_eq!(check(&remover, &map), Ok(()));
    let watcher = TypeRequirement::new(Category::ReplicatedMap).uses("updates", &[]);
    assert_eq!(check(&watcher, &map), Ok(()));
    for category in Category::ALL {
        let whole = TypeRequirement::whole(category).reliability(Reliability::BestEffort);
        let driver = if category.needs() > Reliability::ReliableFifo { "total-order" } else { "qsm" };
        let t = ObjectType::for_class(category.as_str(), driver).unwrap().with_object(ID);
        assert_eq!(check(&whole, &t), Ok(()), "{category}");
    }
}

#[test]
fn uses_merges_events_on_one_endpoint() {
    let required =
        TypeRequirement::new(Category::ReplicatedMap).uses("updates", &["put"]).uses("updates", &["remove"]);
    assert_eq!(required.uses, vec![Endpoint::new("updates", &["put", "remove"])]);
}

#[test]
fn a_category_mismatch_names_both_sides() {
    let required = TypeRequirement::new(Category::Chat);
    assert_eq!(
        mismatch(&required, &offered("replicated-var")),
        "type mismatch: the opener requires category chat, but class \"replicated-var\" \
         of object 0123456789abcdef0123456789abcdef is category replicated-var"
    );
}

#[test]
fn a_missing_endpoint_or_event_names_both_sides() {
    // The category matches but the interface does not: a requirement written by hand.
    let chat = offered("chat");
    let wrong_endpoint = TypeRequirement::new(Category::Chat).uses("updates", &["set"]);
    assert_eq!(
        mismatch(&wrong_endpoint, &chat),
        "type mismatch: the opener uses endpoint \"updates\" event \"set\", but class \
         \"chat\" of object 0123456789abcdef0123456789abcdef has endpoints messages(post)"
    );
    let no_events = TypeRequirement::new(Category::Chat).uses("history", &[]);
    assert_eq!(
        mismatch(&no_events, &chat),
        "type mismatch: the opener uses endpoint \"history\", but class \"chat\" of object \
         0123456789abcdef0123456789abcdef has endpoints messages(post)"
    );
    let wrong_event = TypeRequirement::new(Category::ReplicatedMap).uses("updates", &["put", "clear"]);
    assert_eq!(
        mismatch(&wrong_event, &offered("replicated-map")),
        "type mismatch: the opener uses endpoint \"updates\" event \"clear\", but class \
         \"replicated-map\" of object 0123456789abcdef0123456789abcdef has endpoints \
         updates(put, remove)"
    );
    let composite = TypeRequirement::new(Category::Composite).uses("events", &["event"]);
    let e = check(&composite, &offered("composite")).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("class \"composite\" of object 0123456789abcdef0123456789abcdef has no endpoints"),
        "{e}"
    );
    assert!(matches!(e, TypeError::Interface { ref endpoint, event: Some(_), .. } if endpoint == "events"));
}

#[test]
fn requiring_total_order_from_qsm_fails() {
    let ledger = TypeRequirement::whole(Category::ReplicatedVar).reliability(Reliability::TotalOrder);
    assert_eq!(
        mismatch(&ledger, &offered("replicated-var")),
        "type mismatch: the opener requires reliability total-order, but driver \"qsm\" of \
         object 0123456789abcdef0123456789abcdef provides reliable-fifo"
    );
    let view = TypeRequirement::new(Category::Chat).reliability(Reliability::VirtualSynchrony);
    let e = check(&view, &offered("chat")).unwrap_err();
    assert_eq!(
        e,
        TypeError::Reliability {
            required: Reliability::VirtualSynchrony,
            offered: Reliability::ReliableFifo,
            driver: "qsm".into(),
            object: Some(ID),
        }
    );
}

#[test]
fn missing_security_names_both_sides() {
    let secret = TypeRequirement::new(Category::Chat).authenticated().encrypted();
    let mut signing_driver = offered("chat");
    signing_driver.properties.security = Security { authenticated: true, encrypted: false };
    assert_eq!(
        mismatch(&secret, &signing_driver),
        "type mismatch: the opener requires encryption, but driver \"qsm\" of object \
         0123456789abcdef0123456789abcdef provides authentication without encryption"
    );
    let mut open_driver = ObjectType::for_class("chat", "qsm").unwrap();
    open_driver.properties.security = Security::default();
    let signed = TypeRequirement::new(Category::Chat).authenticated();
    assert_eq!(
        mismatch(&signed, &open_driver),
        "type mismatch: the opener requires authentication, but driver \"qsm\" provides \
         neither authentication nor encryption"
    );
    assert!(Security { authenticated: true, encrypted: true }.satisfies(&secret.minimum.security));
}

#[test]
fn unknown_classes_and_drivers_are_type_errors() {
    assert_eq!(
        ObjectType::for_class("whiteboard", "qsm").unwrap_err().to_string(),
        "unknown class \"whiteboard\" (built-in classes: event-stream, replicated-var, \
         replicated-map, chat, composite, replicated-log, counter, lock)"
    );
    assert_eq!(
        ObjectType::for_class("chat", "tcp").unwrap_err().to_string(),
        "unknown driver \"tcp\" (known drivers: qsm, total-order)"
    );
}

#[test]
fn a_reference_names_its_object_in_errors() {
    let reference: Reference =
        "argent://0123456789abcdef0123456789abcdef?v=1&class=chat&driver=qsm".parse().unwrap();
    let offered = ObjectType::for_reference(&reference).unwrap();
    assert_eq!(offered.object, Some(ID));
    assert_eq!((offered.class.as_str(), offered.driver.as_str()), ("chat", "qsm"));
    assert_eq!(check(&TypeRequirement::whole(Category::Chat), &offered), Ok(()));
    let wanted = TypeRequirement::new(Category::EventStream);
    assert!(mismatch(&wanted, &offered).contains("of object 0123456789abcdef0123456789abcdef"));
}

#[test]
fn misspelt_parameters_and_settings_are_named_with_the_known_ones() {
    let good = Reference::new(ObjectId(7), "replicated-var", "qsm")
        .with_parameter("value_type", "i64")
        .with_setting("group", "objects");
    assert!(ObjectType::for_reference(&good).is_ok());
    let e =
        ObjectType::for_reference(&good.clone().with_parameter("valu_type", "i64")).unwrap_err().to_string();
    assert!(e.contains("\"valu_type\"") && e.contains("value_type, auth"), "{e}");
    let e = ObjectType::for_reference(&good.clone().with_setting("grop", "x")).unwrap_err().to_string();
    assert!(e.contains("\"grop\"") && e.contains("known: group") && e.contains("qsm"), "{e}");
    let e =
        ObjectType::for_reference(&good.clone().with_parameter("value_type", "int")).unwrap_err().to_string();
    assert!(e.contains("\"int\"") && e.contains("i64, f64, bool, string"), "{e}");
    let e = ObjectType::for_reference(&good.clone().with_parameter("auth", "yes")).unwrap_err().to_string();
    assert!(e.contains("\"yes\"") && e.contains("key"), "{e}");
    // Each class knows its own: a directory's role is a map's.
    let dir = Reference::new(ObjectId(8), "replicated-map", "qsm").with_parameter("role", "directory");
    assert!(ObjectType::for_reference(&dir).is_ok());
    let e =
        ObjectType::for_reference(&Reference::new(ObjectId(9), "chat", "qsm").with_parameter("role", "x"));
    assert!(matches!(e, Err(TypeError::UnknownParameter { .. })), "{e:?}");
}

#[test]
fn total_order_provides_total_order_and_virtual_synchrony() {
    let to = DriverInfo::total_order();
    assert_eq!(to.name, "total-order");
    assert_eq!(DriverInfo::lookup("total-order"), Some(to.clone()));
    assert!(to.properties.reliability >= Reliability::TotalOrder);
    assert_eq!(to.properties.reliability, Reliability::VirtualSynchrony);
    assert!(to.properties.satisfies(&DriverInfo::qsm().properties), "everything qsm provides");
    let on = |class: &str| ObjectType::for_class(class, "total-order").unwrap().with_object(ID);
    for required in [Reliability::TotalOrder, Reliability::VirtualSynchrony] {
        let ledger = TypeRequirement::whole(Category::ReplicatedVar).reliability(required);
        assert_eq!(check(&ledger, &on("replicated-var")), Ok(()));
    }
    assert_eq!(check(&TypeRequirement::whole(Category::Chat), &on("chat")), Ok(()));
}

#[test]
fn kinds_that_need_total_order_are_refused_on_qsm_whatever_the_opener_asks() {
    for category in [Category::ReplicatedLog, Category::Counter, Category::Lock] {
        assert_eq!(category.needs(), Reliability::TotalOrder);
        // The opener asks for nothing in particular: the class itself needs total order.
        let e = check(&TypeRequirement::new(category), &offered(category.as_str())).unwrap_err();
        assert!(matches!(e, TypeError::ClassNeeds { needs: Reliability::TotalOrder, .. }), "{e:?}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("class \"{category}\" of object 0123456789abcdef0123456789abcdef needs reliability total-order"))
                && shown.contains("driver \"qsm\" provides reliable-fifo")
                && shown.contains("driver = \"total-order\""),
            "{shown}"
        );
    }
    for category in [Category::ReplicatedVar, Category::ReplicatedMap, Category::Chat, Category::EventStream]
    {
        assert!(category.needs() < Reliability::ReliableFifo);
    }
}

#[test]
fn durable_is_a_parameter_checked_like_the_others() {
    let log = Reference::new(ObjectId(3), "replicated-log", "total-order").with_parameter("durable", "true");
    assert!(ObjectType::for_reference(&log).unwrap().durable);
    let off = log.clone().with_parameter("durable", "false");
    assert!(!ObjectType::for_reference(&off).unwrap().durable);
    let e = ObjectType::for_reference(&log.clone().with_parameter("durable", "yes")).unwrap_err().to_string();
    assert!(e.contains("durable") && e.contains("true, false"), "{e}");
    // A stream has no state to keep.
    let stream = Reference::new(ObjectId(4), "event-stream", "qsm").with_parameter("durable", "true");
    assert!(matches!(ObjectType::for_reference(&stream), Err(TypeError::UnknownParameter { .. })));
    let dir = Reference::new(ObjectId(5), "replicated-map", "qsm")
        .with_parameter("role", "directory")
        .with_parameter("durable", "true");
    assert!(ObjectType::for_reference(&dir).unwrap().durable, "a directory can be durable");
}
